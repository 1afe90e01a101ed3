#include "models/qwen2.h"

#include <utility>

#include "models/decoder.h"
#include "tensor/error.h"

namespace kt::models {

using tensor::NodeId;

Qwen2::Qwen2(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  hp_.rope.pairing = tensor::RopePairing::SplitHalf;
  if (hp_.n_ff <= 0) throw Error(f.name() + ": " + hp_.arch + ".feed_forward_length missing");
  check_output_weights(w_, hp_);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    check_gqa_weights(w_, hp_, l, /*qk_norm=*/false);
    w_.get(blk_name(l, "ffn_norm"), {hp_.n_embd});
    check_dense_ffn(w_, l, hp_.n_embd, hp_.n_ff);
  }
}

std::vector<CacheSpec> Qwen2::cache_specs() const {
  return gqa_cache_specs(hp_);
}

StepGraph Qwen2::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  return gqa_decoder_step(
      w_, hp_, T, pos, n_ctx, n_out,
      [&](tensor::Graph& g, int64_t l, NodeId h) { return dense_ffn(g, w_, l, h); });
}

}  // namespace kt::models
