#pragma once
// The compiled form of a step graph for HybridExecutor (exec.h): where each value lives, the
// device arena, the CPU segments and the list of actions one step enqueues. Internal to
// backends/cuda.
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/graph_exec.h"
#include "backends/cuda/exec.h"
#include "tensor/graph.h"

namespace kt::cuda {

enum class Where : uint8_t { Host, Device };

// Consecutive CPU nodes, run by one host function on the side stream.
struct Segment {
  std::vector<tensor::NodeId> nodes;      // in graph order
  std::vector<tensor::NodeId> ext;        // values from outside that the nodes read (no weights)
  std::vector<tensor::NodeId> to_device;  // nodes whose values GPU nodes read later
  tensor::NodeId first = 0;               // graph position of the fork
  tensor::NodeId join = -1;               // first GPU node reading a value of this segment
  // Rebuilt every run from the run's graph (positions change the CPU nodes' parameters).
  tensor::Graph sub;
  std::map<tensor::NodeId, tensor::NodeId> sub_id;  // graph id -> sub-graph id
  std::vector<tensor::Tensor> values;               // the sub-graph's values of the last run
  cudaEvent_t fork = nullptr, done = nullptr;
  cudaEvent_t wait_begin = nullptr, wait_end = nullptr;  // GPU blocked at the join (profile)
  Program* program = nullptr;
  double seconds = 0;  // the host function's last run
  std::string error;   // an exception of the host function, rethrown after the step
};

enum class ActionKind : uint8_t { Launch, Fork, Join };
struct Action {
  ActionKind kind;
  int32_t index;  // node id (Launch) or segment index
};

class Program {
 public:
  // keep_on_device: outputs computed on the GPU are returned as device views, not copied out.
  Program(HybridExecutor& exec, const tensor::Graph& g,
          const std::map<tensor::NodeId, tensor::Tensor>& inputs,
          std::span<const tensor::NodeId> outputs, uint64_t signature, bool keep_on_device);
  ~Program();

  // Points the program at this run's graph and inputs: CPU segments' sub-graphs, host inputs
  // copied into their pinned buffers, the position. Cheap; every run calls it.
  void bind(const tensor::Graph& g, const std::map<tensor::NodeId, tensor::Tensor>& inputs);
  // Enqueues the whole step on the executor's streams (eagerly or while capturing).
  void enqueue(bool profile);
  // After the stream synchronised: rethrows a CPU segment's error, fills the profile.
  void finish(StepProfile& prof, bool profile);
  std::vector<tensor::Tensor> outputs() const;

  uint64_t signature;
  bool capturable = false;  // a single-token step
  size_t workspace_need = 0;
  size_t arena_bytes = 0;
  cudaGraphExec_t graph_exec = nullptr;
  int runs = 0;
  int32_t pos = 0;

  void run_segment(Segment& s);  // the host function's body

 private:
  void compile(const std::map<tensor::NodeId, tensor::Tensor>& inputs);
  void plan_arena();
  void build_sub(Segment& s);
  tensor::Tensor operand(tensor::NodeId consumer, size_t j);
  void launch(tensor::NodeId id, bool profile);

  HybridExecutor& exec_;
  const tensor::Graph* g_ = nullptr;
  std::vector<Where> where_;
  std::vector<tensor::Tensor> dval_;                   // device value (arena slice, cache, view)
  std::vector<tensor::Tensor> hval_;                   // pinned host buffer (host inputs, staging)
  std::vector<int64_t> arena_off_;                     // -1 when the node owns no arena slice
  std::vector<std::vector<tensor::Tensor>> operands_;  // per GPU node, resolved at compile
  std::shared_ptr<void> arena_;
  std::vector<std::unique_ptr<Segment>> segments_;
  std::vector<int> segment_of_;  // node -> segment index or -1
  std::vector<Action> actions_;
  std::vector<tensor::NodeId> host_inputs_;       // Inputs given as host tensors
  std::vector<tensor::NodeId> inputs_to_device_;  // ... of those, the ones GPU nodes read
  std::vector<tensor::NodeId> outputs_;
  bool keep_on_device_ = false;
  std::vector<tensor::Tensor> out_host_;  // pinned copies of device outputs
  // Streamed weights (Node::stream_weights): copied into one staging buffer before their node.
  struct StreamedCopy {
    const void* src;
    size_t bytes;
  };
  std::vector<std::vector<StreamedCopy>> streamed_;  // per node
  std::shared_ptr<void> staging_;
  // Profile mode: an event pair per launched node / transfer.
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> node_events_;
  std::vector<tensor::NodeId> timed_nodes_;
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> copy_events_;
  size_t copy_events_used_ = 0;
  bool gpu_experts_ = false;  // checks the experts' id error flag after each step
};

}  // namespace kt::cuda
