// Tokenizer -> GGUF tokenizer.* metadata; the inverse of tokenizer_gguf.cpp, which decides
// what has to be written explicitly (its defaults differ from what a tokenizer.json says).
#include "models/tokenizer_export.h"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <vector>

#include "models/tokenizer_impl.h"
#include "tensor/error.h"

namespace kt::models {
namespace {

// One name per preset of pretokenizer.cpp, most common first: the first whose splits match
// wins, so aliases of one preset never compete.
constexpr std::string_view kPresetNames[] = {
    "qwen2", "llama-bpe", "deepseek-v3", "deepseek-llm", "deepseek-coder",
    "gpt-2", "starcoder", "falcon",      "gpt-4o",       "default",
};

// Texts on which the presets split differently from one another: digit runs (1 vs 1-3 vs
// many), contractions and case, CJK, kana and Hangul (the DeepSeek variants), punctuation and
// symbols glued to letters, and whitespace/newline runs.
constexpr std::string_view kProbes[] = {
    "Hello world, I'm here! DON'T you'LL we've",
    "1 12 123 1234 1234567 3.14159 $100 +=<>^~|`",
    "中文字符测试 日本語のひらがなとカタカナ 한국어 텍스트",
    "caf\xC3\xA9 na\xC3\xAFve \xC3\x9C"
    "ber \xCE\xB1\xCE\xB2\xCE\xB3 \xD0\xBF\xD1\x80\xD0\xB8",
    "a\n\nb  \t c   \n  d\r\n\r\ne    ",
    "foo.bar(baz)->qux[0]; x/y @user #tag ...!!! ?!\"quoted\"",
    "HelloWorld iPhone XMLHttpRequest e\xCC\x81t\xCC\x81",
    "    indented\n\tcode = {\"k\": [1, 2]}  // comment",
};

std::vector<std::vector<std::string_view>> split_all(const PreTokenizer& pre) {
  std::vector<std::vector<std::string_view>> out;
  for (std::string_view p : kProbes) {
    out.emplace_back();
    pre.split(p, out.back());
  }
  return out;
}

void set_id(tensor::GgufWriter& w, std::string_view key, int32_t id) {
  if (id >= 0) w.set_u32(key, uint32_t(id));
}

}  // namespace

std::string gguf_pre_name(const Tokenizer& tok) {
  if (PreTokenizer::known_name(tok.pre_name())) return tok.pre_name();
  const auto want = split_all(tok.impl().pre);
  for (std::string_view name : kPresetNames) {
    if (split_all(PreTokenizer::from_name(name, "preset")) == want) return std::string(name);
  }
  throw Error(tok.source() +
              ": the pre-tokenizer matches none of llama.cpp's (tokenizer.ggml.pre) presets, so "
              "it cannot be written as GGUF metadata");
}

void write_tokenizer_metadata(const Tokenizer& tok, tensor::GgufWriter& w) {
  const Tokenizer::Impl& m = tok.impl();
  const size_t n = tok.vocab_size();

  const bool byte_level = m.kind == TokenizerKind::kByteLevelBpe;
  if (m.kind == TokenizerKind::kCharBpe) {
    throw Error(tok.source() +
                ": character-level BPE (ranked merges over ▁-escaped text) has no GGUF "
                "tokenizer model; cannot write tokenizer metadata");
  }
  if (byte_level && (!m.normalizer.empty() || m.prefix_space_byte_level)) {
    throw Error(tok.source() +
                ": a byte-level tokenizer with a normalizer or add_prefix_space cannot be written "
                "as GGUF metadata (tokenizer.ggml.* has no keys for them)");
  }
  // Everything that can throw comes before the first key, so a failure leaves `w` untouched.
  const std::string pre = byte_level ? gguf_pre_name(tok) : tok.pre_name();
  w.set_string("tokenizer.ggml.model", byte_level ? "gpt2" : "llama");
  w.set_string("tokenizer.ggml.pre", pre);

  std::vector<std::string> texts(n);
  std::vector<int32_t> types(n);
  std::vector<float> scores(n);
  for (size_t i = 0; i < n; ++i) {
    texts[i] = m.tokens[i].text;
    types[i] = int32_t(m.tokens[i].type);
    scores[i] = m.tokens[i].score;
  }
  w.set_strings("tokenizer.ggml.tokens", texts);
  w.set_array("tokenizer.ggml.token_type", std::span<const int32_t>(types));
  // SPM merges by score; for BPE the scores carry nothing (the merges rank instead).
  if (!byte_level) w.set_array("tokenizer.ggml.scores", std::span<const float>(scores));

  if (byte_level) {
    // The map holds only merges whose parts and result are tokens (the loaders drop the rest,
    // which could never apply); rank gaps left by dropped merges do not change the order.
    std::vector<std::tuple<int32_t, int32_t, int32_t>> ranked;  // rank, left, right
    ranked.reserve(m.merges.size());
    m.merges.for_each(
        [&](int32_t l, int32_t r, MergeMap::Value v) { ranked.emplace_back(v.rank, l, r); });
    std::sort(ranked.begin(), ranked.end());
    std::vector<std::string> merges;
    merges.reserve(ranked.size());
    for (const auto& [rank, l, r] : ranked) merges.push_back(texts[l] + " " + texts[r]);
    w.set_strings("tokenizer.ggml.merges", merges);
  }

  // Ids the tokenizer lacks are left out: GGUF has no "none", and llama.cpp's defaults for an
  // absent key (gpt2: BOS = EOS = 11) only matter with add_bos, which is then false.
  set_id(w, "tokenizer.ggml.bos_token_id", m.bos);
  set_id(w, "tokenizer.ggml.eos_token_id", m.eos);
  set_id(w, "tokenizer.ggml.eot_token_id", m.eot);
  set_id(w, "tokenizer.ggml.eom_token_id", m.eom);
  set_id(w, "tokenizer.ggml.unknown_token_id", m.unk);
  set_id(w, "tokenizer.ggml.padding_token_id", m.pad);
  // Written always: the GGUF defaults depend on the model and pre name, not on the source.
  w.set_bool("tokenizer.ggml.add_bos_token", m.add_bos);
  w.set_bool("tokenizer.ggml.add_eos_token", m.add_eos);
  w.set_bool("tokenizer.ggml.add_space_prefix", m.add_space_prefix);
}

void write_tokenizer_metadata(const Tokenizer& tok, const ChatTemplate& tmpl,
                              tensor::GgufWriter& w) {
  write_tokenizer_metadata(tok, w);
  w.set_string("tokenizer.chat_template", tmpl.source());
}

}  // namespace kt::models
