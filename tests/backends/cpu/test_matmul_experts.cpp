// The one-dispatch expert matmul: against per-pair reference dot products, bit-identical to
// matmul() run once per expert (the executor's previous path), across thread counts, with
// several stacks in one call, strided weights and outputs, per-slot and shared inputs, and
// experts that get no pair, one pair or more than a token tile; and the executor's use of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "backends/cpu/graph_exec.h"
#include "backends/cpu/matmul.h"
#include "backends/cpu/matmul_experts.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"
#include "tensor/graph.h"
#include "vec_dot_test_util.h"

namespace kt::cpu {
namespace {

using namespace kt::cpu::testing;

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

// A stack of n_exp experts of n_rows × k, rows pad bytes apart beyond their size, experts
// another pad beyond that (as a strided ggml view would be).
struct Stack {
  DType t;
  int64_t n_rows, k, n_exp;
  size_t nb1, nb2;
  std::vector<uint8_t> bytes;
  std::vector<std::vector<uint8_t>> packed;  // each expert's rows back to back

  Stack(DType type, int64_t rows, int64_t kk, int64_t experts, size_t pad, std::mt19937& rng)
      : t(type), n_rows(rows), k(kk), n_exp(experts) {
    const size_t rs = tensor::row_size(t, k);
    nb1 = rs + pad;
    nb2 = nb1 * size_t(n_rows) + pad * 2;
    bytes.assign(nb2 * size_t(n_exp), 0xCD);
    for (int64_t e = 0; e < n_exp; ++e) {
      packed.push_back(random_weights(t, n_rows, k, rng));
      for (int64_t n = 0; n < n_rows; ++n)
        std::copy_n(packed.back().data() + size_t(n) * rs, rs,
                    bytes.data() + size_t(e) * nb2 + size_t(n) * nb1);
    }
  }
  ExpertStack view(float* y, int64_t y_stride) const {
    return {t, bytes.data(), nb1, nb2, n_rows, y, y_stride};
  }
};

// The routing of a test case: ids and activations.
struct Case {
  int64_t n_slots, n_tokens;
  bool per_slot;
  std::vector<int32_t> ids;
  std::vector<float> x;  // rows of k, x_stride apart
  int64_t x_stride;

  ExpertRouting route(int64_t n_exp) const {
    return {ids.data(), n_slots, n_tokens, n_exp, x.data(), x_stride, per_slot};
  }
  int64_t src(int64_t p) const { return per_slot ? p : p / n_slots; }
};

// ids drawn from `experts` (a token's slots distinct when it has enough candidates).
Case make_case(int64_t n_slots, int64_t n_tokens, bool per_slot, int64_t k,
               const std::vector<int32_t>& experts, std::mt19937& rng) {
  Case c{n_slots, n_tokens, per_slot, {}, {}, k + 3};
  std::uniform_int_distribution<size_t> pick(0, experts.size() - 1);
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<int32_t> chosen;
    while (int64_t(chosen.size()) < n_slots) {
      const int32_t e = experts[pick(rng)];
      if (int64_t(experts.size()) >= n_slots &&
          std::find(chosen.begin(), chosen.end(), e) != chosen.end())
        continue;
      chosen.push_back(e);
    }
    c.ids.insert(c.ids.end(), chosen.begin(), chosen.end());
  }
  const int64_t rows = per_slot ? n_slots * n_tokens : n_tokens;
  const auto xc = random_activations(rows, k, rng);
  c.x.assign(size_t(rows * c.x_stride), 1e30f);  // the gaps must never be read
  for (int64_t r = 0; r < rows; ++r) std::copy_n(xc.data() + r * k, k, c.x.data() + r * c.x_stride);
  return c;
}

// y[p][n] from the reference kernel, one pair and one row at a time.
std::vector<float> reference(const Stack& s, const Case& c) {
  const VecDotFn dot = kernels_ref().vec_dot(s.t);
  const size_t rs = tensor::row_size(s.t, s.k);
  const int64_t P = c.n_slots * c.n_tokens;
  std::vector<float> y(size_t(P * s.n_rows));
  for (int64_t p = 0; p < P; ++p) {
    const auto xq = quantize_activation(s.t, c.x.data() + c.src(p) * c.x_stride, s.k);
    const auto& w = s.packed[size_t(c.ids[size_t(p)])];
    for (int64_t n = 0; n < s.n_rows; ++n)
      dot(s.k, w.data() + size_t(n) * rs, xq.data(), 0, 1, &y[size_t(p * s.n_rows + n)], 1);
  }
  return y;
}

// The executor's previous path: gather each expert's rows, matmul, scatter.
std::vector<float> per_expert(ThreadPool& pool, const Stack& s, const Case& c, Isa isa) {
  const int64_t P = c.n_slots * c.n_tokens;
  std::vector<float> y(size_t(P * s.n_rows));
  for (int64_t e = 0; e < s.n_exp; ++e) {
    std::vector<int64_t> pairs;
    for (int64_t p = 0; p < P; ++p)
      if (c.ids[size_t(p)] == e) pairs.push_back(p);
    if (pairs.empty()) continue;
    std::vector<float> xs, ys(pairs.size() * size_t(s.n_rows));
    for (int64_t p : pairs)
      xs.insert(xs.end(), c.x.begin() + c.src(p) * c.x_stride,
                c.x.begin() + c.src(p) * c.x_stride + s.k);
    matmul(pool, s.t, s.packed[size_t(e)].data(), s.n_rows, s.k, xs.data(), int64_t(pairs.size()),
           ys.data(), isa);
    for (size_t r = 0; r < pairs.size(); ++r)
      std::copy_n(ys.data() + r * size_t(s.n_rows), s.n_rows, y.data() + pairs[r] * s.n_rows);
  }
  return y;
}

// matmul_experts of one stack into a padded output; checks the padding and returns the rows.
std::vector<float> run_one(ThreadPool& pool, const Stack& s, const Case& c, Isa isa) {
  const int64_t P = c.n_slots * c.n_tokens, ys = s.n_rows + 2;
  std::vector<float> y(size_t(P * ys), -7.0f);
  const ExpertStack st = s.view(y.data(), ys);
  matmul_experts(pool, {&st, 1}, s.k, c.route(s.n_exp), isa);
  std::vector<float> out(size_t(P * s.n_rows));
  for (int64_t p = 0; p < P; ++p) {
    std::copy_n(y.data() + p * ys, s.n_rows, out.data() + p * s.n_rows);
    EXPECT_EQ(y[size_t(p * ys + s.n_rows)], -7.0f) << "wrote past its row";
    EXPECT_EQ(y[size_t(p * ys + s.n_rows + 1)], -7.0f) << "wrote past its row";
  }
  return out;
}

class MatmulExpertsTypes : public ::testing::TestWithParam<DType> {};

// Expert 0 gets nothing, expert 1 one pair, the others the rest; per-slot and shared inputs;
// one token (decode) and several.
TEST_P(MatmulExpertsTypes, MatchesReferenceAndPerExpertPath) {
  const DType t = GetParam();
  const int64_t bs = tensor::type_traits(t).block_size;
  const int64_t k = bs == 1 ? 96 : 3 * bs;
  std::mt19937 rng(100 + int(t));
  ThreadPool pool(3);
  for (int64_t n_rows : {1, 17, 40}) {
    const Stack s(t, n_rows, k, 6, 32, rng);
    for (bool per_slot : {false, true}) {
      for (int64_t n_slots : {1, 2, 3}) {
        for (int64_t n_tokens : {1, 2, 5, 23}) {
          Case c = make_case(n_slots, n_tokens, per_slot, k, {2, 3, 4, 5}, rng);
          c.ids[0] = 1;  // expert 1: exactly this pair
          for (size_t p = 1; p < c.ids.size(); ++p)
            if (c.ids[p] == 1) c.ids[p] = 2;
          const auto want = reference(s, c);
          for (Isa isa : supported_isas()) {
            const auto got = run_one(pool, s, c, isa);
            ASSERT_EQ(got, per_expert(pool, s, c, isa))
                << isa_name(isa) << " rows=" << n_rows << " per_slot=" << per_slot
                << " slots=" << n_slots << " tokens=" << n_tokens;
            for (size_t i = 0; i < want.size(); ++i) {
              if (isa == Isa::Reference) {
                ASSERT_EQ(got[i], want[i]) << i;
              } else {
                const int64_t p = int64_t(i) / n_rows, n = int64_t(i) % n_rows;
                const auto xq = quantize_activation(t, c.x.data() + c.src(p) * c.x_stride, k);
                const auto& w = s.packed[size_t(c.ids[size_t(p)])];
                const double mag =
                    magnitude(t, w.data() + size_t(n) * tensor::row_size(t, k), xq.data(), k);
                ASSERT_NEAR(got[i], want[i], 1e-5 * mag + 1e-30) << isa_name(isa) << " " << i;
              }
            }
          }
        }
      }
    }
  }
}

// Same calls whatever the thread count: identical bits, also when one expert gets more pairs
// than a token tile holds and the work goes through the pool.
TEST_P(MatmulExpertsTypes, ThreadCountsGiveIdenticalResults) {
  const DType t = GetParam();
  const int64_t bs = tensor::type_traits(t).block_size;
  const int64_t k = bs == 1 ? 64 : bs;
  std::mt19937 rng(200 + int(t));
  ThreadPool one(1), two(2), three(3), five(5);
  const Stack s(t, 70, k, 5, 0, rng);
  for (bool per_slot : {false, true}) {
    for (int64_t n_tokens : {1, 9, 300}) {
      Case c = make_case(2, n_tokens, per_slot, k, {0, 1, 3, 4}, rng);
      // Most of the pairs to expert 4: over 256 of them, more than one token tile.
      for (size_t p = 0; p < c.ids.size(); p += 2) c.ids[p] = 4;
      for (size_t p = 1; p < c.ids.size(); p += 2)
        if (c.ids[p] == 4) c.ids[p] = 0;
      for (Isa isa : supported_isas()) {
        const auto base = run_one(one, s, c, isa);
        for (ThreadPool* p : {&two, &three, &five})
          ASSERT_EQ(run_one(*p, s, c, isa), base)
              << isa_name(isa) << " threads=" << p->size() << " tokens=" << n_tokens;
        ASSERT_EQ(base, per_expert(one, s, c, isa)) << isa_name(isa) << " tokens=" << n_tokens;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulExpertsTypes,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0,
                                           DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q5_K,
                                           DType::Q6_K),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(tensor::dtype_name(info.param));
                         });

// Gate and up in one call (different types, same activation type, different row counts) equal
// two separate calls.
TEST(MatmulExperts, TwoStacksEqualSeparateCalls) {
  const int64_t k = 512;
  std::mt19937 rng(5);
  const Stack gate(DType::Q4_K, 48, k, 8, 0, rng), up(DType::Q6_K, 33, k, 8, 16, rng);
  ThreadPool pool(4);
  for (int64_t n_tokens : {1, 3, 64}) {
    const Case c = make_case(3, n_tokens, false, k, {0, 1, 2, 3, 4, 5, 6, 7}, rng);
    const int64_t P = 3 * n_tokens;
    std::vector<float> yg(size_t(P * 48)), yu(size_t(P * 33));
    const ExpertStack both[2] = {gate.view(yg.data(), 48), up.view(yu.data(), 33)};
    matmul_experts(pool, both, k, c.route(8));
    EXPECT_EQ(yg, run_one(pool, gate, c, best_isa())) << n_tokens;
    EXPECT_EQ(yu, run_one(pool, up, c, best_isa())) << n_tokens;
  }
}

TEST(MatmulExperts, ErrorsNameTheProblem) {
  std::mt19937 rng(6);
  const Stack s(DType::Q4_K, 4, 256, 3, 0, rng);
  ThreadPool pool(2);
  Case c = make_case(2, 2, false, 256, {0, 1, 2}, rng);
  std::vector<float> y(4 * 4);
  ExpertStack st = s.view(y.data(), 4);
  c.ids[3] = 3;
  try {
    matmul_experts(pool, {&st, 1}, 256, c.route(3));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert id 3"), std::string::npos) << e.what();
  }
  c.ids[3] = 0;
  const Stack q8(DType::Q8_0, 4, 256, 3, 0, rng);
  const ExpertStack mixed[2] = {st, q8.view(y.data(), 4)};
  EXPECT_THROW(matmul_experts(pool, mixed, 256, c.route(3)), Error);
  EXPECT_FALSE(experts_share_activations(DType::Q4_K, DType::Q8_0));
  EXPECT_TRUE(experts_share_activations(DType::Q4_K, DType::Q6_K));
}

// The executor runs an MoE layer's gate and up projections (same input and ids) in one
// dispatch; every node still gets the value a separate call gives, and the down projection
// (per-slot input) too.
TEST(MatmulExperts, ExecutorFusesGateAndUp) {
  const int64_t E = 256, F = 64, X = 7, k = 2, T = 13;
  std::mt19937 rng(9);
  const Stack gate(DType::Q4_K, F, E, X, 0, rng), up(DType::Q4_K, F, E, X, 0, rng);
  const Stack down(DType::Q8_0, E, F, X, 0, rng);
  auto weight = [](const Stack& s) {
    return tensor::Tensor::wrap(s.t, {s.k, s.n_rows, s.n_exp},
                                const_cast<uint8_t*>(s.bytes.data()));
  };
  const Case c = make_case(k, T, false, E, {0, 1, 2, 3, 4, 5, 6}, rng);
  tensor::Graph g;
  const tensor::NodeId x = g.input("x", DType::F32, {E, T});
  const tensor::NodeId ids = g.input("ids", DType::I32, {k, T});
  const tensor::NodeId gn = g.matmul_experts(g.weight("gate", weight(gate)), x, ids);
  const tensor::NodeId un = g.matmul_experts(g.weight("up", weight(up)), x, ids);
  const tensor::NodeId a = g.swiglu(gn, un);
  const tensor::NodeId dn = g.matmul_experts(g.weight("down", weight(down)), a, ids);
  tensor::Tensor xin = tensor::Tensor::zeros(DType::F32, {E, T});
  for (int64_t t = 0; t < T; ++t)
    std::copy_n(c.x.data() + t * c.x_stride, E, xin.data_as<float>() + t * E);
  tensor::Tensor idt = tensor::Tensor::zeros(DType::I32, {k, T});
  std::copy(c.ids.begin(), c.ids.end(), idt.data_as<int32_t>());
  ThreadPool pool(3);
  const auto val = GraphExecutor(pool).run(g, {{x, xin}, {ids, idt}});
  auto values = [&](tensor::NodeId id) {
    const float* p = val[size_t(id)].data_as<float>();
    return std::vector<float>(p, p + val[size_t(id)].numel());
  };
  const auto want_g = run_one(pool, gate, c, best_isa()), want_u = run_one(pool, up, c, best_isa());
  EXPECT_EQ(values(gn), want_g);
  EXPECT_EQ(values(un), want_u);
  Case cd{k, T, true, c.ids, values(a), F};
  EXPECT_EQ(values(dn), run_one(pool, down, cd, best_isa()));
}

}  // namespace
}  // namespace kt::cpu
