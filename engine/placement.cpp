#include "engine/placement.h"

#include "inject/lower.h"
#include "tensor/error.h"

namespace kt::engine {

PlannedArchitecture::PlannedArchitecture(std::unique_ptr<models::Architecture> inner,
                                         models::ModuleTree tree, inject::Plan plan)
    : inner_(std::move(inner)), tree_(std::move(tree)), plan_(std::move(plan)) {}

models::StepGraph PlannedArchitecture::build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx,
                                                  int64_t n_out) const {
  models::StepGraph s = inner_->build_step(n_tokens, pos, n_ctx, n_out);
  inject::lower(plan_, tree_, s.graph,
                n_tokens > 1 ? inject::Phase::Prefill : inject::Phase::Generate);
  return s;
}

void require_cpu_plan(const inject::Plan& plan) {
  const inject::Placement* p = plan.first_off_cpu();
  if (!p) return;
  const std::string dev = !p->generate_device.is_cpu()  ? p->generate_device.str()
                          : !p->prefill_device.is_cpu() ? p->prefill_device.str()
                          : p->out_device               ? p->out_device->str()
                                                        : "cuda";
  throw Error(plan.source() + (p->rule.empty() ? "" : " (rule at " + p->rule + ")") + ": places " +
              (p->path.empty() ? "the model" : p->path) + " on " + dev +
              ", but kt executes on the CPU only until CUDA execution arrives (issue 6); use a "
              "CPU rule file (e.g. inject/rules/*-cpu.yaml) or `kt plan` to preview GPU plans");
}

}  // namespace kt::engine
