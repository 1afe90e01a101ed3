// TopK and the MoE router on the GPU against the CPU executor. The selected ids must be
// identical (not merely close) for every routing variant of the supported architectures.
#include <limits>

#include "ops_test_util.h"

namespace kt::cuda::test {
namespace {

using tensor::MoeGating;
using tensor::MoeGroupScore;
using tensor::MoeRouting;

TEST(CudaOpsMoe, TopKWithTiesAndNans) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 1;
  struct Case {
    int64_t n, rows;
    int k;
  };
  for (const Case c :
       {Case{37, 130, 5}, Case{2048, 1, 8}, Case{64, 5, 60}, Case{151936, 2, 40}, Case{8, 3, 2}}) {
    Tensor xin = random_f32({c.n, c.rows}, seed++);
    float* xp = xin.data_as<float>();
    // Coarse values make ties common; a few NaNs must sort after every number (at most 4
    // per row of 64, so k = 60 never has to order NaNs, which the CPU leaves unspecified).
    for (int64_t i = 0; i < xin.numel(); ++i) xp[i] = std::round(xp[i] * 4.0f) / 4.0f;
    for (int64_t i = 3; i < xin.numel(); i += 17) xp[i] = std::numeric_limits<float>::quiet_NaN();
    Graph g;
    NodeId x = g.input("x", DType::F32, {c.n, c.rows});
    NodeId y = g.top_k(x, c.k, "topk");
    auto vals = cpu_values(g, {{x, xin}});
    EXPECT_TRUE(all_equal_i32(vals[size_t(y)], gpu_node(g, y, vals)))
        << "TopK n=" << c.n << " rows=" << c.rows << " k=" << c.k;
  }
}

struct RouterCase {
  const char* what;
  int64_t experts;
  bool bias;
  MoeRouting r;
};

std::vector<RouterCase> router_cases() {
  std::vector<RouterCase> cases;
  MoeRouting v2;  // DeepSeek-V2: softmax, group-limited greedy (max), no norm, scale 16
  v2.k = 6;
  v2.gating = MoeGating::Softmax;
  v2.n_group = 8;
  v2.n_group_used = 3;
  v2.group_score = MoeGroupScore::Max;
  v2.scale = 16.0f;
  cases.push_back({"DeepSeek-V2", 160, false, v2});
  MoeRouting v3;  // DeepSeek-V3: sigmoid + bias, top-2-sum groups, norm (sum + 1e-20), 2.5
  v3.k = 8;
  v3.gating = MoeGating::Sigmoid;
  v3.n_group = 8;
  v3.n_group_used = 4;
  v3.group_score = MoeGroupScore::Top2Sum;
  v3.norm = true;
  v3.norm_eps = 1e-20f;
  v3.norm_eps_additive = true;
  v3.scale = 2.5f;
  cases.push_back({"DeepSeek-V3", 256, true, v3});
  MoeRouting v3_llama = v3;  // llama.cpp's convention: max(sum, eps)
  v3_llama.norm_eps = 6.103515625e-5f;
  v3_llama.norm_eps_additive = false;
  cases.push_back({"DeepSeek-V3 (llama.cpp norm)", 256, true, v3_llama});
  MoeRouting qwen;  // Qwen MoE: softmax, norm
  qwen.k = 4;
  qwen.norm = true;
  cases.push_back({"Qwen", 60, false, qwen});
  MoeRouting qwen3 = qwen;  // Qwen3-MoE: 128 experts, 8 used
  qwen3.k = 8;
  cases.push_back({"Qwen3", 128, false, qwen3});
  MoeRouting mixtral;  // Mixtral: select on the logits, softmax over the chosen
  mixtral.k = 2;
  mixtral.gating = MoeGating::SoftmaxWeight;
  cases.push_back({"Mixtral", 8, false, mixtral});
  MoeRouting wide = v3;  // groups wider than a warp, scored by the max
  wide.n_group = 4;
  wide.n_group_used = 2;
  wide.group_score = MoeGroupScore::Max;
  cases.push_back({"wide groups (max)", 512, true, wide});
  wide.group_score = MoeGroupScore::Top2Sum;
  cases.push_back({"wide groups (top-2 sum)", 512, true, wide});
  MoeRouting softplus;  // sqrt(softplus) gating with a bias and norm
  softplus.k = 6;
  softplus.gating = MoeGating::SqrtSoftplus;
  softplus.norm = true;
  cases.push_back({"SqrtSoftplus", 64, true, softplus});
  return cases;
}

TEST(CudaOpsMoe, RouterSelectsTheCpuExpertsWithTheCpuWeights) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 100;
  for (const RouterCase& c : router_cases()) {
    for (int64_t T : {1, 5, 130}) {
      Graph g;
      NodeId logits = g.input("logits", DType::F32, {c.experts, T});
      NodeId bias = c.bias ? g.weight("bias", random_f32({c.experts}, seed++, 0.1f)) : -1;
      NodeId ids = g.moe_select(logits, bias, c.r, "select");
      NodeId w = g.moe_weights(logits, ids, c.r, "weights");
      auto vals = cpu_values(g, {{logits, random_f32({c.experts, T}, seed++, 2.0f)}});
      EXPECT_TRUE(all_equal_i32(vals[size_t(ids)], gpu_node(g, ids, vals)))
          << c.what << " MoeSelect T=" << T;
      EXPECT_TRUE(all_close(vals[size_t(w)], gpu_node(g, w, vals), 1e-7f, 1e-6f))
          << c.what << " MoeWeights T=" << T;
    }
  }
}

TEST(CudaOpsMoe, TopKAfterSoftmaxMatchesMoeSelect) {
  // The graph form of a plain router (softmax, TopK) picks what MoeSelect picks.
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t X = 64, T = 9;
  Graph g;
  NodeId logits = g.input("logits", DType::F32, {X, T});
  NodeId topk = g.top_k(g.softmax(logits), 6, "topk");
  MoeRouting r;
  r.k = 6;
  NodeId sel = g.moe_select(logits, -1, r, "select");
  auto vals = cpu_values(g, {{logits, random_f32({X, T}, 7)}});
  EXPECT_TRUE(all_equal_i32(gpu_node(g, topk, vals), gpu_node(g, sel, vals)));
}

}  // namespace
}  // namespace kt::cuda::test
