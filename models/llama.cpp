#include "models/llama.h"

#include <utility>

#include "models/decoder.h"
#include "tensor/error.h"

namespace kt::models {

using tensor::NodeId;

Llama::Llama(const tensor::GgufFile& f, HParams hp, WeightSet weights)
    : hp_(std::move(hp)), w_(std::move(weights)) {
  hp_.rope.pairing = tensor::RopePairing::Adjacent;
  if (f.get_u32(hp_.arch + ".expert_count", 0) > 0) {
    moe_ = MoeSpec::from_gguf(f, hp_, /*norm_default=*/true);  // Mixtral renormalises
  } else if (hp_.n_ff <= 0) {
    throw Error(w_.source() + ": " + hp_.arch + ".feed_forward_length missing");
  }
  // Check every weight up front so a broken file fails at load, naming the tensor.
  check_output_weights(w_, hp_);
  for (int64_t l = 0; l < hp_.n_layer; ++l) {
    check_gqa_weights(w_, hp_, l, /*qk_norm=*/false);
    w_.get(blk_name(l, "ffn_norm"), {hp_.n_embd});
    if (moe_)
      check_moe_weights(w_, l, hp_.n_embd, *moe_);
    else
      check_dense_ffn(w_, l, hp_.n_embd, hp_.n_ff);
  }
}

std::vector<CacheSpec> Llama::cache_specs() const {
  return gqa_cache_specs(hp_);
}

StepGraph Llama::build_step(int64_t T, int64_t pos, int64_t n_ctx, int64_t n_out) const {
  return gqa_decoder_step(w_, hp_, T, pos, n_ctx, n_out,
                          [&](tensor::Graph& g, int64_t l, NodeId h) {
                            return moe_ ? moe_ffn(g, w_, l, h, *moe_) : dense_ffn(g, w_, l, h);
                          });
}

}  // namespace kt::models
