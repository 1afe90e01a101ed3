#pragma once
// Internal state shared by the tokenizer sources (tokenizer*.cpp); not part of the public API.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "models/pretokenizer.h"
#include "models/tokenizer.h"

namespace kt::models {

struct TokenEntry {
  std::string text;   // as stored in the vocabulary
  std::string piece;  // the bytes it decodes to (control tokens: their text)
  float score = 0.0f;
  TokenType type = TokenType::kNormal;
  bool lstrip = false;  // when matched as an added token, swallow whitespace on the left
  bool rstrip = false;  // ... and on the right
  bool single_word = false;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Open-addressing map from a pair of token ids to the merge (rank, result id): the BPE inner
// loop looks pairs up millions of times per second, which std::unordered_map makes the
// bottleneck.
class MergeMap {
 public:
  struct Value {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t n);
  // Keeps the first (lowest-rank) entry when a pair is inserted twice.
  void insert(int32_t left, int32_t right, Value v);
  const Value* find(int32_t left, int32_t right) const {
    if (slots_.empty() || left < 0 || right < 0) return nullptr;
    uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    size_t i = hash(key) & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }
  // Calls f(left, right, value) for every pair, in no particular order (the GGUF exporter
  // sorts them back into rank order).
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.key != kEmpty) f(int32_t(uint32_t(s.key >> 32)), int32_t(uint32_t(s.key)), s.value);
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  struct Slot {
    uint64_t key = kEmpty;
    Value value{};
  };
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return size_t(k);
  }
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// One step of a Hugging Face normalizer that we apply (NFC/NFKC are not among them: see
// tokenizer_hf.cpp).
struct NormalizerOp {
  enum Kind { kPrepend, kReplace, kLowercase, kStripLeft, kStripRight } kind;
  std::string a, b;
};

struct Tokenizer::Impl {
  std::string source;
  std::string pre_name;
  TokenizerKind kind = TokenizerKind::kByteLevelBpe;
  std::vector<TokenEntry> tokens;
  StringIdMap text_to_id;  // token_text -> id
  // The units the BPE model works on -> id: raw bytes for byte-level vocabularies (so that
  // encoding never maps text to the byte alphabet and back), the stored text otherwise. Holds
  // normal (and unused/undefined) tokens only, so plain text never turns into a control token.
  StringIdMap model_vocab;
  MergeMap merges;
  PreTokenizer pre;
  std::vector<NormalizerOp> normalizer;
  bool prefix_space_byte_level = false;  // HF ByteLevel add_prefix_space
  bool ignore_merges = false;            // a word that is a whole token skips the merges
  bool byte_fallback = false;            // unknown characters become <0xXX> tokens
  bool fuse_unk = false;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;  // SPM: " " before each text fragment after start/special
  bool escape_spaces = false;     // SPM/char BPE: " " -> U+2581
  bool spm_split_words = false;   // SPM: merges never cross a word start (see tokenizer_spm.cpp)
  int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, pad = -1;
  std::vector<int32_t> eog;
  std::array<int32_t, 256> byte_ids{};  // byte-level: the single-byte unit; SPM: <0xXX>
  // Added/special tokens recognised in text, grouped by first byte, longest first.
  std::array<std::vector<int32_t>, 256> specials_by_byte;

  // Fills the derived tables (pieces, maps, byte ids, specials, EOG) once tokens, types,
  // kind and ids are set. Shared by both loaders.
  void finish();
  void check_id(int32_t id) const;
};

// Algorithms (tokenizer_bpe.cpp, tokenizer_spm.cpp).
struct BpeScratch;
class BpeWordEncoder {
 public:
  explicit BpeWordEncoder(const Tokenizer::Impl& impl);
  ~BpeWordEncoder();
  // Appends the ids of one pre-tokenized word. byte_units: start from single bytes (byte-level
  // BPE) rather than from UTF-8 characters.
  void encode(std::string_view word, std::vector<int32_t>& out);

 private:
  const Tokenizer::Impl& impl_;
  std::unique_ptr<BpeScratch> s_;
};

// SentencePiece BPE over `text` (spaces already escaped to U+2581).
bool spm_words_are_independent(const Tokenizer::Impl& impl);
void spm_encode(const Tokenizer::Impl& impl, std::string_view text, std::vector<int32_t>& out);

// Loaders (tokenizer_gguf.cpp, tokenizer_hf.cpp).
std::shared_ptr<Tokenizer::Impl> load_gguf_tokenizer(const tensor::GgufFile& file);
std::shared_ptr<Tokenizer::Impl> load_hf_tokenizer(const std::string& json_path,
                                                   const std::string& config_path);

}  // namespace kt::models
