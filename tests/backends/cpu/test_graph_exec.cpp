// The CPU graph executor against the same computation written out by hand in double.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/graph_exec.h"
#include "tensor/error.h"
#include "tensor/quants.h"

namespace kt::cpu {
namespace {

using tensor::DType;
using tensor::Graph;
using tensor::NodeId;
using tensor::Tensor;

Tensor random_f32(const tensor::Shape& shape, uint32_t seed, float sd = 1.0f) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = dist(rng);
  return t;
}

// y[n] = sum_k W[n][k] x[k] with W {K, N} f32, in double.
std::vector<double> ref_matvec(const float* w, const double* x, int64_t K, int64_t N) {
  std::vector<double> y(size_t(N), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) y[size_t(n)] += double(w[n * K + k]) * x[k];
  return y;
}

TEST(GraphExec, DenseSwiGluBlockMatchesHandComputation) {
  const int64_t E = 64, F = 96, T = 3;
  ThreadPool pool(2);
  Graph g;
  NodeId x = g.input("x", DType::F32, {E, T});
  Tensor norm_w = random_f32({E}, 1), gate_w = random_f32({E, F}, 2, 0.1f),
         up_w = random_f32({E, F}, 3, 0.1f), down_w = random_f32({F, E}, 4, 0.1f);
  NodeId h = g.rms_norm(x, g.weight("norm", norm_w), 1e-5f);
  NodeId a = g.swiglu(g.matmul(g.weight("gate", gate_w), h), g.matmul(g.weight("up", up_w), h));
  NodeId y = g.add(x, g.matmul(g.weight("down", down_w), a), "out");
  Tensor xin = random_f32({E, T}, 5);
  GraphExecutor ex(pool);
  auto val = ex.run(g, {{x, xin}});
  const float* out = val[size_t(y)].data_as<float>();
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = xin.data_as<float>() + t * E;
    double ss = 0;
    for (int64_t i = 0; i < E; ++i) ss += double(xt[i]) * xt[i];
    std::vector<double> hn(E);
    for (int64_t i = 0; i < E; ++i)
      hn[i] = xt[i] / std::sqrt(ss / E + 1e-5) * norm_w.data_as<float>()[i];
    auto gv = ref_matvec(gate_w.data_as<float>(), hn.data(), E, F);
    auto uv = ref_matvec(up_w.data_as<float>(), hn.data(), E, F);
    std::vector<double> av(F);
    for (int64_t i = 0; i < F; ++i) av[i] = gv[i] / (1 + std::exp(-gv[i])) * uv[i];
    auto dv = ref_matvec(down_w.data_as<float>(), av.data(), F, E);
    for (int64_t i = 0; i < E; ++i) EXPECT_NEAR(out[t * E + i], xt[i] + dv[i], 1e-4);
  }
}

TEST(GraphExec, MoeRoutingWithQuantizedExpertsMatchesHandComputation) {
  const int64_t E = 64, F = 32, X = 6, k = 2, T = 4;
  ThreadPool pool(3);
  Graph g;
  NodeId x = g.input("x", DType::F32, {E, T});
  Tensor router = random_f32({E, X}, 11, 0.5f);
  Tensor up_f = random_f32({E, F, X}, 12, 0.1f);
  Tensor up_q = Tensor::zeros(DType::Q8_0, {E, F, X});
  tensor::quantize_row_q8_0(up_f.data_as<float>(), up_q.data(), up_f.numel());
  std::vector<float> up_deq(size_t(up_f.numel()));
  tensor::dequantize_row_q8_0(up_q.data(), up_deq.data(), up_f.numel());
  NodeId probs = g.softmax(g.matmul(g.weight("router", router), x));
  NodeId ids = g.top_k(probs, int(k));
  NodeId w = g.gather(probs, ids);
  NodeId h = g.matmul_experts(g.weight("up", up_q), x, ids);
  NodeId y = g.weighted_sum(h, w);
  Tensor xin = random_f32({E, T}, 13);
  auto val = GraphExecutor(pool).run(g, {{x, xin}});
  const float* out = val[size_t(y)].data_as<float>();
  const int32_t* sel = val[size_t(ids)].data_as<int32_t>();
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> xt(E);
    for (int64_t i = 0; i < E; ++i) xt[i] = xin.data_as<float>()[t * E + i];
    auto logits = ref_matvec(router.data_as<float>(), xt.data(), E, X);
    double mx = *std::max_element(logits.begin(), logits.end()), z = 0;
    for (double& l : logits) z += (l = std::exp(l - mx));
    // The two largest probabilities, chosen independently of the executor.
    std::vector<int> order(X);
    for (int i = 0; i < X; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
    ASSERT_EQ(sel[t * k], order[0]);
    ASSERT_EQ(sel[t * k + 1], order[1]);
    std::vector<double> want(F, 0.0);
    for (int j = 0; j < k; ++j) {
      auto ye = ref_matvec(up_deq.data() + order[j] * E * F, xt.data(), E, F);
      for (int64_t i = 0; i < F; ++i) want[i] += logits[order[j]] / z * ye[i];
    }
    for (int64_t i = 0; i < F; ++i)
      EXPECT_NEAR(out[t * F + i], want[i], 2e-2 * (1 + std::fabs(want[i])));
  }
}

TEST(GraphExec, CausalGqaAttentionMatchesHandComputation) {
  const int64_t D = 8, Hq = 4, Hkv = 2, T = 3, S = 5, off = 2;
  ThreadPool pool(2);
  Graph g;
  NodeId q = g.input("q", DType::F32, {D, Hq, T});
  NodeId k = g.input("k", DType::F32, {D, Hkv, S});
  NodeId v = g.input("v", DType::F32, {D, Hkv, S});
  const float sc = 1.0f / std::sqrt(float(D));
  NodeId o = g.attention(q, k, v, sc, off);
  Tensor qt = random_f32({D, Hq, T}, 21), kt_ = random_f32({D, Hkv, S}, 22),
         vt = random_f32({D, Hkv, S}, 23);
  auto val = GraphExecutor(pool).run(g, {{q, qt}, {k, kt_}, {v, vt}});
  const float* out = val[size_t(o)].data_as<float>();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < Hq; ++h) {
      const int64_t kvh = h / (Hq / Hkv), last = off + t;
      std::vector<double> s(static_cast<size_t>(last + 1));
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j <= last; ++j) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d)
          acc += double(qt.data_as<float>()[(t * Hq + h) * D + d]) *
                 kt_.data_as<float>()[(j * Hkv + kvh) * D + d];
        s[j] = acc * sc;
        mx = std::max(mx, s[j]);
      }
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int64_t d = 0; d < D; ++d) {
        double acc = 0;
        for (int64_t j = 0; j <= last; ++j)
          acc += s[j] / z * vt.data_as<float>()[(j * Hkv + kvh) * D + d];
        EXPECT_NEAR(out[(t * Hq + h) * D + d], acc, 1e-5);
      }
    }
}

// Decoding with a KV cache, one step at a time, gives what one pass over the whole sequence
// gives: the cache keeps the earlier keys and values between graph runs.
TEST(GraphExec, KvCacheStepsMatchOneFullPass) {
  const int64_t D = 8, H = 2, S = 6, cap = 10;
  ThreadPool pool(2);
  Tensor q = random_f32({D, H, S}, 31), k = random_f32({D, H, S}, 32),
         v = random_f32({D, H, S}, 33);
  Graph full;
  NodeId fq = full.input("q", DType::F32, {D, H, S});
  NodeId fk = full.input("k", DType::F32, {D, H, S});
  NodeId fv = full.input("v", DType::F32, {D, H, S});
  NodeId fo = full.attention(fq, fk, fv, 0.3f, 0);
  GraphExecutor ex(pool);
  auto want = ex.run(full, {{fq, q}, {fk, k}, {fv, v}})[size_t(fo)];

  Tensor kc = Tensor::zeros(DType::F32, {D, H, cap}), vc = Tensor::zeros(DType::F32, {D, H, cap});
  const int64_t steps[] = {3, 1, 2};  // a prefill chunk, then single tokens
  int64_t pos = 0;
  for (int64_t T : steps) {
    Graph g;
    NodeId cq = g.input("q", DType::F32, {D, H, T});
    NodeId ck = g.input("k", DType::F32, {D, H, T});
    NodeId cv = g.input("v", DType::F32, {D, H, T});
    NodeId kcache = g.input("k_cache", DType::F32, {D, H, cap});
    NodeId vcache = g.input("v_cache", DType::F32, {D, H, cap});
    NodeId kall = g.cache_append(kcache, ck, pos);
    NodeId vall = g.cache_append(vcache, cv, pos);
    NodeId o = g.attention(cq, kall, vall, 0.3f, pos);
    auto val = ex.run(g, {{cq, q.slice(2, pos, pos + T).reshape({D, H, T})},
                          {ck, k.slice(2, pos, pos + T).reshape({D, H, T})},
                          {cv, v.slice(2, pos, pos + T).reshape({D, H, T})},
                          {kcache, kc},
                          {vcache, vc}});
    for (int64_t i = 0; i < D * H * T; ++i)
      EXPECT_NEAR(val[size_t(o)].data_as<float>()[i], want.data_as<float>()[pos * D * H + i], 1e-5);
    pos += T;
  }
  Graph over;
  NodeId c = over.input("c", DType::F32, {D, H, cap});
  NodeId x = over.input("x", DType::F32, {D, H, 2});
  EXPECT_THROW(over.cache_append(c, x, 9), Error);
  EXPECT_THROW(over.cache_append(over.scale(c, 1.0f), x, 0),
               Error);  // a computed value is no cache
}

TEST(GraphExec, RejectsMissingOrMismatchedInputsAndForeignDevices) {
  ThreadPool pool(1);
  Graph g;
  NodeId x = g.input("x", DType::F32, {4, 2});
  g.scale(x, 2.0f);
  GraphExecutor ex(pool);
  EXPECT_THROW(ex.run(g, {}), Error);
  EXPECT_THROW(ex.run(g, {{x, Tensor::zeros(DType::F32, {4, 3})}}), Error);
  EXPECT_THROW(ex.run(g, {{x, Tensor::zeros(DType::I32, {4, 2})}}), Error);
  auto ok = ex.run(g, {{x, Tensor::zeros(DType::F32, {8})}});
  EXPECT_EQ(ok.size(), 2u);
  g.copy_to(x, tensor::Device::cuda(0));
  EXPECT_THROW(ex.run(g, {{x, Tensor::zeros(DType::F32, {4, 2})}}), Error);
  Graph g2;
  NodeId table = g2.weight("emb", Tensor::zeros(DType::F32, {4, 10}));
  NodeId ids = g2.input("ids", DType::I32, {2});
  g2.get_rows(table, ids);
  Tensor bad = Tensor::zeros(DType::I32, {2});
  bad.data_as<int32_t>()[1] = 10;
  EXPECT_THROW(ex.run(g2, {{ids, bad}}), Error);
}

}  // namespace
}  // namespace kt::cpu
