#include "models/decoder.h"

#include <cmath>

#include "tensor/error.h"

namespace kt::models {

using tensor::DType;
using tensor::Graph;
using tensor::NodeId;

std::string blk_name(int64_t layer, const std::string& name, const char* suffix) {
  return "blk." + std::to_string(layer) + "." + name + "." + suffix;
}

NodeId weight_node(Graph& g, const WeightSet& w, const std::string& name) {
  return g.weight(name, w.get(name));
}

void check_output_weights(const WeightSet& w, const HParams& hp, bool allow_tied) {
  const int64_t E = hp.n_embd, V = hp.n_vocab;
  w.get("token_embd.weight", {E, V});
  w.get("output_norm.weight", {E});
  if (w.has("output.weight") || !allow_tied) w.get("output.weight", {E, V});
  if (w.has("output.bias")) w.get("output.bias", {V});
}

NodeId begin_step(StepGraph& s, const WeightSet& w, int64_t T, int64_t n_out) {
  Graph& g = s.graph;
  s.tokens = g.input("tokens", DType::I32, {T});
  s.positions = g.input("positions", DType::I32, {T});
  s.out_rows = g.input("out_rows", DType::I32, {n_out});
  return g.get_rows(weight_node(g, w, "token_embd.weight"), s.tokens, "embd");
}

void finish_step(StepGraph& s, const WeightSet& w, const HParams& hp, NodeId x) {
  Graph& g = s.graph;
  x = g.get_rows(x, s.out_rows, "out_rows");
  x = g.rms_norm(x, weight_node(g, w, "output_norm.weight"), hp.rms_eps, "output_norm");
  const bool tied = !w.has("output.weight");
  s.logits = g.matmul(weight_node(g, w, tied ? "token_embd.weight" : "output.weight"), x,
                      w.has("output.bias") ? "" : "logits");
  if (w.has("output.bias")) s.logits = g.add(s.logits, weight_node(g, w, "output.bias"), "logits");
}

void check_gqa_weights(const WeightSet& w, const HParams& hp, int64_t l, bool qk_norm) {
  const int64_t E = hp.n_embd, D = hp.head_dim, H = hp.n_head, Hkv = hp.n_head_kv;
  w.get(blk_name(l, "attn_norm"), {E});
  w.get(blk_name(l, "attn_q"), {E, H * D});
  w.get(blk_name(l, "attn_k"), {E, Hkv * D});
  w.get(blk_name(l, "attn_v"), {E, Hkv * D});
  w.get(blk_name(l, "attn_output"), {H * D, E});
  const std::pair<const char*, int64_t> biases[] = {
      {"attn_q", H * D}, {"attn_k", Hkv * D}, {"attn_v", Hkv * D}, {"attn_output", E}};
  for (const auto& [name, n] : biases)
    if (w.has(blk_name(l, name, "bias"))) w.get(blk_name(l, name, "bias"), {n});
  if (qk_norm || w.has(blk_name(l, "attn_q_norm"))) w.get(blk_name(l, "attn_q_norm"), {D});
  if (qk_norm || w.has(blk_name(l, "attn_k_norm"))) w.get(blk_name(l, "attn_k_norm"), {D});
}

std::vector<CacheSpec> gqa_cache_specs(const HParams& hp) {
  std::vector<CacheSpec> specs;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    specs.push_back({"blk." + std::to_string(l) + ".k", {hp.head_dim, hp.n_head_kv}});
    specs.push_back({"blk." + std::to_string(l) + ".v", {hp.head_dim, hp.n_head_kv}});
  }
  return specs;
}

NodeId gqa_attention(StepGraph& s, const WeightSet& w, const HParams& hp, int64_t l, NodeId h,
                     int64_t T, int64_t pos, int64_t n_ctx) {
  return gqa_attention(s, w, hp, l, h, T, pos, n_ctx,
                       AttentionParams{hp.rope, 1.0f / std::sqrt(float(hp.head_dim)), 0});
}

NodeId gqa_attention(StepGraph& s, const WeightSet& w, const HParams& hp, int64_t l, NodeId h,
                     int64_t T, int64_t pos, int64_t n_ctx, const AttentionParams& a) {
  const int64_t D = hp.head_dim, H = hp.n_head, Hkv = hp.n_head_kv;
  Graph& g = s.graph;
  const std::string p = "blk." + std::to_string(l) + ".";
  // Projection plus its bias when the file has one.
  auto proj = [&](const char* name, NodeId x) {
    NodeId y = g.matmul(weight_node(g, w, blk_name(l, name)), x, p + name);
    if (w.has(blk_name(l, name, "bias")))
      y = g.add(y, weight_node(g, w, blk_name(l, name, "bias")), p + name + "_b");
    return y;
  };
  NodeId q = g.reshape(proj("attn_q", h), {D, H, T});
  NodeId k = g.reshape(proj("attn_k", h), {D, Hkv, T});
  NodeId v = g.reshape(proj("attn_v", h), {D, Hkv, T});
  if (w.has(blk_name(l, "attn_q_norm")))
    q = g.rms_norm(q, weight_node(g, w, blk_name(l, "attn_q_norm")), hp.rms_eps, p + "q_norm");
  if (w.has(blk_name(l, "attn_k_norm")))
    k = g.rms_norm(k, weight_node(g, w, blk_name(l, "attn_k_norm")), hp.rms_eps, p + "k_norm");
  q = g.rope(q, s.positions, a.rope, p + "q_rope");
  k = g.rope(k, s.positions, a.rope, p + "k_rope");
  NodeId kc = g.input(p + "k_cache", DType::F32, {D, Hkv, n_ctx});
  NodeId vc = g.input(p + "v_cache", DType::F32, {D, Hkv, n_ctx});
  s.caches.push_back(kc);
  s.caches.push_back(vc);
  NodeId att = g.attention(q, g.cache_append(kc, k, pos), g.cache_append(vc, v, pos), a.scale, pos,
                           a.window, p + "attn");
  return proj("attn_output", g.reshape(att, {H * D, T}));
}

void check_dense_ffn(const WeightSet& w, int64_t l, int64_t E, int64_t F,
                     const std::string& suffix) {
  if (F <= 0)
    throw Error(w.source() + ": layer " + std::to_string(l) + " has no FFN width for ffn" + suffix);
  w.get(blk_name(l, "ffn_gate" + suffix), {E, F});
  w.get(blk_name(l, "ffn_up" + suffix), {E, F});
  w.get(blk_name(l, "ffn_down" + suffix), {F, E});
}

NodeId dense_ffn(Graph& g, const WeightSet& w, int64_t l, NodeId h, const std::string& suffix) {
  const std::string p = "blk." + std::to_string(l) + ".ffn";
  NodeId gate = g.matmul(weight_node(g, w, blk_name(l, "ffn_gate" + suffix)), h);
  NodeId up = g.matmul(weight_node(g, w, blk_name(l, "ffn_up" + suffix)), h);
  return g.matmul(weight_node(g, w, blk_name(l, "ffn_down" + suffix)), g.swiglu(gate, up),
                  p + suffix + "_out");
}

StepGraph gqa_decoder_step(const WeightSet& w, const HParams& hp, int64_t T, int64_t pos,
                           int64_t n_ctx, int64_t n_out, const FfnBuilder& ffn) {
  StepGraph s;
  Graph& g = s.graph;
  NodeId x = begin_step(s, w, T, n_out);
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    NodeId h =
        g.rms_norm(x, weight_node(g, w, blk_name(l, "attn_norm")), hp.rms_eps, p + "attn_norm");
    x = g.add(x, gqa_attention(s, w, hp, l, h, T, pos, n_ctx), p + "attn_res");
    h = g.rms_norm(x, weight_node(g, w, blk_name(l, "ffn_norm")), hp.rms_eps, p + "ffn_norm");
    x = g.add(x, ffn(g, l, h), p + "ffn_res");
  }
  finish_step(s, w, hp, x);
  return s;
}

}  // namespace kt::models
