// Every rule file shipped in inject/rules/ validates against a synthetic model of its
// architecture (at the real layer count), places what its header says, and is the one chosen
// for that architecture when the user names none.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "inject/default_rules.h"
#include "inject/memory.h"
#include "inject/plan.h"
#include "synthetic.h"
#include "tensor/error.h"

namespace kt::inject {
namespace {

using tensor::Device;
using testing::shipped_families;
using testing::SyntheticModel;

const char* kForms[] = {"-cpu", "", "-multi-gpu"};

TEST(ShippedRules, EveryFileInTheFolderIsEmbeddedAndTested) {
  std::set<std::string> on_disk, embedded, tested;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(KT_SOURCE_DIR) + "/inject/rules"))
    on_disk.insert(e.path().filename().string());
  for (const BuiltinRuleFile& f : builtin_rule_files()) embedded.insert(f.name);
  for (const SyntheticModel& m : shipped_families())
    for (const char* form : kForms) tested.insert(m.family + form + ".yaml");
  EXPECT_EQ(on_disk, embedded);
  EXPECT_EQ(on_disk, tested);
}

class ShippedRuleFile : public ::testing::TestWithParam<std::tuple<SyntheticModel, const char*>> {};

TEST_P(ShippedRuleFile, ValidatesAndPlacesAsDescribed) {
  const auto& [model, form] = GetParam();
  const std::string name = model.family + form + ".yaml";
  const models::ModuleTree tree = model.tree();
  const int gpus = std::string(form) == "-cpu" ? 0 : std::string(form).empty() ? 1 : 2;
  EXPECT_EQ(default_rule_name(tree, model.hp, gpus), name);
  const Plan p = Plan::build(tree, builtin_rules(name), {Device::cpu(), gpus});
  EXPECT_TRUE(p.warnings().empty()) << name << ": " << p.warnings().front();

  const bool moe = model.family != "Dense";
  const std::string moe_block = model.family == "Mixtral" ? "block_sparse_moe" : "mlp";
  const int64_t last = model.hp.n_layer - 1;
  const std::string experts = "model.layers." + std::to_string(last) + "." + moe_block + ".experts";
  const std::string q = "model.layers." + std::to_string(last) + ".self_attn." +
                        (tree.find("model.layers.0.self_attn.q_a_proj") ? "q_a_proj" : "q_proj");
  const std::string norm0 = "model.layers.0.input_layernorm";
  if (moe) {
    const Placement* e = p.find(experts);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_EQ(e->op_class, "Experts");
    EXPECT_EQ(e->generate_device, Device::cpu()) << name;  // experts stay in CPU memory
    EXPECT_EQ(e->generate_op, "experts_fused") << name;
  }
  const Placement& lin = p.owner(q);
  const Placement& emb = p.owner("model.embed_tokens");
  EXPECT_EQ(emb.generate_device, Device::cpu()) << name;
  if (gpus == 0) {
    EXPECT_EQ(p.first_off_cpu(), nullptr) << name << ": " << p.first_off_cpu()->path;
    return;
  }
  EXPECT_EQ(lin.op_class, "Linear") << name;
  EXPECT_EQ(lin.generate_op, "linear_marlin") << name;
  EXPECT_EQ(p.owner(norm0).generate_device, Device::cuda(0)) << name;
  const Device last_gpu = Device::cuda(gpus - 1);
  EXPECT_EQ(lin.generate_device, last_gpu) << name;  // the last layer's query projection
  EXPECT_EQ(p.owner("lm_head").generate_device, last_gpu) << name;
  EXPECT_EQ(p.owner("model.norm").generate_device, last_gpu) << name;
  if (moe) {
    EXPECT_EQ(p.find(experts)->prefill_device, last_gpu) << name;
    EXPECT_EQ(p.find(experts)->out_device, last_gpu) << name;
  }
  if (gpus == 2) {
    ASSERT_EQ(p.transfer_map().size(), 1u) << name;
    const int64_t split = p.transfer_map().begin()->first;
    EXPECT_EQ(p.transfer_map().begin()->second, Device::cuda(1));
    const std::string before = "model.layers." + std::to_string(split - 1) + ".self_attn.o_proj";
    const std::string after = "model.layers." + std::to_string(split) + ".self_attn.o_proj";
    EXPECT_EQ(p.owner(before).generate_device, Device::cuda(0)) << name;
    EXPECT_EQ(p.owner(after).generate_device, Device::cuda(1)) << name;
  }
  // Every weight lands somewhere, and the experts' bytes on the CPU.
  std::vector<models::CacheSpec> caches;
  for (int64_t l = 0; l < model.hp.n_layer; ++l)
    caches.push_back({"blk." + std::to_string(l) + ".k", {8, 2}});
  uint64_t total = 0;
  for (const auto& [n, b] : model.tensors) total += b;
  uint64_t placed = 0, kv = 0;
  for (const DeviceBytes& d : memory_by_device(p, tree, model.tensors, caches, 16)) {
    placed += d.weights;
    kv += d.kv_cache;
    if (d.device.is_cpu()) {
      EXPECT_EQ(d.kv_cache, 0u) << name;  // the caches live with attention on the GPUs
      if (moe) {
        EXPECT_GE(d.weights, uint64_t(30000) * uint64_t(model.hp.n_layer - 3)) << name;
      }
    }
  }
  EXPECT_EQ(placed, total);
  EXPECT_EQ(kv, uint64_t(model.hp.n_layer) * 8 * 2 * 16 * 4);
}

std::string param_name(
    const ::testing::TestParamInfo<std::tuple<SyntheticModel, const char*>>& info) {
  std::string n = std::get<0>(info.param).family + std::get<1>(info.param);
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(All, ShippedRuleFile,
                         ::testing::Combine(::testing::ValuesIn(shipped_families()),
                                            ::testing::ValuesIn(kForms)),
                         param_name);

TEST(ShippedRules, SelectRulesTakesAPathAShippedNameOrTheDefault) {
  const SyntheticModel m = shipped_families()[2];  // DeepSeek-V3
  const models::ModuleTree t = m.tree();
  EXPECT_EQ(select_rules("", t, m.hp, 0).source, "inject/rules/DeepSeek-V3-Chat-cpu.yaml");
  EXPECT_EQ(select_rules("Mixtral.yaml", t, m.hp, 0).source, "inject/rules/Mixtral.yaml");
  const std::string path = std::string(KT_SOURCE_DIR) + "/inject/rules/Dense.yaml";
  EXPECT_EQ(select_rules(path, t, m.hp, 0).source, path);
  EXPECT_THROW(builtin_rules("Nope.yaml"), Error);
}

}  // namespace
}  // namespace kt::inject

namespace kt::inject {
namespace {

// The README's rule-writing example: the experts of layers 0-3 moved to the GPU by one rule
// placed before the shipped ones.
TEST(ShippedRules, ReadmeExampleMovesTheExpertsOfLayers0To3ToTheGpu) {
  const SyntheticModel m = shipped_families()[4];  // Qwen3Moe, 48 layers
  ASSERT_EQ(m.family, "Qwen3Moe");
  const std::string rule = R"(- match:
    name: "^model\\.layers\\.([0-3])\\.mlp\\.experts$"
  replace:
    class: ktransformers.operators.experts.KTransformersExperts
    kwargs:
      generate_device: "cuda:0"
      generate_op: "KExpertsMarlin"
      prefill_device: "cuda:0"
      prefill_op: "KExpertsTorch"
  recursive: false
)";
  std::string text;
  for (const BuiltinRuleFile& f : builtin_rule_files())
    if (std::string(f.name) == "Qwen3Moe.yaml") text = f.text;
  const models::ModuleTree tree = m.tree();
  const Plan base = Plan::build(tree, parse_rules(text, "Qwen3Moe.yaml"), {Device::cpu(), 1});
  const Plan p = Plan::build(tree, parse_rules(rule + text, "my-rules.yaml"), {Device::cpu(), 1});
  EXPECT_TRUE(p.warnings().empty());
  for (int l = 0; l < 6; ++l) {
    const Placement* e = p.find("model.layers." + std::to_string(l) + ".mlp.experts");
    EXPECT_EQ(e->generate_device, l <= 3 ? Device::cuda(0) : Device::cpu()) << l;
    EXPECT_EQ(e->generate_op, l <= 3 ? "experts_marlin" : "experts_fused") << l;
  }
  auto on_gpu = [&](const Plan& plan) {
    for (const DeviceBytes& d : memory_by_device(plan, tree, m.tensors, {}, 0))
      if (d.device == Device::cuda(0)) return d.weights;
    return uint64_t(0);
  };
  EXPECT_EQ(on_gpu(p) - on_gpu(base), 4u * 30000u);  // four layers' expert stacks
}

}  // namespace
}  // namespace kt::inject
