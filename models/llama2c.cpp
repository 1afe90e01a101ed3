#include "models/llama2c.h"

#include <cstring>
#include <span>
#include <vector>

#include "tensor/error.h"
#include "tensor/gguf_writer.h"
#include "tensor/mapped_file.h"

namespace kt::models {
namespace {

using tensor::DType;

struct Header {
  int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
};

// Sequential reader over the mapped checkpoint with bounds checks.
class Cursor {
 public:
  Cursor(const tensor::MappedFile& f) : f_(f) {}
  const float* floats(size_t n, const char* what) {
    if (n > (f_.size() - pos_) / sizeof(float))
      throw Error(f_.path() + ": file ends inside " + what + " (truncated or wrong header)");
    const float* p = reinterpret_cast<const float*>(f_.data() + pos_);
    pos_ += n * sizeof(float);
    return p;
  }
  size_t remaining() const { return f_.size() - pos_; }
  void skip(size_t bytes) { pos_ += bytes; }

 private:
  const tensor::MappedFile& f_;
  size_t pos_ = 0;
};

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
};

// tokenizer.bin: int32 max_token_length, then per token f32 score, int32 length, bytes. The
// exporter wrote SentencePiece pieces with "▁" turned into " " and BOS/EOS as "\n<s>\n" and
// "\n</s>\n"; undo that to get the SentencePiece vocabulary llama.cpp expects.
Vocab read_tokenizer(const std::string& path, int32_t n_vocab) {
  tensor::MappedFile f = tensor::MappedFile::open(path);
  const uint8_t* p = f.data();
  size_t pos = 4;
  if (f.size() < 4) throw Error(path + ": too short for a llama2.c tokenizer");
  Vocab v;
  for (int32_t i = 0; i < n_vocab; ++i) {
    if (f.size() - pos < 8) throw Error(path + ": ends at token " + std::to_string(i));
    float score;
    int32_t len;
    std::memcpy(&score, p + pos, 4);
    std::memcpy(&len, p + pos + 4, 4);
    pos += 8;
    if (len < 0 || size_t(len) > f.size() - pos)
      throw Error(path + ": token " + std::to_string(i) + " has an impossible length " +
                  std::to_string(len));
    std::string piece(reinterpret_cast<const char*>(p + pos), size_t(len));
    pos += size_t(len);
    int32_t type = 1;  // normal
    if (i == 0) {
      type = 2;  // unknown
    } else if (i == 1 || i == 2) {
      piece = i == 1 ? "<s>" : "</s>";
      type = 3;  // control
    } else if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece[5] == '>') {
      type = 6;  // byte
    } else {
      std::string sp;
      for (char c : piece) sp += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
      piece = sp;
    }
    v.tokens.push_back(piece);
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  return v;
}

}  // namespace

void convert_llama2c_to_gguf(const std::string& model_bin, const std::string& tokenizer_bin,
                             const std::string& out_gguf, const Llama2cImportOptions& opt) {
  tensor::MappedFile f = tensor::MappedFile::open(model_bin);
  if (f.size() < sizeof(Header)) throw Error(model_bin + ": too short for a llama2.c header");
  Header h;
  std::memcpy(&h, f.data(), sizeof h);
  const bool shared = h.vocab > 0;
  const int32_t vocab = shared ? h.vocab : -h.vocab;
  if (h.dim <= 0 || h.hidden <= 0 || h.n_layers <= 0 || h.n_heads <= 0 || h.n_kv_heads <= 0 ||
      vocab <= 0 || h.seq_len <= 0 || h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0 ||
      h.dim > (1 << 16) || h.hidden > (1 << 18) || h.n_layers > 1024 || vocab > (1 << 22))
    throw Error(model_bin + ": implausible llama2.c header (dim " + std::to_string(h.dim) +
                ", layers " + std::to_string(h.n_layers) + ", heads " + std::to_string(h.n_heads) +
                ", vocab " + std::to_string(h.vocab) + ")");
  const size_t dim = size_t(h.dim), hid = size_t(h.hidden), L = size_t(h.n_layers);
  const size_t head = dim / size_t(h.n_heads), kv_dim = head * size_t(h.n_kv_heads);

  Cursor c(f);
  c.skip(sizeof(Header));
  const float* embd = c.floats(size_t(vocab) * dim, "token_embedding_table");
  const float* rms_att = c.floats(L * dim, "rms_att_weight");
  const float* wq = c.floats(L * dim * dim, "wq");
  const float* wk = c.floats(L * dim * kv_dim, "wk");
  const float* wv = c.floats(L * dim * kv_dim, "wv");
  const float* wo = c.floats(L * dim * dim, "wo");
  const float* rms_ffn = c.floats(L * dim, "rms_ffn_weight");
  const float* w1 = c.floats(L * dim * hid, "w1");
  const float* w2 = c.floats(L * hid * dim, "w2");
  const float* w3 = c.floats(L * dim * hid, "w3");
  const float* rms_final = c.floats(dim, "rms_final_weight");
  c.floats(size_t(h.seq_len) * head, "freq_cis");  // RoPE tables: kt computes its own
  const float* wcls = shared ? embd : c.floats(size_t(vocab) * dim, "wcls");
  if (c.remaining() != 0)
    throw Error(model_bin + ": " + std::to_string(c.remaining()) +
                " bytes left after the last weight (header does not match the file)");

  Vocab v = read_tokenizer(tokenizer_bin, vocab);

  tensor::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", opt.name);
  w.set_u32("general.file_type", opt.type == DType::F32 ? 0 : opt.type == DType::F16 ? 1 : 7);
  w.set_u32("llama.context_length", uint32_t(h.seq_len));
  w.set_u32("llama.embedding_length", uint32_t(dim));
  w.set_u32("llama.block_count", uint32_t(L));
  w.set_u32("llama.feed_forward_length", uint32_t(hid));
  w.set_u32("llama.attention.head_count", uint32_t(h.n_heads));
  w.set_u32("llama.attention.head_count_kv", uint32_t(h.n_kv_heads));
  w.set_u32("llama.rope.dimension_count", uint32_t(head));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_u32("llama.vocab_size", uint32_t(vocab));
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_strings("tokenizer.ggml.tokens", std::span<const std::string>(v.tokens));
  w.set_array("tokenizer.ggml.scores", std::span<const float>(v.scores));
  w.set_array("tokenizer.ggml.token_type", std::span<const int32_t>(v.types));
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_space_prefix", true);

  // 2-D weights in the requested type (when rows fit its blocks), norms stay F32.
  std::vector<std::vector<uint8_t>> keep;
  auto add = [&](const std::string& name, const float* data, int64_t ne0, int64_t ne1) {
    DType t = ne1 > 1 ? opt.type : DType::F32;
    if (ne0 % tensor::type_traits(t).block_size != 0) t = DType::F32;
    const std::vector<int64_t> ne =
        ne1 == 1 ? std::vector<int64_t>{ne0} : std::vector<int64_t>{ne0, ne1};
    if (t == DType::F32) {
      w.add_tensor(name, t, ne, data, size_t(ne0 * ne1) * sizeof(float));
      return;
    }
    const size_t rs = tensor::row_size(t, ne0);
    keep.emplace_back(rs * size_t(ne1));
    for (int64_t r = 0; r < ne1; ++r)
      tensor::quantize_row(t, data + r * ne0, keep.back().data() + size_t(r) * rs, ne0);
    w.add_tensor(name, t, ne, keep.back().data(), keep.back().size());
  };
  const int64_t D = int64_t(dim), F = int64_t(hid), KV = int64_t(kv_dim), V = vocab;
  add("token_embd.weight", embd, D, V);
  add("output_norm.weight", rms_final, D, 1);
  if (!shared) add("output.weight", wcls, D, V);
  for (size_t l = 0; l < L; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", rms_att + l * dim, D, 1);
    add(p + "attn_q.weight", wq + l * dim * dim, D, D);
    add(p + "attn_k.weight", wk + l * dim * kv_dim, D, KV);
    add(p + "attn_v.weight", wv + l * dim * kv_dim, D, KV);
    add(p + "attn_output.weight", wo + l * dim * dim, D, D);
    add(p + "ffn_norm.weight", rms_ffn + l * dim, D, 1);
    add(p + "ffn_gate.weight", w1 + l * dim * hid, D, F);
    add(p + "ffn_down.weight", w2 + l * hid * dim, F, D);
    add(p + "ffn_up.weight", w3 + l * dim * hid, D, F);
  }
  w.write(out_gguf);
}

}  // namespace kt::models
