#pragma once
// Per-head matrix products in one thread-pool dispatch: every head h of every token goes
// through its own small weight matrix, y[t][h] = W_h · x[t][h]. DeepSeek MLA's absorbed
// projections (q_nope into the latent space, the latent output back to v) are 16–128 such
// matrices of well under a megabyte per layer; one matmul call per head would spend more in
// waking the pool than in the products.
#include <cstddef>
#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/dtype.h"

namespace kt::cpu {

// W_h: n_rows rows of k elements (row_size(wtype, k) bytes each, back to back) at byte
// h·w_head_stride of w; x: activation row (t, h) at x + (t·n_heads + h)·k; y: output row
// (t, h) at y + (t·n_heads + h)·n_rows. Throws kt::Error for a weight type without a kernel,
// k not a multiple of its block size, or an ISA this CPU lacks.
void matmul_heads(ThreadPool& pool, tensor::DType wtype, const void* w, size_t w_head_stride,
                  int64_t n_rows, int64_t k, int64_t n_heads, const float* x, int64_t n_tokens,
                  float* y, Isa isa = best_isa());

}  // namespace kt::cpu
