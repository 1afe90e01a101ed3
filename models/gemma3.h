#pragma once
// Gemma 3 (text): a GQA decoder with Gemma's quirks, as llama.cpp runs GGUF files of it.
// - Embeddings scaled by sqrt(E); tied LM head; no final logit soft-capping (Gemma 2 had it).
// - RMSNorm weights used as stored: Gemma multiplies by (1 + w), and GGUF converters store
//   1 + w (llama.cpp's norm_shift; so does kt's HF import).
// - Per-head RMSNorm of Q and K before the rotate-half RoPE; softmax scale 1/sqrt(key_length)
//   (query_pre_attn_scalar = head size), except 27B (62 layers): 1/sqrt(E/H).
// - Norms after attention and after the FFN as well as before (post_attention_norm,
//   post_ffw_norm); GELU(tanh)-gated FFN.
// - Interleaved attention: of every 6 layers the first 5 attend to a sliding window of
//   attention.sliding_window positions with RoPE base 10000 and no scaling; the 6th attends
//   to everything with the file's rope base and scaling.
#include "models/architecture.h"
#include "models/decoder.h"

namespace kt::models {

class Gemma3 : public Architecture {
 public:
  Gemma3(const tensor::GgufFile& f, HParams hp, WeightSet weights);
  const HParams& hparams() const override { return hp_; }
  std::vector<CacheSpec> cache_specs() const override;
  StepGraph build_step(int64_t n_tokens, int64_t pos, int64_t n_ctx, int64_t n_out) const override;

  bool is_sliding(int64_t layer) const;

 private:
  HParams hp_;
  WeightSet w_;
  int64_t window_ = 0;
  int64_t pattern_ = 6;  // every pattern_-th layer is global
  AttentionParams local_, global_;
};

}  // namespace kt::models
