#pragma once
// DeepSeek-V2/V3 family (V2, V2-Lite, V2.5, V3, R1, Kimi-K2): multi-head latent attention and
// MoE FFNs with shared experts (gguf.md §4.6, §6).
//
// Attention runs in the absorbed MLA form: the KV cache holds, per token, the compressed latent
// c_kv (Rkv) and the rope key k_pe (Dr) — 576 values for the real models — not expanded keys
// and values. Per head h, q_abs = W_kb,h · q_nope (Dn -> Rkv); the query [q_abs ‖ q_pe]
// attends over the single shared key [c_kv ‖ k_pe] with the value c_kv (MQA, one KV head); the
// result goes through W_vb,h (Rkv -> Dv) and attn_output. Both file layouts load: attn_k_b +
// attn_v_b (MLA layout, key_length_mla/value_length_mla present) and the legacy attn_kv_b,
// split per head into the same two tensors at load.
#include <optional>

#include "models/architecture.h"
#include "models/moe_block.h"

namespace kt::models {

class DeepSeek2 : public Architecture {
 public:
  DeepSeek2(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  tensor::NodeId attention(StepGraph& s, int64_t l, tensor::NodeId h, int64_t T, int64_t pos,
                           int64_t n_ctx) const;

  HParams hp_;
  WeightSet w_;
  int64_t n_dense_ = 0;  // leading dense layers
  int64_t Rq_ = 0;       // q_lora_rank; 0: plain attn_q (V2-Lite)
  int64_t Rkv_ = 0, Dn_ = 0, Dr_ = 0, Dv_ = 0;
  float kq_scale_ = 1.0f;
  std::optional<MoeSpec> moe_;
  std::vector<tensor::Tensor> k_b_;  // per layer {Dn, Rkv, H}
  std::vector<tensor::Tensor> v_b_;  // per layer {Rkv, Dv, H}
};

}  // namespace kt::models
