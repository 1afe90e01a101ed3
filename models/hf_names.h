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
// buffers, ...). Throws kt::Error for a name it does not understand.
std::optional<GgufName> hf_to_gguf_name(const std::string& hf_name);

}  // namespace kt::models
