// The fast attention tile with one float per "vector": the tier for Isa::Reference (and CPUs
// without AVX2). Same blocking and online softmax as the SIMD tiers.
#include "backends/cpu/attention_tile.h"

namespace kt::cpu {
namespace {

struct Scalar {
  using T = float;
  static constexpr int64_t W = 1;
  static T zero() { return 0.0f; }
  static T load(const float* p) { return *p; }
  static void store(float* p, T x) { *p = x; }
  static T set1(float f) { return f; }
  static T mul(T a, T b) { return a * b; }
  static T fma(T a, T b, T c) { return a * b + c; }
  static float hsum(T x) { return x; }
};

}  // namespace

AttentionTileFn attention_tile_scalar() {
  return &attn::tile<Scalar>;
}

}  // namespace kt::cpu
