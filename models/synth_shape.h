#pragma once
// The hyper-parameters of real MoE models (from their public Hugging Face configs), for
// synthetic GGUF files with random weights of exactly their shapes: `kt synth` writes them,
// `kt bench -m` times them. gguf.md §4 lists where each value comes from.
#include <cstdint>
#include <string>
#include <vector>

namespace kt::models {

struct SynthShape {
  std::string name;  // "deepseek-v2-lite"
  std::string arch;  // general.architecture: deepseek2, qwen3moe, qwen2moe, llama
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // GQA archs
  int64_t head_dim = 0;   // GQA archs: per head, keys and values
  int64_t n_ff = 0;       // dense FFN width (DeepSeek's leading dense layers; Qwen2-MoE's key)
  int64_t n_vocab = 0;
  int64_t n_ctx = 0;
  float rope_base = 10000.0f;
  float rms_eps = 1e-6f;
  bool attn_bias = false;  // Q/K/V biases (Qwen2)
  bool qk_norm = false;    // per-head Q/K RMSNorm (Qwen3)

  // Mixture of experts.
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_ff_exp = 0;
  int64_t n_ff_shexp = 0;     // shared-expert width: Qwen2-MoE's own, DeepSeek n_shared·Fexp
  int64_t n_shared = 0;       // DeepSeek shared-expert count
  int64_t n_dense_lead = 0;   // DeepSeek leading dense layers
  uint32_t gating_func = 0;   // expert_gating_func: 0 absent, 1 softmax, 2 sigmoid
  bool weights_norm = false;  // expert_weights_norm
  float weights_scale = 1.0f;
  int64_t n_group = 1, n_group_used = 1;
  bool select_bias = false;  // exp_probs_b.bias (DeepSeek-V3)

  // DeepSeek MLA.
  int64_t q_lora_rank = 0;  // 0: one attn_q (V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope = 0, qk_rope = 0, v_head = 0;
  float yarn_factor = 0.0f;  // 0: no YaRN
  int64_t yarn_orig_ctx = 0;
  float yarn_log_mul = 0.0f;  // 0.1 · mscale_all_dim
};

// The shapes `kt synth --shape` knows, in the order listed by errors and help.
std::vector<std::string> synth_shape_names();

// "deepseek-v2-lite" or "deepseek-v3:4" (truncated to 4 layers; DeepSeek keeps its leading
// dense layers first). Throws kt::Error naming the text and the known shapes.
SynthShape synth_shape(const std::string& spec);

// The same model shrunk for tests: the same architecture, keys, tensor kinds and quantization
// mix (widths stay multiples of 256), with a 256-wide hidden state, at most 4 heads and 16
// experts, and the vocabulary of the tokenizer (n_vocab tokens). A layer of it is ~1 MB.
SynthShape tiny_shape(SynthShape s, int64_t n_vocab);

}  // namespace kt::models
