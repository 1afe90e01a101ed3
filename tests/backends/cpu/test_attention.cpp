// The fast attention path against the plain reference (every tier, thread counts, forced key
// splits, odd head sizes, GQA/MQA, windows, V as a view of K), the per-head matmul against
// per-row reference dot products, and the executor's Attention (shared K/V) and MatMulHeads
// nodes against the graphs they replace.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/graph_exec.h"
#include "backends/cpu/matmul_heads.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"
#include "tensor/graph.h"
#include "vec_dot_test_util.h"

namespace kt::cpu {
namespace {

using tensor::DType;
using tensor::Graph;
using tensor::NodeId;
using tensor::Tensor;

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa isa : {Isa::Reference, Isa::Avx2, Isa::Avx512})
    if (isa_supported(isa)) v.push_back(isa);
  return v;
}

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

struct Shape {
  int64_t dk, dv, hq, hkv, T, S, pos, window;
  bool shared_kv;  // v = the first dv values of each k row (dv <= dk)
  float scale;
  std::string str() const {
    return "dk " + std::to_string(dk) + " dv " + std::to_string(dv) + " hq " + std::to_string(hq) +
           " hkv " + std::to_string(hkv) + " T " + std::to_string(T) + " S " + std::to_string(S) +
           " pos " + std::to_string(pos) + " window " + std::to_string(window) +
           (shared_kv ? " shared" : "");
  }
};

// Buffers and strided parameters for one shape; q and o rows padded so strides are not dk/dv.
struct Problem {
  std::vector<float> q, k, v;
  AttentionParams p;
  explicit Problem(const Shape& s, uint32_t seed) {
    const int64_t qpad = 3, kpad = 5;
    q = random_vec(size_t(s.T * s.hq * (s.dk + qpad)), seed);
    k = random_vec(size_t(s.S * s.hkv * (s.dk + kpad)), seed + 1);
    p.dk = s.dk;
    p.dv = s.dv;
    p.hq = s.hq;
    p.hkv = s.hkv;
    p.n_q = s.T;
    p.n_kv = s.S;
    p.pos_offset = s.pos;
    p.window = s.window;
    p.scale = s.scale;
    p.q = q.data();
    p.q_h = s.dk + qpad;
    p.q_t = s.hq * p.q_h;
    p.k = k.data();
    p.k_h = s.dk + kpad;
    p.k_s = s.hkv * p.k_h;
    if (s.shared_kv) {
      p.v = k.data();
      p.v_h = p.k_h;
      p.v_s = p.k_s;
    } else {
      v = random_vec(size_t(s.S * s.hkv * s.dv), seed + 2);
      p.v = v.data();
      p.v_h = s.dv;
      p.v_s = s.hkv * s.dv;
    }
    p.o_h = s.dv;
    p.o_t = s.hq * s.dv;
  }
};

const Shape kShapes[] = {
    // dk, dv, hq, hkv, T, S, pos, window, shared, scale
    {7, 5, 3, 3, 4, 9, 5, 0, false, 0.4f},          // odd dims, one head per kv head
    {19, 33, 6, 2, 5, 12, 7, 0, false, 0.3f},       // tails after 16/8 lanes, G = 3
    {64, 64, 12, 4, 20, 50, 30, 9, false, 0.2f},    // GQA with a sliding window
    {64, 48, 5, 1, 1, 200, 199, 0, false, 8.0f},    // MQA decode, G = 4 + 1, large scores
    {576, 512, 16, 1, 1, 300, 299, 0, true, 0.1f},  // DeepSeek MLA decode: V inside K
    {576, 512, 16, 1, 37, 90, 53, 0, true, 0.1f},   // MLA prefill continuing a cache
    {40, 24, 8, 8, 70, 70, 0, 0, false, 0.15f},     // prefill from empty, MHA
    {32, 16, 4, 2, 9, 40, 20, 4, true, 0.5f},       // window + shared, queries not at the end
    {16, 16, 2, 1, 3, 3, 0, 1, false, 0.5f},        // window 1: each query sees only itself
};

void expect_close(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 2e-5f * (1.0f + std::fabs(want[i]))) << what << " at " << i;
}

TEST(Attention, FastPathMatchesReferenceOnOddShapes) {
  ThreadPool pool1(1), pool4(4);
  uint32_t seed = 100;
  for (const Shape& s : kShapes) {
    Problem pr(s, seed += 10);
    std::vector<float> want(size_t(s.T * s.hq * s.dv), -7.0f);
    AttentionParams pw = pr.p;
    pw.o = want.data();
    attention_ref(pw, pool1);
    for (Isa isa : supported_isas())
      for (ThreadPool* pool : {&pool1, &pool4})
        for (int splits : {0, 1, 3, 7}) {
          std::vector<float> got(want.size(), -7.0f);
          AttentionParams pg = pr.p;
          pg.o = got.data();
          attention(pg, *pool, isa, splits);
          expect_close(got, want,
                       s.str() + " isa " + isa_name(isa) + " threads " +
                           std::to_string(pool->size()) + " splits " + std::to_string(splits));
        }
  }
}

TEST(Attention, RejectsInconsistentParameters) {
  ThreadPool pool(1);
  Problem pr({8, 8, 3, 2, 1, 4, 3, 0, false, 1.0f}, 1);  // 3 query heads over 2 kv heads
  std::vector<float> o(24);
  pr.p.o = o.data();
  EXPECT_THROW(attention(pr.p, pool), Error);
  EXPECT_THROW(attention_ref(pr.p, pool), Error);
  pr.p.hq = 2;
  pr.p.pos_offset = 4;  // query at position 4 of 4 keys
  EXPECT_THROW(attention(pr.p, pool), Error);
}

// y[t][h] = W_h · x[t][h] from the reference kernel, one element at a time.
std::vector<float> heads_expected(DType t, const std::vector<uint8_t>& w, int64_t N, int64_t K,
                                  int64_t H, const std::vector<float>& x, int64_t T) {
  const VecDotFn dot = kernels_ref().vec_dot(t);
  const size_t rs = tensor::row_size(t, K);
  std::vector<float> y(size_t(T * H * N));
  for (int64_t tok = 0; tok < T; ++tok)
    for (int64_t h = 0; h < H; ++h) {
      const auto xq = testing::quantize_activation(t, x.data() + (tok * H + h) * K, K);
      for (int64_t n = 0; n < N; ++n)
        dot(K, w.data() + size_t(h * N + n) * rs, xq.data(), 0, 1,
            &y[size_t((tok * H + h) * N + n)], 1);
    }
  return y;
}

TEST(MatMulHeads, MatchesPerHeadReference) {
  ThreadPool pool1(1), pool4(4);
  std::mt19937 rng(7);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t K = tensor::type_traits(t).block_size == 256 ? 256 : 64;
    for (int64_t T : {1, 3, 70})
      for (int64_t N : {7, 130}) {
        const int64_t H = 5;
        const auto w = testing::random_weights(t, H * N, K, rng);
        const auto x = random_vec(size_t(T * H * K), uint32_t(T * 31 + N));
        const auto want = heads_expected(t, w, N, K, H, x, T);
        for (Isa isa : supported_isas())
          for (ThreadPool* pool : {&pool1, &pool4}) {
            std::vector<float> got(want.size(), -7.0f);
            matmul_heads(*pool, t, w.data(), tensor::row_size(t, K) * size_t(N), N, K, H, x.data(),
                         T, got.data(), isa);
            // The reference tier is exact; SIMD tiers add in another order (as test_matmul).
            for (int64_t tok = 0; tok < T; ++tok)
              for (int64_t h = 0; h < H; ++h) {
                const auto xq = testing::quantize_activation(t, x.data() + (tok * H + h) * K, K);
                for (int64_t n = 0; n < N; ++n) {
                  const size_t i = size_t((tok * H + h) * N + n);
                  const double tol =
                      isa == Isa::Reference
                          ? 0.0
                          : 1e-5 * testing::magnitude(
                                       t, w.data() + size_t(h * N + n) * tensor::row_size(t, K),
                                       xq.data(), K);
                  ASSERT_NEAR(got[i], want[i], tol) << tensor::dtype_name(t) << " T " << T << " N "
                                                    << N << " isa " << isa_name(isa) << " at " << i;
                }
              }
          }
      }
  }
  std::vector<float> y(8);
  const auto w = testing::random_weights(DType::Q8_0, 2, 32, rng);
  EXPECT_THROW(matmul_heads(pool1, DType::Q8_0, w.data(), 34, 1, 48, 2, y.data(), 1, y.data()),
               Error);  // 48 is not a multiple of Q8_0's 32
}

Tensor random_tensor(const std::vector<int64_t>& shape, uint32_t seed) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  const auto v = random_vec(size_t(t.numel()), seed);
  std::copy(v.begin(), v.end(), t.data_as<float>());
  return t;
}

// DeepSeek MLA's two forms: V copied out of the cache by a Slice, and V read in place.
TEST(GraphExecAttention, SharedKvEqualsSlicedValues) {
  const int64_t Dk = 24, Dv = 16, Hq = 4, T = 3, S = 7, pos = 4;
  ThreadPool pool(3);
  Graph g;
  NodeId q = g.input("q", DType::F32, {Dk, Hq, T});
  NodeId k = g.input("k", DType::F32, {Dk, 1, S});
  NodeId sliced = g.attention(q, k, g.slice(k, 0, Dv), 0.3f, pos);
  NodeId shared = g.attention_shared_kv(q, k, Dv, 0.3f, pos, "shared");
  EXPECT_EQ(g.node(shared).shape, (std::vector<int64_t>{Dv, Hq, T}));
  auto val = GraphExecutor(pool).run(
      g, {{q, random_tensor({Dk, Hq, T}, 1)}, {k, random_tensor({Dk, 1, S}, 2)}});
  const Tensor &a = val[size_t(sliced)], &b = val[size_t(shared)];
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_EQ(a.data_as<float>()[i], b.data_as<float>()[i]);
  EXPECT_THROW(g.attention_shared_kv(q, k, Dk + 1, 0.3f, pos, "too wide"), Error);
  EXPECT_THROW(g.attention_shared_kv(q, k, Dv, 0.3f, S, "past the end"), Error);
}

// The per-head product as it was written before: MatMulExperts with ids[h, t] = h.
TEST(GraphExecAttention, MatMulHeadsEqualsExpertsWithHeadIds) {
  const int64_t K = 32, N = 9, H = 3, T = 4;
  ThreadPool pool(2);
  std::mt19937 rng(3);
  const auto wb = testing::random_weights(DType::Q8_0, N * H, K, rng);
  Tensor w = Tensor::zeros(DType::Q8_0, {K, N, H});
  std::copy(wb.begin(), wb.end(), static_cast<uint8_t*>(w.data()));
  Tensor ids = Tensor::zeros(DType::I32, {H, T});
  for (int64_t i = 0; i < H * T; ++i) ids.data_as<int32_t>()[i] = int32_t(i % H);
  Graph g;
  NodeId wn = g.weight("w", w);
  NodeId x = g.input("x", DType::F32, {K, H, T});
  NodeId heads = g.matmul_heads(wn, x, "heads");
  NodeId experts = g.matmul_experts(wn, g.reshape(x, {K, H * T}), g.weight("ids", ids));
  EXPECT_EQ(g.node(heads).shape, (std::vector<int64_t>{N, H, T}));
  auto val = GraphExecutor(pool).run(g, {{x, random_tensor({K, H, T}, 4)}});
  const Tensor &a = val[size_t(heads)], &b = val[size_t(experts)];
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.data_as<float>()[i], b.data_as<float>()[i], 1e-5f) << i;
  EXPECT_THROW(g.matmul_heads(wn, g.input("bad", DType::F32, {K, 2, T})), Error);
}

}  // namespace
}  // namespace kt::cpu
