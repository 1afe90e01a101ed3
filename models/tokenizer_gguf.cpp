// Tokenizer from GGUF metadata (shared/reference/gguf.md section 3.2). Defaults and the
// per-pre-tokenizer switches follow llama.cpp's llama_vocab::impl::load, which is what the
// GGUF files were written for.
#include <algorithm>
#include <cctype>

#include "models/tokenizer_impl.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::models {
namespace {

// Pre-tokenizers whose vocabularies skip the merges for a word that is itself a token (HF
// `ignore_merges`), and those that ask for BOS when the file does not say.
constexpr std::string_view kIgnoreMerges[] = {"llama-bpe", "llama3",   "llama-v3", "falcon3",
                                              "pixtral",   "midm-2.0", "lfm2"};

bool ignores_merges(std::string_view pre) {
  return std::find(std::begin(kIgnoreMerges), std::end(kIgnoreMerges), pre) !=
         std::end(kIgnoreMerges);
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> load_gguf_tokenizer(const tensor::GgufFile& file) {
  auto m = std::make_shared<Tokenizer::Impl>();
  m->source = file.name();
  const std::string& src = m->source;
  if (!file.has("tokenizer.ggml.model")) {
    throw Error(src + ": no tokenizer (key 'tokenizer.ggml.model' is missing)");
  }
  std::string model(file.get_string("tokenizer.ggml.model"));
  if (model == "gpt2") {
    m->kind = TokenizerKind::kByteLevelBpe;
  } else if (model == "llama") {
    m->kind = TokenizerKind::kSpm;
  } else {
    throw Error(src + ": tokenizer.ggml.model '" + model +
                "' is not supported (supported: gpt2 = byte-level BPE, llama = SentencePiece)");
  }

  auto texts = file.get_strings("tokenizer.ggml.tokens");
  const size_t n = texts.size();
  if (n == 0) throw Error(src + ": tokenizer.ggml.tokens is empty");
  m->tokens.resize(n);
  for (size_t i = 0; i < n; ++i) m->tokens[i].text = std::string(texts[i]);

  if (auto v = file.find("tokenizer.ggml.scores")) {
    std::vector<float> scores;
    if (v->is_array() && v->elem_type() == tensor::GgufType::INT32) {
      for (int32_t s : v->as_i32_array()) scores.push_back(float(s));
    } else {
      scores = v->as_f32_array();
    }
    if (scores.size() < n) {
      throw Error(src + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) +
                  " entries for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) m->tokens[i].score = scores[i];
  }
  if (auto v = file.find("tokenizer.ggml.token_type")) {
    std::vector<int32_t> types = v->as_i32_array();
    if (types.size() < n) {
      throw Error(src + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                  " entries for " + std::to_string(n) + " tokens");
    }
    for (size_t i = 0; i < n; ++i) {
      int32_t t = types[i];
      m->tokens[i].type = (t >= 1 && t <= 6) ? TokenType(t) : TokenType::kUndefined;
    }
  }

  std::string pre;
  if (m->kind == TokenizerKind::kByteLevelBpe) {
    pre = std::string(file.get_string("tokenizer.ggml.pre", "default"));
    m->pre = PreTokenizer::from_name(pre, src);
    m->ignore_merges = ignores_merges(pre);
    m->add_bos = m->ignore_merges;  // the Llama 3 family; files normally say so explicitly
    m->bos = 11;
    m->eos = 11;
  } else {
    pre = std::string(file.get_string("tokenizer.ggml.pre", "default"));
    m->add_space_prefix = true;
    m->escape_spaces = true;
    m->add_bos = true;
    m->bos = 1;
    m->eos = 2;
    m->unk = 0;
  }
  m->pre_name = pre;
  m->add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", m->add_space_prefix);
  m->add_bos = file.get_bool("tokenizer.ggml.add_bos_token", m->add_bos);
  m->add_eos = file.get_bool("tokenizer.ggml.add_eos_token", false);

  struct IdKey {
    const char* key;
    int32_t* id;
  };
  const IdKey id_keys[] = {
      {"tokenizer.ggml.bos_token_id", &m->bos},     {"tokenizer.ggml.eos_token_id", &m->eos},
      {"tokenizer.ggml.eot_token_id", &m->eot},     {"tokenizer.ggml.eom_token_id", &m->eom},
      {"tokenizer.ggml.unknown_token_id", &m->unk}, {"tokenizer.ggml.padding_token_id", &m->pad},
  };
  for (const IdKey& k : id_keys) {
    if (*k.id >= int32_t(n)) *k.id = -1;  // a default that does not fit this vocabulary
    if (!file.has(k.key)) continue;
    uint32_t v = file.get_u32(k.key);
    if (v >= n) {
      throw Error(src + ": " + k.key + " = " + std::to_string(v) + " is outside the vocabulary (" +
                  std::to_string(n) + " tokens)");
    }
    *k.id = int32_t(v);
  }
  if (m->add_bos && m->bos < 0) {
    throw Error(src + ": tokenizer.ggml.add_bos_token is true but there is no BOS token");
  }

  // llama.cpp sets these per model because GGUF has no field for them: Phi-3's special tokens
  // swallow the whitespace after them.
  std::string name(file.get_string("general.name", ""));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenEntry& t : m->tokens) {
      if (t.type == TokenType::kControl || t.type == TokenType::kUserDefined ||
          t.type == TokenType::kUnknown || t.text == "</s>") {
        t.rstrip = !(t.text == "<unk>" || t.text == "<s>" || t.text == "<|endoftext|>");
      }
    }
  }

  m->finish();

  if (m->kind == TokenizerKind::kByteLevelBpe) {
    if (!file.has("tokenizer.ggml.merges")) {
      throw Error(src + ": byte-level BPE without merges (key 'tokenizer.ggml.merges' is missing)");
    }
    auto merges = file.get_strings("tokenizer.ggml.merges");
    m->merges.reserve(merges.size());
    std::string joined;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      std::string_view mg = merges[rank];
      // Split at the first space at or after byte 1, so that a left part that is itself a
      // space-like symbol still splits correctly.
      size_t sp = mg.size() > 1 ? mg.find(' ', 1) : std::string_view::npos;
      if (sp == std::string_view::npos) continue;
      auto l = m->text_to_id.find(mg.substr(0, sp));
      auto r = m->text_to_id.find(mg.substr(sp + 1));
      joined.assign(mg.substr(0, sp));
      joined.append(mg.substr(sp + 1));
      auto res = m->text_to_id.find(std::string_view(joined));
      // A merge naming a token that is not in the vocabulary can never apply; skip it as
      // llama.cpp effectively does.
      if (l == m->text_to_id.end() || r == m->text_to_id.end() || res == m->text_to_id.end()) {
        continue;
      }
      m->merges.insert(l->second, r->second, {int32_t(rank), res->second});
    }
  }
  return m;
}

}  // namespace kt::models
