#include "models/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "models/tokenizer_impl.h"
#include "models/utf8.h"
#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::models {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word_byte(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (uint8_t(c) >= 0x80);
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// Texts that end a turn in the chat formats we know; such tokens count as end-of-generation
// and the first one found serves as EOT when the file names none (as llama.cpp does).
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<|eom_id|>",
};

}  // namespace

// --- Impl -----------------------------------------------------------------------------------

void Tokenizer::Impl::check_id(int32_t id) const {
  if (id < 0 || size_t(id) >= tokens.size()) {
    throw Error(source + ": token id " + std::to_string(id) + " is outside the vocabulary (" +
                std::to_string(tokens.size()) + " tokens)");
  }
}

void Tokenizer::Impl::finish() {
  const bool byte_level = kind == TokenizerKind::kByteLevelBpe;
  text_to_id.clear();
  text_to_id.reserve(tokens.size());
  if (model_vocab.empty()) model_vocab.reserve(tokens.size());
  const bool fill_model_vocab = model_vocab.empty();
  for (size_t i = 0; i < tokens.size(); ++i) {
    TokenEntry& t = tokens[i];
    if (t.text.empty()) continue;  // a hole in the id range
    text_to_id.emplace(t.text, int32_t(i));
    switch (t.type) {
      case TokenType::kControl:
      case TokenType::kUnknown:
      case TokenType::kUserDefined:
        t.piece = t.text;
        break;
      case TokenType::kByte: {
        unsigned v = 0;
        if (t.text.size() == 6 && std::sscanf(t.text.c_str(), "<0x%2X>", &v) == 1) {
          t.piece = std::string(1, char(v));
        } else {
          t.piece = t.text;
        }
        break;
      }
      default: {
        bool ok = true;
        if (byte_level) {
          ok = utf8::byte_level_decode(t.text, &t.piece);
          if (!ok) t.piece = t.text;  // not in the byte alphabet: never produced by merges
        } else {
          t.piece = replace_all(t.text, kSpace, " ");
        }
        if (fill_model_vocab && ok) {
          model_vocab.emplace(byte_level ? t.piece : t.text, int32_t(i));
        }
      }
    }
  }
  // A byte-level "Ġ" is a raw space, a single-byte unit; SentencePiece's bytes are <0xXX>.
  for (int b = 0; b < 256; ++b) {
    byte_ids[b] = -1;
    if (byte_level) {
      auto it = model_vocab.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
      if (it != model_vocab.end()) byte_ids[b] = it->second;
    } else {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      auto it = text_to_id.find(std::string_view(name));
      if (it != text_to_id.end()) byte_ids[b] = it->second;
    }
  }
  spm_split_words = kind == TokenizerKind::kSpm && spm_words_are_independent(*this);
  for (auto& v : specials_by_byte) v.clear();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenEntry& t = tokens[i];
    if (t.text.empty()) continue;
    if (t.type == TokenType::kControl || t.type == TokenType::kUnknown ||
        t.type == TokenType::kUserDefined) {
      specials_by_byte[uint8_t(t.text[0])].push_back(int32_t(i));
    }
  }
  for (auto& v : specials_by_byte) {
    std::stable_sort(v.begin(), v.end(), [&](int32_t a, int32_t b) {
      return tokens[a].text.size() > tokens[b].text.size();
    });
  }
  // End of generation.
  eog.clear();
  auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(eog.begin(), eog.end(), id) == eog.end()) eog.push_back(id);
  };
  for (std::string_view name : kEogTexts) {
    auto it = text_to_id.find(name);
    if (it == text_to_id.end()) continue;
    TokenType ty = tokens[it->second].type;
    if (ty != TokenType::kControl && ty != TokenType::kUserDefined) continue;
    if (eot < 0 && name != "<|eom_id|>") eot = it->second;
    if (eom < 0 && name == "<|eom_id|>") eom = it->second;
    add_eog(it->second);
  }
  add_eog(eos);
  add_eog(eot);
  add_eog(eom);
}

// --- Tokenizer ------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_gguf(const tensor::GgufFile& file) {
  return Tokenizer(load_gguf_tokenizer(file));
}

Tokenizer Tokenizer::from_hf(const std::string& path, const std::string& config_path) {
  return Tokenizer(load_hf_tokenizer(path, config_path));
}

Tokenizer Tokenizer::from_path(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    return from_gguf(tensor::GgufFile::open(path));
  }
  return from_hf(path);
}

size_t Tokenizer::vocab_size() const {
  return impl_->tokens.size();
}
TokenizerKind Tokenizer::kind() const {
  return impl_->kind;
}
const std::string& Tokenizer::pre_name() const {
  return impl_->pre_name;
}
const std::string& Tokenizer::source() const {
  return impl_->source;
}
int32_t Tokenizer::bos_id() const {
  return impl_->bos;
}
int32_t Tokenizer::eos_id() const {
  return impl_->eos;
}
int32_t Tokenizer::eot_id() const {
  return impl_->eot;
}
int32_t Tokenizer::eom_id() const {
  return impl_->eom;
}
int32_t Tokenizer::unk_id() const {
  return impl_->unk;
}
int32_t Tokenizer::pad_id() const {
  return impl_->pad;
}
bool Tokenizer::add_bos() const {
  return impl_->add_bos;
}
bool Tokenizer::add_eos() const {
  return impl_->add_eos;
}
bool Tokenizer::add_space_prefix() const {
  return impl_->add_space_prefix;
}

TokenType Tokenizer::token_type(int32_t id) const {
  impl_->check_id(id);
  return impl_->tokens[id].type;
}

bool Tokenizer::is_control(int32_t id) const {
  TokenType t = token_type(id);
  return t == TokenType::kControl || t == TokenType::kUnknown;
}

bool Tokenizer::is_special(int32_t id) const {
  TokenType t = token_type(id);
  return t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined;
}

bool Tokenizer::is_eog(int32_t id) const {
  return std::find(impl_->eog.begin(), impl_->eog.end(), id) != impl_->eog.end();
}

const std::string& Tokenizer::token_text(int32_t id) const {
  impl_->check_id(id);
  return impl_->tokens[id].text;
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  auto it = impl_->text_to_id.find(text);
  if (it == impl_->text_to_id.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  impl_->check_id(id);
  if (!render_special && is_control(id)) return {};
  return impl_->tokens[id].piece;
}

std::vector<int32_t> Tokenizer::encode_chat_prompt(std::string_view rendered) const {
  std::vector<int32_t> ids = encode(rendered, /*add_special=*/false, /*parse_special=*/true);
  if (add_bos() && bos_id() >= 0 && (ids.empty() || ids.front() != bos_id()))
    ids.insert(ids.begin(), bos_id());
  return ids;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
  const Impl& m = *impl_;
  std::string clean;
  if (!utf8::is_valid(text)) {
    clean = utf8::sanitize(text);
    text = clean;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special && m.add_bos && m.bos >= 0) out.push_back(m.bos);

  std::unique_ptr<BpeWordEncoder> bpe;
  if (m.kind != TokenizerKind::kSpm) bpe = std::make_unique<BpeWordEncoder>(m);
  std::vector<std::string_view> words;
  std::string buf;
  bool prev_special = true;

  auto encode_text = [&](std::string_view frag) {
    if (frag.empty()) return;
    if (m.kind == TokenizerKind::kSpm) {
      buf.clear();
      if (m.add_space_prefix && prev_special) buf.push_back(' ');
      buf.append(frag);
      spm_encode(m, replace_all(buf, " ", kSpace), out);
      prev_special = false;
      return;
    }
    std::string_view src = frag;
    if (!m.normalizer.empty() || m.prefix_space_byte_level || m.escape_spaces) {
      buf.assign(frag);
      for (const NormalizerOp& op : m.normalizer) {
        switch (op.kind) {
          case NormalizerOp::kPrepend:
            if (!buf.empty()) buf = op.a + buf;  // HF prepends to non-empty text only
            break;
          case NormalizerOp::kReplace:
            buf = replace_all(buf, op.a, op.b);
            break;
          case NormalizerOp::kLowercase:
            for (char& c : buf) {
              if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
            }
            break;
          case NormalizerOp::kStripLeft:
            buf.erase(0, buf.find_first_not_of(" \t\n\r"));
            break;
          case NormalizerOp::kStripRight:
            buf.erase(buf.find_last_not_of(" \t\n\r") + 1);
            break;
        }
      }
      if (m.prefix_space_byte_level && !buf.empty() && buf[0] != ' ') buf = " " + buf;
      if (m.escape_spaces) buf = replace_all(buf, " ", kSpace);
      src = buf;
    }
    words.clear();
    m.pre.split(src, words);
    for (std::string_view w : words) bpe->encode(w, out);
    prev_special = false;
  };

  size_t start = 0, pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    const auto& cands = m.specials_by_byte[uint8_t(text[pos])];
    int32_t hit = -1;
    for (int32_t id : cands) {
      const TokenEntry& t = m.tokens[id];
      if (!parse_special && t.type != TokenType::kUserDefined) continue;
      if (text.compare(pos, t.text.size(), t.text) != 0) continue;
      if (t.single_word && ((pos > 0 && is_word_byte(text[pos - 1])) ||
                            (pos + t.text.size() < n && is_word_byte(text[pos + t.text.size()])))) {
        continue;
      }
      hit = id;
      break;
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    const TokenEntry& t = m.tokens[hit];
    size_t left_end = pos;
    if (t.lstrip) {
      while (left_end > start && is_ascii_space(text[left_end - 1])) --left_end;
    }
    encode_text(text.substr(start, left_end - start));
    out.push_back(hit);
    prev_special = true;
    pos += t.text.size();
    if (t.rstrip) {
      while (pos < n && is_ascii_space(text[pos])) ++pos;
    }
    start = pos;
  }
  encode_text(text.substr(start));

  if (add_special && m.add_eos && m.eos >= 0) out.push_back(m.eos);
  return out;
}

namespace {

// Appends the text of one token for decoding. With a space prefix (SPM), encode put a space
// before the text at the start and after every special token; it is taken off here again, so
// decode(encode(t)) == t.
void append_piece(const Tokenizer::Impl& m, int32_t id, bool render_special, bool& at_start,
                  std::string& out) {
  const TokenEntry& t = m.tokens[id];
  bool special = t.type == TokenType::kControl || t.type == TokenType::kUnknown ||
                 t.type == TokenType::kUserDefined;
  if (special) {
    if (render_special || t.type == TokenType::kUserDefined) out.append(t.piece);
    at_start = true;
    return;
  }
  std::string_view piece = t.piece;
  if (m.add_space_prefix && at_start && t.type == TokenType::kNormal && !piece.empty() &&
      piece[0] == ' ') {
    piece.remove_prefix(1);
  }
  at_start = false;
  out.append(piece);
}

}  // namespace

std::string Tokenizer::decode(std::span<const int32_t> ids, bool render_special) const {
  const Impl& m = *impl_;
  std::string out;
  bool at_start = true;
  for (int32_t id : ids) {
    m.check_id(id);
    append_piece(m, id, render_special, at_start, out);
  }
  return out;
}

// --- StreamDecoder --------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool render_special)
    : tok_(&tok), render_special_(render_special) {}

std::string StreamDecoder::push(int32_t id) {
  const Tokenizer::Impl& m = tok_->impl();
  m.check_id(id);
  append_piece(m, id, render_special_, at_start_, pending_);
  size_t keep = utf8::complete_prefix_length(pending_);
  std::string_view ready(pending_.data(), keep);
  std::string text = utf8::is_valid(ready) ? std::string(ready) : utf8::sanitize(ready);
  pending_.erase(0, keep);
  return text;
}

std::string StreamDecoder::flush() {
  std::string text = utf8::sanitize(pending_);
  pending_.clear();
  return text;
}

void StreamDecoder::reset() {
  pending_.clear();
  at_start_ = true;
}

}  // namespace kt::models
