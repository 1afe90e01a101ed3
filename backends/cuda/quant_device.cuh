#pragma once
// Device-side reading of GGUF blocks: element e of one block as f32, for every type that
// tensor/quants.h dequantizes on the CPU. The formulas and the order of the float operations
// follow tensor/dequantize.cpp, with the products rounded on their own (__fmul_rn) where the
// CPU subtracts or adds after them, so that nvcc does not fuse them into an FMA: the results
// are then bit-identical to the CPU reference. Include from .cu files only.
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "tensor/dtype.h"
#include "tensor/quant_blocks.h"

namespace kt::cuda::quant {

using tensor::DType;

__device__ __forceinline__ float f16(uint16_t h) {
  return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ float bf16(uint16_t h) {
  return __uint_as_float(uint32_t(h) << 16);
}

// d * a - m * b with both products rounded, as the CPU computes the K-quants.
__device__ __forceinline__ float scaled_minus(float d, float a, float m, float b) {
  return __fsub_rn(__fmul_rn(d, a), __fmul_rn(m, b));
}

// The IQ4_NL code book packed into two 64-bit constants (byte i = value i): a plain scalar
// constant lives in registers, where a table would need __constant__ memory in every TU.
constexpr uint64_t pack_iq4nl(int first) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(tensor::kIQ4NLValues[first + i])) << (8 * i);
  return v;
}
constexpr uint64_t kIQ4NLLo = pack_iq4nl(0), kIQ4NLHi = pack_iq4nl(8);

__device__ __forceinline__ float iq4nl_value(int q) {
  const uint64_t w = q < 8 ? kIQ4NLLo : kIQ4NLHi;
  return float(int8_t(uint8_t(w >> (8 * (q & 7)))));
}

// 6-bit (scale, min) pair j of Q4_K/Q5_K (tensor::get_scale_min_k4 is host-only).
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Nibble e of a 32-element block whose first 16 values are the low nibbles of qs[0..15] and
// the next 16 the high nibbles (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL).
__device__ __forceinline__ int nibble32(const uint8_t* qs, int e) {
  return e < 16 ? (qs[e] & 0x0F) : (qs[e - 16] >> 4);
}

__device__ __forceinline__ uint32_t le32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// --- One function per block type: element e (0 <= e < block size) of block b. ---

__device__ __forceinline__ float elem(const tensor::BlockQ4_0& b, int e) {
  return f16(b.d) * float(nibble32(b.qs, e) - 8);
}

__device__ __forceinline__ float elem(const tensor::BlockQ4_1& b, int e) {
  return __fadd_rn(__fmul_rn(f16(b.d), float(nibble32(b.qs, e))), f16(b.m));
}

__device__ __forceinline__ float elem(const tensor::BlockQ5_0& b, int e) {
  // Bit e of qh is the fifth bit of element e (elements 16..31 use bits 16..31).
  const int q = nibble32(b.qs, e) | int(((le32(b.qh) >> e) & 1) << 4);
  return f16(b.d) * float(q - 16);
}

__device__ __forceinline__ float elem(const tensor::BlockQ5_1& b, int e) {
  const int q = nibble32(b.qs, e) | int(((le32(b.qh) >> e) & 1) << 4);
  return __fadd_rn(__fmul_rn(f16(b.d), float(q)), f16(b.m));
}

__device__ __forceinline__ float elem(const tensor::BlockQ8_0& b, int e) {
  return f16(b.d) * float(b.qs[e]);
}

__device__ __forceinline__ float elem(const tensor::BlockQ8_1& b, int e) {
  return f16(b.d) * float(b.qs[e]);
}

__device__ __forceinline__ float elem(const tensor::BlockQ2_K& b, int e) {
  const int h = e / 128, j = (e % 128) / 32, l = e % 32;
  const uint8_t sc = b.scales[8 * h + 2 * j + l / 16];
  const int q = (b.qs[32 * h + l] >> (2 * j)) & 3;
  return scaled_minus(__fmul_rn(f16(b.d), float(sc & 0x0F)), float(q), f16(b.dmin), float(sc >> 4));
}

__device__ __forceinline__ float elem(const tensor::BlockQ3_K& b, int e) {
  const int h = e / 128, j = (e % 128) / 32, l = e % 32;
  const int i = 8 * h + 2 * j + l / 16;  // which of the 16 six-bit scales
  const uint8_t* s = b.scales;
  const int low4 = i < 8 ? (s[i] & 0x0F) : (s[i - 8] >> 4);
  const int hi2 = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
  const int scale = (low4 | (hi2 << 4)) - 32;
  const int q2 = (b.qs[32 * h + l] >> (2 * j)) & 3;
  const bool hb = (b.hmask[l] >> (4 * h + j)) & 1;
  return __fmul_rn(__fmul_rn(f16(b.d), float(scale)), float(q2 - (hb ? 0 : 4)));
}

__device__ __forceinline__ float elem(const tensor::BlockQ4_K& b, int e) {
  const int c = e / 64, l = e % 64, hi = l >= 32;
  int sc, m;
  scale_min_k4(2 * c + hi, b.scales, &sc, &m);
  const uint8_t q = b.qs[32 * c + (l % 32)];
  const int v = hi ? (q >> 4) : (q & 0x0F);
  return scaled_minus(__fmul_rn(f16(b.d), float(sc)), float(v), f16(b.dmin), float(m));
}

__device__ __forceinline__ float elem(const tensor::BlockQ5_K& b, int e) {
  const int c = e / 64, l = e % 64, hi = l >= 32;
  int sc, m;
  scale_min_k4(2 * c + hi, b.scales, &sc, &m);
  const uint8_t q = b.qs[32 * c + (l % 32)];
  const int v = (hi ? (q >> 4) : (q & 0x0F)) + 16 * ((b.qh[l % 32] >> (2 * c + hi)) & 1);
  return scaled_minus(__fmul_rn(f16(b.d), float(sc)), float(v), f16(b.dmin), float(m));
}

__device__ __forceinline__ float elem(const tensor::BlockQ6_K& b, int e) {
  // Each half of 128 values: quarters 0/1 take the low nibbles of ql[l] / ql[l + 32],
  // quarters 2/3 their high nibbles; qh holds the top two bits of all four quarters.
  const int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
  const uint8_t lb = b.ql[64 * half + l + 32 * (quarter & 1)];
  const int low = quarter < 2 ? (lb & 0x0F) : (lb >> 4);
  const int hb = (b.qh[32 * half + l] >> (2 * quarter)) & 3;
  const int q = (low | (hb << 4)) - 32;
  const int8_t s = b.scales[8 * half + l / 16 + 2 * quarter];
  return __fmul_rn(__fmul_rn(f16(b.d), float(s)), float(q));
}

__device__ __forceinline__ float elem(const tensor::BlockQ8_K& b, int e) {
  return b.d * float(b.qs[e]);
}

__device__ __forceinline__ float elem(const tensor::BlockIQ4_NL& b, int e) {
  return f16(b.d) * iq4nl_value(nibble32(b.qs, e));
}

__device__ __forceinline__ float elem(const tensor::BlockIQ4_XS& b, int e) {
  const int sb = e / 32, j = e % 32;
  const int ls =
      ((b.scales_l[sb / 2] >> (4 * (sb % 2))) & 0x0F) | (((b.scales_h >> (2 * sb)) & 3) << 4);
  const float dl = f16(b.d) * float(ls - 32);
  return dl * iq4nl_value(nibble32(b.qs + 16 * sb, j));
}

// --- Types as compile-time parameters: block struct and elements per block. ---

template <DType T>
struct Block;
template <>
struct Block<DType::F32> {
  using type = float;
  static constexpr int size = 1;
};
template <>
struct Block<DType::F16> {
  using type = uint16_t;
  static constexpr int size = 1;
};
template <>
struct Block<DType::BF16> {
  using type = uint16_t;
  static constexpr int size = 1;
};
#define KT_QUANT_BLOCK(T, S, N)    \
  template <>                      \
  struct Block<DType::T> {         \
    using type = tensor::S;        \
    static constexpr int size = N; \
  };
KT_QUANT_BLOCK(Q4_0, BlockQ4_0, tensor::QK4_0)
KT_QUANT_BLOCK(Q4_1, BlockQ4_1, tensor::QK4_1)
KT_QUANT_BLOCK(Q5_0, BlockQ5_0, tensor::QK5_0)
KT_QUANT_BLOCK(Q5_1, BlockQ5_1, tensor::QK5_1)
KT_QUANT_BLOCK(Q8_0, BlockQ8_0, tensor::QK8_0)
KT_QUANT_BLOCK(Q8_1, BlockQ8_1, tensor::QK8_1)
KT_QUANT_BLOCK(Q2_K, BlockQ2_K, tensor::QK_K)
KT_QUANT_BLOCK(Q3_K, BlockQ3_K, tensor::QK_K)
KT_QUANT_BLOCK(Q4_K, BlockQ4_K, tensor::QK_K)
KT_QUANT_BLOCK(Q5_K, BlockQ5_K, tensor::QK_K)
KT_QUANT_BLOCK(Q6_K, BlockQ6_K, tensor::QK_K)
KT_QUANT_BLOCK(Q8_K, BlockQ8_K, tensor::QK_K)
KT_QUANT_BLOCK(IQ4_NL, BlockIQ4_NL, tensor::QK4_NL)
KT_QUANT_BLOCK(IQ4_XS, BlockIQ4_XS, tensor::QK_K)
#undef KT_QUANT_BLOCK

// Element i of a row of type T starting at `row` (a row begins on a block boundary).
template <DType T>
__device__ __forceinline__ float row_elem(const void* row, int64_t i) {
  using B = typename Block<T>::type;
  const B* blocks = static_cast<const B*>(row);
  if constexpr (T == DType::F32) {
    return blocks[i];
  } else if constexpr (T == DType::F16) {
    return f16(blocks[i]);
  } else if constexpr (T == DType::BF16) {
    return bf16(blocks[i]);
  } else {
    return elem(blocks[i / Block<T>::size], int(i % Block<T>::size));
  }
}

// The types row_elem reads: those tensor/quants.h dequantizes.
constexpr bool readable(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q8_0:
    case DType::Q8_1:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::Q8_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

// Calls f(std::integral_constant<DType, T>{}) for the readable runtime type t: the way a host
// launcher picks the template instance of its kernel. Returns false for other types.
template <class F>
bool dispatch_readable(DType t, F&& f) {
#define KT_CASE(T)                                \
  case DType::T:                                  \
    f(std::integral_constant<DType, DType::T>{}); \
    return true;
  switch (t) {
    KT_CASE(F32)
    KT_CASE(F16)
    KT_CASE(BF16)
    KT_CASE(Q4_0)
    KT_CASE(Q4_1)
    KT_CASE(Q5_0)
    KT_CASE(Q5_1)
    KT_CASE(Q8_0)
    KT_CASE(Q8_1)
    KT_CASE(Q2_K)
    KT_CASE(Q3_K)
    KT_CASE(Q4_K)
    KT_CASE(Q5_K)
    KT_CASE(Q6_K)
    KT_CASE(Q8_K)
    KT_CASE(IQ4_NL)
    KT_CASE(IQ4_XS)
    default:
      return false;
  }
#undef KT_CASE
}

}  // namespace kt::cuda::quant
