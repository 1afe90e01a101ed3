#include "models/qwen2moe.h"

#include <utility>

#include "models/decoder.h"

namespace kt::models {

using tensor::NodeId;

Qwen2Moe::Qwen2Moe(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  hp_.rope.pairing = tensor::RopePairing::SplitHalf;
  moe_ = MoeSpec::from_gguf(f, hp_, /*norm_default=*/false);
  if (!f.has(hp_.arch + ".expert_feed_forward_length") && hp_.n_ff > 0)
    moe_.n_ff = hp_.n_ff / moe_.routing.k;  // llama.cpp's fallback
  moe_.shared = SharedExpert::Gated;
  moe_.n_ff_shared = f.get_u32(hp_.arch + ".expert_shared_feed_forward_length", uint32_t(hp_.n_ff));
  check_output_weights(w_, hp_, /*allow_tied=*/false);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    check_gqa_weights(w_, hp_, l, /*qk_norm=*/false);
    w_.get(blk_name(l, "ffn_norm"), {hp_.n_embd});
    check_moe_weights(w_, l, hp_.n_embd, moe_);
  }
}

std::vector<CacheSpec> Qwen2Moe::cache_specs() const {
  return gqa_cache_specs(hp_);
}

StepGraph Qwen2Moe::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  return gqa_decoder_step(
      w_, hp_, T, pos, n_ctx, n_out,
      [&](tensor::Graph& g, int64_t l, NodeId h) { return moe_ffn(g, w_, l, h, moe_); });
}

}  // namespace kt::models
