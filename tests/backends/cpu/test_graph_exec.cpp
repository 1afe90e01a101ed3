// The CPU graph executor against the same computation written out by hand in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
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

TEST(GraphExec, SliceConcatAndPerRowBroadcastMatchHandComputation) {
  ThreadPool pool(2);
  Graph g;
  NodeId a = g.input("a", DType::F32, {5, 3, 2});  // 5 values, 3 heads, 2 tokens
  NodeId b = g.input("b", DType::F32, {2, 1, 2});  // one head, broadcast over the 3
  NodeId s = g.slice(a, 1, 4);
  NodeId c = g.concat(s, b);
  NodeId c2 = g.concat(b, s);
  NodeId x = g.input("x", DType::F32, {4, 3});
  NodeId gate = g.input("gate", DType::F32, {1, 3});
  NodeId m = g.mul(x, gate);
  NodeId ad = g.add(x, gate);
  Tensor at = random_f32({5, 3, 2}, 41), bt = random_f32({2, 1, 2}, 42),
         xt = random_f32({4, 3}, 43), gt = random_f32({1, 3}, 44);
  auto val = GraphExecutor(pool).run(g, {{a, at}, {b, bt}, {x, xt}, {gate, gt}});
  const float *A = at.data_as<float>(), *B = bt.data_as<float>();
  const float* S = val[size_t(s)].data_as<float>();
  const float *C = val[size_t(c)].data_as<float>(), *C2 = val[size_t(c2)].data_as<float>();
  for (int t = 0; t < 2; ++t)
    for (int h = 0; h < 3; ++h) {
      const int r = t * 3 + h;
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(S[r * 3 + i], A[r * 5 + 1 + i]);
        EXPECT_EQ(C[r * 5 + i], A[r * 5 + 1 + i]);
        EXPECT_EQ(C2[r * 5 + 2 + i], A[r * 5 + 1 + i]);
      }
      for (int i = 0; i < 2; ++i) {
        EXPECT_EQ(C[r * 5 + 3 + i], B[t * 2 + i]);
        EXPECT_EQ(C2[r * 5 + i], B[t * 2 + i]);
      }
    }
  for (int t = 0; t < 3; ++t)
    for (int i = 0; i < 4; ++i) {
      EXPECT_FLOAT_EQ(val[size_t(m)].data_as<float>()[t * 4 + i],
                      xt.data_as<float>()[t * 4 + i] * gt.data_as<float>()[t]);
      EXPECT_FLOAT_EQ(val[size_t(ad)].data_as<float>()[t * 4 + i],
                      xt.data_as<float>()[t * 4 + i] + gt.data_as<float>()[t]);
    }
}

// The router of gguf.md §6 written out plainly in double, independent of the executor.
struct RefRoute {
  std::vector<int> ids;
  std::vector<double> w;
};

RefRoute ref_route(const std::vector<double>& l, const std::vector<double>& bias,
                   const tensor::MoeRouting& r) {
  const int X = int(l.size());
  std::vector<double> p(size_t(X), 0.0);
  double mx = -1e300, z = 0;
  for (double v : l) mx = std::max(mx, v);
  for (int i = 0; i < X; ++i) {
    switch (r.gating) {
      case tensor::MoeGating::Softmax:
        p[i] = std::exp(l[i] - mx);
        z += p[i];
        break;
      case tensor::MoeGating::Sigmoid:
        p[i] = 1 / (1 + std::exp(-l[i]));
        break;
      case tensor::MoeGating::SoftmaxWeight:
        p[i] = l[i];
        break;
      case tensor::MoeGating::SqrtSoftplus:
        p[i] = std::sqrt(std::log(1 + std::exp(l[i])));
        break;
    }
  }
  if (r.gating == tensor::MoeGating::Softmax)
    for (double& v : p) v /= z;
  std::vector<double> s = p;
  for (int i = 0; i < X && !bias.empty(); ++i) s[i] += bias[i];
  std::vector<bool> allowed(size_t(X), true);
  if (r.n_group > 1) {
    const int per = X / r.n_group;
    std::vector<std::pair<double, int>> gs;
    for (int g = 0; g < r.n_group; ++g) {
      std::vector<double> v(s.begin() + g * per, s.begin() + (g + 1) * per);
      std::sort(v.rbegin(), v.rend());
      gs.push_back({r.group_score == tensor::MoeGroupScore::Max ? v[0] : v[0] + v[1], g});
    }
    std::sort(gs.begin(), gs.end(), [](auto a, auto b) { return a.first > b.first; });
    for (int g = r.n_group_used; g < r.n_group; ++g)
      for (int i = 0; i < per; ++i) allowed[size_t(gs[size_t(g)].second * per + i)] = false;
  }
  std::vector<int> order;
  for (int i = 0; i < X; ++i)
    if (allowed[size_t(i)]) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return s[a] > s[b]; });
  RefRoute out;
  out.ids.assign(order.begin(), order.begin() + r.k);
  double sum = 0, mw = -1e300;
  for (int e : out.ids) mw = std::max(mw, p[e]);
  for (int e : out.ids) {
    out.w.push_back(r.gating == tensor::MoeGating::SoftmaxWeight ? std::exp(p[e] - mw) : p[e]);
    sum += out.w.back();
  }
  if (r.gating == tensor::MoeGating::SoftmaxWeight)
    for (double& w : out.w) w /= sum;
  if (r.norm) {
    sum = 0;
    for (double w : out.w) sum += w;
    const double d = r.norm_eps_additive ? sum + r.norm_eps : std::max<double>(sum, r.norm_eps);
    for (double& w : out.w) w /= d;
  }
  for (double& w : out.w) w *= r.scale;
  return out;
}

TEST(GraphExec, MoeRoutingVariantsMatchHandComputation) {
  using tensor::MoeGating;
  using tensor::MoeGroupScore;
  const int64_t X = 16, T = 6;
  ThreadPool pool(2);
  struct Case {
    const char* what;
    tensor::MoeRouting r;
    bool bias;
  };
  auto make = [](int k, MoeGating g, bool norm, float scale, int groups, int used,
                 MoeGroupScore gs) {
    tensor::MoeRouting r;
    r.k = k;
    r.gating = g;
    r.norm = norm;
    r.scale = scale;
    r.n_group = groups;
    r.n_group_used = used;
    r.group_score = gs;
    return r;
  };
  std::vector<Case> cases = {
      {"mixtral: softmax, renormalised", make(2, MoeGating::Softmax, true, 1, 1, 1, {}), false},
      {"qwen2moe: softmax, raw", make(4, MoeGating::Softmax, false, 1, 1, 1, {}), false},
      {"deepseek-v2: groups by max, scaled",
       make(3, MoeGating::Softmax, false, 16, 4, 2, MoeGroupScore::Max), false},
      {"deepseek-v3: sigmoid, bias, top-2 sum groups, norm, scale",
       make(4, MoeGating::Sigmoid, true, 2.5f, 8, 3, MoeGroupScore::Top2Sum), true},
      {"softmax over the selected logits", make(3, MoeGating::SoftmaxWeight, false, 1, 1, 1, {}),
       false},
      {"sqrt(softplus), renormalised", make(2, MoeGating::SqrtSoftplus, true, 1, 1, 1, {}), true},
  };
  cases[3].r.norm_eps = 1e-20f;
  cases[3].r.norm_eps_additive = true;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Graph g;
    NodeId logits = g.input("logits", DType::F32, {X, T});
    NodeId bias = c.bias ? g.input("bias", DType::F32, {X}) : -1;
    NodeId ids = g.moe_select(logits, bias, c.r);
    NodeId w = g.moe_weights(logits, ids, c.r);
    Tensor lt = random_f32({X, T}, 51, 2.0f), bt = random_f32({X}, 52, 0.3f);
    std::map<NodeId, Tensor> in = {{logits, lt}};
    if (c.bias) in[bias] = bt;
    auto val = GraphExecutor(pool).run(g, in);
    std::vector<double> b;
    if (c.bias) b.assign(bt.data_as<float>(), bt.data_as<float>() + X);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> l(lt.data_as<float>() + t * X, lt.data_as<float>() + (t + 1) * X);
      const RefRoute want = ref_route(l, b, c.r);
      for (int j = 0; j < c.r.k; ++j) {
        EXPECT_EQ(val[size_t(ids)].data_as<int32_t>()[t * c.r.k + j], want.ids[size_t(j)]);
        EXPECT_NEAR(val[size_t(w)].data_as<float>()[t * c.r.k + j], want.w[size_t(j)],
                    1e-5 * (1 + std::fabs(want.w[size_t(j)])));
      }
    }
  }
}

// The per-head batched product of MLA attention: MatMulExperts with ids[h, t] = h applies
// head h's matrix to row (h, t) of the input.
TEST(GraphExec, MatMulExpertsWithHeadIdsIsAPerHeadProduct) {
  const int64_t K = 8, N = 5, H = 3, T = 2;
  ThreadPool pool(2);
  Graph g;
  Tensor wt = random_f32({K, N, H}, 61), xt = random_f32({K, H, T}, 62);
  Tensor heads = Tensor::zeros(DType::I32, {H, T});
  for (int64_t i = 0; i < H * T; ++i) heads.data_as<int32_t>()[i] = int32_t(i % H);
  NodeId x = g.input("x", DType::F32, {K, H, T});
  NodeId y = g.matmul_experts(g.weight("w", wt), g.reshape(x, {K, H * T}), g.weight("ids", heads));
  EXPECT_EQ(g.node(y).shape, (std::vector<int64_t>{N, H, T}));
  auto val = GraphExecutor(pool).run(g, {{x, xt}});
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> xv(xt.data_as<float>() + (t * H + h) * K,
                             xt.data_as<float>() + (t * H + h + 1) * K);
      auto want = ref_matvec(wt.data_as<float>() + h * K * N, xv.data(), K, N);
      for (int64_t n = 0; n < N; ++n)
        EXPECT_NEAR(val[size_t(y)].data_as<float>()[(t * H + h) * N + n], want[size_t(n)], 1e-5);
    }
}

// GELU with the tanh approximation at points worked out by hand:
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
TEST(GraphExec, GeluTanhMatchesHandComputation) {
  ThreadPool pool(1);
  Graph g;
  NodeId x = g.input("x", DType::F32, {5});
  NodeId y = g.gelu(x);
  Tensor xt = Tensor::zeros(DType::F32, {5});
  const float in[5] = {0.0f, 1.0f, -1.0f, 3.0f, -10.0f};
  std::copy_n(in, 5, xt.data_as<float>());
  auto val = GraphExecutor(pool).run(g, {{x, xt}});
  const float* out = val[size_t(y)].data_as<float>();
  EXPECT_EQ(out[0], 0.0f);
  // x = 1: tanh(0.7978846 * 1.044715) = tanh(0.8335620) = 0.6823840 -> 0.8411920.
  EXPECT_NEAR(out[1], 0.8411920, 1e-6);
  EXPECT_NEAR(out[2], -0.1588080, 1e-6);  // gelu(-x) = gelu(x) - x
  // x = 3: tanh(0.7978846 * 4.207305) = tanh(3.356944) = 0.9975751 -> 2.9963626.
  EXPECT_NEAR(out[3], 2.9963626, 1e-5);
  EXPECT_NEAR(out[4], 0.0f, 1e-6);  // far left: zero (no NaN from the cube)
}

// A sliding window of W keys per query: with W = 1 every query sees only its own key, so the
// output is that key's value row whatever the scores; with W = 2 it mixes its own key and the
// one before, by the softmax of those two scores alone.
TEST(GraphExec, SlidingWindowAttentionSeesOnlyTheLastWPositions) {
  const int64_t D = 4, Hq = 2, Hkv = 1, T = 3, S = 5, off = 2;
  ThreadPool pool(2);
  Tensor qt = random_f32({D, Hq, T}, 31), kt_ = random_f32({D, Hkv, S}, 32),
         vt = random_f32({D, Hkv, S}, 33);
  const float* Q = qt.data_as<float>();
  const float* K = kt_.data_as<float>();
  const float* V = vt.data_as<float>();
  for (int64_t W : {1, 2}) {
    Graph g;
    NodeId q = g.input("q", DType::F32, {D, Hq, T});
    NodeId k = g.input("k", DType::F32, {D, Hkv, S});
    NodeId v = g.input("v", DType::F32, {D, Hkv, S});
    NodeId o = g.attention(q, k, v, 0.5f, off, W, "swa");
    EXPECT_EQ(g.node(o).window, W);
    auto val = GraphExecutor(pool).run(g, {{q, qt}, {k, kt_}, {v, vt}});
    const float* out = val[size_t(o)].data_as<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < Hq; ++h) {
        const int64_t p = off + t;  // the query's position
        double w_prev = 0.0;        // weight of key p - 1 (W = 2)
        if (W == 2) {
          double s_self = 0, s_prev = 0;
          for (int64_t d = 0; d < D; ++d) {
            s_self += 0.5 * Q[(t * Hq + h) * D + d] * K[p * D + d];
            s_prev += 0.5 * Q[(t * Hq + h) * D + d] * K[(p - 1) * D + d];
          }
          w_prev = 1.0 / (1.0 + std::exp(s_self - s_prev));
        }
        for (int64_t d = 0; d < D; ++d) {
          const double want = (1.0 - w_prev) * V[p * D + d] + w_prev * V[(p - 1) * D + d];
          EXPECT_NEAR(out[(t * Hq + h) * D + d], want, 1e-5) << "W=" << W;
        }
      }
  }
}

// A window at least as long as the sequence is plain causal attention.
TEST(GraphExec, WideWindowEqualsCausalAttention) {
  const int64_t D = 8, Hq = 4, Hkv = 2, T = 4, S = 6, off = 2;
  ThreadPool pool(2);
  Graph g;
  NodeId q = g.input("q", DType::F32, {D, Hq, T});
  NodeId k = g.input("k", DType::F32, {D, Hkv, S});
  NodeId v = g.input("v", DType::F32, {D, Hkv, S});
  NodeId causal = g.attention(q, k, v, 0.3f, off);
  NodeId wide = g.attention(q, k, v, 0.3f, off, S, "wide");
  NodeId narrow = g.attention(q, k, v, 0.3f, off, 3, "narrow");
  auto val = GraphExecutor(pool).run(g, {{q, random_f32({D, Hq, T}, 41)},
                                         {k, random_f32({D, Hkv, S}, 42)},
                                         {v, random_f32({D, Hkv, S}, 43)}});
  const Tensor &a = val[size_t(causal)], &b = val[size_t(wide)], &c = val[size_t(narrow)];
  double max_diff_narrow = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_EQ(a.data_as<float>()[i], b.data_as<float>()[i]);
    max_diff_narrow =
        std::max(max_diff_narrow, double(std::fabs(a.data_as<float>()[i] - c.data_as<float>()[i])));
  }
  EXPECT_GT(max_diff_narrow, 1e-3);  // queries at positions 3..5 lose keys with W = 3
}

}  // namespace
}  // namespace kt::cpu
