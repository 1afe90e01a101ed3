// Synthetic models (models/synth.h): every shape, shrunk with --tiny and truncated to a layer
// or few, loads in kt, decodes to finite logits, and carries the quantization mix its recipe
// asks for. The full-size shapes are exercised by `kt bench` on a real machine, not here.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "models/synth.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;
using tensor::DType;

// The smallest tokenizer in the test data (32000 tokens): the tiny models take its size.
const std::string kVocab = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";

class Synth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kVocab)) GTEST_SKIP() << "no " << kVocab;
    dir_ = fs::temp_directory_path() / ("kt_synth_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the tiny shape and returns its path.
  std::string make(const std::string& shape, models::QuantRecipe recipe, bool legacy = false) {
    models::SynthOptions o;
    o.shape = models::synth_shape(shape);
    o.recipe = recipe;
    o.vocab = kVocab;
    o.tiny = true;
    o.legacy_kv_b = legacy;
    const std::string path = (dir_ / (shape + ".gguf")).string();
    models::write_synth(o, pool_, path);
    return path;
  }

  // Loads the file, feeds a few tokens and checks every logit is finite and not all equal.
  void expect_runs(const std::string& path) {
    const Model m = Model::load(path);
    ASSERT_TRUE(m.tokenizer.has_value());
    Session s(*m.arch, pool_, 16);
    const std::vector<int32_t> prompt = {1, 450, 4996, 17354};
    std::vector<float> logits = s.eval(prompt);
    const int32_t next = 1000;
    logits = s.eval(std::span<const int32_t>(&next, 1));
    ASSERT_EQ(int64_t(logits.size()), m.arch->hparams().n_vocab);
    float lo = logits[0], hi = logits[0];
    for (float v : logits) {
      ASSERT_TRUE(std::isfinite(v)) << path;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GT(hi - lo, 0.1f) << path;  // O(1) logits: activations neither vanish nor blow up
    EXPECT_LT(hi - lo, 1000.0f) << path;
  }

  // Tensor name (layer number dropped) -> type.
  static std::map<std::string, DType> types(const std::string& path) {
    const tensor::GgufFile f = tensor::GgufFile::open(path);
    std::map<std::string, DType> out;
    for (const tensor::GgufTensorInfo& t : f.tensors()) {
      std::string n(t.name);
      if (n.starts_with("blk.")) n = n.substr(n.find('.', 4) + 1);
      if (!out.count(n)) out[n] = t.type;
    }
    return out;
  }

  cpu::ThreadPool pool_{2};
  fs::path dir_;
};

TEST_F(Synth, EveryShapeLoadsAndRunsAtQ8_0) {
  for (const char* shape : {"deepseek-v2-lite:2", "deepseek-v3:4", "qwen3-30b-a3b:1",
                            "qwen2-57b-a14b:1", "mixtral-8x7b:1"}) {
    SCOPED_TRACE(shape);
    const std::string path = make(shape, models::QuantRecipe::Q8_0);
    expect_runs(path);
    for (const auto& [name, type] : types(path)) {
      const bool vector = name.find("norm") != std::string::npos ||
                          name.find(".bias") != std::string::npos ||
                          name.find("ffn_gate_inp") != std::string::npos;
      EXPECT_EQ(type, vector ? DType::F32 : DType::Q8_0) << name;
    }
  }
}

TEST_F(Synth, Q4KMMixLikeLlamaCpp) {
  auto ds = types(make("deepseek-v2-lite:2", models::QuantRecipe::Q4_K_M));
  EXPECT_EQ(ds["token_embd.weight"], DType::Q4_K);
  EXPECT_EQ(ds["output.weight"], DType::Q6_K);
  EXPECT_EQ(ds["attn_k_b.weight"], DType::Q5_0);  // 128-wide rows cannot hold 256-blocks
  EXPECT_EQ(ds["attn_v_b.weight"], DType::Q4_K);
  EXPECT_EQ(ds["ffn_down_exps.weight"], DType::Q6_K);  // layer 1 of 2: use_more_bits
  EXPECT_EQ(ds["ffn_gate_inp.weight"], DType::F32);
  expect_runs((dir_ / "deepseek-v2-lite:2.gguf").string());

  auto mx = types(make("mixtral-8x7b:1", models::QuantRecipe::Q4_K_M));
  EXPECT_EQ(mx["attn_v.weight"], DType::Q8_0);  // 8 experts: llama.cpp's Mixtral rules
  EXPECT_EQ(mx["attn_k.weight"], DType::Q8_0);
  EXPECT_EQ(mx["attn_output.weight"], DType::Q5_K);
  EXPECT_EQ(mx["ffn_up_exps.weight"], DType::Q4_K);
  expect_runs((dir_ / "mixtral-8x7b:1.gguf").string());

  for (const char* shape : {"deepseek-v3:4", "qwen3-30b-a3b:1", "qwen2-57b-a14b:1"}) {
    SCOPED_TRACE(shape);
    expect_runs(make(shape, models::QuantRecipe::Q4_K_M));
  }
}

TEST_F(Synth, MlaAndLegacyLayoutsBothLoad) {
  const std::string legacy = make("deepseek-v2-lite:2", models::QuantRecipe::Q8_0, true);
  const tensor::GgufFile f = tensor::GgufFile::open(legacy);
  EXPECT_NE(f.find_tensor("blk.0.attn_kv_b.weight"), nullptr);
  EXPECT_EQ(f.find_tensor("blk.0.attn_k_b.weight"), nullptr);
  EXPECT_FALSE(f.has("deepseek2.attention.key_length_mla"));
  EXPECT_EQ(f.get_u32("deepseek2.attention.head_count_kv"), 4u);
  expect_runs(legacy);
}

TEST_F(Synth, FullShapesHaveTheRealSizes) {
  // Planned, not written: parameter counts of the real models (embeddings included).
  tensor::GgufWriter w;
  models::SynthOptions o;
  o.vocab = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-deepseek-llm.gguf";
  if (!fs::exists(o.vocab)) GTEST_SKIP() << "no " << o.vocab;
  o.shape = models::synth_shape("deepseek-v2-lite");
  const models::SynthStats st = models::plan_synth(o, pool_, w);
  EXPECT_NEAR(double(st.n_params) * 1e-9, 15.71, 0.05);  // HF: 15.7 B
  tensor::GgufWriter w3;
  o.shape = models::synth_shape("deepseek-v3");
  EXPECT_NEAR(double(models::plan_synth(o, pool_, w3).n_params) * 1e-9, 671.0, 1.0);
  o.shape = models::synth_shape("qwen3-30b-a3b");
  o.vocab = kVocab;  // fewer tokens than the embedding rows: padded
  tensor::GgufWriter wq;
  EXPECT_NEAR(double(models::plan_synth(o, pool_, wq).n_params) * 1e-9, 30.5, 0.1);
}

TEST_F(Synth, BadRequestsNameTheProblem) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { models::synth_shape("llama-9000"); }).find("llama-9000"),
            std::string::npos);
  EXPECT_NE(message([] { models::synth_shape("deepseek-v3:99"); }).find("99"), std::string::npos);
  EXPECT_NE(message([] { models::synth_shape("qwen3-30b-a3b:x"); }).find("\"x\""),
            std::string::npos);
  models::SynthOptions o;
  o.shape = models::synth_shape("mixtral-8x7b:1");
  o.vocab = (dir_ / "missing.gguf").string();
  tensor::GgufWriter w;
  EXPECT_NE(message([&] { models::plan_synth(o, pool_, w); }).find("missing.gguf"),
            std::string::npos);
  // DeepSeek-LLM's 102400 tokens do not fit Mixtral's 32000-row embedding table.
  o.vocab = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-deepseek-llm.gguf";
  EXPECT_NE(message([&] { models::plan_synth(o, pool_, w); }).find("102400 tokens"),
            std::string::npos);
}

}  // namespace
}  // namespace kt::engine
