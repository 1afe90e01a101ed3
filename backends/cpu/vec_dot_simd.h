#pragma once
// Shared scaffolding of the SIMD dot-product tiers (included only by vec_dot_avx2.cpp and
// vec_dot_avx512.cpp): the dispatch from a run-time row count to a kernel instantiated for a
// compile-time row count, and the unpacking of the Q4_K/Q5_K 6-bit scales.
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backends/cpu/vec_dot.h"

namespace kt::cpu::simd {

using RowsFn = void (*)(int64_t k, const void* w, const char* x, size_t x_stride, float* s,
                        size_t s_stride);

template <class K, int... I>
constexpr std::array<RowsFn, sizeof...(I)> rows_table(std::integer_sequence<int, I...>) {
  return {&K::template run<I + 1>...};
}

// A VecDotFn for kernel K (a struct with `template <int NX> static void run(...)`), handling
// nx rows in groups of at most MaxNx.
template <class K, int MaxNx>
void multi(int64_t k, const void* w, const void* x, size_t x_stride, int nx, float* s,
           size_t s_stride) {
  static constexpr auto table = rows_table<K>(std::make_integer_sequence<int, MaxNx>{});
  const char* xp = static_cast<const char*>(x);
  for (int j0 = 0; j0 < nx; j0 += MaxNx) {
    const int m = nx - j0 < MaxNx ? nx - j0 : MaxNx;
    table[m - 1](k, w, xp + size_t(j0) * x_stride, x_stride, s + size_t(j0) * s_stride, s_stride);
  }
}

// The 12 packed scale bytes of Q4_K/Q5_K as 8 six-bit scales (bytes 0..7 of *scales) and
// 8 six-bit mins (bytes 0..7 of *mins), see gguf.md 7.10.
inline void unpack_scales_k4(const uint8_t* s, uint64_t* scales, uint64_t* mins) {
  uint32_t u0, u1, u2;
  std::memcpy(&u0, s, 4);
  std::memcpy(&u1, s + 4, 4);
  std::memcpy(&u2, s + 8, 4);
  const uint32_t sc_lo = u0 & 0x3F3F3F3Fu;
  const uint32_t sc_hi = (u2 & 0x0F0F0F0Fu) | ((u0 >> 2) & 0x30303030u);
  const uint32_t mn_lo = u1 & 0x3F3F3F3Fu;
  const uint32_t mn_hi = ((u2 >> 4) & 0x0F0F0F0Fu) | ((u1 >> 2) & 0x30303030u);
  *scales = uint64_t(sc_lo) | (uint64_t(sc_hi) << 32);
  *mins = uint64_t(mn_lo) | (uint64_t(mn_hi) << 32);
}

// Software prefetch distance for weight rows. The kernels stream weights from DRAM while
// doing enough arithmetic per byte that the out-of-order window alone cannot keep enough
// cache-line misses in flight; prefetching this far ahead restores the read bandwidth.
#ifndef KT_PREFETCH_BYTES
#define KT_PREFETCH_BYTES 2048
#endif
constexpr int kPrefetchBytes = KT_PREFETCH_BYTES;

// Prefetches the cache lines of one weight block (of consecutive blocks) kPrefetchBytes
// ahead of p. Blocks under 64 bytes need one prefetch each: consecutive calls touch every line.
template <size_t kBlockBytes>
inline void prefetch_block(const void* p) {
  const char* c = static_cast<const char*>(p) + kPrefetchBytes;
  for (size_t off = 0; off < kBlockBytes; off += 64) __builtin_prefetch(c + off, 0, 3);
  if constexpr (kBlockBytes > 64 && kBlockBytes % 64 != 0)
    __builtin_prefetch(c + kBlockBytes - 1, 0, 3);
}

template <class T>
inline const T* row_at(const char* x, size_t x_stride, int j) {
  return reinterpret_cast<const T*>(x + size_t(j) * x_stride);
}

}  // namespace kt::cpu::simd
