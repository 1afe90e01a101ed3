// The matmul driver: against per-element reference dot products, across thread counts, in
// its strided / expert-slice / pre-quantized forms, and its errors.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backends/cpu/matmul.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"
#include "vec_dot_test_util.h"

namespace kt::cpu {
namespace {

using namespace kt::cpu::testing;

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q5_0,
                        DType::Q8_0, DType::Q4_K, DType::Q5_K, DType::Q6_K};

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

// y[t][n] from the reference kernel, one element at a time.
std::vector<float> expected(DType t, const std::vector<uint8_t>& w, int64_t n_rows, int64_t k,
                            const std::vector<float>& x, int64_t n_tokens) {
  const VecDotFn dot = kernels_ref().vec_dot(t);
  const size_t rs = tensor::row_size(t, k);
  std::vector<float> y(size_t(n_rows * n_tokens));
  for (int64_t tok = 0; tok < n_tokens; ++tok) {
    const auto xq = quantize_activation(t, x.data() + tok * k, k);
    for (int64_t n = 0; n < n_rows; ++n)
      dot(k, w.data() + size_t(n) * rs, xq.data(), 0, 1, &y[size_t(tok * n_rows + n)], 1);
  }
  return y;
}

double row_magnitude(DType t, const std::vector<uint8_t>& w, int64_t n, int64_t k, const float* x) {
  const auto xq = quantize_activation(t, x, k);
  return magnitude(t, w.data() + size_t(n) * tensor::row_size(t, k), xq.data(), k);
}

class MatmulTypes : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulTypes, MatchesReferenceOnOddShapes) {
  const DType t = GetParam();
  const int64_t bs = tensor::type_traits(t).block_size;
  const int64_t kb = bs == 1 ? 32 : bs;  // float types: rows of 32, 96, 224 elements
  std::mt19937 rng(42 + int(t));
  ThreadPool pool(3);
  for (int64_t nblk : {1, 3, 7}) {
    const int64_t k = nblk * kb;
    for (int64_t n_rows : {1, 3, 17, 33}) {
      for (int64_t n_tokens : {1, 2, 3, 5, 9}) {
        const auto w = random_weights(t, n_rows, k, rng);
        const auto x = random_activations(n_tokens, k, rng);
        const auto want = expected(t, w, n_rows, k, x, n_tokens);
        for (Isa isa : supported_isas()) {
          std::vector<float> y(want.size(), -1.0f);
          matmul(pool, t, w.data(), n_rows, k, x.data(), n_tokens, y.data(), isa);
          for (int64_t tok = 0; tok < n_tokens; ++tok) {
            for (int64_t n = 0; n < n_rows; ++n) {
              const size_t i = size_t(tok * n_rows + n);
              if (isa == Isa::Reference) {
                ASSERT_EQ(y[i], want[i]) << "n=" << n << " t=" << tok;
              } else {
                const double mag = row_magnitude(t, w, n, k, x.data() + tok * k);
                ASSERT_NEAR(y[i], want[i], 1e-5 * mag + 1e-30)
                    << isa_name(isa) << " k=" << k << " rows=" << n_rows << " tokens=" << n_tokens
                    << " n=" << n << " t=" << tok;
              }
            }
          }
        }
      }
    }
  }
}

// Results do not depend on the number of threads (same kernel calls, other threads).
TEST_P(MatmulTypes, ThreadCountsGiveIdenticalResults) {
  const DType t = GetParam();
  const int64_t bs = tensor::type_traits(t).block_size;
  const int64_t k = bs == 1 ? 544 : 7 * bs;
  std::mt19937 rng(7 + int(t));
  ThreadPool one(1), two(2), three(3), five(5);
  for (int64_t n_rows : {17, 300}) {
    for (int64_t n_tokens : {1, 3, 9, 70}) {
      const auto w = random_weights(t, n_rows, k, rng);
      const auto x = random_activations(n_tokens, k, rng);
      for (Isa isa : supported_isas()) {
        std::vector<float> base(size_t(n_rows * n_tokens));
        matmul(one, t, w.data(), n_rows, k, x.data(), n_tokens, base.data(), isa);
        for (ThreadPool* p : {&two, &three, &five}) {
          std::vector<float> y(base.size(), -1.0f);
          matmul(*p, t, w.data(), n_rows, k, x.data(), n_tokens, y.data(), isa);
          ASSERT_EQ(y, base) << isa_name(isa) << " threads=" << p->size() << " rows=" << n_rows
                             << " tokens=" << n_tokens;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulTypes, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(tensor::dtype_name(info.param));
                         });

// Expert e of a 3-D stack with padded rows, strided activations and outputs, equals matmul on
// a packed copy of that expert.
TEST(Matmul, ExpertSliceWithStrides) {
  const DType t = DType::Q4_K;
  const int64_t k = 512, n_rows = 40, n_exp = 3, n_tokens = 6;
  const size_t rs = tensor::row_size(t, k);
  const size_t nb1 = rs + 64, nb2 = nb1 * size_t(n_rows) + 128;
  std::mt19937 rng(11);
  std::vector<uint8_t> stack(nb2 * size_t(n_exp), 0xAB);
  std::vector<std::vector<uint8_t>> packed;
  for (int64_t e = 0; e < n_exp; ++e) {
    packed.push_back(random_weights(t, n_rows, k, rng));
    for (int64_t n = 0; n < n_rows; ++n)
      std::copy_n(packed.back().data() + size_t(n) * rs, rs, stack.data() + e * nb2 + n * nb1);
  }
  const int64_t xs = k + 5, ys = n_rows + 3;
  const auto xc = random_activations(n_tokens, k, rng);
  std::vector<float> x(size_t(xs * n_tokens), 1e30f);
  for (int64_t tok = 0; tok < n_tokens; ++tok)
    std::copy_n(xc.data() + tok * k, k, x.data() + tok * xs);
  ThreadPool pool(2);
  for (int64_t e = 0; e < n_exp; ++e) {
    std::vector<float> want(size_t(n_rows * n_tokens));
    matmul(pool, t, packed[size_t(e)].data(), n_rows, k, xc.data(), n_tokens, want.data());
    std::vector<float> y(size_t(ys * n_tokens), -5.0f);
    matmul_strided(pool, t, stack.data() + e * nb2, nb1, n_rows, k, x.data(), xs, n_tokens,
                   y.data(), ys);
    for (int64_t tok = 0; tok < n_tokens; ++tok) {
      for (int64_t n = 0; n < n_rows; ++n)
        ASSERT_EQ(y[size_t(tok * ys + n)], want[size_t(tok * n_rows + n)]) << e << " " << n;
      for (int64_t n = n_rows; n < ys; ++n) ASSERT_EQ(y[size_t(tok * ys + n)], -5.0f);
    }
  }
}

TEST(Matmul, PreQuantizedEqualsMatmul) {
  ThreadPool pool(3);
  std::mt19937 rng(3);
  for (DType t : {DType::Q4_K, DType::Q8_0, DType::F16}) {
    const int64_t k = 1024, n_rows = 50, n_tokens = 11;
    const auto w = random_weights(t, n_rows, k, rng);
    const auto x = random_activations(n_tokens, k, rng);
    std::vector<float> want(size_t(n_rows * n_tokens)), y(want.size());
    matmul(pool, t, w.data(), n_rows, k, x.data(), n_tokens, want.data());
    const size_t qrs = quantized_row_size(t, k);
    std::vector<uint8_t> xq(qrs * size_t(n_tokens));
    quantize_activations(pool, t, x.data(), k, n_tokens, k, xq.data());
    matmul_quantized(pool, t, w.data(), tensor::row_size(t, k), n_rows, k, xq.data(), qrs, n_tokens,
                     y.data(), n_rows);
    EXPECT_EQ(y, want) << tensor::dtype_name(t);
  }
}

TEST(Matmul, ErrorsNameTheProblem) {
  ThreadPool pool(1);
  std::vector<uint8_t> w(4096);
  std::vector<float> x(1024), y(16);
  EXPECT_FALSE(matmul_supported(DType::Q4_1));
  EXPECT_TRUE(matmul_supported(DType::Q4_K));
  try {
    matmul(pool, DType::Q4_1, w.data(), 1, 32, x.data(), 1, y.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_1"), std::string::npos) << e.what();
  }
  try {
    matmul(pool, DType::Q4_K, w.data(), 1, 300, x.data(), 1, y.data());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("300"), std::string::npos) << e.what();
  }
  EXPECT_THROW(matmul(pool, DType::Q8_0, w.data(), 1, 40, x.data(), 1, y.data()), Error);
}

// Large enough to go through the thread pool (and through several token tiles).
TEST(Matmul, LargePrefillMatchesReference) {
  const DType t = DType::Q4_K;
  const int64_t k = 2048, n_rows = 96, n_tokens = 300;
  std::mt19937 rng(8);
  const auto w = random_weights(t, n_rows, k, rng);
  const auto x = random_activations(n_tokens, k, rng);
  const auto want = expected(t, w, n_rows, k, x, n_tokens);
  ThreadPool pool(4);
  for (Isa isa : supported_isas()) {
    std::vector<float> y(want.size());
    matmul(pool, t, w.data(), n_rows, k, x.data(), n_tokens, y.data(), isa);
    for (int64_t tok = 0; tok < n_tokens; tok += 7)
      for (int64_t n = 0; n < n_rows; ++n) {
        const size_t i = size_t(tok * n_rows + n);
        ASSERT_NEAR(y[i], want[i], 1e-5 * row_magnitude(t, w, n, k, x.data() + tok * k))
            << isa_name(isa) << " t=" << tok << " n=" << n;
      }
  }
}

}  // namespace
}  // namespace kt::cpu
