#pragma once
// One GPU node of a compiled step: which kernel family runs it and the scratch it needs.
// Internal to backends/cuda (exec_program.cpp).
#include <span>

#include "backends/cuda/launch.h"
#include "backends/cuda/marlin.h"
#include "tensor/graph.h"

namespace kt::cuda {

// in: the node's operands on the device (weights in the form weight_form() gives; for a MatMul
// run by Marlin, `marlin` is its repacked weight and in[0] is not read).
void launch_node(const tensor::Node& n, std::span<const tensor::Tensor> in,
                 const tensor::Tensor& out, const LaunchContext& ctx, const MarlinWeight* marlin);

// Scratch bytes launch_node needs for this node; n_ctx: cache capacity (Attention).
size_t node_workspace_bytes(const tensor::Node& n, std::span<const tensor::Tensor> in,
                            const MarlinWeight* marlin);

// True for ops the GPU computes (false for Input, Weight and the views Reshape and Copy).
bool launches_kernel(tensor::Op op);

}  // namespace kt::cuda
