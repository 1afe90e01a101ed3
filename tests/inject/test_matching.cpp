// Matching semantics (reference §2.2): first match wins, name and class together,
// recursive: false, the default device, and KTransformers' names as aliases.
#include <gtest/gtest.h>

#include "inject/plan.h"
#include "synthetic.h"
#include "tensor/error.h"

namespace kt::inject {
namespace {

using tensor::Device;
using testing::Attn;
using testing::Ffn;
using testing::make_model;

Plan plan_of(const std::string& yaml, const models::ModuleTree& t, int gpus = 2) {
  return Plan::build(t, parse_rules(yaml, "rules.yaml"), {Device::cpu(), gpus});
}

models::ModuleTree v3_tree() {
  return make_model("", "deepseek2", 4, Attn::Mla, Ffn::MoeShared, 1, true).tree();
}

TEST(Matching, FirstMatchingRuleWins) {
  const Plan p = plan_of(R"(
- match: {name: "^model\\.layers\\.0\\."}
  replace: {class: default, kwargs: {generate_device: "cuda:1"}}
- match: {name: "^model\\.layers\\."}
  replace: {class: default, kwargs: {generate_device: "cuda:0"}}
)",
                         v3_tree());
  EXPECT_EQ(p.find("model.layers.0.self_attn")->generate_device, Device::cuda(1));
  EXPECT_EQ(p.find("model.layers.1.self_attn")->generate_device, Device::cuda(0));
  EXPECT_EQ(p.find("model.layers.1.self_attn")->rule, "rules.yaml:4");
  // prefill_device defaults to generate_device when only that is given.
  EXPECT_EQ(p.find("model.layers.1.self_attn")->prefill_device, Device::cuda(0));
}

TEST(Matching, NameAndClassMustBothHold) {
  const Plan p = plan_of(R"(
- match:
    name: "^model\\.layers\\.(?!.*self_attn\\.kv_b_proj).*$"
    class: torch.nn.Linear
  replace:
    class: ktransformers.operators.linear.KTransformersLinear
    kwargs: {generate_device: "cuda:0", prefill_device: "cuda:0", generate_op: KLinearMarlin,
             prefill_op: KLinearTorch}
)",
                         v3_tree());
  const Placement* q = p.find("model.layers.2.self_attn.q_a_proj");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->op_class, "Linear");
  EXPECT_EQ(q->generate_op, "linear_marlin");
  EXPECT_EQ(q->prefill_op, "linear_dense");
  EXPECT_EQ(q->generate_device, Device::cuda(0));
  // The negative look-ahead keeps kv_b_proj out; the class keeps the norms out.
  EXPECT_EQ(p.find("model.layers.2.self_attn.kv_b_proj")->op_class, "default");
  EXPECT_EQ(p.find("model.layers.2.self_attn.kv_b_proj")->generate_device, Device::cpu());
  EXPECT_EQ(p.find("model.layers.2.self_attn.kv_a_layernorm")->op_class, "default");
  EXPECT_EQ(p.find("lm_head")->op_class, "default");  // the name does not fit
}

TEST(Matching, NameIsSearchedNotAnchored) {
  // Like re.search, "experts" is found inside "shared_experts" too, and an Experts operator
  // cannot replace that MLP: the overly broad rule is reported.
  const std::string rules = R"(
- match: {name: "NAME"}
  replace: {class: KTransformersExperts, kwargs: {generate_op: KExpertsTorch}}
  recursive: false
)";
  auto with = [&](const std::string& name) {
    std::string s = rules;
    s.replace(s.find("NAME"), 4, name);
    return plan_of(s, v3_tree());
  };
  try {
    with("experts");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot replace model.layers.1.mlp.shared_experts"),
              std::string::npos)
        << e.what();
  }
  const Plan p = with("\\\\.experts$");
  EXPECT_EQ(p.find("model.layers.3.mlp.experts")->generate_op, "experts_reference");
  EXPECT_EQ(p.find("model.layers.3.mlp.shared_experts")->op_class, "default");
}

TEST(Matching, ClassAloneAndIsinstanceOfTheBaseRope) {
  const Plan p = plan_of(R"(
- match:
    class: ktransformers.models.modeling_deepseek_v3.DeepseekV3RotaryEmbedding
  replace:
    class: ktransformers.operators.RoPE.YarnRotaryEmbeddingV3
    kwargs: {generate_device: cuda, prefill_device: cuda}
)",
                         v3_tree());
  const Placement* r = p.find("model.layers.1.self_attn.rotary_emb");
  EXPECT_EQ(r->op_class, "RoPE");
  EXPECT_EQ(r->generate_device, Device::cuda(0));  // "cuda" is cuda:0
}

TEST(Matching, RecursiveFalseLeavesTheChildrenToTheModule) {
  const auto tree = v3_tree();
  const std::string rules = R"(
- match: {name: "^model\\.layers\\..*\\.mlp$", class: DeepseekV3MoE}
  replace: {class: KDeepseekV3MoE, kwargs: {generate_device: "cuda:0"}}
  recursive: RECURSIVE
- match: {name: "mlp\\."}
  replace: {class: default, kwargs: {generate_device: "cuda:1"}}
)";
  auto with = [&](const std::string& r) {
    std::string s = rules;
    s.replace(s.find("RECURSIVE"), 9, r);
    return plan_of(s, tree);
  };
  const Plan deep = with("true");
  EXPECT_EQ(deep.find("model.layers.1.mlp.gate")->generate_device, Device::cuda(1));
  const Plan flat = with("False");
  EXPECT_EQ(flat.find("model.layers.1.mlp.gate"), nullptr);  // not visited
  EXPECT_EQ(flat.owner("model.layers.1.mlp.gate").path, "model.layers.1.mlp");
  EXPECT_EQ(flat.owner("model.layers.1.mlp.gate").generate_device, Device::cuda(0));
  // The dense layer's mlp is no DeepseekV3MoE: its children are visited.
  EXPECT_EQ(flat.find("model.layers.0.mlp.up_proj")->generate_device, Device::cuda(1));
}

TEST(Matching, UnmatchedModulesGetTheDefaultDevice) {
  const auto tree = v3_tree();
  const Plan p = Plan::build(tree, parse_rules("", "empty.yaml"), {Device::cuda(0), 1});
  EXPECT_EQ(p.entries().size(), tree.size());
  for (const Placement& e : p.entries()) {
    EXPECT_EQ(e.op_class, "default");
    EXPECT_EQ(e.generate_device, Device::cuda(0));
    EXPECT_EQ(e.prefill_device, Device::cuda(0));
    EXPECT_TRUE(e.rule.empty());
  }
}

TEST(Matching, DefaultClassOnlySetsDevices) {
  const Plan p = plan_of(R"(
- match: {name: "^model.embed_tokens"}
  replace: {class: "default", kwargs: {generate_device: "cpu", prefill_device: "cuda:0"}}
)",
                         v3_tree());
  const Placement* e = p.find("model.embed_tokens");
  EXPECT_EQ(e->op_class, "default");
  EXPECT_EQ(e->generate_device, Device::cpu());
  EXPECT_EQ(e->prefill_device, Device::cuda(0));
}

TEST(Aliases, KTransformersNamesResolveToKtOperators) {
  struct Case {
    const char* written;
    const char* kt;
    OpKind kind;
  };
  for (const Case& c : {
           Case{"ktransformers.operators.experts.KTransformersExperts", "Experts", OpKind::Experts},
           Case{"KTransformersExpertsV2", "Experts", OpKind::Experts},
           Case{"ktransformers.operators.linear.KTransformersLinear", "Linear", OpKind::Linear},
           Case{"ktransformers.operators.attention.KDeepseekV2Attention", "Attention",
                OpKind::Attention},
           Case{"ktransformers.operators.RoPE.YarnRotaryEmbedding", "RoPE", OpKind::RoPE},
           Case{"ktransformers.operators.experts.KDeepseekV3MoE", "MoE", OpKind::MoE},
           Case{"ktransformers.operators.gate.KMoEGate", "MoEGate", OpKind::Gate},
           Case{"ktransformers.operators.models.KDeepseekV2Model", "Model", OpKind::Model},
           Case{"default", "default", OpKind::Default},
           Case{"Experts", "Experts", OpKind::Experts},  // kt's own name
       }) {
    auto r = resolve_replace_class(c.written);
    ASSERT_TRUE(r) << c.written;
    EXPECT_EQ(r->name, c.kt) << c.written;
    EXPECT_EQ(r->kind, c.kind) << c.written;
  }
  EXPECT_EQ(resolve_op("KExpertsCPU")->name, "experts_fused");
  EXPECT_EQ(resolve_op("KExpertsCPU")->node_variant, tensor::OpVariant::Fused);
  EXPECT_EQ(resolve_op("KExpertsTorch")->name, "experts_reference");
  EXPECT_EQ(resolve_op("KExpertsTorch")->node_variant, tensor::OpVariant::Reference);
  EXPECT_EQ(resolve_op("KExpertsMarlin")->name, "experts_marlin");
  EXPECT_EQ(resolve_op("KLinearMarlin")->name, "linear_marlin");
  EXPECT_EQ(resolve_op("VLinearMarlin")->name, "linear_marlin");
  EXPECT_EQ(resolve_op("KLinearTorch")->name, "linear_dense");
  EXPECT_EQ(resolve_op("KLinearCPUInfer")->name, "linear_gguf");
  EXPECT_EQ(resolve_op("experts_fused")->name, "experts_fused");
  // An operator named as the class runs in both phases.
  auto direct = resolve_replace_class("ktransformers.operators.experts.KExpertsCPU");
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->kind, OpKind::Experts);
  EXPECT_EQ(direct->op, "experts_fused");
  EXPECT_FALSE(resolve_replace_class("KNoSuchThing"));
  EXPECT_FALSE(resolve_op("KNoSuchOp"));
}

TEST(Aliases, OperatorsKtLacksAreNamed) {
  try {
    resolve_op("KLinearFP8");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KLinearFP8"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not available in kt"), std::string::npos);
  }
  EXPECT_THROW(resolve_replace_class("ktransformers.operators.experts.KExpertsCPUW8A8"), Error);
}

}  // namespace
}  // namespace kt::inject
