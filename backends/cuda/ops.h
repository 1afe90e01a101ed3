#pragma once
// GPU kernels for the graph's small ops: everything but the matmuls and attention. Each entry
// computes one Node (tensor/graph.h gives the semantics, backends/cpu is the reference) from
// device tensors. Activations are F32 (indices I32), contiguous; weight operands of Add/Mul/
// RMSNorm arrive as F32 (the executor converts them at upload); GetRows' table keeps its GGUF
// type. `out` is preallocated by the executor with the node's shape and type.
#include <span>

#include "backends/cuda/launch.h"
#include "tensor/graph.h"

namespace kt::cuda {

// True when launch_op implements node n's op (GetRows, Add, Mul, Scale, RMSNorm, RoPE,
// Softmax, Sigmoid, SiLU, SwiGLU, GELU, TopK, Gather, WeightedSum, Slice, Concat, MoeSelect,
// MoeWeights, CacheAppend) with these operand types.
bool op_supported(const tensor::Node& n, std::span<const tensor::Tensor> in);

// Runs node n on ctx.stream. CacheAppend writes in[1] into the cache in[0] ({D, H, n_ctx},
// contiguous) at row *ctx.d_pos and leaves `out` alone (the executor makes the view). Throws
// kt::Error naming the node for an unsupported op or operand type, or a CUDA failure.
void launch_op(const tensor::Node& n, std::span<const tensor::Tensor> in, const tensor::Tensor& out,
               const LaunchContext& ctx);

}  // namespace kt::cuda
