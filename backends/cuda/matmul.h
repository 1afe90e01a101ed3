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

// ---- Additions by the matmul family (beyond the executor's interface above) ----

// Which path a launch takes. Auto picks by the thresholds below; the tests force each path.
enum class MatMulPath { Auto, Gemv, Gemm };

// Largest T (MatMul, MatMulHeads) or k·T (MatMulExperts) that the GEMV kernels serve; above
// it, dequantize-to-F16 + cuBLAS. The GEMV paths never synchronise or allocate (CUDA graph
// capturable); so does the cuBLAS path of MatMul and MatMulHeads. MatMulExperts' cuBLAS path
// downloads the ids and synchronises the stream (prefill only, never captured).
// Measured on an H100 (a timing run during issue 6, 2048x10944): GEMV beats dequantize + cuBLAS up to
// T ~ 12 (Q8_0) and ~ 22 (Q4_K); for F16 / F32 weights, which cuBLAS reads in place, only up
// to T = 2. Expert GEMV reads one matrix per pair; the cuBLAS path dequantizes each used
// expert and makes a host round trip: on {2048, 1408, 64} GEMV was still faster at 768 pairs
// (Q4_K 0.95 vs 1.86 ms, Q8_0 1.03 vs 1.51, Q6_K 0.99 vs 1.11).
constexpr int64_t kMatMulGemvMaxTokens = 8;
constexpr int64_t kMatMulGemvMaxTokensDirect = 2;  // F16 and F32 weights
constexpr int64_t kHeadsGemvMaxTokens = 8;
constexpr int64_t kExpertsGemvMaxPairs = 512;

// The same launches with the path forced (Auto = the functions above).
void launch_matmul(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                   const tensor::Tensor& out, const LaunchContext& ctx, MatMulPath path);
size_t matmul_workspace_bytes(const tensor::Tensor& w, int64_t T, MatMulPath path);
void launch_matmul_experts(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                           const tensor::Tensor& ids, const tensor::Tensor& out,
                           const LaunchContext& ctx, MatMulPath path);
size_t matmul_experts_workspace_bytes(const tensor::Tensor& w, const tensor::Tensor& ids,
                                      MatMulPath path);
void launch_matmul_heads(const tensor::Node& n, const tensor::Tensor& w, const tensor::Tensor& x,
                         const tensor::Tensor& out, const LaunchContext& ctx, MatMulPath path);
size_t matmul_heads_workspace_bytes(const tensor::Tensor& w, int64_t T, MatMulPath path);

// The MatMulExperts error flag of the current device: a device int32 that every launch sets
// to 1 when an expert id is outside [0, E) (the rows of that (slot, token) are written as
// zeros). Its address never changes, so a captured graph sets the same flag. The executor
// checks it after a step: take_expert_error copies it to the host (synchronising `stream`),
// resets it to 0 and returns whether it was set.
int32_t* expert_error_flag();
bool take_expert_error(cudaStream_t stream);

}  // namespace kt::cuda
