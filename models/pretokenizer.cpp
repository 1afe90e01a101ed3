#include "models/pretokenizer.h"

#include <oniguruma.h>

#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "tensor/error.h"

namespace kt::models {
namespace {

// Patterns as Hugging Face tokenizer.json files carry them. llama.cpp rewrites `(?i:'s|...)`
// into `'[sS]|...` for its own regex engine; Oniguruma takes the original, so the splits are
// the ones `tokenizers` (which generated the test vectors) makes.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt2NoTail =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

// DeepSeek-LLM (V1/V2) spells out the cased letters (Lu, Ll, Lt) of its Unicode version; the
// class is written with code point escapes so that no editor or normalizer can change it.
constexpr std::string_view kDeepseekLlmLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
    R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
    R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";
constexpr std::string_view kDeepseekLlmPunct =
    R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
constexpr std::string_view kDeepseekCjk =
    R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
constexpr std::string_view kDeepseekV3Cjk =
    R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
constexpr std::string_view kDeepseekV3Main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+)"
    R"(| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kGpt4oPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Preset {
  std::initializer_list<std::string_view> names;
  std::initializer_list<std::string_view> patterns;
};

// tokenizer.ggml.pre values (llama.cpp src/llama-vocab.cpp) and their split sequences.
const Preset kPresets[] = {
    {{"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "jina-v1-en", "jina-v2-es",
      "jina-v2-de", "jina-v2-code", "roberta-bpe", "gigachat", "exaone4", "trillion", "mellum",
      "modern-bert", "granite-docling"},
     {kGpt2Pattern}},
    {{"llama-bpe", "llama3", "llama-v3", "dbrx", "smaug-bpe", "falcon3", "pixtral", "chatglm-bpe",
      "glm4", "midm-2.0", "lfm2"},
     {kLlama3Pattern}},
    {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "grok-2", "kormo"},
     {kQwen2Pattern}},
    {{"deepseek-llm"},
     {"[\r\n]", kDeepseekLlmLetters, kDeepseekLlmPunct, R"(\s+$)", kDeepseekCjk, R"(\p{N}+)"}},
    {{"deepseek-coder"}, {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, R"(\p{N})"}},
    {{"deepseek-v3", "hunyuan-dense", "joyai-llm"},
     {R"(\p{N}{1,3})", kDeepseekV3Cjk, kDeepseekV3Main}},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {R"(\p{N})", kGpt2Pattern}},
    {{"falcon"}, {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2NoTail, "[0-9][0-9][0-9]"}},
    {{"gpt-4o", "llama4", "minimax-m2", "kanana2"}, {kGpt4oPattern}},
    {{"default"}, {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2NoTail, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
};

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : kPresets) {
    for (std::string_view n : p.names) {
      if (n == name) return &p;
    }
  }
  return nullptr;
}

void init_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
  });
}

// One region per thread, reused across searches: onig_search itself is re-entrant for a shared
// compiled pattern as long as each caller has its own region.
struct RegionHolder {
  OnigRegion* region = onig_region_new();
  ~RegionHolder() { onig_region_free(region, 1); }
};

OnigRegion* thread_region() {
  thread_local RegionHolder holder;
  return holder.region;
}

}  // namespace

struct PreTokenizer::Step {
  std::string pattern;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  regex_t* re = nullptr;
  ~Step() {
    if (re) onig_free(re);
  }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

bool PreTokenizer::known_name(std::string_view name) {
  return find_preset(name) != nullptr;
}

PreTokenizer PreTokenizer::from_name(std::string_view name, std::string_view source) {
  const Preset* p = find_preset(name);
  if (!p) {
    throw Error(std::string(source) + ": unknown pre-tokenizer '" + std::string(name) +
                "' (tokenizer.ggml.pre); known: gpt-2, llama-bpe, qwen2, deepseek-llm, "
                "deepseek-v3, deepseek-coder, starcoder, falcon, gpt-4o, default and aliases");
  }
  PreTokenizer pt;
  for (std::string_view pattern : p->patterns) {
    pt.add_regex(pattern, SplitBehavior::kIsolated, false, source);
  }
  return pt;
}

const std::string& PreTokenizer::pattern(size_t i) const {
  return steps_.at(i)->pattern;
}

void PreTokenizer::add_regex(std::string_view pattern, SplitBehavior behavior, bool invert,
                             std::string_view source) {
  init_oniguruma();
  auto step = std::make_unique<Step>();
  step->pattern = std::string(pattern);
  step->behavior = behavior;
  step->invert = invert;
  OnigErrorInfo einfo;
  const auto* p = reinterpret_cast<const OnigUChar*>(step->pattern.data());
  int r = onig_new(&step->re, p, p + step->pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                   ONIG_SYNTAX_DEFAULT, &einfo);
  if (r != ONIG_NORMAL) {
    step->re = nullptr;
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &einfo);
    std::string where = source.empty() ? std::string("pre-tokenizer") : std::string(source);
    throw Error(where + ": split pattern does not compile (" +
                std::string(reinterpret_cast<char*>(msg)) + "): " + step->pattern);
  }
  steps_.push_back(std::move(step));
}

void PreTokenizer::add_literal(std::string_view literal, SplitBehavior behavior, bool invert) {
  add_regex(regex_escape(literal), behavior, invert);
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    if (std::strchr("\\^$.|?*+()[]{}-/", c) && c != '\0') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

namespace {

// One piece with whether it came from a regex match (the delimiter) or from the text between.
struct Span {
  size_t begin, end;
  bool match;
};

// All matches of `re` in `s`, as alternating gap/match spans covering s (empty gaps left out).
// An empty match advances by one character, as the `onig` crate's find_iter does.
void find_spans(regex_t* re, std::string_view s, std::vector<Span>& spans) {
  OnigRegion* region = thread_region();
  const auto* str = reinterpret_cast<const OnigUChar*>(s.data());
  const auto* end = str + s.size();
  size_t pos = 0, prev = 0;
  while (pos <= s.size()) {
    int r = onig_search(re, str, end, str + pos, end, region, ONIG_OPTION_NONE);
    if (r < 0) break;  // ONIG_MISMATCH (or a match-time error, which we treat as no match)
    size_t mb = size_t(region->beg[0]), me = size_t(region->end[0]);
    if (mb != prev) spans.push_back({prev, mb, false});
    if (me > mb) spans.push_back({mb, me, true});
    prev = me;
    if (me > mb) {
      pos = me;
    } else {
      if (me >= s.size()) break;
      size_t step = 1;
      while (me + step < s.size() && (uint8_t(s[me + step]) & 0xC0) == 0x80) ++step;
      pos = me + step;
    }
  }
  if (prev < s.size()) spans.push_back({prev, s.size(), false});
}

}  // namespace

namespace {

// Applies one step's behaviour to the spans of `piece`, appending the resulting pieces.
void apply_behavior(SplitBehavior behavior, std::string_view piece, const std::vector<Span>& spans,
                    std::vector<std::string_view>& next) {
  auto view = [&](size_t b, size_t e) { return piece.substr(b, e - b); };
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Span& s : spans) next.push_back(view(s.begin, s.end));
      break;
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.match) next.push_back(view(s.begin, s.end));
      }
      break;
    case SplitBehavior::kMergedWithPrevious: {
      // A match joins the piece before it; a match after a match stands alone.
      size_t start = 0;
      bool open = false;
      for (const Span& s : spans) {
        if (s.match) {
          next.push_back(view(start, s.end));
          open = false;
          start = s.end;
        } else {
          if (open) next.push_back(view(start, s.begin));
          start = s.begin;
          open = true;
        }
      }
      if (open) next.push_back(view(start, piece.size()));
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // A match starts the next piece; a match before a match (or at the end) stands alone.
      size_t start = 0;
      bool open = false;
      for (const Span& s : spans) {
        if (s.match) {
          if (open) next.push_back(view(start, s.begin));
          start = s.begin;
          open = true;
        } else {
          if (!open) start = s.begin;
          next.push_back(view(start, s.end));
          open = false;
        }
      }
      if (open) next.push_back(view(start, piece.size()));
      break;
    }
    case SplitBehavior::kContiguous: {
      size_t i = 0;
      while (i < spans.size()) {
        size_t j = i + 1;
        if (spans[i].match) {
          while (j < spans.size() && spans[j].match) ++j;
        }
        next.push_back(view(spans[i].begin, spans[j - 1].end));
        i = j;
      }
      break;
    }
  }
}

// Short pieces repeat a lot (words, runs of spaces), and later steps cut the same piece the
// same way every time: one split() call remembers, per step, how each short piece ended up.
constexpr size_t kMaxMemoPiece = 64;

}  // namespace

struct PreTokenizer::Memo {
  struct Level {
    std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> seen;  // -> spans range
    std::vector<Span> spans;
    std::vector<std::string_view> pieces;
  };
  std::vector<Level> levels;
  std::vector<std::pair<uint32_t, uint32_t>> cuts;  // (offset, length) within the piece
};

void PreTokenizer::split_from(size_t k, std::string_view piece, std::vector<std::string_view>& out,
                              Memo& memo) const {
  if (k == steps_.size()) {
    out.push_back(piece);
    return;
  }
  Memo::Level& level = memo.levels[k];
  const bool use_memo = k > 0 && piece.size() <= kMaxMemoPiece;
  if (use_memo) {
    auto it = level.seen.find(piece);
    if (it != level.seen.end()) {
      for (uint32_t i = 0; i < it->second.second; ++i) {
        auto [off, len] = memo.cuts[it->second.first + i];
        out.push_back(piece.substr(off, len));
      }
      return;
    }
  }
  const size_t first = out.size();
  const Step& step = *steps_[k];
  level.spans.clear();
  find_spans(step.re, piece, level.spans);
  if (step.invert) {
    for (Span& s : level.spans) s.match = !s.match;
  }
  // The pieces of this level are copied out before recursing, which reuses the level's
  // buffers only for deeper levels.
  const size_t base = level.pieces.size();
  apply_behavior(step.behavior, piece, level.spans, level.pieces);
  const size_t count = level.pieces.size() - base;
  for (size_t i = 0; i < count; ++i) split_from(k + 1, level.pieces[base + i], out, memo);
  level.pieces.resize(base);
  if (use_memo) {
    uint32_t at = uint32_t(memo.cuts.size());
    for (size_t i = first; i < out.size(); ++i) {
      memo.cuts.emplace_back(uint32_t(out[i].data() - piece.data()), uint32_t(out[i].size()));
    }
    level.seen.emplace(piece, std::make_pair(at, uint32_t(out.size() - first)));
  }
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    out.push_back(text);
    return;
  }
  Memo memo;
  memo.levels.resize(steps_.size());
  split_from(0, text, out, memo);
}

}  // namespace kt::models
