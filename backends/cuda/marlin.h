#pragma once
// A Marlin-style 4-bit weight x FP16 activation GEMM: weights repacked once at load (GGUF ->
// dequantize -> int4 with one FP16 scale per group of 64 or 128 inputs -> a layout whose tiles
// feed tensor-core MMA directly), activations streamed with cp.async through a multi-stage
// shared-memory pipeline. For GPU-placed Linear modules that a rule asks for (KLinearMarlin).
#include <cstdint>
#include <memory>
#include <vector>

#include "backends/cuda/launch.h"
#include "tensor/tensor.h"

namespace kt::cuda {

struct MarlinWeight {
  int64_t k = 0, n = 0;           // inputs, outputs (w is {K, N} in ggml order)
  int group = 128;                // inputs per scale
  std::shared_ptr<void> qweight;  // device: packed int4 tiles
  std::shared_ptr<void> scales;   // device: FP16 scales in the kernel's order
  size_t bytes() const;           // device memory held
};

// True when a {K, N} weight can be repacked (shape constraints of the tiles).
bool marlin_supported(int64_t k, int64_t n, int group);

// Repacks a host weight of any dequantizable GGUF type. Throws kt::Error naming the shape when
// marlin_supported is false.
MarlinWeight marlin_repack(const tensor::Tensor& host_w, int group, cudaStream_t stream);

// y {N, T} = w · x for x {K, T}, F32 in and out (converted to/from FP16 in the workspace).
void marlin_matmul(const MarlinWeight& w, const float* x, float* y, int64_t T,
                   const LaunchContext& ctx);
size_t marlin_workspace_bytes(const MarlinWeight& w, int64_t T);

// The FP16 kernel itself (used by marlin_matmul and `kt bench ops --cuda`): c {N, T} = w · a
// for a {K, T}, all device pointers, FP16.
void marlin_gemm_f16(const MarlinWeight& w, const void* a, void* c, int64_t T, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream);
// Workspace marlin_gemm_f16 needs (split-K partial sums; 0 when no launch splits K).
size_t marlin_gemm_f16_workspace_bytes(const MarlinWeight& w, int64_t T);

// The weight values the kernel multiplies by, read back from the device: N rows of K floats
// (row n = output n, like the GGUF rows), each (q - 8) * scale. For tests and error reports.
std::vector<float> marlin_dequantize(const MarlinWeight& w, cudaStream_t stream);

}  // namespace kt::cuda
