// Every dot-product kernel: the scalar reference against dequantize-then-dot in double, and
// each SIMD tier the CPU supports against the reference on random data of odd shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/vec_dot.h"
#include "vec_dot_test_util.h"

namespace kt::cpu {
namespace {

using namespace kt::cpu::testing;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q5_0,
                        DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Row lengths: 1, 3, 7 and 16 blocks; plain float types also get lengths that exercise the
// vector loops and their tails.
std::vector<int64_t> lengths(DType t) {
  const int64_t bs = tensor::type_traits(t).block_size;
  std::vector<int64_t> ks = {bs, 3 * bs, 7 * bs, 16 * bs};
  if (bs == 1)
    for (int64_t k : {8, 15, 17, 33, 64, 100, 129, 1000}) ks.push_back(k);
  return ks;
}

constexpr double kRelTol = 1e-5;

std::string type_param_name(const ::testing::TestParamInfo<DType>& info) {
  return tensor::dtype_name(info.param);
}

// ---- reference vs dequantize-then-dot ----------------------------------------------------

class RefVecDot : public ::testing::TestWithParam<DType> {};

TEST_P(RefVecDot, MatchesDequantizedDotInDouble) {
  const DType t = GetParam();
  const VecDotFn dot = kernels_ref().vec_dot(t);
  ASSERT_NE(dot, nullptr);
  std::mt19937 rng(1234 + int(t));
  for (int64_t k : lengths(t)) {
    for (int rep = 0; rep < 20; ++rep) {
      const auto w = random_weights(t, 1, k, rng);
      const auto x = random_activations(1, k, rng);
      const auto xq = quantize_activation(t, x.data(), k);
      std::vector<float> wf(static_cast<size_t>(k)), xf(static_cast<size_t>(k));
      tensor::dequantize_row(t, w.data(), wf.data(), k);
      tensor::dequantize_row(tensor::type_traits(t).vec_dot_type, xq.data(), xf.data(), k);
      double exact = 0.0;
      for (int64_t i = 0; i < k; ++i) exact += double(wf[size_t(i)]) * double(xf[size_t(i)]);
      float got = -1.0f;
      dot(k, w.data(), xq.data(), 0, 1, &got, 1);
      const double mag = magnitude(t, w.data(), xq.data(), k);
      ASSERT_NEAR(got, exact, kRelTol * mag + 1e-30) << "k=" << k << " rep=" << rep;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, RefVecDot, ::testing::ValuesIn(kTypes), type_param_name);

// ---- SIMD tiers vs reference ----------------------------------------------------------------

using SimdParam = std::tuple<Isa, DType>;

class SimdVecDot : public ::testing::TestWithParam<SimdParam> {};

TEST_P(SimdVecDot, MatchesReference) {
  const auto [isa, t] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const VecDotFn ref = kernels_ref().vec_dot(t);
  const VecDotFn simd = kernels(isa).vec_dot(t);
  ASSERT_NE(simd, nullptr);
  ASSERT_EQ(kernels(isa).isa, isa);
  std::mt19937 rng(99 + int(t) * 7 + int(isa));
  for (int64_t k : lengths(t)) {
    for (int nx = 1; nx <= kVecDotMaxRows; ++nx) {
      for (int rep = 0; rep < 3; ++rep) {
        const auto w = random_weights(t, 1, k, rng);
        const auto x = random_activations(nx, k, rng);
        // Activation rows with padding between them, outputs with a stride of 3.
        const size_t row = quantized_bytes(t, k);
        const size_t stride = row + 8 * size_t(rep);
        std::vector<uint8_t> xq(stride * size_t(nx));
        for (int j = 0; j < nx; ++j) {
          const auto q = quantize_activation(t, x.data() + j * k, k);
          std::copy(q.begin(), q.end(), xq.begin() + j * stride);
        }
        std::vector<float> got(size_t(3 * nx), -7.0f), want(static_cast<size_t>(nx));
        simd(k, w.data(), xq.data(), stride, nx, got.data(), 3);
        ref(k, w.data(), xq.data(), stride, nx, want.data(), 1);
        for (int j = 0; j < nx; ++j) {
          const double mag = magnitude(t, w.data(), xq.data() + j * stride, k);
          ASSERT_NEAR(got[size_t(3 * j)], want[size_t(j)], kRelTol * mag + 1e-30)
              << "k=" << k << " nx=" << nx << " row " << j;
          if (j + 1 < nx) {
            ASSERT_EQ(got[size_t(3 * j + 1)], -7.0f) << "wrote outside its stride";
          }
        }
      }
    }
  }
}

// The one-row (decode) call and the multi-row call give the same value for a row.
TEST_P(SimdVecDot, SingleRowEqualsMultiRow) {
  const auto [isa, t] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const VecDotFn simd = kernels(isa).vec_dot(t);
  std::mt19937 rng(5);
  const int64_t k = 7 * tensor::type_traits(t).block_size;
  const auto w = random_weights(t, 1, k, rng);
  const int nx = kVecDotMaxRows;
  const auto x = random_activations(nx, k, rng);
  const size_t row = quantized_bytes(t, k);
  std::vector<uint8_t> xq(row * size_t(nx));
  for (int j = 0; j < nx; ++j) {
    const auto q = quantize_activation(t, x.data() + j * k, k);
    std::copy(q.begin(), q.end(), xq.begin() + j * row);
  }
  std::vector<float> multi(static_cast<size_t>(nx));
  simd(k, w.data(), xq.data(), row, nx, multi.data(), 1);
  for (int j = 0; j < nx; ++j) {
    float one = 0.0f;
    simd(k, w.data(), xq.data() + j * row, row, 1, &one, 1);
    const double mag = magnitude(t, w.data(), xq.data() + j * row, k);
    EXPECT_NEAR(one, multi[size_t(j)], kRelTol * mag + 1e-30) << "row " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Tiers, SimdVecDot,
                         ::testing::Combine(::testing::Values(Isa::Avx2, Isa::Avx512),
                                            ::testing::ValuesIn(kTypes)),
                         [](const ::testing::TestParamInfo<SimdParam>& info) {
                           return std::string(isa_name(std::get<0>(info.param))) + "_" +
                                  tensor::dtype_name(std::get<1>(info.param));
                         });

// ---- activation quantizers of each tier -------------------------------------------------

TEST(ActivationQuantizers, EveryTierWritesTheReferenceBytes) {
  std::mt19937 rng(77);
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512}) {
    if (!isa_supported(isa)) continue;
    const Kernels& kern = kernels(isa);
    for (int64_t k : {256, 768, 4096}) {
      auto x = random_activations(1, k, rng);
      x[3] = 0.0f;
      std::fill(x.begin() + 256, x.begin() + std::min<int64_t>(k, 320), 0.0f);  // zero blocks
      std::vector<uint8_t> want0(tensor::row_size(DType::Q8_0, k)), got0(want0.size());
      tensor::quantize_row(DType::Q8_0, x.data(), want0.data(), k);
      kern.quantize_q8_0(x.data(), got0.data(), k);
      EXPECT_EQ(got0, want0) << isa_name(isa) << " Q8_0 k=" << k;
      std::vector<uint8_t> wantk(tensor::row_size(DType::Q8_K, k)), gotk(wantk.size());
      tensor::quantize_row(DType::Q8_K, x.data(), wantk.data(), k);
      kern.quantize_q8_K(x.data(), gotk.data(), k);
      EXPECT_EQ(gotk, wantk) << isa_name(isa) << " Q8_K k=" << k;
    }
  }
}

// ---- the kernel table and feature detection ---------------------------------------------

TEST(Kernels, TablesCoverTheSameTypes) {
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512}) {
    const Kernels& kern = kernels(isa);
    EXPECT_EQ(kern.isa, isa);
    for (DType t : kTypes) EXPECT_NE(kern.vec_dot(t), nullptr) << tensor::dtype_name(t);
    EXPECT_EQ(kern.vec_dot(DType::Q4_1), nullptr);
    EXPECT_EQ(kern.vec_dot(DType::IQ4_XS), nullptr);
  }
}

TEST(CpuFeatures, TiersAreConsistent) {
  const CpuFeatures& f = cpu_features();
  EXPECT_TRUE(isa_supported(Isa::Reference));
  EXPECT_EQ(isa_supported(Isa::Avx2), f.avx2 && f.fma && f.f16c);
  if (isa_supported(Isa::Avx512)) {
    EXPECT_TRUE(isa_supported(Isa::Avx2));
  }
  EXPECT_TRUE(isa_supported(best_isa()));
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512}) {
    Isa back;
    ASSERT_TRUE(parse_isa(isa_name(isa), &back));
    EXPECT_EQ(back, isa);
  }
  Isa v;
  EXPECT_TRUE(parse_isa("AVX512", &v));
  EXPECT_EQ(v, Isa::Avx512);
  EXPECT_FALSE(parse_isa("sse9", &v));
}

}  // namespace
}  // namespace kt::cpu
