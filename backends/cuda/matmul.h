#pragma once
// GPU matrix products on weights in their GGUF block layout (uploaded as is):
//  * decode (few tokens): GEMV kernels that read the quantized blocks directly (F32, F16,
//    BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K), bandwidth-bound;
//  * prefill: the weight dequantized to F16 in the workspace, then cuBLAS GemmEx (F32 sums);
//  * the expert-indexed product (MatMulExperts) and per-head product (MatMulHeads) likewise.
// All activations are F32. The plain references are backends/cpu's kernels.
#include "backends/cuda/launch.h"
#include "tensor/graph.h"

namespace kt::cuda {

// True when every path below handles weights of this type.
bool matmul_supported(tensor::DType wtype);

// MatMul: w {K, N} (device, GGUF type), x {K, T} F32 -> out {N, T} F32.
void launch_matmul(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                   const tensor::Tensor& out, const LaunchContext& ctx);
size_t matmul_workspace_bytes(const tensor::Tensor& w, int64_t T);

// MatMulExperts: w {K, N, E}, x {K, T} (or {K, k*T}: a row per (slot, token)), ids I32 {k, T}
// on the device -> out {N, k, T}. Expert ids out of [0, E) produce an error flag the executor
// checks, never an out-of-bounds read.
void launch_matmul_experts(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                           const tensor::Tensor& ids, const tensor::Tensor& out,
                           const LaunchContext& ctx);
size_t matmul_experts_workspace_bytes(const tensor::Tensor& w, const tensor::Tensor& ids);

// MatMulHeads: w {K, N, H}, x {K, H, T} -> out {N, H, T}.
void launch_matmul_heads(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                         const tensor::Tensor& out, const LaunchContext& ctx);
size_t matmul_heads_workspace_bytes(const tensor::Tensor& w, int64_t T);

}  // namespace kt::cuda
