#pragma once
// Pre-tokenization: the regex splits that cut text into words before BPE, as Hugging Face
// `tokenizers` does them (Split pre-tokenizers applied in sequence, each to every piece the
// previous one left, with Oniguruma, the regex engine `tokenizers` itself uses, so Unicode
// classes and look-ahead behave identically). Patterns are compiled once per tokenizer.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kt::models {

// What happens to the delimiter (the regex match) of one split; names follow HF
// `SplitDelimiterBehavior`.
enum class SplitBehavior {
  kIsolated,            // matches and the text between them all become pieces
  kRemoved,             // matches are dropped
  kMergedWithPrevious,  // each match is glued to the piece before it
  kMergedWithNext,      // each match is glued to the piece after it
  kContiguous,          // consecutive matches form one piece
};

class PreTokenizer {
 public:
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // The split sequence llama.cpp names by `tokenizer.ggml.pre` ("gpt-2", "llama-bpe", "qwen2",
  // "deepseek-llm", "deepseek-v3", "deepseek-coder", ...), with the patterns of the model's own
  // tokenizer.json. Throws kt::Error naming `source` and the value when the name is unknown.
  static PreTokenizer from_name(std::string_view name, std::string_view source);
  // Whether from_name knows `name`.
  static bool known_name(std::string_view name);

  // Appends one split step. Throws kt::Error (naming `source`) when the pattern does not
  // compile.
  void add_regex(std::string_view pattern, SplitBehavior behavior = SplitBehavior::kIsolated,
                 bool invert = false, std::string_view source = "");
  // A step that splits on a literal string.
  void add_literal(std::string_view literal, SplitBehavior behavior, bool invert = false);

  size_t steps() const { return steps_.size(); }
  const std::string& pattern(size_t i) const;

  // Splits `text` (valid UTF-8) into non-empty pieces, appended to `out` as views into `text`.
  // Without steps the whole text is one piece.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Step;
  struct Memo;
  void split_from(size_t k, std::string_view piece, std::vector<std::string_view>& out,
                  Memo& memo) const;
  std::vector<std::unique_ptr<Step>> steps_;
};

// GPT-2's word regex, which HF's ByteLevel pre-tokenizer applies when `use_regex` is true.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Escapes regex metacharacters so that `literal` matches itself.
std::string regex_escape(std::string_view literal);

}  // namespace kt::models
