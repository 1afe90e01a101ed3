#include "engine/placement.h"

#include <algorithm>

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

std::shared_ptr<StepExecutor> PlannedArchitecture::executor() const {
  if (!uses_gpu()) return make_cpu_executor();
  if (!gpu_exec_) {
    std::vector<int> map = device_map_;
    if (map.empty())
      for (int i = 0; i < std::max(1, gpus_named()); ++i) map.push_back(i);
    std::shared_ptr<StepExecutor> e =
        map.size() > 1 || map[0] != 0 ? make_pipeline_executor(map) : make_cuda_executor(0);
    // Upload the GPU weights of decode steps now (loading), not during the first answer;
    // prefill-only ones (if a plan has any) follow at the first prefill.
    e->prepare(build_step(1, 0, 2, 1).graph, progress_);
    gpu_exec_ = std::move(e);
  }
  return gpu_exec_;
}

int PlannedArchitecture::gpus_named() const {
  int n = 0;
  for (const inject::Placement& p : plan_.entries())
    for (const tensor::Device* d : {&p.generate_device, &p.prefill_device})
      if (d->is_cuda()) n = std::max(n, d->index + 1);
  for (const auto& [layer, d] : plan_.transfer_map())
    if (d.is_cuda()) n = std::max(n, d.index + 1);
  return n;
}

void require_devices(const inject::Plan& plan, int gpu_count) {
  const inject::Placement* p = plan.first_off_cpu();
  if (!p || gpu_count > 0) return;
  const std::string dev = !p->generate_device.is_cpu()  ? p->generate_device.str()
                          : !p->prefill_device.is_cpu() ? p->prefill_device.str()
                          : p->out_device               ? p->out_device->str()
                                                        : "cuda";
  throw Error(plan.source() + (p->rule.empty() ? "" : " (rule at " + p->rule + ")") + ": places " +
              (p->path.empty() ? "the model" : p->path) + " on " + dev + ", but " +
              (cuda_available() ? std::string("no GPU is to be used")
                                : std::string("this kt has no CUDA GPU to run on")) +
              "; use a CPU rule file (e.g. inject/rules/*-cpu.yaml) or `kt plan` to preview GPU "
              "plans");
}

}  // namespace kt::engine
