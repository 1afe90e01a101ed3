#pragma once
// Tokenizers, exact to the reference implementations: byte-level BPE (GPT-2, Llama 3, Qwen2,
// DeepSeek) with the pre-tokenizer splits of the model, and SentencePiece-style BPE (Llama 2,
// Phi-3) merged by token scores with byte fallback. Loaded from GGUF metadata
// (tokenizer.ggml.*) or from a Hugging Face tokenizer.json (+ tokenizer_config.json).
//
// Text in, ids out:
//   * encode() takes UTF-8. Invalid UTF-8 is not an error: each invalid stretch is replaced by
//     U+FFFD first (the "maximal subpart" rule, as Python's errors="replace"), so the result is
//     the encoding of the sanitized text.
//   * Special tokens (control tokens such as <|im_start|>) are recognised in the text only when
//     parse_special is true; user-defined added tokens (Qwen's <think>, DeepSeek's <｜User｜>) are
//     recognised always, as Hugging Face and llama.cpp do.
// Ids out, text in:
//   * decode() returns the exact bytes of the pieces (a sequence cut inside a multi-byte
//     character is returned cut); StreamDecoder returns only complete UTF-8.
//   * An id outside [0, vocab_size()) is a kt::Error naming the id.
//   * No clean-up of spaces (" ." stays " .") so decode(encode(t)) == t.
//
// A Tokenizer is immutable after loading, cheap to copy (shared state) and safe to use from
// several threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kt::tensor {
class GgufFile;
}

namespace kt::models {

// Token types as GGUF stores them (tokenizer.ggml.token_type).
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class TokenizerKind : uint8_t {
  kByteLevelBpe,  // GPT-2 style: bytes mapped to printable characters, BPE merges by rank
  kSpm,           // SentencePiece BPE: merges by token score, ▁ for spaces, <0xXX> byte fallback
  kCharBpe,       // Hugging Face BPE over characters (ranked merges), ▁ spaces, byte fallback
};

class Tokenizer {
 public:
  // From the tokenizer.ggml.* keys of a GGUF file (a vocab-only file works).
  static Tokenizer from_gguf(const tensor::GgufFile& file);
  // From Hugging Face files: `path` is a folder holding tokenizer.json (and optionally
  // tokenizer_config.json), or a tokenizer.json file; `config_path` overrides where
  // tokenizer_config.json is looked for ("" = beside tokenizer.json, if present).
  static Tokenizer from_hf(const std::string& path, const std::string& config_path = "");
  // Picks by path: *.gguf -> from_gguf, otherwise from_hf.
  static Tokenizer from_path(const std::string& path);

  // add_special: prepend BOS / append EOS where the model asks for it (add_bos_token /
  // add_eos_token). parse_special: recognise control-token text as those tokens.
  std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                              bool parse_special = true) const;
  // A prompt a chat template rendered: special-token text parsed, and BOS first where the model
  // wants one — templates usually write its text themselves, so it is added only when missing.
  std::vector<int32_t> encode_chat_prompt(std::string_view rendered) const;
  // render_special: write control tokens (BOS, <|im_end|>) as their text; otherwise they
  // produce nothing.
  std::string decode(std::span<const int32_t> ids, bool render_special = true) const;
  // The bytes one token stands for (byte-level and ▁ undone; the SPM leading space kept).
  std::string token_to_piece(int32_t id, bool render_special = true) const;
  // The vocabulary entry as stored ("Ġhello", "▁Hello", "<0x0A>").
  const std::string& token_text(int32_t id) const;
  std::optional<int32_t> find_token(std::string_view text) const;  // by token_text

  size_t vocab_size() const;
  TokenizerKind kind() const;
  // The pre-tokenizer: tokenizer.ggml.pre, or "tokenizer.json" for one read from a JSON file.
  const std::string& pre_name() const;
  const std::string& source() const;  // the file it came from, for messages

  TokenType token_type(int32_t id) const;
  bool is_control(int32_t id) const;  // control or unknown: hidden unless render_special
  bool is_special(int32_t id) const;  // control, unknown or user-defined (added) token
  bool is_eog(int32_t id) const;      // ends generation: EOS, EOT, EOM and their kin

  // -1 when the model has none.
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t eot_id() const;
  int32_t eom_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  bool add_bos() const;
  bool add_eos() const;
  bool add_space_prefix() const;  // SPM: a space is put before the text (and taken off again)

  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

// Turns a stream of ids into text one id at a time, returning only complete UTF-8: bytes of a
// character split across tokens are held until the character is complete. A byte that can
// never become part of a valid character comes out as U+FFFD at once; flush() turns held bytes
// of a character that never completed into U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool render_special = true);
  // Text that became complete with this id (possibly empty). Throws kt::Error for an id
  // outside the vocabulary, leaving the state unchanged.
  std::string push(int32_t id);
  std::string flush();
  void reset();
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer* tok_;
  bool render_special_;
  bool at_start_ = true;  // SPM: the next text piece follows the start or a special token
  std::string pending_;
};

}  // namespace kt::models
