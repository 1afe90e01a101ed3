// GPU attention against the CPU reference (kt::cpu::attention_ref) on the shapes that matter
// and on odd ones: decode over 1..4097 keys (split-K and not), chunked prefill at pos 0 and
// 50, GQA/MQA, DeepSeek MLA's shared latent rows, sliding windows, strided cache rows, head
// sizes that are not multiples of 4 or 32.
#include <gtest/gtest.h>

#include "tests/backends/cuda/attention/attention_fixture.h"

namespace kt::cuda::test {
namespace {

class CudaAttention : public ::testing::TestWithParam<Case> {};

TEST_P(CudaAttention, MatchesCpuReference) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Problem pr(GetParam());
  pr.poison_output();
  pr.launch(pr.context());
  EXPECT_LT(pr.compare("single"), kTolerance);
}

Case mk(std::string name, int64_t dk, int64_t dv, int64_t hq, int64_t hkv, int64_t n_q,
        int64_t pos) {
  Case c;
  c.name = std::move(name);
  c.dk = dk, c.dv = dv, c.hq = hq, c.hkv = hkv, c.n_q = n_q, c.pos = pos;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  // Decode, GQA 4:1 at D=128 (Llama/Qwen), over 1, 7, 1000, 4097 keys.
  for (int64_t keys : {1, 7, 1000, 4097})
    v.push_back(mk("gqa_d128_decode_" + std::to_string(keys), 128, 128, 8, 2, 1, keys - 1));
  {
    Case c = mk("llama_decode_4097", 128, 128, 32, 8, 1, 4096);
    c.n_ctx = 8192;
    v.push_back(c);
  }
  v.push_back(mk("mqa_d64_decode_1000", 64, 64, 8, 1, 1, 999));
  // Chunked prefill: T = 5 and 133 at pos 0 and 50, GQA 4:1 and MQA.
  for (int64_t n_q : {5, 133})
    for (int64_t pos : {0, 50}) {
      const std::string tag = "_T" + std::to_string(n_q) + "_p" + std::to_string(pos);
      v.push_back(mk("gqa_d64" + tag, 64, 64, 8, 2, n_q, pos));
      v.push_back(mk("mqa_d128" + tag, 128, 128, 4, 1, n_q, pos));
    }
  // Larger prefill: enough row tiles for the non-split path.
  v.push_back(mk("llama_prefill_T600_p100", 128, 128, 32, 8, 600, 100));
  // DeepSeek-V2-Lite MLA absorbed: Hq 16, one latent head, Dk 576, v = leading 512 of k.
  for (auto [n_q, pos] :
       {std::pair<int64_t, int64_t>{1, 0}, {1, 999}, {1, 4096}, {5, 50}, {133, 50}, {512, 0}}) {
    Case c =
        mk("mla_T" + std::to_string(n_q) + "_p" + std::to_string(pos), 576, 512, 16, 1, n_q, pos);
    c.shared_kv = true;
    c.scale = 0.1352f;
    c.n_ctx = pos + n_q + 300;
    v.push_back(c);
  }
  // Sliding windows: 16 (many keys out of reach) and Gemma 3's 512 at D=256.
  for (auto [n_q, pos] : {std::pair<int64_t, int64_t>{1, 999}, {5, 50}, {133, 50}}) {
    Case c =
        mk("window16_T" + std::to_string(n_q) + "_p" + std::to_string(pos), 64, 64, 8, 2, n_q, pos);
    c.window = 16;
    v.push_back(c);
  }
  for (auto [n_q, pos] : {std::pair<int64_t, int64_t>{1, 999}, {133, 700}, {600, 100}}) {
    Case c = mk("gemma_w512_T" + std::to_string(n_q) + "_p" + std::to_string(pos), 256, 256, 16, 8,
                n_q, pos);
    c.window = 512;
    v.push_back(c);
  }
  // Strided cache rows (padded by 4: float4 path; by 3: scalar path), separate Dk and Dv.
  {
    Case c = mk("strided4_T5_p50", 64, 64, 8, 2, 5, 50);
    c.pad = 4;
    v.push_back(c);
    c = mk("strided3_T133_p50", 64, 64, 8, 2, 133, 50);
    c.pad = 3;
    v.push_back(c);
    c = mk("strided3_decode_1000", 128, 128, 8, 2, 1, 999);
    c.pad = 3;
    v.push_back(c);
    c = mk("dk64_dv32_T5_p50", 64, 32, 8, 2, 5, 50);
    v.push_back(c);
    c = mk("dk96_dv160_decode_777", 96, 160, 6, 3, 1, 776);
    c.pad = 1;
    v.push_back(c);
  }
  // Tiny test models, head sizes off the 4 and 32 grids.
  v.push_back(mk("tiny_d8_T5_p3", 8, 8, 4, 2, 5, 3));
  v.push_back(mk("tiny_d13_T7_p0", 13, 13, 4, 4, 7, 0));
  v.push_back(mk("tiny_d24_decode_300", 24, 24, 6, 2, 1, 299));
  v.push_back(mk("tiny_d32_T133_p50", 32, 32, 4, 1, 133, 50));
  {
    Case c = mk("mla_tiny_d20_v12_T3_p9", 20, 12, 4, 1, 3, 9);
    c.shared_kv = true;
    v.push_back(c);
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaAttention, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kt::cuda::test
