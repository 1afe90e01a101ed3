// Element-wise ops against formulas evaluated independently in double.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/ops.h"
#include "tensor/error.h"
#include "tensor/fp16.h"
#include "tensor/quants.h"

namespace kt::cpu {
namespace {

std::vector<float> random_vec(int64_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

TEST(OpsElementwise, AddMulScaleAxpy) {
  const int64_t n = 37;
  auto a = random_vec(n, 1), b = random_vec(n, 2);
  std::vector<float> y(n);
  add(a.data(), b.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] + b[i]);
  mul(a.data(), b.data(), y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] * b[i]);
  scale(a.data(), 0.5f, y.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y[i], a[i] * 0.5f);
  std::vector<float> acc = b;
  axpy(2.0f, a.data(), acc.data(), n);
  for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(acc[i], b[i] + 2.0f * a[i]);
}

TEST(OpsElementwise, RmsNormMatchesFormula) {
  for (int64_t n : {1, 7, 64, 1001}) {
    auto x = random_vec(n, uint32_t(n), 3.0f), w = random_vec(n, uint32_t(n) + 7);
    std::vector<float> y(n), y_nw(n);
    rms_norm(x.data(), w.data(), y.data(), n, 1e-6f);
    rms_norm(x.data(), nullptr, y_nw.data(), n, 1e-6f);
    double ss = 0;
    for (float v : x) ss += double(v) * v;
    const double r = 1.0 / std::sqrt(ss / n + 1e-6);
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(y[i], x[i] * r * w[i], 1e-5 * std::fabs(x[i] * r * w[i]) + 1e-6);
      EXPECT_NEAR(y_nw[i], x[i] * r, 1e-5 * std::fabs(x[i] * r) + 1e-6);
    }
  }
}

TEST(OpsElementwise, SoftmaxIsStableAndNormalised) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f, -INFINITY};
  softmax(x.data(), int64_t(x.size()));
  const double e0 = std::exp(-1.0), e2 = std::exp(-2.0), z = e0 + 1.0 + e2;
  EXPECT_NEAR(x[0], e0 / z, 1e-6);
  EXPECT_NEAR(x[1], 1.0 / z, 1e-6);
  EXPECT_NEAR(x[2], e2 / z, 1e-6);
  EXPECT_EQ(x[3], 0.0f);
  std::vector<float> all_inf(5, -INFINITY);
  softmax(all_inf.data(), 5);
  for (float v : all_inf) EXPECT_EQ(v, 0.0f);
}

TEST(OpsElementwise, SiluSigmoidSwiglu) {
  const int64_t n = 19;
  auto g = random_vec(n, 3, 4.0f), u = random_vec(n, 4);
  std::vector<float> s(n), sg(n), sw(n);
  silu(g.data(), s.data(), n);
  sigmoid(g.data(), sg.data(), n);
  swiglu(g.data(), u.data(), sw.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    const double sig = 1.0 / (1.0 + std::exp(-double(g[i])));
    EXPECT_NEAR(sg[i], sig, 1e-6);
    EXPECT_NEAR(s[i], g[i] * sig, 1e-5);
    EXPECT_NEAR(sw[i], g[i] * sig * u[i], 1e-5);
  }
}

// theta_i = pos * base^(-2i/n_rot); both pairings rotate the same pairs, only the layout
// differs. Reordering each head's rows (row 2i <- i, row 2i+1 <- i + D/2) maps one onto the
// other: that is exactly llama.cpp's converter permutation.
TEST(OpsRope, PairingsAgreeUnderLlamaPermutation) {
  const int64_t heads = 3, dim = 16;
  RopeParams p;
  p.n_rot = 16;
  p.freq_base = 10000.0f;
  auto x = random_vec(heads * dim, 11);
  std::vector<float> perm(x.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int i = 0; i < dim / 2; ++i) {
      perm[h * dim + 2 * i] = x[h * dim + i];
      perm[h * dim + 2 * i + 1] = x[h * dim + i + dim / 2];
    }
  std::vector<float> a = x;
  p.pairing = RopePairing::SplitHalf;
  rope(a.data(), heads, dim, 37, p);
  p.pairing = RopePairing::Adjacent;
  rope(perm.data(), heads, dim, 37, p);
  for (int64_t h = 0; h < heads; ++h)
    for (int i = 0; i < dim / 2; ++i) {
      EXPECT_NEAR(perm[h * dim + 2 * i], a[h * dim + i], 1e-5);
      EXPECT_NEAR(perm[h * dim + 2 * i + 1], a[h * dim + i + dim / 2], 1e-5);
    }
}

TEST(OpsRope, MatchesFormulaAndPassesThroughUnrotatedDims) {
  const int64_t dim = 12;
  RopeParams p;
  p.n_rot = 8;
  p.freq_base = 500.0f;
  p.pairing = RopePairing::Adjacent;
  auto x = random_vec(dim, 5);
  auto y = x;
  const int64_t pos = 1234;
  rope(y.data(), 1, dim, pos, p);
  for (int i = 0; i < 4; ++i) {
    const double th = pos * std::pow(500.0, -2.0 * i / 8);
    EXPECT_NEAR(y[2 * i], x[2 * i] * std::cos(th) - x[2 * i + 1] * std::sin(th), 1e-4);
    EXPECT_NEAR(y[2 * i + 1], x[2 * i] * std::sin(th) + x[2 * i + 1] * std::cos(th), 1e-4);
  }
  for (int64_t i = 8; i < dim; ++i) EXPECT_EQ(y[i], x[i]);
  auto z = x;
  rope(z.data(), 1, dim, 0, p);  // position 0 is the identity
  for (int64_t i = 0; i < dim; ++i) EXPECT_FLOAT_EQ(z[i], x[i]);
  p.n_rot = 7;
  EXPECT_THROW(rope(z.data(), 1, dim, 0, p), Error);
}

TEST(OpsRope, YarnRampsBetweenExtrapolationAndInterpolation) {
  RopeParams p;
  p.n_rot = 64;
  p.freq_base = 10000.0f;
  p.freq_scale = 1.0f / 40.0f;
  p.ext_factor = 1.0f;
  p.attn_factor = 1.0f;
  p.n_ctx_orig = 4096;
  std::vector<float> c(32), s(32);
  const int64_t pos = 100;
  rope_cos_sin(p, pos, c.data(), s.data());
  const double mscale = 1.0 + 0.1 * std::log(40.0);
  // Fastest-rotating pair: pure extrapolation (unscaled angle); slowest: interpolation.
  EXPECT_NEAR(c[0], std::cos(double(pos)) * mscale, 1e-5);
  const double th_last = pos * std::pow(10000.0, -62.0 / 64) / 40.0;
  EXPECT_NEAR(c[31], std::cos(th_last) * mscale, 1e-5);
  EXPECT_NEAR(s[31], std::sin(th_last) * mscale, 1e-5);
}

TEST(OpsGetRows, DequantizesRequestedRowsAndRejectsBadIds) {
  const int64_t vocab = 5, len = 64;
  auto table = random_vec(vocab * len, 9);
  std::vector<uint16_t> f16(table.size());
  tensor::quantize_row_f16(table.data(), f16.data(), int64_t(table.size()));
  std::vector<uint8_t> q8(size_t(vocab) * tensor::row_size(tensor::DType::Q8_0, len));
  for (int64_t r = 0; r < vocab; ++r)
    tensor::quantize_row_q8_0(table.data() + r * len,
                              q8.data() + r * tensor::row_size(tensor::DType::Q8_0, len), len);
  const int32_t ids[3] = {4, 0, 4};
  std::vector<float> out(3 * len);
  get_rows(tensor::DType::F16, f16.data(), vocab, len, ids, 3, out.data());
  for (int i = 0; i < 3; ++i)
    for (int64_t j = 0; j < len; ++j)
      EXPECT_EQ(out[i * len + j], tensor::fp16_to_fp32(f16[ids[i] * len + j]));
  get_rows(tensor::DType::Q8_0, q8.data(), vocab, len, ids, 3, out.data());
  for (int i = 0; i < 3; ++i)
    for (int64_t j = 0; j < len; ++j) EXPECT_NEAR(out[i * len + j], table[ids[i] * len + j], 0.03);
  const int32_t bad[1] = {5};
  EXPECT_THROW(get_rows(tensor::DType::F16, f16.data(), vocab, len, bad, 1, out.data()), Error);
  const int32_t neg[1] = {-1};
  EXPECT_THROW(get_rows(tensor::DType::F16, f16.data(), vocab, len, neg, 1, out.data()), Error);
}

TEST(OpsTopK, DescendingWithTiesToLowerIndexAndNanLast) {
  const float x[] = {0.5f, NAN, 2.0f, 0.5f, 3.0f, 2.0f};
  int32_t idx[5];
  float val[5];
  top_k(x, 6, 5, idx, val);
  const int32_t want[] = {4, 2, 5, 0, 3};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(idx[i], want[i]);
    EXPECT_EQ(val[i], x[want[i]]);
  }
  EXPECT_THROW(top_k(x, 6, 7, idx, val), Error);
}

}  // namespace
}  // namespace kt::cpu
