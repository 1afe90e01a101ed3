// Lowering and loading: the Plan reaches the step graphs, two CPU expert variants chosen by
// rules give identical output, and plans that need a GPU are refused at load on machines without
// one, while `kt plan` may still preview them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "engine/model.h"
#include "engine/session.h"
#include "engine/step_executor.h"
#include "inject/lower.h"
#include "inject/plan_summary.h"
#include "models/synth.h"
#include "tensor/error.h"

namespace kt::inject {
namespace {

namespace fs = std::filesystem;
using tensor::Device;

std::string fixture(const std::string& name) {
  return std::string(KT_SOURCE_DIR) + "/tests/fixtures/hf/" + name;
}

// A rule file in a temp folder, removed with the test.
class RuleFileTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const fs::path p =
        fs::temp_directory_path() / ("kt_inject_" + std::to_string(::getpid()) + "_" + name);
    std::ofstream(p) << text;
    files_.push_back(p);
    return p.string();
  }
  void TearDown() override {
    for (const fs::path& p : files_) fs::remove(p);
  }
  std::vector<fs::path> files_;
};

std::string experts_rules(const std::string& op) {
  return R"(- match:
    name: "^model\\.layers\\.\\d+\\.(mlp|block_sparse_moe)\\.experts$"
  replace:
    class: ktransformers.operators.experts.KTransformersExperts
    kwargs:
      generate_device: "cpu"
      prefill_device: "cpu"
      generate_op: ")" +
         op + R"("
      prefill_op: ")" +
         op + R"("
  recursive: False
)";
}

std::vector<tensor::OpVariant> expert_variants(const tensor::Graph& g) {
  std::vector<tensor::OpVariant> v;
  for (const tensor::Node& n : g.nodes())
    if (n.op == tensor::Op::MatMulExperts) v.push_back(n.variant);
  return v;
}

TEST_F(RuleFileTest, TwoCpuExpertVariantsGiveIdenticalOutput) {
  engine::LoadOptions fused, reference;
  fused.rule_path = write("fused.yaml", experts_rules("KExpertsCPU"));
  reference.rule_path = write("ref.yaml", experts_rules("KExpertsTorch"));
  for (const char* arch : {"qwen3moe", "deepseek3", "mixtral"}) {
    const engine::Model a = engine::Model::load(fixture(arch), fused);
    const engine::Model b = engine::Model::load(fixture(arch), reference);
    // The variant reaches every MatMulExperts node, for prefill and decode steps.
    for (int64_t T : {1, 5}) {
      const auto va = expert_variants(a.arch->build_step(T, 0, 16, 1).graph);
      const auto vb = expert_variants(b.arch->build_step(T, 0, 16, 1).graph);
      ASSERT_FALSE(va.empty()) << arch;
      for (auto v : va) EXPECT_EQ(v, tensor::OpVariant::Fused) << arch;
      for (auto v : vb) EXPECT_EQ(v, tensor::OpVariant::Reference) << arch;
    }
    cpu::ThreadPool pool(2);
    engine::Session sa(*a.arch, pool, 32), sb(*b.arch, pool, 32);
    const std::vector<int32_t> prompt = {1, 7, 42, 3, 99, 5};
    EXPECT_EQ(sa.eval(prompt, 4), sb.eval(prompt, 4)) << arch;  // prefill in two chunks
    const std::vector<int32_t> next = {17};
    EXPECT_EQ(sa.eval(next, 1), sb.eval(next, 1)) << arch;  // one decode step
  }
}

// The same on quantized expert stacks (Q4_K_M, real shapes shrunk), where the fused kernel and
// the expert-by-expert path take different routes through the quantized blocks.
TEST_F(RuleFileTest, TwoCpuExpertVariantsAgreeOnQuantizedExperts) {
  const std::string vocab = std::string(KT_TESTDATA_DIR) + "/vocab/ggml-vocab-llama-spm.gguf";
  if (!fs::exists(vocab)) GTEST_SKIP() << "shared test data absent";
  cpu::ThreadPool pool(2);
  models::SynthOptions so;
  so.shape = models::synth_shape("qwen3-30b-a3b:2");
  so.vocab = vocab;
  so.tiny = true;
  const std::string model = write("q3.gguf", "");
  models::write_synth(so, pool, model);
  engine::LoadOptions fused, reference;
  fused.rule_path = write("fused.yaml", experts_rules("KExpertsCPU"));
  reference.rule_path = write("ref.yaml", experts_rules("KExpertsTorch"));
  const engine::Model a = engine::Model::load(model, fused);
  const engine::Model b = engine::Model::load(model, reference);
  engine::Session sa(*a.arch, pool, 32), sb(*b.arch, pool, 32);
  const std::vector<int32_t> prompt = {1, 7, 42, 3, 99, 5, 11, 12, 13};
  EXPECT_EQ(sa.eval(prompt, 9), sb.eval(prompt, 9));
  const std::vector<int32_t> next = {17};
  EXPECT_EQ(sa.eval(next, 1), sb.eval(next, 1));
}

TEST_F(RuleFileTest, DefaultRulesAreTheShippedCpuFormAndRunEverywhere) {
  for (const char* arch : {"llama", "qwen2", "gemma3", "qwen2moe", "deepseek2lite"}) {
    const engine::Model m = engine::Model::load(fixture(arch));
    EXPECT_NE(m.plan().source().find("-cpu.yaml"), std::string::npos) << arch;
    EXPECT_TRUE(m.plan().warnings().empty()) << arch << ": " << m.plan().warnings().front();
    cpu::ThreadPool pool(1);
    engine::Session s(*m.arch, pool, 8);
    EXPECT_EQ(s.eval(std::vector<int32_t>{1, 2, 3}, 8).size(), size_t(m.arch->hparams().n_vocab));
  }
}

TEST_F(RuleFileTest, GpuPlansAreRefusedWithoutAGpuButPreviewed) {
  engine::LoadOptions o;
  o.rule_path = "DeepSeek-V3-Chat.yaml";
  o.gpu_count = 0;
  try {
    engine::Model::load(fixture("deepseek3"), o);
    FAIL() << "a CUDA plan loaded without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DeepSeek-V3-Chat.yaml"), std::string::npos) << e.what();
  }
  o.gpu_count = 1;  // a GPU the caller claims: the plan loads; running it needs the device
  if (!engine::cuda_available()) {
    const engine::Model m = engine::Model::load(fixture("deepseek3"), o);
    cpu::ThreadPool pool(1);
    try {
      engine::Session s(*m.arch, pool, 8);
      FAIL() << "a CUDA plan ran without a GPU";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
    }
  }
  o.preview_only = true;
  const engine::Model m = engine::Model::load(fixture("deepseek3"), o);
  EXPECT_EQ(m.plan().owner("model.layers.1.mlp.experts").generate_device, Device::cpu());
  EXPECT_EQ(m.plan().owner("model.layers.1.self_attn").generate_device, Device::cuda(0));
  // Lowering puts the attention projections on the GPU and the experts on the CPU.
  const tensor::Graph g = m.arch->build_step(1, 0, 16, 1).graph;
  bool saw_gpu = false, saw_cpu_experts = false;
  for (const tensor::Node& n : g.nodes()) {
    if (n.op == tensor::Op::MatMulExperts) saw_cpu_experts |= n.device.is_cpu();
    if (n.op == tensor::Op::MatMul && n.device == Device::cuda(0)) saw_gpu = true;
  }
  EXPECT_TRUE(saw_gpu);
  EXPECT_TRUE(saw_cpu_experts);
  // A rule error is reported before loading, with the file and line.
  o.rule_path = write("bad.yaml", "- match: {name: x}\n  replace: {class: KNope}\n");
  try {
    engine::Model::load(fixture("deepseek3"), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:2: unknown replace class"), std::string::npos)
        << e.what();
  }
}

TEST(PlanSummary, FoldsLayerRanges) {
  EXPECT_EQ(layer_ranges({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  engine::LoadOptions o;
  o.rule_path = "DeepSeek-V3-Chat-cpu.yaml";
  const engine::Model m = engine::Model::load(fixture("deepseek3"), o);
  bool experts_row = false;
  for (const PlanRow& r : summarize(m.plan()))
    if (r.path == "model.layers.{1-2}.mlp.experts") {
      experts_row = true;
      EXPECT_EQ(r.placement->generate_op, "experts_fused");
    }
  EXPECT_TRUE(experts_row);
}

}  // namespace
}  // namespace kt::inject
