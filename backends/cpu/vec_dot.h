#pragma once
// Dot-product kernels of one weight row against one or more activation rows, per weight type
// and per instruction-set tier. The activation rows are in the weight's vec_dot_type
// (tensor/dtype.h): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for Q4_K/Q5_K/Q6_K, F32 for F32/F16/BF16.
//
// Every kernel has a plain scalar reference (vec_dot_ref.cpp) that the AVX2 and AVX-512
// versions are tested against; the integer parts are computed exactly, so tiers differ only
// in the order of float additions.
#include <cstddef>
#include <cstdint>

#include "backends/cpu/cpu_features.h"
#include "tensor/dtype.h"

namespace kt::cpu {

// Most activation rows one call handles. Several rows per call let GEMM (prefill) reuse the
// unpacked weight row from registers; decode calls with nx = 1.
constexpr int kVecDotMaxRows = 8;

// For j in [0, nx): s[j * s_stride] = Σ_i w[i] · x_j[i], where x_j starts at byte
// j * x_stride of x. k is the row length in elements, a multiple of the weight's block size
// (and, for quantized types, of the activation type's block size, which is the same).
// 1 <= nx <= kVecDotMaxRows.
using VecDotFn = void (*)(int64_t k, const void* w, const void* x, size_t x_stride, int nx,
                          float* s, size_t s_stride);

// Quantizes n elements of f32 into the activation format (n a multiple of its block size).
using QuantizeActFn = void (*)(const float* src, void* dst, int64_t n);

struct Kernels {
  Isa isa;
  VecDotFn f32, f16, bf16;      // x: f32
  VecDotFn q4_0, q5_0, q8_0;    // x: Q8_0
  VecDotFn q4_K, q5_K, q6_K;    // x: Q8_K
  QuantizeActFn quantize_q8_0;  // same bytes as tensor::quantize_row_q8_0
  QuantizeActFn quantize_q8_K;  // same bytes as tensor::quantize_row_q8_K

  // The kernel for a weight type; nullptr when this table has none.
  VecDotFn vec_dot(tensor::DType wtype) const;
};

// The table of a tier. The tier must be supported by this CPU (isa_supported) before any of
// its functions is called.
const Kernels& kernels(Isa isa);

// Per-tier tables, defined in vec_dot_{ref,avx2,avx512}.cpp.
const Kernels& kernels_ref();
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();

}  // namespace kt::cpu
