// The hybrid executor on every Hugging Face fixture (tests/fixtures/hf, made by
// scripts/gen_hf_fixtures.py with transformers in float64): all on the GPU, hybrid (routed
// experts on the CPU), hybrid with the experts streamed to the GPU for prefill, and Marlin int4
// linears. F32 weights must match HF's log-probabilities like the CPU path does; Marlin, which
// re-quantizes to 4 bits, within a KL bound. A CUDA-graph decode must give the eager tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/cpu/thread_pool.h"
#include "backends/cuda/device.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tests/support/hf_reference.h"

namespace kt::engine {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf";

using test::load_reference;
using test::Reference;

struct Divergence {
  double max_error = 0;
  double mean_kl = 0;
};

// chunk: prefill chunk size (7: prefill with a partly filled cache; 1: every step a decode
// step, so CUDA graphs are captured and replayed).
Divergence compare(const Model& m, const Reference& ref, int64_t chunk) {
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 64);
  std::vector<float> logits;
  for (size_t b = 0; b < ref.tokens.size(); b += size_t(chunk)) {
    const size_t n = std::min(size_t(chunk), ref.tokens.size() - b);
    const std::vector<float> l =
        s.eval_all(std::span<const int32_t>(ref.tokens.data() + b, n), chunk);
    logits.insert(logits.end(), l.begin(), l.end());
  }
  const int64_t V = ref.vocab;
  EXPECT_EQ(logits.size(), ref.tokens.size() * size_t(V));
  Divergence d;
  for (size_t t = 0; t < ref.tokens.size(); ++t) {
    const float* l = logits.data() + t * size_t(V);
    double mx = l[0], z = 0, kl = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(l[v]));
    for (int64_t v = 0; v < V; ++v) z += std::exp(double(l[v]) - mx);
    for (int64_t v = 0; v < V; ++v) {
      const double lp = double(l[v]) - mx - std::log(z);
      const double want = double(ref.logprobs[t * size_t(V) + size_t(v)]);
      d.max_error = std::max(d.max_error, std::fabs(lp - want));
      kl += std::exp(want) * (want - lp);
    }
    d.mean_kl += kl;
  }
  d.mean_kl /= double(ref.tokens.size());
  return d;
}

std::vector<int32_t> greedy(const Model& m, const Reference& ref, bool graphs) {
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 64);
  s.executor().set_cuda_graphs(graphs);
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

// Rule files for the placements under test. Expert modules end in ".experts" in every
// architecture's module tree.
std::string rules(const std::string& placement) {
  auto all = [](const char* dev, const char* op = nullptr) {
    std::string r = "  replace:\n    class: default\n    kwargs:\n      generate_device: \"" +
                    std::string(dev) + "\"\n      prefill_device: \"" + dev + "\"\n";
    (void)op;
    return r;
  };
  if (placement == "gpu") return "- match:\n    name: \".*\"\n" + all("cuda:0");
  if (placement == "hybrid")
    return "- match:\n    name: \"\\\\.experts$\"\n" + all("cpu") +
           "  recursive: False\n- match:\n    name: \".*\"\n" + all("cuda:0");
  if (placement == "stream")  // experts live on the CPU, prefill streams them to the GPU
    return "- match:\n    name: \"\\\\.experts$\"\n  replace:\n    class: default\n    kwargs:\n"
           "      generate_device: \"cpu\"\n      prefill_device: \"cuda:0\"\n"
           "  recursive: False\n- match:\n    name: \".*\"\n" +
           all("cuda:0");
  if (placement == "pipeline")  // two GPUs: layer 0 on cuda:0, the rest on cuda:1
    return "- match:\n    name: \"\\\\.experts$\"\n" + all("cpu") +
           "  recursive: False\n- match:\n    name: \"^model\\\\.layers\\\\.0($|\\\\.)\"\n" +
           all("cuda:0") +
           "- match:\n    name: \"^model\\\\.layers\\\\.|^model\\\\.norm$|^lm_head$\"\n" +
           all("cuda:1") + "- match:\n    name: \".*\"\n" + all("cuda:0");
  // marlin: every Linear through Marlin for decode, the rest on the GPU
  return "- match:\n    class: Linear\n  replace:\n    class: Linear\n    kwargs:\n"
         "      generate_device: \"cuda:0\"\n      prefill_device: \"cuda:0\"\n"
         "      generate_op: \"linear_marlin\"\n      prefill_op: \"linear_dense\"\n"
         "- match:\n    name: \".*\"\n" +
         all("cuda:0");
}

Model load(const std::string& dir, const std::string& placement) {
  const fs::path p = fs::temp_directory_path() /
                     ("kt_cuda_rules_" + std::to_string(::getpid()) + "_" + placement + ".yaml");
  std::ofstream(p) << rules(placement);
  LoadOptions o;
  o.rule_path = p.string();
  o.gpu_count = 1;
  if (placement == "pipeline") {
    // Two GPUs when present; otherwise both halves on GPU 0, hand-offs still between stages.
    o.gpu_count = cuda::device_count();
    o.device_map = o.gpu_count >= 2 ? std::vector<int>{0, 1} : std::vector<int>{0, 0};
  }
  Model m = Model::load(dir, o);
  fs::remove(p);
  return m;
}

class CudaFixture : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
  std::string dir() const { return kFixtures + "/" + GetParam(); }
};

TEST_P(CudaFixture, AllOnGpuMatchesTransformers) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "gpu");
  const Divergence d = compare(m, ref, 7);
  std::printf("[ info ] %s all-GPU: max log-prob error %.3g\n", GetParam().c_str(), d.max_error);
  EXPECT_LT(d.max_error, 1e-3);
  const Divergence d1 = compare(m, ref, 1);  // decode steps only: graphs replayed
  std::printf("[ info ] %s all-GPU decode steps: max log-prob error %.3g\n", GetParam().c_str(),
              d1.max_error);
  EXPECT_LT(d1.max_error, 1e-3);
  EXPECT_EQ(greedy(m, ref, true), ref.greedy);
}

TEST_P(CudaFixture, HybridMatchesTransformers) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "hybrid");
  const Divergence d = compare(m, ref, 7);
  std::printf("[ info ] %s hybrid: max log-prob error %.3g\n", GetParam().c_str(), d.max_error);
  EXPECT_LT(d.max_error, 1e-3);
  const Divergence d1 = compare(m, ref, 1);
  EXPECT_LT(d1.max_error, 1e-3);
  EXPECT_EQ(greedy(m, ref, true), ref.greedy);
}

TEST_P(CudaFixture, StreamedPrefillExpertsMatchTransformers) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "stream");
  const Divergence d = compare(m, ref, 7);
  std::printf("[ info ] %s streamed experts: max log-prob error %.3g\n", GetParam().c_str(),
              d.max_error);
  EXPECT_LT(d.max_error, 1e-3);
}

TEST_P(CudaFixture, GraphDecodeGivesEagerTokens) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "hybrid");
  EXPECT_EQ(greedy(m, ref, true), greedy(m, ref, false));
}

// Pipeline placement over two GPUs (on one GPU: both halves on it, through the same cut and
// hand-off): the same log-probs as one GPU, CUDA-graph decode per stage, exact greedy tokens.
TEST_P(CudaFixture, TwoGpuPipelineMatchesTransformers) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "pipeline");
  const Divergence d = compare(m, ref, 7);
  std::printf("[ info ] %s pipeline: max log-prob error %.3g\n", GetParam().c_str(), d.max_error);
  EXPECT_LT(d.max_error, 1e-3);
  const Divergence d1 = compare(m, ref, 1);
  EXPECT_LT(d1.max_error, 1e-3);
  EXPECT_EQ(greedy(m, ref, true), ref.greedy);
  cpu::ThreadPool pool(2);
  Session s(*m.arch, pool, 16);
  s.eval(ref.prompt);
  const StepTimes t = s.executor().last_times();
  EXPECT_GE(t.gpu_stages, 2);
  EXPECT_GT(t.handoff_bytes, 0u);
}

// A Marlin rule on every Linear runs and stays within a 4-bit tolerance. Marlin takes only
// quantized weights whose shapes fit its tiles (K a multiple of 128, N of 64): the fixtures'
// F32 weights keep the GGUF kernels, so this checks the rule's path through loading and
// lowering; test_cuda_marlin tests the kernel itself.
TEST_P(CudaFixture, MarlinLinearsWithinInt4Tolerance) {
  const Reference ref = load_reference(dir());
  const Model m = load(dir(), "marlin");
  const Divergence d = compare(m, ref, 1);
  std::printf("[ info ] %s Marlin decode: mean KL %.3g, max log-prob error %.3g\n",
              GetParam().c_str(), d.mean_kl, d.max_error);
  // 4-bit weights: a KL bound like Q4 quantization's, not the F32 match.
  EXPECT_LT(d.mean_kl, 0.05);
}

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  if (!fs::exists(kFixtures)) return out;
  for (const auto& e : fs::directory_iterator(kFixtures))
    if (fs::exists(e.path() / "reference.json")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, CudaFixture, ::testing::ValuesIn(fixtures()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kt::engine
