#pragma once
// What runs a Session's step graphs: the CPU executor when the plan keeps everything on the
// CPU, the hybrid CUDA executor (backends/cuda/exec.h) when it places anything on a GPU. One
// hybrid executor serves every Session of a model, so weights go to the GPU once.
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "tensor/graph.h"

namespace kt::engine {

// Where the time of the last step went (seconds); zeros for the CPU executor's GPU fields.
struct StepTimes {
  double wall = 0, cpu = 0, gpu_wait = 0, transfers = 0, gpu_kernels = 0;
  std::map<std::string, double> by_op;  // profile mode only
  bool graph_replay = false;
  int gpu_stages = 1;        // device pieces the step ran in (pipeline placement: one per cut)
  size_t handoff_bytes = 0;  // activations handed from GPU to GPU
};

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // Host copies of the `outputs` nodes' values. CPU nodes run on `pool` (the caller's: an
  // executor shared by Sessions binds to none of them).
  virtual std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                          const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                          std::span<const tensor::NodeId> outputs,
                                          cpu::ThreadPool& pool) = 0;
  // A zeroed KV-cache tensor on `device`, named `what` in an out-of-memory error.
  virtual tensor::Tensor make_cache(tensor::DType type, const tensor::Shape& shape,
                                    tensor::Device device, const std::string& what) = 0;
  virtual StepTimes last_times() const { return {}; }
  // GPU executors: time every kernel (slower; fills StepTimes::by_op), CUDA graphs on/off.
  virtual void set_profile(bool) {}
  virtual void set_cuda_graphs(bool) {}
  // Loading: uploads what GPU nodes of g read, reporting bytes done of total.
  virtual void prepare(const tensor::Graph& g,
                       const std::function<void(size_t, size_t)>& progress) {}
  virtual size_t device_bytes() const { return 0; }  // weights + activations + workspace
};

std::unique_ptr<StepExecutor> make_cpu_executor();
// Throws kt::Error when kt was built without CUDA or no GPU is present.
std::unique_ptr<StepExecutor> make_cuda_executor(int device);
// Several GPUs (pipeline placement, backends/cuda/exec_pipeline.h): device_map[i] is the
// physical GPU behind the rules' cuda:i. Caches are made on the mapped device.
std::unique_ptr<StepExecutor> make_pipeline_executor(std::vector<int> device_map);
bool cuda_available();

}  // namespace kt::engine
