#pragma once
// Synthetic models for the rule tests: the GGUF tensor names (and sizes) of each supported
// architecture at its real layer count, without any weights, so every shipped rule file can be
// checked against the tree of the model it was written for.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/hparams.h"
#include "models/module_tree.h"

namespace kt::inject::testing {

struct SyntheticModel {
  std::string family;  // shipped rule file stem: "DeepSeek-V3-Chat"
  models::HParams hp;
  std::map<std::string, uint64_t> tensors;  // GGUF name -> bytes

  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const auto& [k, v] : tensors) n.push_back(k);
    return n;
  }
  models::ModuleTree tree() const { return models::ModuleTree::build(hp, names()); }
};

enum class Attn { Gqa, GqaQkNorm, Mla, MlaLite };
enum class Ffn { Dense, Moe, MoeShared, MoeSharedGated };

inline SyntheticModel make_model(const std::string& family, const std::string& arch, int n_layer,
                                 Attn attn, Ffn ffn, int n_dense = 0, bool v3 = false) {
  SyntheticModel m;
  m.family = family;
  m.hp.arch = arch;
  m.hp.n_layer = n_layer;
  auto add = [&](const std::string& n, uint64_t b) { m.tensors[n] = b; };
  add("token_embd.weight", 1000);
  add("output_norm.weight", 10);
  add("output.weight", 1000);
  for (int l = 0; l < n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 10);
    add(p + "ffn_norm.weight", 10);
    if (attn == Attn::Mla || attn == Attn::MlaLite) {
      if (attn == Attn::Mla) {
        add(p + "attn_q_a.weight", 100);
        add(p + "attn_q_a_norm.weight", 10);
        add(p + "attn_q_b.weight", 100);
      } else {
        add(p + "attn_q.weight", 100);
      }
      add(p + "attn_kv_a_mqa.weight", 100);
      add(p + "attn_kv_a_norm.weight", 10);
      add(p + "attn_kv_b.weight", 100);
    } else {
      for (const char* t : {"attn_q", "attn_k", "attn_v"}) add(p + t + ".weight", 100);
      if (attn == Attn::GqaQkNorm) {
        add(p + "attn_q_norm.weight", 10);
        add(p + "attn_k_norm.weight", 10);
      }
    }
    add(p + "attn_output.weight", 100);
    if (ffn == Ffn::Dense || l < n_dense) {
      for (const char* t : {"ffn_gate", "ffn_up", "ffn_down"}) add(p + t + ".weight", 300);
      continue;
    }
    add(p + "ffn_gate_inp.weight", 20);
    if (v3) add(p + "exp_probs_b.bias", 1);
    for (const char* t : {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"})
      add(p + t + ".weight", 10000);
    if (ffn == Ffn::MoeShared || ffn == Ffn::MoeSharedGated)
      for (const char* t : {"ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"})
        add(p + t + ".weight", 300);
    if (ffn == Ffn::MoeSharedGated) add(p + "ffn_gate_inp_shexp.weight", 1);
  }
  return m;
}

// One model per shipped rule family, at the layer counts the files were written for.
inline std::vector<SyntheticModel> shipped_families() {
  return {
      make_model("DeepSeek-V2-Chat", "deepseek2", 60, Attn::Mla, Ffn::MoeShared, 1),
      make_model("DeepSeek-V2-Lite-Chat", "deepseek2", 27, Attn::MlaLite, Ffn::MoeShared, 1),
      make_model("DeepSeek-V3-Chat", "deepseek2", 61, Attn::Mla, Ffn::MoeShared, 3, true),
      make_model("Qwen2-57B-A14B-Instruct", "qwen2moe", 28, Attn::Gqa, Ffn::MoeSharedGated),
      make_model("Qwen3Moe", "qwen3moe", 48, Attn::GqaQkNorm, Ffn::Moe),
      make_model("Mixtral", "llama", 32, Attn::Gqa, Ffn::Moe),
      make_model("Dense", "llama", 32, Attn::Gqa, Ffn::Dense),
  };
}

}  // namespace kt::inject::testing
