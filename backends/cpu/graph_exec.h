#pragma once
// Executes a Graph on the CPU, node by node in order, with the kernels of this backend.
// Every value is materialised as a contiguous tensor (F32, or I32 for indices); this is the
// plain executor that optimised schedulers are tested against.
#include <map>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/graph.h"
#include "tensor/tensor.h"

namespace kt::cpu {

class GraphExecutor {
 public:
  explicit GraphExecutor(ThreadPool& pool, Isa isa = best_isa()) : pool_(pool), isa_(isa) {}

  // inputs: a contiguous tensor for every Input node, of its declared type and element count.
  // Returns the value of every node (index = NodeId). Throws kt::Error naming the node when an
  // input is missing or wrong, an index is out of range, or a node is placed off the CPU.
  std::vector<tensor::Tensor> run(const tensor::Graph& g,
                                  const std::map<tensor::NodeId, tensor::Tensor>& inputs);

 private:
  ThreadPool& pool_;
  Isa isa_;
};

}  // namespace kt::cpu
