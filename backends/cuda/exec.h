#pragma once
// Executes a Graph whose nodes are placed on the GPU and the CPU (the hybrid MoE of DESIGN.md).
//
// A step graph is compiled once per shape into a Program: every GPU value gets a fixed place
// in one device arena (buffers are reused after their last reader), every run of consecutive
// CPU nodes becomes a Segment that a host function runs on the CPU thread pool, fed through
// pinned staging buffers, on a side stream — so the GPU keeps computing what does not depend on
// it (the shared experts) while the CPU computes the routed experts. Nothing in a Program
// depends on the position in the sequence: kernels read it from device memory. So a decode step
// is captured once as a CUDA graph and replayed for every later token; a graph whose shapes
// differ (another prompt length) compiles and captures its own Program.
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "backends/cuda/weight_store.h"
#include "tensor/graph.h"

namespace kt::cuda {

struct ExecOptions {
  int device = 0;
  bool cuda_graphs = true;  // capture and replay single-token steps
  bool profile = false;     // time every node with events (eager; fills StepProfile::by_op)
};

// Where the time of the last step went (seconds). In profile mode by_op holds GPU kernel time
// per op name; otherwise only the totals are measured.
struct StepProfile {
  double wall = 0;         // the whole run() call
  double cpu = 0;          // host functions (CPU segments: routed experts) working
  double gpu_wait = 0;     // GPU stream blocked on CPU segments
  double transfers = 0;    // host<->device copies of activations (profile mode)
  double gpu_kernels = 0;  // sum of kernel times (profile mode)
  std::map<std::string, double> by_op;
  bool graph_replay = false;
};

class Program;

class HybridExecutor {
 public:
  explicit HybridExecutor(ExecOptions opt = {});
  ~HybridExecutor();
  HybridExecutor(const HybridExecutor&) = delete;
  HybridExecutor& operator=(const HybridExecutor&) = delete;

  // CPU nodes run on `pool`. inputs: a value for every Input node — host tensors for runtime
  // data (tokens, positions),
  // and for caches tensors already on the device that reads them (make_cache). Returns host
  // copies of the `outputs` nodes' values, in that order. Throws kt::Error naming the node for
  // an unsupported op or type, and naming the weight and rule when device memory runs out.
  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                  std::span<const tensor::NodeId> outputs, cpu::ThreadPool& pool);
  // As run(), but outputs computed on the GPU stay there: views of the program's arena, valid
  // until the next run (PipelineExecutor copies them to the next stage's device at once).
  // Outputs of CPU nodes come back as host tensors.
  std::vector<tensor::Tensor> run_keep_on_device(
      const tensor::Graph& g, const std::map<tensor::NodeId, tensor::Tensor>& inputs,
      std::span<const tensor::NodeId> outputs, cpu::ThreadPool& pool);

  // Uploads every weight that GPU nodes of g read (loading), reporting bytes done of total.
  using Progress = std::function<void(size_t done, size_t total)>;
  void upload_weights(const tensor::Graph& g, const Progress& progress = {});

  const StepProfile& last_profile() const { return profile_; }
  const WeightStore& weights() const { return weights_; }
  size_t arena_bytes() const;  // device activations of the compiled programs
  size_t workspace_bytes() const { return workspace_bytes_; }
  void set_options(const ExecOptions& opt);
  const ExecOptions& options() const { return opt_; }

 private:
  friend class Program;
  Program& program_for(const tensor::Graph& g,
                       const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                       std::span<const tensor::NodeId> outputs, bool keep_on_device);
  std::vector<tensor::Tensor> run_step(const tensor::Graph& g,
                                       const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                       std::span<const tensor::NodeId> outputs,
                                       cpu::ThreadPool& pool, bool keep_on_device);
  void ensure_workspace(size_t bytes);
  // Copies pageable host bytes (a memory-mapped weight) to the device on the main stream,
  // through a ring of pinned buffers filled by the executor's own copy threads (the Session's
  // pool may be running a CPU segment) while earlier chunks cross PCIe. A plain
  // cudaMemcpyAsync from pageable memory runs on one thread at ~6 GB/s on the GPU machine.
  void stream_to_device(void* dst, const void* src, size_t bytes);
  void drop_graphs();

  cpu::ThreadPool* pool_ = nullptr;  // the current run's
  ExecOptions opt_;
  WeightStore weights_;
  cudaStream_t main_ = nullptr, side_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::shared_ptr<void> cublas_ws_;
  std::shared_ptr<void> workspace_;
  size_t workspace_bytes_ = 0;
  static constexpr int kCopyThreads = 8;
  std::unique_ptr<cpu::ThreadPool> copy_pool_;
  static constexpr int kRingSlots = 4;
  static constexpr size_t kRingChunk = size_t(32) << 20;
  tensor::Tensor ring_[kRingSlots];  // pinned
  cudaEvent_t ring_done_[kRingSlots] = {};
  int ring_next_ = 0;
  std::shared_ptr<void> d_pos_;  // int32 on the device
  int32_t* h_pos_ = nullptr;     // pinned
  std::map<uint64_t, std::unique_ptr<Program>> programs_;
  StepProfile profile_;
};

// A node's weight operand form: raw GGUF blocks for matmul-like ops and embedding rows, F32
// for the rest.
WeightForm weight_form(const tensor::Node& consumer, size_t operand);

}  // namespace kt::cuda
