#include "models/hf_names.h"

#include <regex>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace kt::models {
namespace {

// Per-layer module paths (after "model.layers.N.") and their GGUF names.
const std::vector<std::pair<std::string, std::string>> kLayerNames = {
    {"input_layernorm", "attn_norm"},
    {"post_attention_layernorm", "ffn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.qkv_proj", "attn_qkv"},
    {"self_attn.q_norm", "attn_q_norm"},
    {"self_attn.k_norm", "attn_k_norm"},
    {"self_attn.q_a_proj", "attn_q_a"},
    {"self_attn.q_a_layernorm", "attn_q_a_norm"},
    {"self_attn.q_b_proj", "attn_q_b"},
    {"self_attn.kv_a_proj_with_mqa", "attn_kv_a_mqa"},
    {"self_attn.kv_a_layernorm", "attn_kv_a_norm"},
    {"self_attn.kv_b_proj", "attn_kv_b"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.gate", "ffn_gate_inp"},
    {"block_sparse_moe.gate", "ffn_gate_inp"},
    {"mlp.shared_expert.gate_proj", "ffn_gate_shexp"},
    {"mlp.shared_expert.up_proj", "ffn_up_shexp"},
    {"mlp.shared_expert.down_proj", "ffn_down_shexp"},
    {"mlp.shared_experts.gate_proj", "ffn_gate_shexp"},
    {"mlp.shared_experts.up_proj", "ffn_up_shexp"},
    {"mlp.shared_experts.down_proj", "ffn_down_shexp"},
    {"mlp.shared_expert_gate", "ffn_gate_inp_shexp"},
};

// Gemma 3 wraps attention and FFN in norms on both sides (gguf-py's ATTN_POST_NORM,
// FFN_POST_NORM); looked up before kLayerNames for that model type.
const std::vector<std::pair<std::string, std::string>> kGemmaLayerNames = {
    {"post_attention_layernorm", "post_attention_norm"},
    {"pre_feedforward_layernorm", "ffn_norm"},
    {"post_feedforward_layernorm", "post_ffw_norm"},
};

bool is_gemma3(const std::string& model_type) {
  return model_type == "gemma3_text";
}

// Expert projections: Qwen/DeepSeek spelling and Mixtral's w1/w3/w2.
const std::vector<std::pair<std::string, std::string>> kExpertNames = {
    {"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"}, {"down_proj", "ffn_down_exps"},
    {"w1", "ffn_gate_exps"},        {"w3", "ffn_up_exps"},      {"w2", "ffn_down_exps"},
};

}  // namespace

std::optional<GgufName> hf_to_gguf_name(const std::string& hf, const std::string& model_type) {
  if (hf == "model.embed_tokens.weight") return GgufName{"token_embd.weight"};
  if (hf == "model.norm.weight") return GgufName{"output_norm.weight"};
  if (hf == "lm_head.weight") return GgufName{"output.weight"};
  if (hf.find("rotary_emb.inv_freq") != std::string::npos) return std::nullopt;
  // DeepSeek-V3's multi-token-prediction layer: not used for ordinary decoding.
  for (const char* mtp : {".eh_proj.", ".enorm.", ".hnorm.", ".shared_head."})
    if (hf.find(mtp) != std::string::npos) return std::nullopt;

  static const std::regex layer_re(R"(^model\.layers\.(\d+)\.(.+)\.(weight|bias)$)");
  static const std::regex expert_re(R"(^(mlp|block_sparse_moe)\.experts\.(\d+)\.(\w+)$)");
  std::smatch m;
  if (std::regex_match(hf, m, layer_re)) {
    const int layer = std::stoi(m[1]);
    const std::string path = m[2], suffix = m[3];
    const std::string blk = "blk." + std::to_string(layer) + ".";
    if (path == "mlp.gate" && suffix == "bias") return std::nullopt;  // never used by HF models
    if (is_gemma3(model_type))
      for (const auto& [from, to] : kGemmaLayerNames)
        if (path == from) return GgufName{blk + to + "." + suffix, -1, layer};
    for (const auto& [from, to] : kLayerNames)
      if (path == from) return GgufName{blk + to + "." + suffix, -1, layer};
    std::smatch e;
    if (std::regex_match(path, e, expert_re)) {
      for (const auto& [from, to] : kExpertNames)
        if (e[3] == from) return GgufName{blk + to + "." + suffix, std::stoi(e[2]), layer};
    }
  }
  // DeepSeek-V3's router correction bias is a parameter without the weight/bias suffix.
  static const std::regex bias_re(R"(^model\.layers\.(\d+)\.mlp\.gate\.e_score_correction_bias$)");
  if (std::regex_match(hf, m, bias_re)) {
    const int layer = std::stoi(m[1]);
    return GgufName{"blk." + std::to_string(layer) + ".exp_probs_b.bias", -1, layer};
  }
  throw Error("unknown Hugging Face tensor name \"" + hf + "\"");
}

std::optional<std::string> gguf_to_hf_name(const std::string& g) {
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  static const std::regex blk_re(R"(^blk\.(\d+)\.(\w+)\.(weight|bias)$)");
  std::smatch m;
  if (!std::regex_match(g, m, blk_re)) return std::nullopt;
  for (const auto& [from, to] : kLayerNames)
    if (m[2] == to) return "model.layers." + m[1].str() + "." + from + "." + m[3].str();
  return std::nullopt;
}

}  // namespace kt::models
