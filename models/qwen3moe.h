#pragma once
// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): grouped-query attention without biases, with a
// per-head RMSNorm of Q and K (attn_q_norm, attn_k_norm) before the rotate-half RoPE and a
// head size of its own (attention.key_length, not E/H); in every layer a routed MoE (softmax,
// top-k, renormalised), no shared expert.
#include "models/architecture.h"
#include "models/moe_block.h"

namespace kt::models {

class Qwen3Moe : public Architecture {
 public:
  Qwen3Moe(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

 private:
  HParams hp_;
  WeightSet w_;
  MoeSpec moe_;
};

}  // namespace kt::models
