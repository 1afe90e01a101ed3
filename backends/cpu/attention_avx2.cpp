// The fast attention tile on 8-float AVX2/FMA registers. Compiled with -mavx2 -mfma; called
// only after isa_supported(Isa::Avx2).
#include <immintrin.h>

#include "backends/cpu/attention_tile.h"

namespace kt::cpu {
namespace {

struct Avx2 {
  using T = __m256;
  static constexpr int64_t W = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, T x) { _mm256_storeu_ps(p, x); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(T x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace

AttentionTileFn attention_tile_avx2() {
  return &attn::tile<Avx2>;
}

}  // namespace kt::cpu
