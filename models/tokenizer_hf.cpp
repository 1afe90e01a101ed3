// Tokenizer from Hugging Face files: tokenizer.json (model BPE with vocab + merges in either
// "a b" or ["a", "b"] form, added_tokens, normalizer, pre_tokenizer, decoder, post_processor)
// and tokenizer_config.json (bos/eos/unk/pad tokens, add_bos_token, add_eos_token).
//
// Not applied: the Unicode normalization forms (NFC, NFKC, ...). Doing them right needs the
// Unicode composition tables; text that is already in NFC (nearly all real text) encodes
// exactly, other text may differ from `tokenizers` by the composed characters.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/tokenizer_impl.h"
#include "tensor/error.h"

namespace kt::models {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kMaxVocab = int64_t(1) << 24;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(file + ": " + what);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json(const std::string& path) {
  std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    fail(path, std::string("not valid JSON (") + e.what() + ")");
  }
}

// Typed accessors that name the file and the field at fault.
struct Reader {
  const std::string& file;

  const json* find(const json& obj, const char* key) const {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  std::string str(const json& obj, const char* key, const std::string& where,
                  const std::string& def = "") const {
    const json* v = find(obj, key);
    if (!v) return def;
    if (!v->is_string()) fail(file, where + "." + key + " is not a string");
    return v->get<std::string>();
  }
  bool boolean(const json& obj, const char* key, const std::string& where, bool def) const {
    const json* v = find(obj, key);
    if (!v) return def;
    if (!v->is_boolean()) fail(file, where + "." + key + " is not true/false");
    return v->get<bool>();
  }
  int64_t integer(const json& obj, const char* key, const std::string& where) const {
    const json* v = find(obj, key);
    if (!v || !v->is_number_integer()) fail(file, where + "." + key + " is not an integer");
    return v->get<int64_t>();
  }
};

// A special token in tokenizer_config.json: "text", {"content": "text"} or null.
std::string config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return "";
}

SplitBehavior parse_behavior(const Reader& r, const std::string& s, const std::string& where) {
  if (s == "Isolated" || s.empty()) return SplitBehavior::kIsolated;
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  fail(r.file, where + ".behavior '" + s + "' is not a split behaviour");
}

struct Flags {
  bool byte_level = false;
};

void parse_pre_tokenizer(const Reader& r, const json& pt, const std::string& where,
                         Tokenizer::Impl& m, Flags& flags) {
  std::string type = r.str(pt, "type", where);
  if (type == "Sequence") {
    const json* list = r.find(pt, "pretokenizers");
    if (!list || !list->is_array()) fail(r.file, where + ".pretokenizers is not an array");
    for (size_t i = 0; i < list->size(); ++i) {
      parse_pre_tokenizer(r, (*list)[i], where + ".pretokenizers[" + std::to_string(i) + "]", m,
                          flags);
    }
  } else if (type == "Split") {
    const json* pat = r.find(pt, "pattern");
    if (!pat || !pat->is_object()) fail(r.file, where + ".pattern is not an object");
    SplitBehavior b = parse_behavior(r, r.str(pt, "behavior", where), where);
    bool invert = r.boolean(pt, "invert", where, false);
    if (const json* re = r.find(*pat, "Regex")) {
      if (!re->is_string()) fail(r.file, where + ".pattern.Regex is not a string");
      m.pre.add_regex(re->get<std::string>(), b, invert, r.file + " (" + where + ")");
    } else if (const json* lit = r.find(*pat, "String")) {
      if (!lit->is_string()) fail(r.file, where + ".pattern.String is not a string");
      m.pre.add_literal(lit->get<std::string>(), b, invert);
    } else {
      fail(r.file, where + ".pattern has neither Regex nor String");
    }
  } else if (type == "ByteLevel") {
    flags.byte_level = true;
    m.prefix_space_byte_level = r.boolean(pt, "add_prefix_space", where, false);
    if (r.boolean(pt, "use_regex", where, true)) m.pre.add_regex(kGpt2Pattern);
  } else if (type == "Digits") {
    bool single = r.boolean(pt, "individual_digits", where, false);
    m.pre.add_regex(single ? R"(\p{N})" : R"(\p{N}+)");
  } else if (type == "Whitespace") {
    m.pre.add_regex(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
  } else if (type == "WhitespaceSplit") {
    m.pre.add_regex(R"(\S+)", SplitBehavior::kRemoved, true);
  } else if (type == "Punctuation") {
    m.pre.add_regex(R"(\p{P})", parse_behavior(r, r.str(pt, "behavior", where), where));
  } else if (type == "Metaspace") {
    std::string rep = r.str(pt, "replacement", where, "\xE2\x96\x81");
    if (rep != "\xE2\x96\x81")
      fail(r.file, where + ".replacement other than U+2581 is not supported");
    m.escape_spaces = true;
    std::string scheme = r.str(pt, "prepend_scheme", where, "");
    bool prepend =
        scheme.empty() ? r.boolean(pt, "add_prefix_space", where, true) : scheme != "never";
    if (prepend) {
      m.normalizer.push_back({NormalizerOp::kPrepend, " ", ""});
      m.add_space_prefix = true;
    }
    if (r.boolean(pt, "split", where, true)) {
      m.pre.add_literal("\xE2\x96\x81", SplitBehavior::kMergedWithNext);
    }
  } else {
    fail(r.file, where + ".type '" + type + "' is not a supported pre-tokenizer");
  }
}

void parse_normalizer(const Reader& r, const json& n, const std::string& where,
                      Tokenizer::Impl& m) {
  std::string type = r.str(n, "type", where);
  if (type == "Sequence") {
    const json* list = r.find(n, "normalizers");
    if (!list || !list->is_array()) fail(r.file, where + ".normalizers is not an array");
    for (size_t i = 0; i < list->size(); ++i) {
      parse_normalizer(r, (*list)[i], where + ".normalizers[" + std::to_string(i) + "]", m);
    }
  } else if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    // See the file comment: not applied.
  } else if (type == "Prepend") {
    std::string p = r.str(n, "prepend", where);
    m.normalizer.push_back({NormalizerOp::kPrepend, p, ""});
    if (p == "\xE2\x96\x81") m.add_space_prefix = true;
  } else if (type == "Replace") {
    const json* pat = r.find(n, "pattern");
    const json* lit = pat ? r.find(*pat, "String") : nullptr;
    if (!lit || !lit->is_string())
      fail(r.file, where + ".pattern: only String patterns are supported");
    m.normalizer.push_back(
        {NormalizerOp::kReplace, lit->get<std::string>(), r.str(n, "content", where)});
  } else if (type == "Lowercase") {
    m.normalizer.push_back({NormalizerOp::kLowercase, "", ""});
  } else if (type == "Strip") {
    if (r.boolean(n, "strip_left", where, true))
      m.normalizer.push_back({NormalizerOp::kStripLeft, "", ""});
    if (r.boolean(n, "strip_right", where, true))
      m.normalizer.push_back({NormalizerOp::kStripRight, "", ""});
  } else {
    fail(r.file, where + ".type '" + type + "' is not a supported normalizer");
  }
}

bool has_byte_level(const Reader& r, const json& node, const char* list_key) {
  if (!node.is_object()) return false;
  if (r.str(node, "type", "decoder") == "ByteLevel") return true;
  const json* list = r.find(node, list_key);
  if (list && list->is_array()) {
    for (const json& d : *list) {
      if (has_byte_level(r, d, list_key)) return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> load_hf_tokenizer(const std::string& path,
                                                   const std::string& config_path) {
  std::string json_path = path;
  std::string cfg_path = config_path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    json_path = (fs::path(path) / "tokenizer.json").string();
    if (cfg_path.empty()) cfg_path = (fs::path(path) / "tokenizer_config.json").string();
  } else if (cfg_path.empty()) {
    cfg_path = (fs::path(path).parent_path() / "tokenizer_config.json").string();
  }
  if (!config_path.empty() && !fs::exists(config_path, ec)) fail(config_path, "cannot open file");

  auto m = std::make_shared<Tokenizer::Impl>();
  m->source = json_path;
  m->pre_name = "tokenizer.json";
  const json j = parse_json(json_path);
  const Reader r{json_path};
  if (!j.is_object()) fail(json_path, "not a tokenizer.json (top level is not an object)");

  const json* model = r.find(j, "model");
  if (!model || !model->is_object()) fail(json_path, "model is missing");
  std::string type = r.str(*model, "type", "model", "BPE");
  if (type != "BPE") fail(json_path, "model.type '" + type + "' is not supported (only BPE)");
  const json* vocab = r.find(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail(json_path, "model.vocab is missing or not an object");
  m->byte_fallback = r.boolean(*model, "byte_fallback", "model", false);
  m->ignore_merges = r.boolean(*model, "ignore_merges", "model", false);
  m->fuse_unk = r.boolean(*model, "fuse_unk", "model", false);

  // Ids: the model vocabulary and the added tokens, which may extend or overlap it.
  int64_t max_id = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() >= kMaxVocab) {
      fail(json_path, "model.vocab[\"" + it.key() + "\"] is not a valid token id");
    }
    max_id = std::max(max_id, it->get<int64_t>());
  }
  const json* added = r.find(j, "added_tokens");
  if (added && !added->is_array()) fail(json_path, "added_tokens is not an array");
  if (added) {
    for (size_t i = 0; i < added->size(); ++i) {
      int64_t id = r.integer((*added)[i], "id", "added_tokens[" + std::to_string(i) + "]");
      if (id < 0 || id >= kMaxVocab)
        fail(json_path, "added_tokens[" + std::to_string(i) + "].id is out of range");
      max_id = std::max(max_id, id);
    }
  }
  if (max_id < 0) fail(json_path, "model.vocab is empty");
  m->tokens.resize(size_t(max_id + 1));
  for (TokenEntry& t : m->tokens) t.type = TokenType::kUndefined;  // holes stay undefined
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    TokenEntry& t = m->tokens[size_t(it->get<int64_t>())];
    t.text = it.key();
    t.type = TokenType::kNormal;
    if (m->byte_fallback && t.text.size() == 6 && t.text.rfind("<0x", 0) == 0 && t.text[5] == '>') {
      t.type = TokenType::kByte;
    }
  }
  if (added) {
    for (size_t i = 0; i < added->size(); ++i) {
      const json& a = (*added)[i];
      std::string where = "added_tokens[" + std::to_string(i) + "]";
      TokenEntry& t = m->tokens[size_t(r.integer(a, "id", where))];
      t.text = r.str(a, "content", where);
      if (t.text.empty()) fail(json_path, where + ".content is empty");
      t.type =
          r.boolean(a, "special", where, false) ? TokenType::kControl : TokenType::kUserDefined;
      t.lstrip = r.boolean(a, "lstrip", where, false);
      t.rstrip = r.boolean(a, "rstrip", where, false);
      t.single_word = r.boolean(a, "single_word", where, false);
    }
  }

  Flags flags;
  if (const json* n = r.find(j, "normalizer")) parse_normalizer(r, *n, "normalizer", *m);
  if (const json* pt = r.find(j, "pre_tokenizer"))
    parse_pre_tokenizer(r, *pt, "pre_tokenizer", *m, flags);
  if (const json* d = r.find(j, "decoder"))
    flags.byte_level = flags.byte_level || has_byte_level(r, *d, "decoders");
  m->kind = flags.byte_level ? TokenizerKind::kByteLevelBpe : TokenizerKind::kCharBpe;
  if (m->kind == TokenizerKind::kCharBpe) {
    // Replace(" ", "▁") in the normalizer already does the escaping; Metaspace asks for it.
    for (const NormalizerOp& op : m->normalizer) {
      if (op.kind == NormalizerOp::kReplace && op.b == "\xE2\x96\x81") m->escape_spaces = false;
    }
  }

  m->finish();

  // Merges, by rank.
  const json* merges = r.find(*model, "merges");
  if (merges && !merges->is_array()) fail(json_path, "model.merges is not an array");
  if (merges) {
    m->merges.reserve(merges->size());
    std::string a, b;
    for (size_t rank = 0; rank < merges->size(); ++rank) {
      const json& mg = (*merges)[rank];
      if (mg.is_string()) {
        const std::string& s = mg.get_ref<const std::string&>();
        size_t sp = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
        if (sp == std::string::npos)
          fail(json_path, "model.merges[" + std::to_string(rank) + "] has no space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
        a = mg[0].get<std::string>();
        b = mg[1].get<std::string>();
      } else {
        fail(json_path,
             "model.merges[" + std::to_string(rank) + "] is neither \"a b\" nor [\"a\", \"b\"]");
      }
      auto l = m->text_to_id.find(a);
      auto rr = m->text_to_id.find(b);
      auto res = m->text_to_id.find(a + b);
      // HF refuses such a file; a merge that names an unknown token can never apply anyway.
      if (l == m->text_to_id.end() || rr == m->text_to_id.end() || res == m->text_to_id.end()) {
        continue;
      }
      m->merges.insert(l->second, rr->second, {int32_t(rank), res->second});
    }
  }

  // Special ids and BOS/EOS policy.
  auto id_of = [&](const std::string& text) -> int32_t {
    if (text.empty()) return -1;
    auto it = m->text_to_id.find(text);
    return it == m->text_to_id.end() ? -1 : it->second;
  };
  m->unk = id_of(r.str(*model, "unk_token", "model"));
  bool bos_known = false;
  json cfg;
  if (!cfg_path.empty() && fs::exists(cfg_path, ec)) {
    cfg = parse_json(cfg_path);
    if (!cfg.is_object())
      fail(cfg_path, "not a tokenizer_config.json (top level is not an object)");
    m->bos = id_of(config_token(cfg, "bos_token"));
    m->eos = id_of(config_token(cfg, "eos_token"));
    m->pad = id_of(config_token(cfg, "pad_token"));
    if (int32_t u = id_of(config_token(cfg, "unk_token")); u >= 0) m->unk = u;
    const Reader cr{cfg_path};
    if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) {
      m->add_bos = cfg["add_bos_token"].get<bool>();
      bos_known = true;
    }
    m->add_eos = cr.boolean(cfg, "add_eos_token", "", false);
  }
  if (!bos_known) {
    // The post-processor's template says whether a BOS goes first ("TemplateProcessing" with a
    // leading SpecialToken); without one, a tokenizer that names a BOS token uses it.
    const json* pp = r.find(j, "post_processor");
    const json* single = pp ? r.find(*pp, "single") : nullptr;
    if (single && single->is_array() && !single->empty() && (*single)[0].contains("SpecialToken")) {
      const json& st = (*single)[0]["SpecialToken"];
      std::string name = st.value("id", "");
      int32_t id = id_of(name);
      if (id >= 0) {
        m->bos = id;
        m->add_bos = true;
      }
    } else {
      m->add_bos = m->bos >= 0;
    }
  }
  if (m->add_bos && m->bos < 0) m->add_bos = false;
  if (m->add_eos && m->eos < 0) m->add_eos = false;
  m->finish();  // again: EOG and EOT depend on the ids read above
  return m;
}

}  // namespace kt::models
