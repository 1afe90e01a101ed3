#pragma once
// Matrix multiplication of a weight matrix stored in GGUF blocks by f32 activations, on the
// CPU thread pool (ggml's mul_mat): y[t][n] = Σ_i W[n][i] · x[t][i].
//
// The activations are quantized once to the weight type's vec_dot_type (Q8_0 / Q8_K; f32
// weights use them as they are), then the rows are split over threads: by row chunks for
// decode (one token), by tiles of rows × tokens for prefill, where one kernel call multiplies
// a weight row by up to kVecDotMaxRows activation rows.
#include <cstddef>
#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/thread_pool.h"
#include "tensor/dtype.h"

namespace kt::cpu {

// Whether matmul has a kernel for this weight type (every tier has the same set).
bool matmul_supported(tensor::DType wtype);

// W: n_rows rows of k elements, row_size(wtype, k) bytes each, back to back; x: n_tokens rows
// of k floats; y: n_tokens rows of n_rows floats. Throws kt::Error for a weight type without a
// kernel, k not a multiple of the block size, or an ISA this CPU lacks.
void matmul(ThreadPool& pool, tensor::DType wtype, const void* w, int64_t n_rows, int64_t k,
            const float* x, int64_t n_tokens, float* y, Isa isa = best_isa());

// Strided form: weight row n at byte n·w_row_stride of w (>= row_size), activation row t at
// x + t·x_stride floats, output row t at y + t·y_stride floats. For expert e of a 3-D ggml
// stack (ne0 = k, ne1 = n_rows, ne2 = experts), pass w = base + e·nb2 and w_row_stride = nb1.
void matmul_strided(ThreadPool& pool, tensor::DType wtype, const void* w, size_t w_row_stride,
                    int64_t n_rows, int64_t k, const float* x, int64_t x_stride, int64_t n_tokens,
                    float* y, int64_t y_stride, Isa isa = best_isa());

// The two halves of matmul_strided, for callers that multiply one activation matrix by
// several weight matrices (an MoE layer's gate and up projections, its experts): quantize
// once, multiply many times.
//
// Bytes of one quantized activation row of k elements for weights of type wtype.
size_t quantized_row_size(tensor::DType wtype, int64_t k);
// Writes n_tokens rows of quantized_row_size(wtype, k) bytes, back to back, to dst.
void quantize_activations(ThreadPool& pool, tensor::DType wtype, const float* x, int64_t x_stride,
                          int64_t n_tokens, int64_t k, void* dst, Isa isa = best_isa());
// As matmul_strided, with activation row t at byte t·xq_stride of xq (already quantized).
void matmul_quantized(ThreadPool& pool, tensor::DType wtype, const void* w, size_t w_row_stride,
                      int64_t n_rows, int64_t k, const void* xq, size_t xq_stride, int64_t n_tokens,
                      float* y, int64_t y_stride, Isa isa = best_isa());

}  // namespace kt::cpu
