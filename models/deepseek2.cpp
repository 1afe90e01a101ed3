#include "models/deepseek2.h"

#include <cmath>
#include <cstring>
#include <utility>

#include "models/decoder.h"
#include "tensor/error.h"

namespace kt::models {

using tensor::DType;
using tensor::Graph;
using tensor::NodeId;
using tensor::Tensor;

namespace {

// DeepSeek's reference code builds q_a_layernorm and kv_a_layernorm with the RMSNorm default
// eps of 1e-6, whatever rms_norm_eps says (the released models use 1e-6 throughout).
constexpr float kLoraNormEps = 1e-6f;

// The legacy attn_kv_b {Rkv, H·(Dn+Dv)} (per head Dn rows of k_nope then Dv rows of v) split
// into k_b {Dn, Rkv, H} (transposed per head) and v_b {Rkv, Dv, H} (the rows as they are).
void split_kv_b(const Tensor& kv_b, int64_t H, int64_t Dn, int64_t Dv, Tensor& k_b, Tensor& v_b) {
  const int64_t R = kv_b.ne(0);
  const size_t rs = kv_b.row_bytes();
  v_b = Tensor::zeros(kv_b.dtype(), {R, Dv, H});
  std::vector<float> k(size_t(H * R * Dn));
  std::vector<float> row(static_cast<size_t>(R));
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t i = 0; i < Dn; ++i) {
      tensor::dequantize_row(kv_b.dtype(), kv_b.row(h * (Dn + Dv) + i), row.data(), R);
      for (int64_t c = 0; c < R; ++c) k[size_t((h * R + c) * Dn + i)] = row[size_t(c)];
    }
    for (int64_t j = 0; j < Dv; ++j)
      std::memcpy(v_b.row(j, h), kv_b.row(h * (Dn + Dv) + Dn + j), rs);
  }
  // Transposed rows cannot keep a block format: F32 stays F32, anything else becomes F16.
  const DType kt = kv_b.dtype() == DType::F32 ? DType::F32 : DType::F16;
  k_b = Tensor::zeros(kt, {Dn, R, H});
  for (int64_t r = 0; r < R * H; ++r)
    tensor::quantize_row(kt, k.data() + r * Dn, k_b.row(r % R, r / R), Dn);
}

}  // namespace

DeepSeek2::DeepSeek2(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  const std::string a = hp_.arch + ".";
  auto bad = [&](const std::string& what) { throw Error(f.name() + ": " + what); };
  const int64_t E = hp_.n_embd, H = hp_.n_head;
  const bool mla = f.get_u32(a + "attention.key_length_mla", 0) > 0 &&
                   f.get_u32(a + "attention.value_length_mla", 0) > 0;
  const int64_t Dq = mla ? f.get_u32(a + "attention.key_length_mla") : hp_.head_dim;
  Dv_ = mla ? f.get_u32(a + "attention.value_length_mla")
            : f.get_u32(a + "attention.value_length", uint32_t(hp_.head_dim));
  Dr_ = hp_.rope.n_rot;
  Dn_ = Dq - Dr_;
  Rkv_ = f.get_u32(a + "attention.kv_lora_rank", 0);
  Rq_ = f.get_u32(a + "attention.q_lora_rank", 0);
  if (Rq_ == 0 && w_.has(blk_name(0, "attn_q_a"))) Rq_ = w_.get(blk_name(0, "attn_q_a")).ne(1);
  if (Rkv_ <= 0) bad(a + "attention.kv_lora_rank is missing or zero");
  if (Dn_ <= 0 || Dv_ <= 0)
    bad("head sizes impossible: key " + std::to_string(Dq) + ", rope " + std::to_string(Dr_) +
        ", value " + std::to_string(Dv_));
  n_dense_ = f.get_u32(a + "leading_dense_block_count", 0);
  // block_count includes DeepSeek-V3's multi-token-prediction layers, appended after the
  // decoder; ordinary decoding does not run them.
  const int64_t n_nextn = f.get_u32(a + "nextn_predict_layers", 0);
  if (n_nextn >= hp_.n_layer)
    bad(a + "nextn_predict_layers " + std::to_string(n_nextn) + " leaves no decoder layer");
  hp_.n_layer -= n_nextn;

  // RoPE: adjacent pairs on the rope part of each head. YaRN as DeepSeek's reference: cos/sin
  // times attn_factor (mscale(s, mscale) / mscale(s, mscale_all_dim)) — ggml's rope adds
  // 1 + 0.1 ln s, cancelled here — and the softmax scale times mscale(s, mscale_all_dim)^2,
  // where yarn_log_multiplier holds 0.1 · mscale_all_dim.
  hp_.rope.pairing = tensor::RopePairing::Adjacent;
  kq_scale_ = 1.0f / std::sqrt(float(Dq));
  if (hp_.rope.ext_factor != 0.0f) {
    const float s = 1.0f / hp_.rope.freq_scale;
    hp_.rope.attn_factor /= 1.0f + 0.1f * std::log(s);
    const float m = 1.0f + f.get_f32(a + "rope.scaling.yarn_log_multiplier", 0.0f) * std::log(s);
    kq_scale_ *= m * m;
  }

  if (n_dense_ < hp_.n_layer) {
    moe_ = MoeSpec::from_gguf(f, hp_, /*norm_default=*/false);
    moe_->routing.norm_eps = 1e-20f;  // HF: weights / (sum + 1e-20)
    moe_->routing.norm_eps_additive = true;
    const int64_t n_shared = f.get_u32(a + "expert_shared_count", 0);
    moe_->shared = n_shared > 0 ? SharedExpert::Plain : SharedExpert::None;
    moe_->n_ff_shared = n_shared * moe_->n_ff;
    moe_->select_bias = w_.has(blk_name(n_dense_, "exp_probs_b", "bias"));
  }

  check_output_weights(w_, hp_);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    w_.get(blk_name(l, "attn_norm"), {E});
    if (Rq_ > 0) {
      w_.get(blk_name(l, "attn_q_a"), {E, Rq_});
      w_.get(blk_name(l, "attn_q_a_norm"), {Rq_});
      w_.get(blk_name(l, "attn_q_b"), {Rq_, H * Dq});
    } else {
      w_.get(blk_name(l, "attn_q"), {E, H * Dq});
    }
    w_.get(blk_name(l, "attn_kv_a_mqa"), {E, Rkv_ + Dr_});
    w_.get(blk_name(l, "attn_kv_a_norm"), {Rkv_});
    if (mla) {
      k_b_.push_back(w_.get(blk_name(l, "attn_k_b"), {Dn_, Rkv_, H}));
      v_b_.push_back(w_.get(blk_name(l, "attn_v_b"), {Rkv_, Dv_, H}));
    } else {
      Tensor k_b, v_b;
      split_kv_b(w_.get(blk_name(l, "attn_kv_b"), {Rkv_, H * (Dn_ + Dv_)}), H, Dn_, Dv_, k_b, v_b);
      k_b_.push_back(std::move(k_b));
      v_b_.push_back(std::move(v_b));
    }
    w_.get(blk_name(l, "attn_output"), {H * Dv_, E});
    w_.get(blk_name(l, "ffn_norm"), {E});
    if (l < n_dense_)
      check_dense_ffn(w_, l, E, hp_.n_ff);
    else
      check_moe_weights(w_, l, E, *moe_);
  }
}

std::vector<CacheSpec> DeepSeek2::cache_specs() const {
  std::vector<CacheSpec> specs;
  for (int64_t l = 0; l < hp_.n_layer; ++l)
    specs.push_back({"blk." + std::to_string(l) + ".kv", {Rkv_ + Dr_, 1}});
  return specs;
}

NodeId DeepSeek2::attention(StepGraph& s, int64_t l, NodeId h, int64_t T, int64_t pos,
                            int64_t n_ctx) const {
  const int64_t H = hp_.n_head, Dq = Dn_ + Dr_, R = Rkv_;
  Graph& g = s.graph;
  const std::string p = "blk." + std::to_string(l) + ".";
  auto W = [&](const char* name) { return weight_node(g, w_, blk_name(l, name)); };

  NodeId q;
  if (Rq_ > 0) {
    q = g.rms_norm(g.matmul(W("attn_q_a"), h, p + "q_a"), W("attn_q_a_norm"), kLoraNormEps,
                   p + "q_a_norm");
    q = g.matmul(W("attn_q_b"), q, p + "q");
  } else {
    q = g.matmul(W("attn_q"), h, p + "q");
  }
  q = g.reshape(q, {Dq, H, T});
  NodeId q_nope = g.slice(q, 0, Dn_, p + "q_nope");
  NodeId q_pe = g.rope(g.slice(q, Dn_, Dq), s.positions, hp_.rope, p + "q_pe");

  NodeId kv = g.matmul(W("attn_kv_a_mqa"), h, p + "kv_a");
  NodeId c_kv = g.rms_norm(g.slice(kv, 0, R), W("attn_kv_a_norm"), kLoraNormEps, p + "c_kv");
  NodeId k_pe =
      g.rope(g.reshape(g.slice(kv, R, R + Dr_), {Dr_, 1, T}), s.positions, hp_.rope, p + "k_pe");

  // Absorbed query: per head, W_kb,h maps q_nope (Dn) into the latent space (Rkv).
  NodeId k_b = g.weight(blk_name(l, "attn_k_b"), k_b_[size_t(l)]);
  NodeId q_abs = g.matmul_heads(k_b, q_nope, p + "q_abs");
  NodeId Q = g.concat(q_abs, q_pe, p + "q_mla");

  NodeId cache = g.input(p + "kv_cache", DType::F32, {R + Dr_, 1, n_ctx});
  s.caches.push_back(cache);
  NodeId K = g.cache_append(cache, g.concat(g.reshape(c_kv, {R, 1, T}), k_pe, p + "k_mla"), pos);
  // The values are the latent part of the cached rows, read in place.
  NodeId o = g.attention_shared_kv(Q, K, R, kq_scale_, pos, p + "attn");  // {R, H, T}

  NodeId v_b = g.weight(blk_name(l, "attn_v_b"), v_b_[size_t(l)]);
  o = g.matmul_heads(v_b, o, p + "attn_v");  // {Dv, H, T}
  return g.matmul(W("attn_output"), g.reshape(o, {Dv_ * H, T}), p + "attn_out");
}

StepGraph DeepSeek2::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  StepGraph s;
  Graph& g = s.graph;
  NodeId x = begin_step(s, w_, T, n_out);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    NodeId h =
        g.rms_norm(x, weight_node(g, w_, blk_name(l, "attn_norm")), hp_.rms_eps, p + "attn_norm");
    x = g.add(x, attention(s, l, h, T, pos, n_ctx), p + "attn_res");
    h = g.rms_norm(x, weight_node(g, w_, blk_name(l, "ffn_norm")), hp_.rms_eps, p + "ffn_norm");
    x = g.add(x, l < n_dense_ ? dense_ffn(g, w_, l, h) : moe_ffn(g, w_, l, h, *moe_),
              p + "ffn_res");
  }
  finish_step(s, w_, hp_, x);
  return s;
}

}  // namespace kt::models
