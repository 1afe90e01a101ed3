// The fast attention tile on 16-float AVX-512 registers. Compiled for AVX-512; called only
// after isa_supported(Isa::Avx512).
#include <immintrin.h>

#include "backends/cpu/attention_tile.h"

namespace kt::cpu {
namespace {

struct Avx512 {
  using T = __m512;
  static constexpr int64_t W = 16;
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, T x) { _mm512_storeu_ps(p, x); }
  static T set1(float f) { return _mm512_set1_ps(f); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  // Halves by __builtin_shufflevector: GCC 12 flags the AVX-512 extract and shuffle
  // intrinsics (their undefined pass-through operand) with -Wmaybe-uninitialized once inlined.
  static float hsum(T x) {
    const __m256 lo = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 hi = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m256 h = _mm256_add_ps(lo, hi);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

AttentionTileFn attention_tile_avx512() {
  return &attn::tile<Avx512>;
}

}  // namespace kt::cpu
