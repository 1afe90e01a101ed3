// RoPE on the GPU against the CPU executor: both pairings, partial rotation, linear scaling,
// YaRN, positions up to 10^5 read from device memory, T = 1 and T > 1.
#include "ops_test_util.h"

namespace kt::cuda::test {
namespace {

using tensor::RopePairing;
using tensor::RopeParams;

struct RopeCase {
  const char* what;
  int64_t head_dim, heads;
  RopeParams p;
};

std::vector<RopeCase> rope_cases() {
  std::vector<RopeCase> cases;
  for (RopePairing pairing : {RopePairing::Adjacent, RopePairing::SplitHalf}) {
    const bool adj = pairing == RopePairing::Adjacent;
    RopeParams full;
    full.n_rot = 128;
    full.freq_base = 10000.0f;
    full.pairing = pairing;
    cases.push_back({adj ? "adjacent full" : "split-half full", 128, 7, full});
    RopeParams partial = full;  // rotate 32 of 80 dims, linear scaling x4
    partial.n_rot = 32;
    partial.freq_base = 1000000.0f;
    partial.freq_scale = 0.25f;
    cases.push_back({adj ? "adjacent partial" : "split-half partial", 80, 3, partial});
    RopeParams yarn = full;  // DeepSeek-V2-like YaRN: factor 40 over 4096
    yarn.n_rot = 64;
    yarn.freq_scale = 1.0f / 40.0f;
    yarn.ext_factor = 1.0f;
    yarn.attn_factor = 1.0f;
    yarn.beta_fast = 32.0f;
    yarn.beta_slow = 1.0f;
    yarn.n_ctx_orig = 4096;
    cases.push_back({adj ? "adjacent yarn" : "split-half yarn", 64, 5, yarn});
    RopeParams yarn_attn = yarn;  // attn_factor != 1 and a partial head
    yarn_attn.attn_factor = 0.7f;
    yarn_attn.n_rot = 48;
    cases.push_back({adj ? "adjacent yarn partial" : "split-half yarn partial", 66, 2, yarn_attn});
  }
  return cases;
}

TEST(CudaOpsRope, MatchesCpuForEveryVariant) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 1;
  for (const RopeCase& c : rope_cases()) {
    for (int64_t T : {1, 5, 130}) {
      Graph g;
      NodeId x = g.input("x", DType::F32, {c.head_dim, c.heads, T});
      NodeId pos = g.input("pos", DType::I32, {T});
      NodeId y = g.rope(x, pos, c.p, "rope");
      // T = 1: a late decode position; else random positions up to 10^5 (and 0).
      Tensor positions = T == 1 ? i32({1}, {31337}) : random_i32({T}, seed++, 0, 100000);
      if (T > 1) positions.data_as<int32_t>()[0] = 0;
      auto vals =
          cpu_values(g, {{x, random_f32({c.head_dim, c.heads, T}, seed++)}, {pos, positions}});
      EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 2e-6f, 2e-6f))
          << c.what << " D=" << c.head_dim << " H=" << c.heads << " T=" << T;
    }
  }
}

}  // namespace
}  // namespace kt::cuda::test
