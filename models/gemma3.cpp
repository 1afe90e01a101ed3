#include "models/gemma3.h"

#include <cmath>
#include <utility>

#include "tensor/error.h"

namespace kt::models {

using tensor::Graph;
using tensor::NodeId;

Gemma3::Gemma3(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  const std::string a = hp_.arch + ".";
  if (hp_.n_ff <= 0) throw Error(w_.source() + ": " + a + "feed_forward_length missing");
  window_ = f.get_u32(a + "attention.sliding_window");
  // llama.cpp fixes the pattern for gemma3; a file may say otherwise under this key.
  pattern_ = f.get_u32(a + "attention.sliding_window_pattern", 6);
  if (window_ <= 0 || pattern_ <= 0)
    throw Error(w_.source() + ": " + a +
                "attention.sliding_window and its pattern must be positive");

  hp_.rope.pairing = tensor::RopePairing::SplitHalf;
  // 27B used query_pre_attn_scalar = E/H; the others the head size (llama.cpp does the same).
  const float scale = hp_.n_layer == 62 ? 1.0f / std::sqrt(float(hp_.n_embd / hp_.n_head))
                                        : 1.0f / std::sqrt(float(hp_.head_dim));
  global_ = {hp_.rope, scale, 0};
  local_ = {hp_.rope, scale, window_};
  // Local layers keep the short-context rope: base 10000 (HF rope_local_base_freq), and the
  // linear scaling of the long-context models applies to global layers only.
  local_.rope.freq_base = f.get_f32(a + "rope.freq_base_swa", 10000.0f);
  local_.rope.freq_scale = 1.0f;

  check_output_weights(w_, hp_);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    check_gqa_weights(w_, hp_, l, /*qk_norm=*/true);
    for (const char* norm : {"post_attention_norm", "ffn_norm", "post_ffw_norm"})
      w_.get(blk_name(l, norm), {hp_.n_embd});
    check_dense_ffn(w_, l, hp_.n_embd, hp_.n_ff);
  }
}

bool Gemma3::is_sliding(int64_t layer) const {
  return (layer + 1) % pattern_ != 0;
}

std::vector<CacheSpec> Gemma3::cache_specs() const {
  return gqa_cache_specs(hp_);
}

StepGraph Gemma3::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  StepGraph s;
  Graph& g = s.graph;
  auto norm = [&](NodeId x, int64_t l, const char* name) {
    return g.rms_norm(x, weight_node(g, w_, blk_name(l, name)), hp_.rms_eps,
                      "blk." + std::to_string(l) + "." + name);
  };
  NodeId x = g.scale(begin_step(s, w_, T, n_out), std::sqrt(float(hp_.n_embd)), "embd_scaled");
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    NodeId h = norm(x, l, "attn_norm");
    h = gqa_attention(s, w_, hp_, l, h, T, pos, n_ctx, is_sliding(l) ? local_ : global_);
    x = g.add(x, norm(h, l, "post_attention_norm"), p + "attn_res");

    h = norm(x, l, "ffn_norm");
    NodeId gate = g.matmul(weight_node(g, w_, blk_name(l, "ffn_gate")), h);
    NodeId up = g.matmul(weight_node(g, w_, blk_name(l, "ffn_up")), h);
    h = g.matmul(weight_node(g, w_, blk_name(l, "ffn_down")), g.mul(g.gelu(gate), up),
                 p + "ffn_out");
    x = g.add(x, norm(h, l, "post_ffw_norm"), p + "ffn_res");
  }
  finish_step(s, w_, hp_, x);
  return s;
}

}  // namespace kt::models
