#include "models/hparams.h"

#include "tensor/error.h"

namespace kt::models {

HParams HParams::from_gguf(const tensor::GgufFile& f) {
  HParams h;
  h.arch = std::string(f.get_string("general.architecture"));
  h.name = std::string(f.get_string("general.name", ""));
  const std::string a = h.arch + ".";
  h.n_embd = f.get_u32(a + "embedding_length");
  h.n_layer = f.get_u32(a + "block_count");
  h.n_head = f.get_u32(a + "attention.head_count");
  h.n_head_kv = f.get_u32(a + "attention.head_count_kv", uint32_t(h.n_head));
  h.n_ff = f.get_u32(a + "feed_forward_length", 0);
  h.n_ctx_train = f.get_u32(a + "context_length", 2048);
  h.rms_eps = f.get_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  auto bad = [&](const std::string& what) { throw Error(f.name() + ": " + what); };
  if (h.n_embd <= 0 || h.n_layer <= 0 || h.n_head <= 0)
    bad("embedding, block and head counts must be positive");
  if (h.n_embd % h.n_head != 0) bad(a + "embedding_length is not a multiple of the head count");
  if (h.n_head_kv <= 0 || h.n_head % h.n_head_kv != 0)
    bad(a + "attention.head_count_kv must divide attention.head_count");
  h.head_dim = f.get_u32(a + "attention.key_length", uint32_t(h.n_embd / h.n_head));

  if (f.has(a + "vocab_size")) {
    h.n_vocab = f.get_u32(a + "vocab_size");
  } else if (f.has("tokenizer.ggml.tokens")) {
    h.n_vocab = int64_t(f.get_strings("tokenizer.ggml.tokens").size());
  } else if (const auto* t = f.find_tensor("token_embd.weight")) {
    h.n_vocab = t->ne[1];
  } else {
    bad("cannot tell the vocabulary size (no " + a + "vocab_size, token list or token_embd)");
  }

  h.rope.n_rot = int(f.get_u32(a + "rope.dimension_count", uint32_t(h.head_dim)));
  h.rope.freq_base = f.get_f32(a + "rope.freq_base", 10000.0f);
  const float scale = f.get_f32(a + "rope.scaling.factor", 0.0f);
  const std::string type(f.get_string(a + "rope.scaling.type", "none"));
  if (type == "linear" && scale > 0) h.rope.freq_scale = 1.0f / scale;
  h.rope.n_ctx_orig = int(h.n_ctx_train);
  if (type == "yarn" && scale > 0) {
    // ggml semantics: the ramp between interpolated and extrapolated frequencies, with the
    // magnitude correction 1 + 0.1 ln(s) applied inside the rope, times attn_factor.
    h.rope.freq_scale = 1.0f / scale;
    h.rope.ext_factor = f.get_f32(a + "rope.scaling.yarn_ext_factor", 1.0f);
    h.rope.attn_factor = f.get_f32(a + "rope.scaling.attn_factor", 1.0f);
    h.rope.beta_fast = f.get_f32(a + "rope.scaling.yarn_beta_fast", 32.0f);
    h.rope.beta_slow = f.get_f32(a + "rope.scaling.yarn_beta_slow", 1.0f);
    h.rope.n_ctx_orig =
        int(f.get_u32(a + "rope.scaling.original_context_length", uint32_t(h.n_ctx_train)));
  }
  if (h.rope.n_rot <= 0 || h.rope.n_rot % 2 || h.rope.n_rot > h.head_dim)
    bad(a + "rope.dimension_count " + std::to_string(h.rope.n_rot) + " invalid for head size " +
        std::to_string(h.head_dim));
  return h;
}

}  // namespace kt::models
