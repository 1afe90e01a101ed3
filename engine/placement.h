#pragma once
// Where the engine applies a Plan: the architecture's step graphs are lowered (inject/lower.h)
// as they are built, so every Session and tool that drives the architecture runs the plan.
#include <memory>
#include <string>
#include <vector>

#include "inject/plan.h"
#include "models/architecture.h"

namespace kt::engine {

// The model's architecture with its Plan applied to each step graph: prefill steps (more than
// one token) take the prefill devices and operators, decode steps the generate ones.
class PlannedArchitecture : public models::Architecture {
 public:
  PlannedArchitecture(std::unique_ptr<models::Architecture> inner, models::ModuleTree tree,
                      inject::Plan plan);
  const models::HParams& hparams() const override { return inner_->hparams(); }
  std::vector<models::CacheSpec> cache_specs() const override { return inner_->cache_specs(); }
  models::StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx,
                               int64_t n_out) const override;
  models::ModuleTree module_tree(const std::vector<std::string>&) const override { return tree_; }

  const inject::Plan& plan() const { return plan_; }
  const models::ModuleTree& tree() const { return tree_; }

 private:
  std::unique_ptr<models::Architecture> inner_;
  models::ModuleTree tree_;
  inject::Plan plan_;
};

// Throws kt::Error when the plan places anything off the CPU: the executor runs CPU graphs
// only until the CUDA backend executes graphs (issue 6). Names the module, device and rule.
void require_cpu_plan(const inject::Plan& plan);

}  // namespace kt::engine
