#include "models/llama.h"

#include <cmath>
#include <utility>

#include "tensor/error.h"

namespace kt::models {

using tensor::DType;
using tensor::NodeId;

namespace {
std::string blk(int64_t l, const char* name) {
  return "blk." + std::to_string(l) + "." + name + ".weight";
}
}  // namespace

Llama::Llama(HParams hp, WeightSet weights) : hp_(std::move(hp)), w_(std::move(weights)) {
  hp_.rope.pairing = tensor::RopePairing::Adjacent;
  const int64_t E = hp_.n_embd, D = hp_.head_dim, V = hp_.n_vocab;
  // Check every weight up front so a broken file fails at load, naming the tensor.
  w_.get("token_embd.weight", {E, V});
  w_.get("output_norm.weight", {E});
  tied_output_ = !w_.has("output.weight");
  if (!tied_output_) w_.get("output.weight", {E, V});
  if (hp_.n_ff <= 0) throw Error(w_.source() + ": " + hp_.arch + ".feed_forward_length missing");
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    w_.get(blk(l, "attn_norm"), {E});
    w_.get(blk(l, "attn_q"), {E, hp_.n_head * D});
    w_.get(blk(l, "attn_k"), {E, hp_.n_head_kv * D});
    w_.get(blk(l, "attn_v"), {E, hp_.n_head_kv * D});
    w_.get(blk(l, "attn_output"), {hp_.n_head * D, E});
    w_.get(blk(l, "ffn_norm"), {E});
    w_.get(blk(l, "ffn_gate"), {E, hp_.n_ff});
    w_.get(blk(l, "ffn_up"), {E, hp_.n_ff});
    w_.get(blk(l, "ffn_down"), {hp_.n_ff, E});
  }
}

std::vector<CacheSpec> Llama::cache_specs() const {
  std::vector<CacheSpec> specs;
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    specs.push_back({"blk." + std::to_string(l) + ".k", {hp_.head_dim, hp_.n_head_kv}});
    specs.push_back({"blk." + std::to_string(l) + ".v", {hp_.head_dim, hp_.n_head_kv}});
  }
  return specs;
}

StepGraph Llama::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  const int64_t D = hp_.head_dim, H = hp_.n_head, Hkv = hp_.n_head_kv;
  StepGraph s;
  tensor::Graph& g = s.graph;
  s.tokens = g.input("tokens", DType::I32, {T});
  s.positions = g.input("positions", DType::I32, {T});
  s.out_rows = g.input("out_rows", DType::I32, {n_out});
  auto W = [&](const std::string& name) { return g.weight(name, w_.get(name)); };

  NodeId x = g.get_rows(W("token_embd.weight"), s.tokens, "embd");
  const float kq_scale = 1.0f / std::sqrt(float(D));
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    NodeId h = g.rms_norm(x, W(blk(l, "attn_norm")), hp_.rms_eps, p + "attn_norm");
    NodeId q = g.reshape(g.matmul(W(blk(l, "attn_q")), h, p + "q"), {D, H, T});
    NodeId k = g.reshape(g.matmul(W(blk(l, "attn_k")), h, p + "k"), {D, Hkv, T});
    NodeId v = g.reshape(g.matmul(W(blk(l, "attn_v")), h, p + "v"), {D, Hkv, T});
    q = g.rope(q, s.positions, hp_.rope, p + "q_rope");
    k = g.rope(k, s.positions, hp_.rope, p + "k_rope");
    NodeId kc = g.input(p + "k_cache", DType::F32, {D, Hkv, n_ctx});
    NodeId vc = g.input(p + "v_cache", DType::F32, {D, Hkv, n_ctx});
    s.caches.push_back(kc);
    s.caches.push_back(vc);
    NodeId att = g.attention(q, g.cache_append(kc, k, pos), g.cache_append(vc, v, pos), kq_scale,
                             pos, p + "attn");
    x = g.add(x, g.matmul(W(blk(l, "attn_output")), g.reshape(att, {H * D, T})), p + "attn_out");
    h = g.rms_norm(x, W(blk(l, "ffn_norm")), hp_.rms_eps, p + "ffn_norm");
    NodeId act = g.swiglu(g.matmul(W(blk(l, "ffn_gate")), h), g.matmul(W(blk(l, "ffn_up")), h));
    x = g.add(x, g.matmul(W(blk(l, "ffn_down")), act), p + "ffn_out");
  }
  x = g.get_rows(x, s.out_rows, "out_rows");
  x = g.rms_norm(x, W("output_norm.weight"), hp_.rms_eps, "output_norm");
  s.logits = g.matmul(W(tied_output_ ? "token_embd.weight" : "output.weight"), x, "logits");
  return s;
}

}  // namespace kt::models
