#pragma once
// Pipeline placement over several GPUs (KTransformers' multi-GPU rule files: layers 0..k on
// cuda:0, the rest on cuda:1, routed experts on the CPU). A step graph is cut wherever its GPU
// nodes change device; each piece (a stage) is a sub-graph that the HybridExecutor of its
// device runs with its own arena, weights and CUDA graph. A value that crosses a cut is handed
// over device to device (a peer copy, never through host memory) into a buffer on the next
// stage's device. CPU nodes belong to the stage of the GPU nodes around them, so the CPU
// experts serve the layers of every GPU.
//
// device_map[i] is the physical device that rules' cuda:i runs on: the identity on a machine
// with that many GPUs; tests map cuda:1 onto device 0 to drive the hand-off on one GPU.
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "backends/cuda/exec.h"
#include "tensor/graph.h"

namespace kt::cuda {

// One piece of a cut graph.
struct Stage {
  int device = 0;  // physical device (after device_map)
  tensor::Graph graph;
  // Sub-graph Input id -> where its value comes from: an original input (a supplied tensor)
  // or a node of an earlier stage (handed over).
  std::map<tensor::NodeId, tensor::NodeId> from_original;
  std::vector<tensor::NodeId> outputs;  // sub-graph ids: values later stages or the caller need
  std::vector<tensor::NodeId> outputs_original;  // the same, as original ids
};

// Cuts g into stages where the device of its GPU nodes changes (and remaps GPU nodes' devices
// through device_map). CPU nodes join the stage they sit in; those before the first GPU node
// join the first stage. Weights and Inputs are copied into every stage that reads them.
// wanted: original node ids the caller wants back. Throws kt::Error for a device index without
// an entry in device_map.
std::vector<Stage> cut_into_stages(const tensor::Graph& g, std::span<const tensor::NodeId> wanted,
                                   const std::vector<int>& device_map);

class PipelineExecutor {
 public:
  PipelineExecutor(std::vector<int> device_map, ExecOptions base);

  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs,
                                  std::span<const tensor::NodeId> outputs, cpu::ThreadPool& pool);
  using Progress = std::function<void(size_t done, size_t total)>;
  void upload_weights(const tensor::Graph& g, const Progress& progress = {});

  int physical(int logical) const;  // throws for an unmapped index
  const std::vector<int>& device_map() const { return map_; }
  // The executor of a physical device (made on first use).
  HybridExecutor& executor(int physical_device);
  std::vector<int> physical_devices() const;  // those with an executor, ascending

  // Sums of the stages' last profiles (wall is the whole run); handed-over bytes per step.
  const StepProfile& last_profile() const { return profile_; }
  size_t last_handoff_bytes() const { return handoff_bytes_; }
  int last_stage_count() const { return last_stages_; }
  void set_options(const ExecOptions& opt);
  const ExecOptions& options() const { return base_; }
  size_t device_bytes() const;  // weights, arenas and workspaces over all devices

 private:
  std::vector<int> map_;
  ExecOptions base_;
  std::map<int, std::unique_ptr<HybridExecutor>> execs_;
  // Hand-over buffers on the receiving device, kept between steps (a decode step's hand-offs
  // have the same shapes every time): key = (stage index, sub-graph input id).
  std::map<std::pair<size_t, tensor::NodeId>, tensor::Tensor> handoff_;
  StepProfile profile_;
  size_t handoff_bytes_ = 0;
  int last_stages_ = 0;
};

}  // namespace kt::cuda
