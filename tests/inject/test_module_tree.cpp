// The module tree: Hugging Face paths and KTransformers' class names from GGUF tensor names.
#include <gtest/gtest.h>

#include "models/module_tree.h"
#include "synthetic.h"
#include "tensor/error.h"

namespace kt::inject {
namespace {

using testing::Attn;
using testing::Ffn;
using testing::make_model;

TEST(ModuleTree, DeepSeekV3PathsAndClasses) {
  const auto m = make_model("x", "deepseek2", 4, Attn::Mla, Ffn::MoeShared, 1, true);
  const models::ModuleTree t = m.tree();
  EXPECT_EQ(t.root().cls, "DeepseekV3ForCausalLM");
  auto cls = [&](const std::string& p) {
    const models::Module* mod = t.find(p);
    return mod ? mod->cls : std::string("<absent>");
  };
  EXPECT_EQ(cls("model"), "DeepseekV3Model");
  EXPECT_EQ(cls("model.embed_tokens"), "Embedding");
  EXPECT_EQ(cls("model.layers.0.mlp"), "DeepseekV3MLP");  // first_k_dense_replace
  EXPECT_EQ(cls("model.layers.1.mlp"), "DeepseekV3MoE");
  EXPECT_EQ(cls("model.layers.1.mlp.gate"), "MoEGate");
  EXPECT_EQ(cls("model.layers.1.mlp.experts"), "ModuleList");
  EXPECT_EQ(cls("model.layers.1.mlp.shared_experts"), "DeepseekV3MLP");
  EXPECT_EQ(cls("model.layers.1.mlp.shared_experts.up_proj"), "Linear");
  EXPECT_EQ(cls("model.layers.2.self_attn"), "DeepseekV3Attention");
  EXPECT_EQ(cls("model.layers.2.self_attn.kv_b_proj"), "Linear");
  EXPECT_EQ(cls("model.layers.2.self_attn.kv_a_layernorm"), "DeepseekV3RMSNorm");
  EXPECT_EQ(cls("model.layers.2.self_attn.rotary_emb"), "DeepseekV3YarnRotaryEmbedding");
  EXPECT_EQ(cls("model.norm"), "DeepseekV3RMSNorm");
  EXPECT_EQ(cls("lm_head"), "Linear");
  // Every tensor has exactly one owner.
  size_t owned = 0;
  t.walk([&](const models::Module& mod) { return owned += mod.tensors.size(), true; });
  EXPECT_EQ(owned, m.tensors.size());
  EXPECT_EQ(t.module_of("blk.3.ffn_up_exps.weight"), "model.layers.3.mlp.experts");
  EXPECT_EQ(t.module_of("blk.3.exp_probs_b.bias"), "model.layers.3.mlp.gate");
  EXPECT_EQ(t.module_of("blk.3.attn_k_b"), "model.layers.3.self_attn.kv_b_proj");
  EXPECT_EQ(t.module_of("blk.3.something_new.weight"), "model.layers.3");
  EXPECT_EQ(t.module_of("rope_freqs.weight"), "model");
}

TEST(ModuleTree, FamiliesNameTheirBlocks) {
  EXPECT_EQ(make_model("", "llama", 2, Attn::Gqa, Ffn::Moe)
                .tree()
                .find("model.layers.1.block_sparse_moe")
                ->cls,
            "MixtralSparseMoeBlock");
  const auto q2 = make_model("", "qwen2moe", 2, Attn::Gqa, Ffn::MoeSharedGated).tree();
  EXPECT_EQ(q2.find("model.layers.1.mlp")->cls, "Qwen2MoeSparseMoeBlock");
  EXPECT_EQ(q2.find("model.layers.1.mlp.shared_expert")->cls, "Qwen2MoeMLP");
  EXPECT_EQ(q2.find("model.layers.1.mlp.shared_expert_gate")->cls, "Linear");
  EXPECT_EQ(q2.find("model.layers.1.mlp.gate")->cls, "Linear");
  const auto q3 = make_model("", "qwen3moe", 2, Attn::GqaQkNorm, Ffn::Moe).tree();
  EXPECT_EQ(q3.find("model.layers.0.mlp")->cls, "Qwen3MoeSparseMoeBlock");
  EXPECT_EQ(q3.find("model.layers.0.self_attn.q_norm")->cls, "Qwen3MoeRMSNorm");
  const auto v2 = make_model("", "deepseek2", 2, Attn::MlaLite, Ffn::MoeShared).tree();
  EXPECT_EQ(v2.find("model.layers.0.mlp")->cls, "DeepseekV2MoE");
  EXPECT_EQ(v2.find("model.layers.0.self_attn.q_proj")->cls, "Linear");
  const auto dense = make_model("", "llama", 2, Attn::Gqa, Ffn::Dense).tree();
  EXPECT_EQ(dense.find("model.layers.1.mlp")->cls, "LlamaMLP");
  EXPECT_EQ(dense.root().children.front().path, "model");
  // Children in HF declaration order, layers numerically.
  const models::Module* layers = dense.find("model.layers");
  ASSERT_EQ(layers->children.size(), 2u);
  EXPECT_EQ(layers->children[1].path, "model.layers.1");
}

}  // namespace
}  // namespace kt::inject
