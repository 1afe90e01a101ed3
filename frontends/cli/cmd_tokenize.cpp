// `kt tokenize -m FILE.gguf|DIR|tokenizer.json [--no-bos] [--no-special] [--ids-only]
//  [--decode "1 2 3"] TEXT`: the ids of TEXT with their pieces, or the text of ids.
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "frontends/cli/commands.h"
#include "models/tokenizer.h"
#include "models/utf8.h"
#include "tensor/error.h"

namespace kt::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string decode;
  bool no_bos = false;
  bool no_special = false;
  bool ids_only = false;
};

// A piece on one line: quotes, C escapes for control bytes and \xNN for bytes that are not
// (yet) valid UTF-8, such as half of a character split across byte tokens.
std::string escape_piece(std::string_view s) {
  std::string out = "'";
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    uint32_t cp;
    size_t len = models::utf8::decode(s, i, &cp);
    if (len == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", unsigned(uint8_t(c)));
      out += buf;
      ++i;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\'') {
      out += "\\'";
    } else if (len == 1 && (uint8_t(c) < 0x20 || c == 0x7F)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", unsigned(uint8_t(c)));
      out += buf;
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out + "'";
}

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::string tok;
  std::string norm = s;
  for (char& c : norm) {
    if (c == ',' || c == '[' || c == ']') c = ' ';
  }
  std::istringstream in(norm);
  while (in >> tok) {
    char* end = nullptr;
    long long v = std::strtoll(tok.c_str(), &end, 10);
    if (*end != '\0' || v < INT32_MIN || v > INT32_MAX) {
      throw Error("--decode: '" + tok + "' is not a token id");
    }
    ids.push_back(int32_t(v));
  }
  return ids;
}

void run_tokenize(const TokenizeOptions& o) {
  models::Tokenizer tok = models::Tokenizer::from_path(o.model);
  if (!o.decode.empty()) {
    std::vector<int32_t> ids = parse_ids(o.decode);
    std::string text = tok.decode(ids);
    if (!o.ids_only) {
      for (int32_t id : ids) {
        std::printf("%8" PRId32 "  %s\n", id, escape_piece(tok.token_to_piece(id)).c_str());
      }
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
    return;
  }
  std::string text = o.text;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::vector<int32_t> ids = tok.encode(text, !o.no_bos, !o.no_special);
  if (o.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %" PRId32 : "%" PRId32, ids[i]);
    std::printf("\n");
    return;
  }
  for (int32_t id : ids) {
    const char* mark = tok.is_control(id) ? "  [control]" : tok.is_special(id) ? "  [added]" : "";
    std::printf("%8" PRId32 "  %s%s\n", id, escape_piece(tok.token_to_piece(id)).c_str(), mark);
  }
  std::printf("%zu tokens, %zu bytes (%s)\n", ids.size(), text.size(), tok.source().c_str());
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Show the token ids and pieces of a text, or decode ids (--decode)");
  cmd->add_option("-m,--model", opts->model, "GGUF file, Hugging Face folder or tokenizer.json")
      ->required();
  cmd->add_option("text", opts->text, "Text to encode ('-' reads standard input)");
  cmd->add_option("--decode", opts->decode, "Decode these ids instead (\"1 2 3\" or \"1,2,3\")");
  cmd->add_flag("--no-bos", opts->no_bos, "Do not add BOS/EOS even where the model asks for it");
  cmd->add_flag("--no-special", opts->no_special,
                "Treat special-token text (<|im_start|>) as plain text");
  cmd->add_flag("--ids-only", opts->ids_only, "Print only the ids (or only the decoded text)");
  cmd->callback([opts] { run_tokenize(*opts); });
}

}  // namespace kt::cli
