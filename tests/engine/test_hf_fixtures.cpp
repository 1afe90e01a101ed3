// Every architecture against Hugging Face transformers: tiny random checkpoints built by
// scripts/gen_hf_fixtures.py (transformers 5.17, float64) with the log-probabilities of every
// vocabulary entry at every position of a fixed sequence, and a greedy continuation. kt must
// match them loaded as the HF folder, and after conversion to an F32 GGUF file; Q8_0 within a
// documented tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "models/hf_import.h"
#include "tests/support/hf_reference.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf";

using test::load_reference;
using test::Reference;

struct Divergence {
  double max_error = 0;  // largest |kt - HF| over all log-probabilities of the sequence
  double mean_kl = 0;    // mean over positions of KL(HF || kt), in nats
  double median_kl = 0;  // median over positions of KL(HF || kt)
};

Divergence compare(const Model& m, const Reference& ref) {
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 64);
  // Chunks of 7 exercise prefill with a partly filled cache as well.
  const std::vector<float> logits = s.eval_all(ref.tokens, 7);
  const int64_t V = ref.vocab;
  EXPECT_EQ(logits.size(), ref.tokens.size() * size_t(V));
  Divergence d;
  std::vector<double> kls;
  for (size_t t = 0; t < ref.tokens.size(); ++t) {
    double kl = 0;
    const float* l = logits.data() + t * size_t(V);
    double mx = l[0], z = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(l[v]));
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(l[v]) - mx);
    for (int64_t v = 0; v < V; ++v) {
      const double lp = double(l[v]) - mx - std::log(z);
      const double want = double(ref.logprobs[t * size_t(V) + size_t(v)]);
      d.max_error = std::max(d.max_error, std::fabs(lp - want));
      kl += std::exp(want) * (want - lp);
    }
    kls.push_back(kl);
    d.mean_kl += kl;
  }
  d.mean_kl /= double(ref.tokens.size());
  std::sort(kls.begin(), kls.end());
  d.median_kl = kls.empty() ? 0.0 : kls[kls.size() / 2];
  return d;
}

std::vector<int32_t> greedy(const Model& m, const Reference& ref) {
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 64);
  SamplerParams p;
  p.temperature = 0;
  Sampler sampler(p);
  std::vector<float> logits = s.eval(ref.prompt);
  std::vector<int32_t> out;
  for (size_t i = 0; i < ref.greedy.size(); ++i) {
    const int32_t t = sampler.sample(logits.data(), int64_t(logits.size()));
    out.push_back(t);
    logits = s.eval(std::span<const int32_t>(&t, 1));
  }
  return out;
}

class HfFixture : public ::testing::TestWithParam<std::string> {
 protected:
  std::string dir() const { return kFixtures + "/" + GetParam(); }
  fs::path temp(const std::string& name) const {
    const fs::path d = fs::temp_directory_path() / ("kt_hf_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d / name;
  }
  void TearDown() override {
    fs::remove_all(fs::temp_directory_path() / ("kt_hf_" + std::to_string(::getpid())));
  }
};

TEST_P(HfFixture, HfFolderMatchesTransformers) {
  const Reference ref = load_reference(dir());
  const Model m = Model::load(dir());
  const Divergence d = compare(m, ref);
  EXPECT_LT(d.max_error, 1e-4);
  std::printf("[ info ] %s HF folder: max log-prob error %.3g\n", GetParam().c_str(), d.max_error);
  EXPECT_EQ(greedy(m, ref), ref.greedy);
}

TEST_P(HfFixture, ConvertedF32GgufMatchesTransformers) {
  const Reference ref = load_reference(dir());
  const std::string out = temp(GetParam() + "-f32.gguf").string();
  models::import_hf_folder(dir(), models::QuantRecipe::F32).writer.write(out);
  const Model m = Model::load(out);
  const Divergence d = compare(m, ref);
  EXPECT_LT(d.max_error, 1e-4);
  std::printf("[ info ] %s F32 GGUF: max log-prob error %.3g\n", GetParam().c_str(), d.max_error);
  EXPECT_EQ(greedy(m, ref), ref.greedy);
}

// Q8_0 keeps 8 bits per weight (and per activation in the dot products) with a scale per 32.
// Documented tolerance: mean KL(HF || kt) below 0.01 nats per position; these random-weight
// models are far more sensitive than trained ones (measured: KL ~1e-3, largest single log-prob
// error ~0.3-0.45, where F16 gives ~0.01). The greedy path is not asserted.
// MoE models choose their experts discretely: the 8-bit noise flips a near-tie choice of these
// random routers at a few positions (one of 20 for Mixtral, KL 0.7 there; a handful for
// DeepSeek-V2/V3), which dominates the mean (measured 0.02-0.04) while every other position
// stays at the dense level; F16 gives KL < 1e-5 for every case, so the expert kernels are not
// at fault. For them the 0.01 bound applies to the median position and the mean is bounded
// at 0.05.
TEST_P(HfFixture, ConvertedQ8_0GgufStaysClose) {
  const Reference ref = load_reference(dir());
  const std::string out = temp(GetParam() + "-q8_0.gguf").string();
  models::import_hf_folder(dir(), models::QuantRecipe::Q8_0).writer.write(out);
  const Divergence d = compare(Model::load(out), ref);
  const bool moe = GetParam() != "llama" && GetParam() != "mistral" && GetParam() != "qwen2" &&
                   GetParam() != "gemma3";
  EXPECT_LT(d.median_kl, 0.01);
  EXPECT_LT(d.mean_kl, moe ? 0.05 : 0.01);
  std::printf("[ info ] %s Q8_0: mean KL %.5f nats, median %.5f, max log-prob error %.4f\n",
              GetParam().c_str(), d.mean_kl, d.median_kl, d.max_error);
}

INSTANTIATE_TEST_SUITE_P(Architectures, HfFixture,
                         ::testing::Values("llama", "mistral", "mixtral", "qwen2", "qwen3moe",
                                           "qwen2moe", "deepseek2lite", "deepseek2", "deepseek3",
                                           "gemma3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kt::engine
