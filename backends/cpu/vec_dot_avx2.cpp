// AVX2 tier (with FMA and F16C): quantized dot products with vpmaddubsw (unsigned × signed
// bytes -> i16 pairs) and vpmaddwd (-> i32, applying the 16-bit scales). Compiled with
// -mavx2 -mfma -mf16c; called only after isa_supported(Isa::Avx2).
#include <immintrin.h>

#include "backends/cpu/vec_dot_simd.h"
#include "tensor/fp16.h"
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

inline __m256i load256(const void* p) {
  return _mm256_loadu_si256((const __m256i*)p);
}

// ---- F32 / F16 / BF16 weights · f32 activations ------------------------------------------

struct LoadF32 {
  using T = float;
  static __m256 load(const T* p) { return _mm256_loadu_ps(p); }
  static float scalar(T v) { return v; }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 load(const T* p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)p)); }
  static float scalar(T v) { return f16(v); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 load(const T* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  }
  static float scalar(T v) { return bf16_to_fp32(v); }
};

template <class L>
struct FloatDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    using T = typename L::T;
    const T* a = static_cast<const T*>(w);
    constexpr int U = NX == 1 ? 4 : (NX <= 2 ? 2 : 1);
    __m256 acc[NX][U];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j)
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) acc[j][u] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 * U <= k; i += 8 * U) {
      simd::prefetch_block<8 * U * sizeof(T)>(a + i);
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) {
        const __m256 wv = L::load(a + i + 8 * u);
#pragma GCC unroll 8
        for (int j = 0; j < NX; ++j)
          acc[j][u] =
              _mm256_fmadd_ps(wv, _mm256_loadu_ps(row_at<float>(x, xs, j) + i + 8 * u), acc[j][u]);
      }
    }
    for (; i + 8 <= k; i += 8) {
      const __m256 wv = L::load(a + i);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j)
        acc[j][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(row_at<float>(x, xs, j) + i), acc[j][0]);
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) {
      __m256 t = acc[j][0];
#pragma GCC unroll 8
      for (int u = 1; u < U; ++u) t = _mm256_add_ps(t, acc[j][u]);
      float r = hsum256(t);
      const float* xj = row_at<float>(x, xs, j);
      for (int64_t e = i; e < k; ++e) r += L::scalar(a[e]) * xj[e];
      s[j * ss] = r;
    }
  }
};

// ---- 32-element blocks · Q8_0 -----------------------------------------------------------
// Each weight block becomes 32 signed bytes; |w| · sign(y, w) feeds vpmaddubsw.

inline __m256i nibbles_32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128((const __m128i*)qs);
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where the bit is set (byte i <- bit i).
inline __m256i bits_to_bytes(uint32_t h) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(int(h)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

struct UnpackQ4_0 {
  using Block = BlockQ4_0;
  static __m256i unpack(const Block& b) {
    return _mm256_sub_epi8(nibbles_32(b.qs), _mm256_set1_epi8(8));
  }
};
struct UnpackQ5_0 {
  using Block = BlockQ5_0;
  static __m256i unpack(const Block& b) {
    uint32_t h;
    std::memcpy(&h, b.qh, 4);
    const __m256i hi = _mm256_and_si256(bits_to_bytes(h), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nibbles_32(b.qs), hi), _mm256_set1_epi8(16));
  }
};
struct UnpackQ8_0 {
  using Block = BlockQ8_0;
  static __m256i unpack(const Block& b) { return load256(b.qs); }
};

template <class U>
struct Q8_0Dot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const typename U::Block*>(w);
    const int64_t nb = k / QK8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      simd::prefetch_block<sizeof(typename U::Block)>(&wb[i]);
      const __m256i wv = U::unpack(wb[i]);
      const __m256i aw = _mm256_sign_epi8(wv, wv);  // |w| (−128 -> 128 as unsigned)
      const float dw = f16(wb[i].d);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_0& y = row_at<BlockQ8_0>(x, xs, j)[i];
        const __m256i sy = _mm256_sign_epi8(load256(y.qs), wv);
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), ones);
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * f16(y.d)), acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = hsum256(acc[j]);
  }
};

// ---- K-quants · Q8_K ----------------------------------------------------------------------

// Shuffle control picking 16-bit element e of each 128-bit lane into all of that lane.
inline __m256i pick16(int e_lo, int e_hi) {
  return _mm256_set_m128i(_mm_set1_epi16(short(((2 * e_hi + 1) << 8) | (2 * e_hi))),
                          _mm_set1_epi16(short(((2 * e_lo + 1) << 8) | (2 * e_lo))));
}

// mins (8 bytes) · per-sub-block activation sums (bsums pairs) -> 8 dwords.
inline __m256i min_products(uint64_t mins, const int16_t* bsums) {
  const __m128i m8 = _mm_cvtsi64_si128(int64_t(mins));
  const __m128i dup =
      _mm_shuffle_epi8(m8, _mm_set_epi8(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0));
  return _mm256_madd_epi16(load256(bsums), _mm256_cvtepu8_epi16(dup));
}

// Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scale and min; Q5 adds a fifth bit from qh.
template <bool kFive>
struct QK45Dot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
    const auto* wb = static_cast<const Block*>(w);
    const int64_t nb = k / QK_K;
    const __m256i m0f = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(0x10);
    __m256 acc[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const Block& b = wb[i];
      simd::prefetch_block<sizeof(Block)>(&b);
      uint64_t sc8, mn8;
      simd::unpack_scales_k4(b.scales, &sc8, &mn8);
      const __m256i sc16 =
          _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc8))));
      __m256i hbits = _mm256_setzero_si256();
      if constexpr (kFive) hbits = load256(b.qh);
      __m256i sumi[NX];
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) sumi[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int c = 0; c < 4; ++c) {
        const __m256i q = load256(b.qs + 32 * c);
        __m256i lo = _mm256_and_si256(q, m0f);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m0f);
        if constexpr (kFive) {  // bits 2c, 2c+1 of qh sit at bits 0, 1 of hbits
          lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hbits, 4), b16));
          hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hbits, 3), b16));
          hbits = _mm256_srli_epi16(hbits, 2);
        }
        const __m256i sa = _mm256_shuffle_epi8(sc16, pick16(2 * c, 2 * c));
        const __m256i sb = _mm256_shuffle_epi8(sc16, pick16(2 * c + 1, 2 * c + 1));
#pragma GCC unroll 8
        for (int j = 0; j < NX; ++j) {
          const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
          const __m256i pl =
              _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(y.qs + 64 * c)), sa);
          const __m256i ph =
              _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(y.qs + 64 * c + 32)), sb);
          sumi[j] = _mm256_add_epi32(sumi[j], _mm256_add_epi32(pl, ph));
        }
      }
      const float d = f16(b.d), dmin = f16(b.dmin);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[j]), _mm256_set1_ps(d * y.d), acc[j]);
        acc[j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_products(mn8, y.bsums)),
                                  _mm256_set1_ps(dmin * y.d), acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = hsum256(acc[j]);
  }
};

struct Q6_KDot {
  template <int NX>
  static void run(int64_t k, const void* w, const char* x, size_t xs, float* s, size_t ss) {
    const auto* wb = static_cast<const BlockQ6_K*>(w);
    const int64_t nb = k / QK_K;
    const __m256i m0f = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[NX];
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const BlockQ6_K& b = wb[i];
      simd::prefetch_block<sizeof(BlockQ6_K)>(&b);
      const __m128i sc8 = _mm_loadu_si128((const __m128i*)b.scales);
      const __m256i sc_all = _mm256_cvtepi8_epi16(sc8);
      __m256i sumi[NX];
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        // Σ S_g·(q − 32)·y = Σ S_g·q·y − 32·Σ S_g·bsum_g
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        sumi[j] =
            _mm256_sub_epi32(_mm256_setzero_si256(),
                             _mm256_slli_epi32(_mm256_madd_epi16(load256(y.bsums), sc_all), 5));
      }
#pragma GCC unroll 8
      for (int n = 0; n < 2; ++n) {
        const __m256i sch = _mm256_broadcastsi128_si256(
            _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i*)(b.scales + 8 * n))));
        const __m256i l0 = load256(b.ql + 64 * n), l1 = load256(b.ql + 64 * n + 32);
        const __m256i h = load256(b.qh + 32 * n);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m0f),
                               _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m0f),
                               _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m0f),
                               _mm256_and_si256(h, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m0f),
                               _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
#pragma GCC unroll 8
        for (int p = 0; p < 4; ++p) {
          const __m256i sp = _mm256_shuffle_epi8(sch, pick16(2 * p, 2 * p + 1));
#pragma GCC unroll 8
          for (int j = 0; j < NX; ++j) {
            const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
            const __m256i prod = _mm256_maddubs_epi16(q[p], load256(y.qs + 128 * n + 32 * p));
            sumi[j] = _mm256_add_epi32(sumi[j], _mm256_madd_epi16(prod, sp));
          }
        }
      }
      const float d = f16(b.d);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        const BlockQ8_K& y = row_at<BlockQ8_K>(x, xs, j)[i];
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[j]), _mm256_set1_ps(d * y.d), acc[j]);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < NX; ++j) s[j * ss] = hsum256(acc[j]);
  }
};

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  quantize_row_q8_0(src, dst, n);
}
void quantize_q8_K(const float* src, void* dst, int64_t n) {
  quantize_row_q8_K(src, dst, n);
}

}  // namespace

const Kernels& kernels_avx2() {
  static const Kernels k = {
      Isa::Avx2,
      simd::multi<FloatDot<LoadF32>, 4>,
      simd::multi<FloatDot<LoadF16>, 4>,
      simd::multi<FloatDot<LoadBF16>, 4>,
      simd::multi<Q8_0Dot<UnpackQ4_0>, 4>,
      simd::multi<Q8_0Dot<UnpackQ5_0>, 4>,
      simd::multi<Q8_0Dot<UnpackQ8_0>, 4>,
      simd::multi<QK45Dot<false>, 4>,
      simd::multi<QK45Dot<true>, 4>,
      simd::multi<Q6_KDot, 4>,
      quantize_q8_0,
      quantize_q8_K,
  };
  return k;
}

}  // namespace kt::cpu
