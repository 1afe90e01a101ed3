// Built only with CUDA (engine/CMakeLists.txt defines KT_HAVE_CUDA then).
#ifdef KT_HAVE_CUDA
#include "backends/cuda/device.h"
#include "backends/cuda/exec.h"
#include "backends/cuda/exec_pipeline.h"
#include "backends/cuda/memory.h"
#include "engine/step_executor.h"
#include "tensor/error.h"

namespace kt::engine {

namespace {

class CudaStepExecutor : public StepExecutor {
 public:
  explicit CudaStepExecutor(int device) : exec_(cuda::ExecOptions{device}) {}
  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                  std::span<const tensor::NodeId> outputs,
                                  cpu::ThreadPool& pool) override {
    return exec_.run(g, inputs, outputs, pool);
  }
  tensor::Tensor make_cache(tensor::DType type, const tensor::Shape& shape, tensor::Device device,
                            const std::string& what) override {
    if (device.is_cpu()) return tensor::Tensor::zeros(type, shape);
    tensor::Tensor t = cuda::device_zeros(type, shape, device.index, what);
    cache_bytes_ += t.nbytes();
    return t;
  }
  StepTimes last_times() const override {
    const cuda::StepProfile& p = exec_.last_profile();
    return {p.wall, p.cpu, p.gpu_wait, p.transfers, p.gpu_kernels, p.by_op, p.graph_replay};
  }
  void set_profile(bool on) override {
    cuda::ExecOptions o = exec_.options();
    o.profile = on;
    exec_.set_options(o);
  }
  void set_cuda_graphs(bool on) override {
    cuda::ExecOptions o = exec_.options();
    o.cuda_graphs = on;
    exec_.set_options(o);
  }
  void prepare(const tensor::Graph& g,
               const std::function<void(size_t, size_t)>& progress) override {
    exec_.upload_weights(g, progress);
  }
  size_t device_bytes() const override {
    return exec_.weights().bytes() + exec_.arena_bytes() + exec_.workspace_bytes() + cache_bytes_;
  }

 private:
  cuda::HybridExecutor exec_;
  size_t cache_bytes_ = 0;
};

class PipelineStepExecutor : public StepExecutor {
 public:
  explicit PipelineStepExecutor(std::vector<int> map)
      : exec_(std::move(map), cuda::ExecOptions{}) {}
  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                  std::span<const tensor::NodeId> outputs,
                                  cpu::ThreadPool& pool) override {
    return exec_.run(g, inputs, outputs, pool);
  }
  tensor::Tensor make_cache(tensor::DType type, const tensor::Shape& shape, tensor::Device device,
                            const std::string& what) override {
    if (device.is_cpu()) return tensor::Tensor::zeros(type, shape);
    tensor::Tensor t = cuda::device_zeros(type, shape, exec_.physical(device.index), what);
    cache_bytes_ += t.nbytes();
    return t;
  }
  StepTimes last_times() const override {
    const cuda::StepProfile& p = exec_.last_profile();
    return {p.wall,
            p.cpu,
            p.gpu_wait,
            p.transfers,
            p.gpu_kernels,
            p.by_op,
            p.graph_replay,
            exec_.last_stage_count(),
            exec_.last_handoff_bytes()};
  }
  void set_profile(bool on) override {
    cuda::ExecOptions o = exec_.options();
    o.profile = on;
    exec_.set_options(o);
  }
  void set_cuda_graphs(bool on) override {
    cuda::ExecOptions o = exec_.options();
    o.cuda_graphs = on;
    exec_.set_options(o);
  }
  void prepare(const tensor::Graph& g,
               const std::function<void(size_t, size_t)>& progress) override {
    exec_.upload_weights(g, progress);
  }
  size_t device_bytes() const override { return exec_.device_bytes() + cache_bytes_; }

 private:
  cuda::PipelineExecutor exec_;
  size_t cache_bytes_ = 0;
};

}  // namespace

std::unique_ptr<StepExecutor> make_pipeline_executor(std::vector<int> device_map) {
  return std::make_unique<PipelineStepExecutor>(std::move(device_map));
}

std::unique_ptr<StepExecutor> make_cuda_executor(int device) {
  return std::make_unique<CudaStepExecutor>(device);
}

bool cuda_available() {
  return cuda::device_count() > 0;
}

}  // namespace kt::engine
#endif
