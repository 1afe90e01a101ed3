#pragma once
// Where the engine applies a Plan: the architecture's step graphs are lowered (inject/lower.h)
// as they are built, so every Session and tool that drives the architecture runs the plan.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/step_executor.h"
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

  // True when the plan places anything on a GPU (any phase).
  bool uses_gpu() const { return plan_.first_off_cpu() != nullptr; }
  // The executor for this model's steps: a fresh CPU executor for CPU plans; for GPU plans the
  // one hybrid executor of the model, made on first use with its weights uploaded, reporting
  // progress. Throws kt::Error without a GPU.
  std::shared_ptr<StepExecutor> executor() const;
  using Progress = std::function<void(size_t done, size_t total)>;
  void set_load_progress(Progress p) { progress_ = std::move(p); }
  // LoadOptions::device_map; with more than one GPU in the plan (or a map) the executor is
  // the pipeline one (backends/cuda/exec_pipeline.h).
  void set_device_map(std::vector<int> map) { device_map_ = std::move(map); }
  // How many GPUs (cuda:0 .. cuda:N-1) the plan names, in any phase.
  int gpus_named() const;

 private:
  std::unique_ptr<models::Architecture> inner_;
  models::ModuleTree tree_;
  inject::Plan plan_;
  mutable std::shared_ptr<StepExecutor> gpu_exec_;
  Progress progress_;
  std::vector<int> device_map_;
};

// Throws kt::Error when the plan places anything on a GPU that this build or machine lacks
// (gpu_count devices present). Names the module, device and rule.
void require_devices(const inject::Plan& plan, int gpu_count);

}  // namespace kt::engine
