#include "backends/cpu/graph_exec.h"
#include "engine/step_executor.h"
#include "tensor/error.h"

namespace kt::engine {

namespace {

class CpuStepExecutor : public StepExecutor {
 public:
  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                  std::span<const tensor::NodeId> outputs,
                                  cpu::ThreadPool& pool) override {
    std::vector<tensor::Tensor> all = cpu::GraphExecutor(pool).run(g, inputs);
    std::vector<tensor::Tensor> out;
    for (tensor::NodeId o : outputs) out.push_back(all[size_t(o)]);
    return out;
  }
  tensor::Tensor make_cache(tensor::DType type, const tensor::Shape& shape, tensor::Device device,
                            const std::string& what) override {
    if (!device.is_cpu())
      throw Error(what + ": the CPU executor cannot hold it on " + device.str());
    return tensor::Tensor::zeros(type, shape);
  }
};

}  // namespace

std::unique_ptr<StepExecutor> make_cpu_executor() {
  return std::make_unique<CpuStepExecutor>();
}

#ifndef KT_HAVE_CUDA
std::unique_ptr<StepExecutor> make_cuda_executor(int) {
  throw Error("this kt was built without CUDA; use a CPU rule file (inject/rules/*-cpu.yaml)");
}
std::unique_ptr<StepExecutor> make_pipeline_executor(std::vector<int>) {
  return make_cuda_executor(0);
}
bool cuda_available() {
  return false;
}
#endif

}  // namespace kt::engine
