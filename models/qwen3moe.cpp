#include "models/qwen3moe.h"

#include <utility>

#include "models/decoder.h"

namespace kt::models {

using tensor::NodeId;

Qwen3Moe::Qwen3Moe(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  hp_.rope.pairing = tensor::RopePairing::SplitHalf;
  moe_ = MoeSpec::from_gguf(f, hp_, /*norm_default=*/true);
  check_output_weights(w_, hp_);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    check_gqa_weights(w_, hp_, l, /*qk_norm=*/true);
    w_.get(blk_name(l, "ffn_norm"), {hp_.n_embd});
    check_moe_weights(w_, l, hp_.n_embd, moe_);
  }
}

std::vector<CacheSpec> Qwen3Moe::cache_specs() const {
  return gqa_cache_specs(hp_);
}

StepGraph Qwen3Moe::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  return gqa_decoder_step(
      w_, hp_, T, pos, n_ctx, n_out,
      [&](tensor::Graph& g, int64_t l, NodeId h) { return moe_ffn(g, w_, l, h, moe_); });
}

}  // namespace kt::models
