#include "models/synth_shape.h"

#include <algorithm>

#include "tensor/error.h"

namespace kt::models {
namespace {

// DeepSeek-V2-Lite: gguf.md §4.6 (HF config vendored in KTransformers).
SynthShape deepseek_v2_lite() {
  SynthShape s;
  s.name = "deepseek-v2-lite";
  s.arch = "deepseek2";
  s.n_layer = 27;
  s.n_embd = 2048;
  s.n_head = 16;
  s.n_ff = 10944;
  s.n_vocab = 102400;
  s.n_ctx = 163840;
  s.rope_base = 10000.0f;
  s.rms_eps = 1e-6f;
  s.n_expert = 64;
  s.n_expert_used = 6;
  s.n_ff_exp = 1408;
  s.n_shared = 2;
  s.n_ff_shexp = 2 * 1408;
  s.n_dense_lead = 1;
  s.gating_func = 1;  // softmax
  s.weights_norm = false;
  s.weights_scale = 1.0f;
  s.kv_lora_rank = 512;
  s.qk_nope = 128;
  s.qk_rope = 64;
  s.v_head = 128;
  s.yarn_factor = 40.0f;
  s.yarn_orig_ctx = 4096;
  s.yarn_log_mul = 0.1f * 0.707f;  // mscale_all_dim 0.707
  return s;
}

// DeepSeek-V3 / R1: gguf.md §4.6 (without the multi-token-prediction layer, which llama.cpp's
// converter drops).
SynthShape deepseek_v3() {
  SynthShape s = deepseek_v2_lite();
  s.name = "deepseek-v3";
  s.n_layer = 61;
  s.n_embd = 7168;
  s.n_head = 128;
  s.n_ff = 18432;
  s.n_vocab = 129280;
  s.n_expert = 256;
  s.n_expert_used = 8;
  s.n_ff_exp = 2048;
  s.n_shared = 1;
  s.n_ff_shexp = 2048;
  s.n_dense_lead = 3;
  s.gating_func = 2;  // sigmoid
  s.weights_norm = true;
  s.weights_scale = 2.5f;
  s.n_group = 8;
  s.n_group_used = 4;
  s.select_bias = true;
  s.q_lora_rank = 1536;
  s.yarn_log_mul = 0.1f;  // mscale_all_dim 1.0
  return s;
}

// Qwen3-30B-A3B: gguf.md §4.5.
SynthShape qwen3_30b_a3b() {
  SynthShape s;
  s.name = "qwen3-30b-a3b";
  s.arch = "qwen3moe";
  s.n_layer = 48;
  s.n_embd = 2048;
  s.n_head = 32;
  s.n_head_kv = 4;
  s.head_dim = 128;
  s.n_ff = 6144;
  s.n_vocab = 151936;
  s.n_ctx = 40960;
  s.rope_base = 1000000.0f;
  s.rms_eps = 1e-6f;
  s.qk_norm = true;
  s.n_expert = 128;
  s.n_expert_used = 8;
  s.n_ff_exp = 768;
  return s;
}

// Qwen2-57B-A14B (HF config).
SynthShape qwen2_57b_a14b() {
  SynthShape s;
  s.name = "qwen2-57b-a14b";
  s.arch = "qwen2moe";
  s.n_layer = 28;
  s.n_embd = 3584;
  s.n_head = 28;
  s.n_head_kv = 4;
  s.head_dim = 128;
  s.n_ff = 18944;
  s.n_vocab = 151936;
  s.n_ctx = 32768;
  s.rope_base = 1000000.0f;
  s.rms_eps = 1e-6f;
  s.attn_bias = true;
  s.n_expert = 64;
  s.n_expert_used = 8;
  s.n_ff_exp = 2560;
  s.n_ff_shexp = 20480;
  return s;
}

// Mixtral-8x7B (HF config): llama with 8 experts.
SynthShape mixtral_8x7b() {
  SynthShape s;
  s.name = "mixtral-8x7b";
  s.arch = "llama";
  s.n_layer = 32;
  s.n_embd = 4096;
  s.n_head = 32;
  s.n_head_kv = 8;
  s.head_dim = 128;
  s.n_ff = 14336;
  s.n_vocab = 32000;
  s.n_ctx = 32768;
  s.rope_base = 1000000.0f;
  s.rms_eps = 1e-5f;
  s.n_expert = 8;
  s.n_expert_used = 2;
  s.n_ff_exp = 14336;
  return s;
}

struct Entry {
  const char* name;
  SynthShape (*make)();
};

constexpr Entry kShapes[] = {
    {"deepseek-v2-lite", deepseek_v2_lite}, {"deepseek-v3", deepseek_v3},
    {"qwen3-30b-a3b", qwen3_30b_a3b},       {"qwen2-57b-a14b", qwen2_57b_a14b},
    {"mixtral-8x7b", mixtral_8x7b},
};

std::string known() {
  std::string s;
  for (const Entry& e : kShapes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

}  // namespace

std::vector<std::string> synth_shape_names() {
  std::vector<std::string> v;
  for (const Entry& e : kShapes) v.emplace_back(e.name);
  return v;
}

SynthShape synth_shape(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon);
  const Entry* entry = nullptr;
  for (const Entry& e : kShapes)
    if (name == e.name) entry = &e;
  if (!entry) throw Error("unknown shape \"" + name + "\" (known: " + known() + ")");
  SynthShape s = entry->make();
  if (colon == std::string::npos) return s;
  const std::string layers = spec.substr(colon + 1);
  int64_t n = 0;
  const bool digits =
      !layers.empty() && layers.size() < 6 &&
      std::all_of(layers.begin(), layers.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) n = std::stoll(layers);
  if (!digits || n < 1 || n > s.n_layer)
    throw Error("shape \"" + spec + "\": layer count \"" + layers + "\" must be 1 to " +
                std::to_string(s.n_layer));
  s.n_layer = n;
  s.n_dense_lead = std::min(s.n_dense_lead, n);
  return s;
}

SynthShape tiny_shape(SynthShape s, int64_t n_vocab) {
  s.name += "-tiny";
  const int64_t h = std::min<int64_t>(s.n_head, 4);
  if (s.n_head_kv > 0) s.n_head_kv = std::max<int64_t>(1, s.n_head_kv * h / s.n_head);
  s.n_head = h;
  s.n_embd = 256;
  if (s.head_dim > 0) s.head_dim = s.n_embd / s.n_head;
  s.n_ff = 512;
  s.n_vocab = n_vocab;
  if (s.n_expert > 0) {
    s.n_expert = std::min<int64_t>(s.n_expert, 16);
    s.n_expert_used = std::min<int64_t>(s.n_expert_used, 4);
    s.n_ff_exp = 256;
    s.n_ff_shexp = s.n_shared > 0 ? s.n_shared * s.n_ff_exp : (s.n_ff_shexp > 0 ? 512 : 0);
    if (s.arch == "llama") s.n_ff_exp = s.n_ff;  // Mixtral's experts are n_ff wide
  }
  s.q_lora_rank = std::min<int64_t>(s.q_lora_rank, 512);
  return s;
}

}  // namespace kt::models
