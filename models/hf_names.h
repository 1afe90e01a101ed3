#pragma once
// The one place where Hugging Face parameter names become GGUF tensor names
// (gguf-py's tensor_mapping / KTransformers' translate_name_to_gguf).
#include <optional>
#include <string>

namespace kt::models {

struct GgufName {
  std::string name;  // GGUF name, e.g. "blk.3.attn_q.weight"; for experts the stacked name
  int expert = -1;   // >= 0: one expert of a stack ("blk.3.ffn_up_exps.weight")
  int layer = -1;    // block index, -1 for global tensors
};

// Translates an HF name; nullopt for names that carry no weight kt needs (rotary inv_freq
// buffers, ...). Throws kt::Error for a name it does not understand. model_type (config.json)
// settles the names whose meaning depends on the family: Gemma's post_attention_layernorm
// follows attention (post_attention_norm) where Llama's precedes the FFN (ffn_norm).
std::optional<GgufName> hf_to_gguf_name(const std::string& hf_name,
                                        const std::string& model_type = "");

// The inverse for non-expert tensors (HF export): "blk.3.attn_q.weight" ->
// "model.layers.3.self_attn.q_proj.weight". Where several HF spellings map to one GGUF name the
// first in the table wins (the Llama/Qwen spelling). nullopt for a name with no HF counterpart
// (stacked experts, rope_freqs, ...).
std::optional<std::string> gguf_to_hf_name(const std::string& gguf_name);

}  // namespace kt::models
