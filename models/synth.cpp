#include "models/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::models {
namespace {

using tensor::DType;
using tensor::GgufWriter;

enum class Init { Ones, Zeros, Normal };

struct Spec {
  std::string name;
  std::vector<int64_t> ne;
  Init init = Init::Normal;
  float stddev = 0.0f;
};

// The tensors of the file in llama.cpp's order: embeddings, each layer, then the head.
class Plan {
 public:
  std::vector<Spec> specs;

  void norm(const std::string& name, int64_t n) { specs.push_back({name, {n}, Init::Ones}); }
  void bias(const std::string& name, int64_t n) { specs.push_back({name, {n}, Init::Zeros}); }
  // A matrix (or stack of matrices) applied to rows of ne[0]: N(0, 1/sqrt(ne[0])).
  void linear(const std::string& name, std::vector<int64_t> ne) {
    const float sd = 1.0f / std::sqrt(float(ne[0]));
    specs.push_back({name, std::move(ne), Init::Normal, sd});
  }
  void vector(const std::string& name, int64_t n, float sd) {
    specs.push_back({name, {n}, Init::Normal, sd});
  }
};

std::string blk(int64_t l, const char* name, const char* suffix = "weight") {
  return "blk." + std::to_string(l) + "." + name + "." + suffix;
}

void gqa_attention(Plan& p, const SynthShape& s, int64_t l) {
  const int64_t E = s.n_embd, D = s.head_dim, H = s.n_head, Hkv = s.n_head_kv;
  p.norm(blk(l, "attn_norm"), E);
  p.linear(blk(l, "attn_q"), {E, H * D});
  if (s.attn_bias) p.bias(blk(l, "attn_q", "bias"), H * D);
  p.linear(blk(l, "attn_k"), {E, Hkv * D});
  if (s.attn_bias) p.bias(blk(l, "attn_k", "bias"), Hkv * D);
  p.linear(blk(l, "attn_v"), {E, Hkv * D});
  if (s.attn_bias) p.bias(blk(l, "attn_v", "bias"), Hkv * D);
  p.linear(blk(l, "attn_output"), {H * D, E});
  if (s.qk_norm) {
    p.norm(blk(l, "attn_q_norm"), D);
    p.norm(blk(l, "attn_k_norm"), D);
  }
}

void mla_attention(Plan& p, const SynthShape& s, int64_t l, bool legacy_kv_b) {
  const int64_t E = s.n_embd, H = s.n_head, Dn = s.qk_nope, Dr = s.qk_rope, Dv = s.v_head;
  const int64_t Rq = s.q_lora_rank, Rkv = s.kv_lora_rank;
  p.norm(blk(l, "attn_norm"), E);
  if (Rq > 0) {
    p.linear(blk(l, "attn_q_a"), {E, Rq});
    p.norm(blk(l, "attn_q_a_norm"), Rq);
    p.linear(blk(l, "attn_q_b"), {Rq, H * (Dn + Dr)});
  } else {
    p.linear(blk(l, "attn_q"), {E, H * (Dn + Dr)});
  }
  p.linear(blk(l, "attn_kv_a_mqa"), {E, Rkv + Dr});
  p.norm(blk(l, "attn_kv_a_norm"), Rkv);
  if (legacy_kv_b) {
    p.linear(blk(l, "attn_kv_b"), {Rkv, H * (Dn + Dv)});
  } else {
    p.linear(blk(l, "attn_k_b"), {Dn, Rkv, H});
    p.linear(blk(l, "attn_v_b"), {Rkv, Dv, H});
  }
  p.linear(blk(l, "attn_output"), {H * Dv, E});
}

void ffn(Plan& p, const SynthShape& s, int64_t l) {
  const int64_t E = s.n_embd;
  p.norm(blk(l, "ffn_norm"), E);
  if (s.n_expert == 0 || l < s.n_dense_lead) {
    p.linear(blk(l, "ffn_gate"), {E, s.n_ff});
    p.linear(blk(l, "ffn_up"), {E, s.n_ff});
    p.linear(blk(l, "ffn_down"), {s.n_ff, E});
    return;
  }
  const int64_t X = s.n_expert, F = s.n_ff_exp;
  p.linear(blk(l, "ffn_gate_inp"), {E, X});
  if (s.select_bias) p.bias(blk(l, "exp_probs_b", "bias"), X);
  p.linear(blk(l, "ffn_gate_exps"), {E, F, X});
  p.linear(blk(l, "ffn_up_exps"), {E, F, X});
  p.linear(blk(l, "ffn_down_exps"), {F, E, X});
  if (s.n_ff_shexp > 0) {
    if (s.arch == "qwen2moe") p.vector(blk(l, "ffn_gate_inp_shexp"), E, 1.0f / std::sqrt(float(E)));
    p.linear(blk(l, "ffn_gate_shexp"), {E, s.n_ff_shexp});
    p.linear(blk(l, "ffn_up_shexp"), {E, s.n_ff_shexp});
    p.linear(blk(l, "ffn_down_shexp"), {s.n_ff_shexp, E});
  }
}

Plan make_plan(const SynthShape& s, bool legacy_kv_b) {
  Plan p;
  // Embedding rows N(0, 1): the first residual has unit RMS.
  p.specs.push_back({"token_embd.weight", {s.n_embd, s.n_vocab}, Init::Normal, 1.0f});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    if (s.arch == "deepseek2")
      mla_attention(p, s, l, legacy_kv_b);
    else
      gqa_attention(p, s, l);
    ffn(p, s, l);
  }
  p.norm("output_norm.weight", s.n_embd);
  p.linear("output.weight", {s.n_embd, s.n_vocab});
  return p;
}

void set_arch_keys(GgufWriter& w, const SynthShape& s, bool legacy_kv_b) {
  const std::string a = s.arch + ".";
  auto u32 = [&](const std::string& k, int64_t v) { w.set_u32(a + k, uint32_t(v)); };
  u32("vocab_size", s.n_vocab);
  u32("context_length", s.n_ctx);
  u32("embedding_length", s.n_embd);
  u32("block_count", s.n_layer);
  u32("feed_forward_length", s.n_ff);
  u32("attention.head_count", s.n_head);
  w.set_f32(a + "rope.freq_base", s.rope_base);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", s.rms_eps);
  if (s.n_expert > 0) {
    u32("expert_count", s.n_expert);
    u32("expert_used_count", s.n_expert_used);
  }
  if (s.arch != "deepseek2") {
    u32("attention.head_count_kv", s.n_head_kv);
    u32("attention.key_length", s.head_dim);
    u32("attention.value_length", s.head_dim);
    u32("rope.dimension_count", s.head_dim);
    if (s.arch != "llama") u32("expert_feed_forward_length", s.n_ff_exp);
    if (s.arch == "qwen2moe") u32("expert_shared_feed_forward_length", s.n_ff_shexp);
    return;
  }
  // DeepSeek: the MLA layout of llama.cpp's current converter (one KV head of Rkv + Dr), or
  // the legacy one (H heads of Dn + Dr); gguf.md §4.6.
  const int64_t Dq = s.qk_nope + s.qk_rope;
  u32("attention.head_count_kv", legacy_kv_b ? s.n_head : 1);
  u32("leading_dense_block_count", s.n_dense_lead);
  if (s.q_lora_rank > 0) u32("attention.q_lora_rank", s.q_lora_rank);
  u32("attention.kv_lora_rank", s.kv_lora_rank);
  u32("attention.key_length", legacy_kv_b ? Dq : s.kv_lora_rank + s.qk_rope);
  u32("attention.value_length", legacy_kv_b ? s.v_head : s.kv_lora_rank);
  if (!legacy_kv_b) {
    u32("attention.key_length_mla", Dq);
    u32("attention.value_length_mla", s.v_head);
  }
  u32("expert_feed_forward_length", s.n_ff_exp);
  u32("expert_shared_count", s.n_shared);
  w.set_f32(a + "expert_weights_scale", s.weights_scale);
  w.set_bool(a + "expert_weights_norm", s.weights_norm);
  u32("expert_gating_func", s.gating_func);
  if (s.n_group > 1) {
    u32("expert_group_count", s.n_group);
    u32("expert_group_used_count", s.n_group_used);
  }
  u32("rope.dimension_count", s.qk_rope);
  if (s.yarn_factor > 0) {
    w.set_string(a + "rope.scaling.type", "yarn");
    w.set_f32(a + "rope.scaling.factor", s.yarn_factor);
    u32("rope.scaling.original_context_length", s.yarn_orig_ctx);
    w.set_f32(a + "rope.scaling.yarn_log_multiplier", s.yarn_log_mul);
  }
}

// Copies every tokenizer.* key of `vocab`, padding the per-token arrays to n_vocab entries
// as llama.cpp's converter pads a vocabulary smaller than the embedding table.
void copy_tokenizer(GgufWriter& w, const tensor::GgufFile& f, int64_t n_vocab) {
  const size_t n_tok = f.get_strings("tokenizer.ggml.tokens").size();
  for (size_t i = 0; i < f.kv_count(); ++i) {
    const tensor::GgufValue v = f.kv(i);
    if (!v.key().starts_with("tokenizer.")) continue;
    const bool per_token = v.is_array() && v.size() == n_tok && size_t(n_vocab) > n_tok;
    if (!per_token) {
      w.copy_value(v);
    } else if (v.key() == "tokenizer.ggml.tokens") {
      std::vector<std::string> t(v.as_strings().begin(), v.as_strings().end());
      for (size_t j = n_tok; j < size_t(n_vocab); ++j)
        t.push_back("[PAD" + std::to_string(j) + "]");
      w.set_strings(v.key(), std::span<const std::string>(t));
    } else if (v.key() == "tokenizer.ggml.token_type") {
      std::vector<int32_t> t = v.as_i32_array();
      t.resize(size_t(n_vocab), 5);  // unused
      w.set_array(v.key(), std::span<const int32_t>(t));
    } else if (v.key() == "tokenizer.ggml.scores") {
      std::vector<float> t = v.as_f32_array();
      t.resize(size_t(n_vocab), 0.0f);
      w.set_array(v.key(), std::span<const float>(t));
    } else {
      w.copy_value(v);
    }
  }
}

// splitmix64: a fast, well-mixed generator; each row has its own stream so that rows can be
// made in any order on any thread and the file is the same.
uint64_t mix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Approximately N(0, 1): the sum of four 16-bit uniforms (Irwin-Hall), one draw per value.
// The tails stop at ±3.5 sigma, which is of no consequence for random weights.
void normal_row(uint64_t seed, float sd, float* out, int64_t n) {
  uint64_t state = seed;
  const float scale = sd * std::sqrt(3.0f) / 65536.0f;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = mix(state);
    const int64_t sum = int64_t(r & 0xffff) + int64_t((r >> 16) & 0xffff) +
                        int64_t((r >> 32) & 0xffff) + int64_t(r >> 48) - 131070;
    out[i] = float(sum) * scale;
  }
}

// Rows of `rows` values, each N(0, sd) from its own stream, quantized to `type` at dst.
void quantized_rows(DType type, int64_t ne0, int64_t rows, float sd, bool ones, uint64_t seed,
                    cpu::ThreadPool& pool, uint8_t* dst) {
  const size_t row_bytes = tensor::row_size(type, ne0);
  const int64_t grain = std::max<int64_t>(1, 65536 / ne0);
  pool.parallel_for(rows, grain, [&](int64_t b, int64_t e, int) {
    std::vector<float> row(size_t(ne0), ones ? 1.0f : 0.0f);
    for (int64_t r = b; r < e; ++r) {
      if (sd > 0) {
        uint64_t st = seed ^ (uint64_t(r) * 0xd1b54a32d192ed03ull);
        normal_row(mix(st), sd, row.data(), ne0);
      }
      tensor::quantize_row(type, row.data(), dst + size_t(r) * row_bytes, ne0);
    }
  });
}

// The K-quant search makes Q4_K/Q6_K about 15 M values/s per core, minutes for a 16 B
// model. Their 256-value blocks are self-contained (own scales), so a big tensor is instead
// assembled from blocks drawn at random from a pool of quantized N(0, sd) blocks a quarter
// its size (at most 16 Ki blocks): each row is still a random draw of the same distribution.
constexpr int64_t kMaxPoolBlocks = 16384;

bool use_block_pool(DType type, int64_t n_blocks) {
  return tensor::type_traits(type).block_size == 256 && n_blocks >= 4096;
}

// Fills the tensor's bytes: rows made and quantized in parallel, each into its place.
void produce(const Spec& s, DType type, uint64_t seed, cpu::ThreadPool& pool, uint8_t* dst) {
  const int64_t ne0 = s.ne[0];
  int64_t rows = 1;
  for (size_t d = 1; d < s.ne.size(); ++d) rows *= s.ne[d];
  const float sd = s.init == Init::Normal ? s.stddev : 0.0f;
  const tensor::TypeTraits& tr = tensor::type_traits(type);
  const int64_t row_blocks = ne0 / tr.block_size;
  if (sd == 0.0f || !use_block_pool(type, row_blocks * rows)) {
    quantized_rows(type, ne0, rows, sd, s.init == Init::Ones, seed, pool, dst);
    return;
  }
  const int64_t n_pool = std::min(kMaxPoolBlocks, row_blocks * rows / 4);
  std::vector<uint8_t> blocks(size_t(n_pool) * tr.type_size);
  quantized_rows(type, tr.block_size, n_pool, sd, false, ~seed, pool, blocks.data());
  const int64_t grain = std::max<int64_t>(1, 4096 / row_blocks);
  pool.parallel_for(rows, grain, [&](int64_t b, int64_t e, int) {
    for (int64_t r = b; r < e; ++r) {
      uint64_t st = seed ^ (uint64_t(r) * 0xd1b54a32d192ed03ull);
      uint8_t* out = dst + size_t(r * row_blocks) * tr.type_size;
      for (int64_t j = 0; j < row_blocks; ++j) {
        const uint64_t pick = ((mix(st) >> 32) * uint64_t(n_pool)) >> 32;
        std::memcpy(out + size_t(j) * tr.type_size, blocks.data() + pick * tr.type_size,
                    tr.type_size);
      }
    }
  });
}

}  // namespace

SynthStats plan_synth(const SynthOptions& opt, cpu::ThreadPool& pool, GgufWriter& w) {
  namespace fs = std::filesystem;
  if (opt.vocab.empty()) throw Error("synth: no vocab file given (a GGUF with a tokenizer)");
  if (!fs::is_regular_file(opt.vocab)) throw Error(opt.vocab + ": no such vocab file");
  const tensor::GgufFile vocab = tensor::GgufFile::open(opt.vocab);
  if (!vocab.has("tokenizer.ggml.tokens") || !vocab.has("tokenizer.ggml.model"))
    throw Error(opt.vocab + ": no tokenizer in it (tokenizer.ggml.model, tokenizer.ggml.tokens)");
  const int64_t n_tok = int64_t(vocab.get_strings("tokenizer.ggml.tokens").size());
  SynthShape s = opt.tiny ? tiny_shape(opt.shape, n_tok) : opt.shape;
  if (n_tok > s.n_vocab)
    throw Error(opt.vocab + ": " + std::to_string(n_tok) + " tokens, more than the " +
                std::to_string(s.n_vocab) + " rows of " + s.name + "'s embedding table");

  w.set_string("general.architecture", s.arch);
  w.set_string("general.type", "model");
  w.set_string("general.name", s.name + " (synthetic, random weights)");
  w.set_u32("general.file_type", recipe_file_type(opt.recipe));
  w.set_u32("general.quantization_version", 2);
  set_arch_keys(w, s, opt.legacy_kv_b);
  copy_tokenizer(w, vocab, s.n_vocab);

  const Plan plan = make_plan(s, opt.legacy_kv_b);
  RecipeContext ctx;
  ctx.n_layer = s.n_layer;
  ctx.n_expert = s.n_expert;
  for (const Spec& sp : plan.specs)
    if (sp.name.find("attn_v.weight") != std::string::npos ||
        sp.name.find("attn_kv_b.weight") != std::string::npos)
      ++ctx.n_attn_v;
  SynthStats st;
  int attn_v_index = 0;
  for (const Spec& sp : plan.specs) {
    const DType type =
        choose_type(opt.recipe, sp.name, int(sp.ne.size()), sp.ne[0], ctx, attn_v_index);
    if (sp.name.find("attn_v.weight") != std::string::npos ||
        sp.name.find("attn_kv_b.weight") != std::string::npos)
      ++attn_v_index;
    uint64_t n = 1;
    for (int64_t d : sp.ne) n *= uint64_t(d);
    uint64_t seed = opt.seed ^ (uint64_t(st.n_tensors + 1) << 40);
    seed = mix(seed);
    w.add_tensor(sp.name, type, sp.ne, [sp, type, seed, &pool](uint8_t* dst, size_t) {
      produce(sp, type, seed, pool, dst);
    });
    ++st.n_tensors;
    st.n_params += n;
    st.n_bytes +=
        n / uint64_t(tensor::type_traits(type).block_size) * tensor::type_traits(type).type_size;
  }
  return st;
}

SynthStats write_synth(const SynthOptions& opt, cpu::ThreadPool& pool, const std::string& path,
                       const std::function<void(uint64_t, uint64_t)>& progress) {
  GgufWriter w;
  const SynthStats st = plan_synth(opt, pool, w);
  w.write(path, progress);
  return st;
}

}  // namespace kt::models
