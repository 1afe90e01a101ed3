// AVX-512 tier (F, BW, VL, DQ, VNNI): quantized dot products with vpdpbusd (unsigned weight
// bytes × signed activation bytes); signed weights are shifted to unsigned and the offset
// is taken back through the activation sums. Compiled with -mavx512*; called only after
// isa_supported(Isa::Avx512).
//
// GCC 12 reports its own _mm512_undefined_*() placeholders inside the intrinsic headers as
// uninitialised (GCC bug 105593); the warnings say nothing about this file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backends/cpu/vec_dot_simd.h"
#include "tensor/quant_blocks.h"
#include "tensor/quants.h"

namespace kt::cpu {
namespace {

using namespace kt::tensor;
using simd::row_at;

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float f16(uint16_t h) {
  return _cvtsh_ss(h);
}

// ---- F32 / F16 / BF16 weights · f32 activations ------------------------------------------

struct LoadF32 {
  using T = float;
  static __m512 load(const T* p) { return _mm512_loadu_ps(p); }
  static __m512 load_tail(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 load(const T* p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*)p)); }
  static __m512 load_tail(const T* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 load(const T* p) { return widen(_mm256_loadu_si256((const __m256i*)p)); }
  static __m512 load_tail(const T* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

template <class L>
struct FloatDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    using T = typename L::T;
    const T* a = static_cast<const T*>(w);
    constexpr int U = NX == 1 ? 4 : (NX <= 2 ? 2 : 1);  // independent accumulators per row
    __m512 acc[NX][U];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j)
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) acc[j][u] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 * U <= k; i += 16 * U) {
      simd::prefetch_block<16 * U * sizeof(T)>(a + i);
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) {
        const __m512 wv = L::load(a + i + 16 * u);
#pragma GCC unroll 8
        for (int j = 0; j < NX; ++j)
          acc[j][u] =
              _mm512_fmadd_ps(wv, _mm512_loadu_ps(row_at<float>(x, xs, j) + i + 16 * u), acc[j][u]);
      }
    }
    for (; i + 16 <= k; i += 16) {
      const __m512 wv = L::load(a + i);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j)
        acc[j][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(row_at<float>(x, xs, j) + i), acc[j][0]);
    }
    if (i < k) {
      const __mmask16 m = __mmask16((1u << (k - i)) - 1);
      const __m512 wv = L::load_tail(a + i, m);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j)
        acc[j][0] =
            _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, row_at<float>(x, xs, j) + i), acc[j][0]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) {
      __m512 t = acc[j][0];
#pragma GCC unroll 8
      for (int u = 1; u < U; ++u) t = _mm512_add_ps(t, acc[j][u]);
      s[j * ss] = _mm512_reduce_add_ps(t);
    }
  }
};

// ---- 32-element blocks · Q8_0 -----------------------------------------------------------
// Each weight block becomes 32 unsigned bytes u with Σ (u − kOffset)·y = Σ w·y.

// 16 bytes of packed nibbles -> [low nibbles | high nibbles] as 32 bytes.
inline __m256i nibbles_32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128((const __m128i*)qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

struct UnpackQ4_0 {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static __m256i unpack(const Block& b) { return nibbles_32(b.qs); }
};
struct UnpackQ5_0 {
  using Block = BlockQ5_0;
  static constexpr int kOffset = 16;
  static __m256i unpack(const Block& b) {
    uint32_t h;
    std::memcpy(&h, b.qh, 4);
    return _mm256_or_si256(nibbles_32(b.qs), _mm256_maskz_mov_epi8(h, _mm256_set1_epi8(0x10)));
  }
};
struct UnpackQ8_0 {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static __m256i unpack(const Block& b) {
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i*)b.qs), _mm256_set1_epi8(char(0x80)));
  }
};

template <class U>
struct Q8_0Dot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const typename U::Block*>(w);
    const int64_t nb = k / QK8_0;
    const __m256i off = _mm256_set1_epi8(char(U::kOffset));
    __m256 acc[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      simd::prefetch_block<sizeof(typename U::Block)>(&wb[i]);
      const __m256i u = U::unpack(wb[i]);
      const float dw = f16(wb[i].d);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_0& y = row_at<BlockQ8_0>(x, xs, j)[i];
        const __m256i yv = _mm256_loadu_si256((const __m256i*)y.qs);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, yv);
        const __m256i o = _mm256_dpbusd_epi32(_mm256_setzero_si256(), off, yv);
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(p, o)),
                                 _mm256_set1_ps(dw * f16(y.d)), acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = hsum256(acc[j]);
  }
};

// ---- K-quants · Q8_K ----------------------------------------------------------------------

// Lanes [2c ×8 | 2c+1 ×8]: picks the scales of chunk c (sub-blocks 2c, 2c+1) for the 16
// dword sums vpdpbusd makes of 64 bytes (8 dwords per 32-element sub-block).
inline __m512i chunk_index(int c) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * c)),
                            _mm256_set1_epi32(2 * c + 1), 1);
}

// mins (8 bytes) · per-sub-block activation sums (bsums pairs) -> 8 dwords.
inline __m256i min_products(uint64_t mins, const int16_t* bsums) {
  const __m128i m8 = _mm_cvtsi64_si128(int64_t(mins));
  const __m128i dup =
      _mm_shuffle_epi8(m8, _mm_set_epi8(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0));
  const __m256i m16 = _mm256_cvtepu8_epi16(dup);
  return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)bsums), m16);
}

struct Q4_KDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const BlockQ4_K*>(w);
    const int64_t nb = k / QK_K;
    // Low nibbles stay in place (mask 0x0F), high nibbles are kept as 16·q (mask 0xF0);
    // the low half's scale is multiplied by 16 to match and the total divided by 16.
    const __m512i nib_mask =
        _mm512_inserti64x4(_mm512_set1_epi8(0x0F), _mm256_set1_epi8(char(0xF0)), 1);
    __m512 acc[NX];
    __m256 accm[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) {
      acc[j] = _mm512_setzero_ps();
      accm[j] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ4_K& b = wb[i];
      simd::prefetch_block<sizeof(BlockQ4_K)>(&b);
      uint64_t sc8, mn8;
      simd::unpack_scales_k4(b.scales, &sc8, &mn8);
      __m512i sc32 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(sc8)));
      sc32 = _mm512_mask_slli_epi32(sc32, 0x5555, sc32, 4);
      __m512i q[4], scv[4];
#pragma GCC unroll 8
      for (int c = 0; c < 4; ++c) {
        q[c] = _mm512_and_si512(
            _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(b.qs + 32 * c))), nib_mask);
        scv[c] = _mm512_permutexvar_epi32(chunk_index(c), sc32);
      }
      const float d = f16(b.d) * (1.0f / 16.0f), dmin = f16(b.dmin);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 4; ++c) {
          const __m512i p =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], _mm512_loadu_si512(y.qs + 64 * c));
          sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, scv[c]));
        }
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d * y.d), acc[j]);
        accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_products(mn8, y.bsums)),
                                  _mm256_set1_ps(dmin * y.d), accm[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = _mm512_reduce_add_ps(acc[j]) - hsum256(accm[j]);
  }
};

struct Q5_KDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const BlockQ5_K*>(w);
    const int64_t nb = k / QK_K;
    // Word shift counts: 0 for the low half of a zmm (low nibbles / qh bit 2c), 4 for the
    // high half (high nibbles) and 1 for qh (bit 2c+1 moves to bit 2c).
    const __m512i nib_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    const __m512i qh_shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(1), 1);
    const __m512i m0f = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(0x10);
    __m512 acc[NX];
    __m256 accm[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) {
      acc[j] = _mm512_setzero_ps();
      accm[j] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ5_K& b = wb[i];
      simd::prefetch_block<sizeof(BlockQ5_K)>(&b);
      uint64_t sc8, mn8;
      simd::unpack_scales_k4(b.scales, &sc8, &mn8);
      const __m512i sc32 = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(sc8)));
      const __m512i hb = _mm512_srlv_epi16(
          _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)b.qh)), qh_shift);
      __m512i q[4], scv[4];
#pragma GCC unroll 8
      for (int c = 0; c < 4; ++c) {
        const __m512i qb =
            _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(b.qs + 32 * c)));
        const __m512i lo = _mm512_and_si512(_mm512_srlv_epi16(qb, nib_shift), m0f);
        const __mmask64 hm = _mm512_test_epi8_mask(hb, _mm512_set1_epi8(char(1 << (2 * c))));
        q[c] = _mm512_or_si512(lo, _mm512_maskz_mov_epi8(hm, b16));
        scv[c] = _mm512_permutexvar_epi32(chunk_index(c), sc32);
      }
      const float d = f16(b.d), dmin = f16(b.dmin);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int c = 0; c < 4; ++c) {
          const __m512i p =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[c], _mm512_loadu_si512(y.qs + 64 * c));
          sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, scv[c]));
        }
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d * y.d), acc[j]);
        accm[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_products(mn8, y.bsums)),
                                  _mm256_set1_ps(dmin * y.d), accm[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = _mm512_reduce_add_ps(acc[j]) - hsum256(accm[j]);
  }
};

struct Q6_KDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const BlockQ6_K*>(w);
    const int64_t nb = k / QK_K;
    // qh bits 2..3 of a byte -> bits 4..5 (elements 0..31: shift left 4; 32..63: left 2);
    // for elements 64..127 bits 4..5 stay (shift 0) and bits 6..7 shift right 2.
    const __m512i sh_a = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i sh_b = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i m0f = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512 acc[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ6_K& b = wb[i];
      simd::prefetch_block<sizeof(BlockQ6_K)>(&b);
      const __m128i sc8 = _mm_loadu_si128((const __m128i*)b.scales);
      const __m512i sc32 = _mm512_cvtepi8_epi32(sc8);
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      __m512i q[4], scv[4];
#pragma GCC unroll 8
      for (int n = 0; n < 2; ++n) {
        const __m512i l = _mm512_loadu_si512(b.ql + 64 * n);
        const __m512i h =
            _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i*)(b.qh + 32 * n)));
        const __m512i ha = _mm512_and_si512(_mm512_sllv_epi16(h, sh_a), m30);
        const __m512i hbits = _mm512_and_si512(_mm512_srlv_epi16(h, sh_b), m30);
        q[2 * n] = _mm512_or_si512(_mm512_and_si512(l, m0f), ha);
        q[2 * n + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m0f), hbits);
      }
#pragma GCC unroll 8
      for (int m = 0; m < 4; ++m) {
        // lanes 4g..4g+3 take scale 4m + g
        const __m512i idx =
            _mm512_add_epi32(_mm512_set1_epi32(4 * m),
                             _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0));
        scv[m] = _mm512_permutexvar_epi32(idx, sc32);
      }
      const float d = f16(b.d);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        // Σ S_g·(q − 32)·y = Σ S_g·q·y − 32·Σ S_g·bsum_g
        const __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i*)y.bsums), sc16);
        __m512i sumi = _mm512_slli_epi32(_mm512_zextsi256_si512(off), 5);
        sumi = _mm512_sub_epi32(_mm512_setzero_si512(), sumi);
#pragma GCC unroll 8
        for (int m = 0; m < 4; ++m) {
          const __m512i p =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[m], _mm512_loadu_si512(y.qs + 64 * m));
          sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(p, scv[m]));
        }
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d * y.d), acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = _mm512_reduce_add_ps(acc[j]);
  }
};

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  quantize_row_q8_0(src, dst, n);
}
void quantize_q8_K(const float* src, void* dst, int64_t n) {
  quantize_row_q8_K(src, dst, n);
}

}  // namespace

const Kernels& kernels_avx512() {
  static const Kernels k = {
      Isa::Avx512,
      simd::multi<FloatDot<LoadF32>, 4>,
      simd::multi<FloatDot<LoadF16>, 4>,
      simd::multi<FloatDot<LoadBF16>, 4>,
      simd::multi<Q8_0Dot<UnpackQ4_0>, 8>,
      simd::multi<Q8_0Dot<UnpackQ5_0>, 8>,
      simd::multi<Q8_0Dot<UnpackQ8_0>, 8>,
      simd::multi<Q4_KDot, 8>,
      simd::multi<Q5_KDot, 8>,
      simd::multi<Q6_KDot, 8>,
      quantize_q8_0,
      quantize_q8_K,
  };
  return k;
}

}  // namespace kt::cpu
