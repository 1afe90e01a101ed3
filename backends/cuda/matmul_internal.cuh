#pragma once
// Internals of the matmul family, shared by its .cu files:
//  * block decoders: one struct per weight type that turns a "unit" (a fixed slice of one GGUF
//    block) into floats exactly as tensor/dequantize.cpp does, so that the GEMV kernels, the
//    F16 dequantization for cuBLAS and the CPU reference agree element for element;
//  * GemvArgs, one batched GEMV description that covers MatMul (one batch), MatMulExperts (a
//    batch per (slot, token), its matrix picked by the expert id) and MatMulHeads (a batch
//    per head);
//  * the host launchers each file implements.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"
#include "tensor/graph.h"

namespace kt::cuda::mm {

// ---------------------------------------------------------------------------------------------
// Block decoders. Each has
//   kBlock  elements of one GGUF block,   kBytes  its size,
//   kUnits  units a block is cut into,    kE      elements of one unit (a multiple of 4),
//   decode(blk, j, v): the kE values of unit j of the block at blk, v[4g + i] being element
//                      run(j, g) + i of the block (runs of 4 contiguous elements, so that
//                      activations load as float4).
// Units are sized so that one thread reads 8-16 weight bytes at a time: enough bytes per load
// to stream HBM, few enough registers to decode two rows and keep 8 column sums each.
// Types whose block size is not a multiple of 4 bytes (Q4_0 18, Q5_0 22, Q8_0 34, Q6_K 210)
// only guarantee 2-byte alignment, so they load 16-bit words.

__device__ __forceinline__ float h2f(uint16_t h) {
  return __half2float(__ushort_as_half(h));
}
__device__ __forceinline__ uint16_t ld16(const uint8_t* p) {
  return __ldg(reinterpret_cast<const unsigned short*>(p));
}
// 4·n bytes from a 2-byte aligned address, as n little-endian 32-bit words.
template <int n>
__device__ __forceinline__ void ld_words2(const uint8_t* p, uint32_t (&w)[n]) {
#pragma unroll
  for (int i = 0; i < n; ++i)
    w[i] = uint32_t(ld16(p + 4 * i)) | (uint32_t(ld16(p + 4 * i + 2)) << 16);
}
// q - bias as a float for a small unsigned integer q (q < 2^23), without the int-to-float
// conversion instruction (a quarter-rate unit that bounds a GEMV decoding every weight): the
// bits 0x4B000000 | q are the float 2^23 + q, and the subtraction is exact.
template <int bias>
__device__ __forceinline__ float qf(uint32_t q) {
  return __uint_as_float(0x4B000000u | q) - float((1 << 23) + bias);
}
__device__ __forceinline__ int byte_of(const uint32_t* w, int i) {
  return int((w[i >> 2] >> (8 * (i & 3))) & 0xFF);
}

struct DecF32 {
  static constexpr int kBlock = 8, kBytes = 32, kUnits = 1, kE = 8;
  __device__ static int run(int, int g) { return 4 * g; }
  __device__ static void decode(const uint8_t* blk, int, float (&v)[kE]) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(blk));
    const float4 b = __ldg(reinterpret_cast<const float4*>(blk) + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  }
};

struct DecF16 {
  static constexpr int kBlock = 8, kBytes = 16, kUnits = 1, kE = 8;
  __device__ static int run(int, int g) { return 4 * g; }
  __device__ static void decode(const uint8_t* blk, int, float (&v)[kE]) {
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(blk));
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = h2f(uint16_t(w[i] & 0xFFFF));
      v[2 * i + 1] = h2f(uint16_t(w[i] >> 16));
    }
  }
};

struct DecBF16 {
  static constexpr int kBlock = 8, kBytes = 16, kUnits = 1, kE = 8;
  __device__ static int run(int, int g) { return 4 * g; }
  __device__ static void decode(const uint8_t* blk, int, float (&v)[kE]) {
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(blk));
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      v[2 * i] = __uint_as_float(w[i] << 16);
      v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
    }
  }
};

// Q4_0: d, qs[16]; element e < 16 is the low nibble of qs[e], e >= 16 the high one of qs[e-16].
// Unit j (of 2) takes qs[8j, 8j+8): elements 8j.. (low) and 16+8j.. (high).
struct DecQ4_0 {
  static constexpr int kBlock = 32, kBytes = 18, kUnits = 2, kE = 16;
  __device__ static int run(int j, int g) { return (g < 2 ? 0 : 16) + 8 * j + 4 * (g & 1); }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const float d = h2f(ld16(blk));
    uint32_t w[2];
    ld_words2(blk + 2 + 8 * j, w);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int b = byte_of(w, i);
      v[i] = qf<8>(b & 0x0F) * d;
      v[8 + i] = qf<8>(b >> 4) * d;
    }
  }
};

// Q5_0: d, qh[4] (bit e = fifth bit of element e), qs[16] as Q4_0.
struct DecQ5_0 {
  static constexpr int kBlock = 32, kBytes = 22, kUnits = 2, kE = 16;
  __device__ static int run(int j, int g) { return DecQ4_0::run(j, g); }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const float d = h2f(ld16(blk));
    const uint32_t qh = uint32_t(ld16(blk + 2)) | (uint32_t(ld16(blk + 4)) << 16);
    uint32_t w[2];
    ld_words2(blk + 6 + 8 * j, w);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int b = byte_of(w, i), e = 8 * j + i;
      const int lo = (b & 0x0F) | int(((qh >> e) & 1) << 4);
      const int hi = (b >> 4) | int(((qh >> (e + 16)) & 1) << 4);
      v[i] = qf<16>(lo) * d;
      v[8 + i] = qf<16>(hi) * d;
    }
  }
};

// Q8_0: d, qs[32] int8. Unit j (of 2): elements 16j..16j+15.
struct DecQ8_0 {
  static constexpr int kBlock = 32, kBytes = 34, kUnits = 2, kE = 16;
  __device__ static int run(int j, int g) { return 16 * j + 4 * g; }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const float d = h2f(ld16(blk));
    uint32_t w[4];
    ld_words2(blk + 2 + 16 * j, w);
#pragma unroll
    for (int i = 0; i < 16; ++i) v[i] = qf<128>(byte_of(w, i) ^ 0x80) * d;  // int8 + 128
  }
};

// The 6-bit (scale, min) pair `sub` of Q4_K/Q5_K from the 12 packed bytes in s0..s2. `sub`
// is not a compile-time constant, so the bytes are picked with selects rather than from an
// array (which would live in local memory).
__device__ __forceinline__ int packed_byte(uint32_t s0, uint32_t s1, uint32_t s2, int i) {
  const uint32_t w = i < 4 ? s0 : i < 8 ? s1 : s2;
  return int((w >> (8 * (i & 3))) & 0xFF);
}
__device__ __forceinline__ void scale_min_k4(int sub, uint32_t s0, uint32_t s1, uint32_t s2,
                                             int* sc, int* m) {
  if (sub < 4) {
    *sc = packed_byte(s0, s1, s2, sub) & 63;
    *m = packed_byte(s0, s1, s2, sub + 4) & 63;
  } else {
    *sc =
        (packed_byte(s0, s1, s2, sub + 4) & 0x0F) | ((packed_byte(s0, s1, s2, sub - 4) >> 6) << 4);
    *m = (packed_byte(s0, s1, s2, sub + 4) >> 4) | ((packed_byte(s0, s1, s2, sub) >> 6) << 4);
  }
}

// Q4_K: d, dmin, scales[12], qs[128]. Chunk c (0..3) of 64 elements: qs[32c, 32c+32), low
// nibbles are sub-block 2c, high nibbles sub-block 2c+1. Unit j = 2c + h takes qs[32c+16h, +16).
// Blocks are 144 = 9·16 bytes, so the header and the quants load as 16-byte words.
struct DecQ4_K {
  static constexpr int kBlock = 256, kBytes = 144, kUnits = 8, kE = 32;
  __device__ static int run(int j, int g) {
    return 64 * (j >> 1) + 16 * (j & 1) + (g < 4 ? 4 * g : 32 + 4 * (g - 4));
  }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const uint4 hd = __ldg(reinterpret_cast<const uint4*>(blk));
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(blk + 16 + 16 * j));
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
    const float d = h2f(uint16_t(hd.x & 0xFFFF)), dmin = h2f(uint16_t(hd.x >> 16));
    const int c = j >> 1;
    int sa, ma, sb, mb;
    scale_min_k4(2 * c, hd.y, hd.z, hd.w, &sa, &ma);
    scale_min_k4(2 * c + 1, hd.y, hd.z, hd.w, &sb, &mb);
    const float da = d * float(sa), mina = dmin * float(ma);
    const float db = d * float(sb), minb = dmin * float(mb);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int b = byte_of(w, i);
      v[i] = da * qf<0>(b & 0x0F) - mina;
      v[16 + i] = db * qf<0>(b >> 4) - minb;
    }
  }
};

// Q5_K: d, dmin, scales[12], qh[32], qs[128]: Q4_K plus a fifth bit, bit (2c + high nibble) of
// qh[l] for element l of a 32-run. 176 = 11·16 bytes: 16-byte loads.
struct DecQ5_K {
  static constexpr int kBlock = 256, kBytes = 176, kUnits = 8, kE = 32;
  __device__ static int run(int j, int g) { return DecQ4_K::run(j, g); }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const uint4 hd = __ldg(reinterpret_cast<const uint4*>(blk));
    const uint4 h = __ldg(reinterpret_cast<const uint4*>(blk + 16 + 16 * (j & 1)));
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(blk + 48 + 16 * j));
    const uint32_t w[4] = {q.x, q.y, q.z, q.w};
    const uint32_t hw[4] = {h.x, h.y, h.z, h.w};
    const float d = h2f(uint16_t(hd.x & 0xFFFF)), dmin = h2f(uint16_t(hd.x >> 16));
    const int c = j >> 1;
    int sa, ma, sb, mb;
    scale_min_k4(2 * c, hd.y, hd.z, hd.w, &sa, &ma);
    scale_min_k4(2 * c + 1, hd.y, hd.z, hd.w, &sb, &mb);
    const float da = d * float(sa), mina = dmin * float(ma);
    const float db = d * float(sb), minb = dmin * float(mb);
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int b = byte_of(w, i), hb = byte_of(hw, i);
      v[i] = da * qf<0>((b & 0x0F) | (((hb >> (2 * c)) & 1) << 4)) - mina;
      v[16 + i] = db * qf<0>((b >> 4) | (((hb >> (2 * c + 1)) & 1) << 4)) - minb;
    }
  }
};

// Q6_K: ql[128], qh[64], scales[16] int8, d. Half h (128 elements) uses ql[64h, +64),
// qh[32h, +32), scales[8h, +8); for l < 32 the four quarters are
//   q0 = ql[l] & 15, q1 = ql[l+32] & 15, q2 = ql[l] >> 4, q3 = ql[l+32] >> 4,
// with bits 2q..2q+1 of qh[l] on top, scale scales[8h + l/16 + 2q], element 128h + 32q + l.
// Unit j = 4h + m takes l in [8m, 8m+8) of all four quarters.
struct DecQ6_K {
  static constexpr int kBlock = 256, kBytes = 210, kUnits = 8, kE = 32;
  __device__ static int run(int j, int g) {
    return 128 * (j >> 2) + 32 * (g >> 1) + 8 * (j & 3) + 4 * (g & 1);
  }
  __device__ static void decode(const uint8_t* blk, int j, float (&v)[kE]) {
    const int half = j >> 2, l0 = 8 * (j & 3);
    uint32_t la[2], lb[2], hq[2];
    ld_words2(blk + 64 * half + l0, la);
    ld_words2(blk + 64 * half + 32 + l0, lb);
    ld_words2(blk + 128 + 32 * half + l0, hq);
    const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * half + (j & 3) / 2);
    const float d = h2f(ld16(blk + 208));
    float ds[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) ds[q] = d * float(__ldg(sc + 2 * q));
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int a = byte_of(la, i), b = byte_of(lb, i), h = byte_of(hq, i);
      v[i] = ds[0] * qf<32>((a & 0x0F) | ((h & 3) << 4));
      v[8 + i] = ds[1] * qf<32>((b & 0x0F) | (((h >> 2) & 3) << 4));
      v[16 + i] = ds[2] * qf<32>((a >> 4) | (((h >> 4) & 3) << 4));
      v[24 + i] = ds[3] * qf<32>((b >> 4) | (((h >> 6) & 3) << 4));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// One batched GEMV. For every batch z < batches and column t < T:
//   y[z·y_batch + t·y_col + n] = Σ_k W_z[n][k] · x[(z / x_div)·x_batch + t·x_col + k]
// with row n of W_z at w + z·w_batch + n·row_stride, or at w + ids[z]·w_batch + n·row_stride
// when ids is set (MatMulExperts: an id outside [0, n_experts) zeroes that batch's outputs and
// stores 1 to *error_flag instead of reading anything). Strides of x and y are in floats.
struct GemvArgs {
  const uint8_t* w = nullptr;
  size_t row_stride = 0, w_batch = 0;
  const int32_t* ids = nullptr;
  int32_t n_experts = 0;
  int32_t* error_flag = nullptr;
  int64_t N = 0, K = 0, T = 1, batches = 1;
  const float* x = nullptr;
  int64_t x_col = 0, x_batch = 0, x_div = 1;
  float* y = nullptr;
  int64_t y_col = 0, y_batch = 0;
  int64_t z0 = 0;  // first batch of this launch (grids of more than 65535 batches are split)
};

constexpr int kGemvThreads = 128;  // threads of a GEMV block
constexpr int kGemvRows = 2;       // rows a thread group computes together (activation reuse)
constexpr int kGemvMaxCols = 8;    // columns per launch; more are done in several launches

// Whether the GEMV / dequantization kernels handle this weight type, and the K granularity
// they need (the block size; 8 for the plain float types, which are read 8 at a time).
bool gemv_supported(tensor::DType type);
int64_t k_granularity(tensor::DType type);

// Launches the GEMV (any T, in launches of kGemvMaxCols columns). Throws kt::Error for an
// unsupported type; the caller has validated shapes and alignment.
void gemv(tensor::DType type, const GemvArgs& a, cudaStream_t stream);

// Dequantizes `rows` rows of K elements to F16, row r = (b, n) with b = r / rows_per_batch,
// n = r % rows_per_batch read at w + b·batch_stride + n·row_stride, written at out + r·K.
void dequant_f16(tensor::DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                 int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t stream);

// The per-family pieces of the two above (gemv_float.cu, gemv_quant.cu, gemv_kquant.cu);
// each returns false for a type that is not its own.
bool gemv_float(tensor::DType type, const GemvArgs& a, cudaStream_t stream);
bool gemv_legacy(tensor::DType type, const GemvArgs& a, cudaStream_t stream);
bool gemv_kquant(tensor::DType type, const GemvArgs& a, cudaStream_t stream);
bool dequant_float(tensor::DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                   int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s);
bool dequant_legacy(tensor::DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                    int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s);
bool dequant_kquant(tensor::DType type, const uint8_t* w, size_t row_stride, size_t batch_stride,
                    int64_t rows_per_batch, int64_t rows, int64_t K, __half* out, cudaStream_t s);

// ---------------------------------------------------------------------------------------------
// The GEMV kernel, instantiated per decoder in gemv_float.cu / gemv_quant.cu / gemv_kquant.cu.
//
// A block of kGemvThreads threads is cut into groups of `tpr` threads (32, 64 or 128); a group
// computes kGemvRows consecutive rows for T columns, its threads striding over the units of
// the rows. Short rows use small groups (more rows per block, no idle threads), long rows
// large ones (enough loads in flight when N is small). Each thread decodes the same unit of
// both rows, then streams the matching activations once for both rows. The sums are reduced
// with shuffles, then through shared memory across the warps of a group.
template <class D, int T>
__global__ void __launch_bounds__(kGemvThreads) gemv_kernel(GemvArgs a, int tpr) {
  constexpr int R = kGemvRows;
  const int group = threadIdx.x / tpr, gl = threadIdx.x % tpr;
  const int groups = kGemvThreads / tpr;
  const int64_t n0 = (int64_t(blockIdx.x) * groups + group) * R;
  const int64_t z = a.z0 + blockIdx.y;
  float* y = a.y + z * a.y_batch;
  const uint8_t* w = a.w;
  if (a.ids != nullptr) {
    const int32_t e = a.ids[z];
    if (e < 0 || e >= a.n_experts) {  // the whole block takes this branch
      if (gl == 0)
        for (int r = 0; r < R; ++r)
          for (int t = 0; t < T; ++t)
            if (n0 + r < a.N) y[t * a.y_col + n0 + r] = 0.0f;
      if (threadIdx.x == 0 && a.error_flag != nullptr) *a.error_flag = 1;
      return;
    }
    w += size_t(e) * a.w_batch;
  } else {
    w += size_t(z) * a.w_batch;
  }
  const float* x = a.x + (z / a.x_div) * a.x_batch;
  // Rows past N (the last group of an odd N) re-read row N-1 and drop the result: no branch
  // in the loop, no read out of bounds.
  const uint8_t* rows[R];
#pragma unroll
  for (int r = 0; r < R; ++r) rows[r] = w + size_t(min(n0 + r, a.N - 1)) * a.row_stride;

  float acc[R][T];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t) acc[r][t] = 0.0f;

  const int units = int(a.K / D::kBlock) * D::kUnits;
#pragma unroll 2
  for (int u = gl; u < units; u += tpr) {
    const int b = u / D::kUnits, j = u % D::kUnits;
    float v[R][D::kE];
#pragma unroll
    for (int r = 0; r < R; ++r) D::decode(rows[r] + size_t(b) * D::kBytes, j, v[r]);
    const float* xb = x + int64_t(b) * D::kBlock;
#pragma unroll
    for (int g = 0; g < D::kE / 4; ++g) {
      const int k = D::run(j, g);
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const float4 xv = __ldg(reinterpret_cast<const float4*>(xb + t * a.x_col + k));
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float s = acc[r][t];
          s = fmaf(v[r][4 * g], xv.x, s);
          s = fmaf(v[r][4 * g + 1], xv.y, s);
          s = fmaf(v[r][4 * g + 2], xv.z, s);
          acc[r][t] = fmaf(v[r][4 * g + 3], xv.w, s);
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int t = 0; t < T; ++t)
#pragma unroll
      for (int off = 16; off > 0; off >>= 1)
        acc[r][t] += __shfl_xor_sync(0xFFFFFFFFu, acc[r][t], off);

  if (tpr > 32) {
    __shared__ float part[kGemvThreads / 32][R][T];
    const int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0)
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < T; ++t) part[warp][r][t] = acc[r][t];
    __syncthreads();
    if (gl == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int t = 0; t < T; ++t) {
          float s = 0.0f;
          for (int i = 0; i < tpr / 32; ++i) s += part[warp + i][r][t];
          acc[r][t] = s;
        }
    }
  }
  if (gl == 0)
#pragma unroll
    for (int r = 0; r < R; ++r)
      if (n0 + r < a.N)
#pragma unroll
        for (int t = 0; t < T; ++t) y[t * a.y_col + n0 + r] = acc[r][t];
}

// Threads per row group for rows of `units` units: about 2+ units per thread, at most 128.
inline int gemv_group_threads(int64_t units) {
  return units >= 384 ? 128 : units >= 128 ? 64 : 32;
}

template <class D>
void launch_gemv(const GemvArgs& a0, cudaStream_t s) {
  const int tpr = gemv_group_threads(a0.K / D::kBlock * D::kUnits);
  const int64_t rows_per_block = int64_t(kGemvThreads / tpr) * kGemvRows;
  const unsigned grid_x = unsigned((a0.N + rows_per_block - 1) / rows_per_block);
  constexpr int64_t kMaxGridY = 65535;
  for (int64_t z0 = 0; z0 < a0.batches; z0 += kMaxGridY)
    for (int64_t t0 = 0; t0 < a0.T; t0 += kGemvMaxCols) {
      GemvArgs a = a0;
      a.z0 = z0;
      a.x += t0 * a.x_col;
      a.y += t0 * a.y_col;
      const dim3 grid(grid_x, unsigned(std::min(kMaxGridY, a0.batches - z0)));
      switch (int(std::min<int64_t>(kGemvMaxCols, a0.T - t0))) {
        case 1:
          gemv_kernel<D, 1><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 2:
          gemv_kernel<D, 2><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 3:
          gemv_kernel<D, 3><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 4:
          gemv_kernel<D, 4><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 5:
          gemv_kernel<D, 5><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 6:
          gemv_kernel<D, 6><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        case 7:
          gemv_kernel<D, 7><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
        default:
          gemv_kernel<D, 8><<<grid, kGemvThreads, 0, s>>>(a, tpr);
          break;
      }
    }
}

// One thread per unit: decode, write F16. Index math in 32 bits (64-bit division costs more
// than the decoding); dequant_f16 keeps every index below 2^31.
template <class D>
__global__ void dequant_f16_kernel(const uint8_t* w, size_t row_stride, size_t batch_stride,
                                   uint32_t rows_per_batch, uint32_t rows, uint32_t K,
                                   __half* out) {
  const uint32_t units_per_row = K / D::kBlock * D::kUnits;
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows * units_per_row) return;
  const uint32_t r = i / units_per_row, u = i % units_per_row;
  const int b = int(u / D::kUnits), j = int(u % D::kUnits);
  const uint8_t* row =
      w + size_t(r / rows_per_batch) * batch_stride + size_t(r % rows_per_batch) * row_stride;
  float v[D::kE];
  D::decode(row + size_t(b) * D::kBytes, j, v);
  __half* o = out + size_t(r) * K + size_t(b) * D::kBlock;
#pragma unroll
  for (int g = 0; g < D::kE / 4; ++g) {
    const __half2 lo = __floats2half2_rn(v[4 * g], v[4 * g + 1]);
    const __half2 hi = __floats2half2_rn(v[4 * g + 2], v[4 * g + 3]);
    __half2* dst = reinterpret_cast<__half2*>(o + D::run(j, g));
    dst[0] = lo;
    dst[1] = hi;
  }
}

template <class D>
void launch_dequant_f16(const uint8_t* w, size_t row_stride, size_t batch_stride,
                        int64_t rows_per_batch, int64_t rows, int64_t K, __half* out,
                        cudaStream_t s) {
  const int64_t total = rows * (K / D::kBlock * D::kUnits);
  if (total == 0) return;
  const int threads = 256;
  dequant_f16_kernel<D><<<unsigned((total + threads - 1) / threads), threads, 0, s>>>(
      w, row_stride, batch_stride, uint32_t(rows_per_batch), uint32_t(rows), uint32_t(K), out);
}

// ---------------------------------------------------------------------------------------------
// Prefill helpers (matmul.cu).

// Converts `rows` activation rows of K floats (K a multiple of 4) to F16: out row i is x row
// src[i] / src_div (src == nullptr: row i).
void rows_to_f16(const float* x, int64_t K, const int32_t* src, int64_t src_div, int64_t rows,
                 __half* out, cudaStream_t stream);

// C (m x n, column-major, ldc) = A^T · B with A: m rows of k F16 (lda apart), B: n rows of k
// F16 (k apart), F32 accumulation and output. `what` names the node for errors.
void gemm_f16(cublasHandle_t h, int64_t m, int64_t n, int64_t k, const __half* A, int64_t lda,
              const __half* B, float* C, int64_t ldc, const std::string& what);

// Writes y row i (n floats) to out row order[i], for i < count.
void scatter_rows(const float* y, const int32_t* order, int64_t count, int64_t n, float* out,
                  cudaStream_t stream);

// Throws kt::Error naming `what` when st is not CUBLAS_STATUS_SUCCESS.
void check_cublas(cublasStatus_t st, const std::string& what);

// Operand checks shared by the three ops; they throw kt::Error naming the node.
[[noreturn]] void fail(const tensor::Node& n, const std::string& what);
// Weight: a supported type on a CUDA device, K a multiple of k_granularity, the data and the
// row / batch strides aligned as the kernels load them.
void check_weight(const tensor::Node& n, const tensor::Tensor& w);
// Activation or output: F32, on a CUDA device, contiguous, 16-byte aligned.
void check_f32(const tensor::Node& n, const tensor::Tensor& t, const char* role);

// Carves 256-byte aligned pieces out of the workspace; the same sequence of take() calls with
// ptr == nullptr measures the bytes needed.
class Carver {
 public:
  explicit Carver(void* base = nullptr) : base_(static_cast<char*>(base)) {}
  template <class T>
  T* take(int64_t count) {
    char* p = base_ ? base_ + used_ : nullptr;
    used_ += (size_t(count) * sizeof(T) + 255) / 256 * 256;
    return reinterpret_cast<T*>(p);
  }
  size_t used() const { return used_; }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace kt::cuda::mm
