#include "models/jinja_lexer.h"

#include <cerrno>
#include <cstdlib>

#include "models/jinja_value.h"

namespace kt::models::jinja {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

// Decodes the code point at s[p] (one byte when not valid UTF-8) and its length.
char32_t peek_cp(std::string_view s, size_t p, size_t* len) {
  size_t end = std::min(s.size(), p + 4);
  std::u32string cps = utf8_decode(s.substr(p, end - p));
  char32_t c = cps.empty() ? 0 : cps[0];
  std::string enc;
  utf8_append(enc, c);
  *len = enc.size();
  return c;
}

// Python's regex \s (Unicode whitespace) run starting at p.
size_t skip_ws(std::string_view s, size_t p) {
  while (p < s.size()) {
    size_t len;
    if (!py_isspace(peek_cp(s, p, &len))) break;
    p += len;
  }
  return p;
}

bool all_space(std::string_view s) {
  if (s.empty()) return false;
  for (char32_t c : utf8_decode(s))
    if (!py_isspace(c)) return false;
  return true;
}

std::string rstrip_ws(std::string_view s) {
  return py_strip(s, nullptr, false, true);
}

int count_newlines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// What jinja2 does to a string literal: newlines are already normalized; then the text goes
// through Python's "unicode-escape" codec (non-ASCII characters pass through unchanged).
std::string unescape(std::string_view s, int line) {
  std::string out;
  auto hex_value = [&](size_t p, int n, const char* what) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k) {
      char c = p + k < s.size() ? s[p + k] : '\0';
      int d = is_digit(c)              ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) throw TemplateError("TemplateSyntaxError", std::string("truncated ") + what, line);
      v = v * 16 + static_cast<uint32_t>(d);
    }
    return v;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 1 >= s.size()) {
      out.push_back(c);
      continue;
    }
    char e = s[++i];
    switch (e) {
      case '\n':
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
        utf8_append(out, hex_value(i + 1, 2, "\\xXX escape"));
        i += 2;
        break;
      case 'u':
        utf8_append(out, hex_value(i + 1, 4, "\\uXXXX escape"));
        i += 4;
        break;
      case 'U': {
        uint32_t v = hex_value(i + 1, 8, "\\UXXXXXXXX escape");
        if (v > 0x10FFFF)
          throw TemplateError("TemplateSyntaxError", "illegal Unicode character", line);
        utf8_append(out, v);
        i += 8;
        break;
      }
      case 'N':
        throw TemplateError("TemplateSyntaxError", "malformed \\N character escape", line);
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = 0;
          size_t k = i;
          for (; k < s.size() && k < i + 3 && s[k] >= '0' && s[k] <= '7'; ++k)
            v = v * 8 + (s[k] - '0');
          utf8_append(out, v);
          i = k - 1;
        } else {
          out.push_back('\\');  // unknown escapes stay as written
          --i;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(std::string src, const LexOptions& o) : s_(std::move(src)), o_(o) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) root();
    push(TokenType::kEof, "");
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& msg) {
    throw TemplateError("TemplateSyntaxError", msg, line_);
  }

  void push(TokenType t, std::string text) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.line = line_;
    out_.push_back(std::move(tok));
  }

  // Moves to `p`, counting the newlines passed; line_starting follows the last char consumed.
  void advance_to(size_t p) {
    if (p > pos_) {
      line_ += count_newlines(std::string_view(s_).substr(pos_, p - pos_));
      line_starting_ = s_[p - 1] == '\n';
    }
    pos_ = p;
  }

  // Emits the text before a tag, after jinja2's strip rules ('-' strips all whitespace before
  // the tag; lstrip_blocks strips spaces from the line start up to a block or comment tag).
  void emit_text(std::string_view text, char sign, bool is_variable) {
    int line = line_;
    std::string t(text);
    if (sign == '-') {
      t = rstrip_ws(text);
    } else if (sign != '+' && o_.lstrip_blocks && !is_variable) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) t = text.substr(0, l_pos);
    }
    if (!t.empty()) {
      Token tok;
      tok.type = TokenType::kData;
      tok.text = std::move(t);
      tok.line = line;
      out_.push_back(std::move(tok));
    }
  }

  // Matches a block end (+%} | -%}\s* | %}\n?) at p; returns its end or npos.
  size_t match_block_end(size_t p) const {
    if (s_.compare(p, 3, "+%}") == 0) return p + 3;
    if (s_.compare(p, 3, "-%}") == 0) return skip_ws(s_, p + 3);
    if (s_.compare(p, 2, "%}") == 0) {
      p += 2;
      if (o_.trim_blocks && p < s_.size() && s_[p] == '\n') ++p;
      return p;
    }
    return std::string::npos;
  }

  void root() {
    size_t i = pos_;
    while (true) {
      i = s_.find('{', i);
      if (i == std::string::npos || i + 1 >= s_.size()) {
        emit_text(std::string_view(s_).substr(pos_), '\0', true);
        advance_to(s_.size());
        return;
      }
      char k = s_[i + 1];
      if (k == '{' || k == '%' || k == '#') break;
      ++i;
    }
    char kind = s_[i + 1];
    size_t j = i + 2;
    char sign = '\0';
    if (j < s_.size() && (s_[j] == '-' || s_[j] == '+')) sign = s_[j++];
    std::string_view text = std::string_view(s_).substr(pos_, i - pos_);

    if (kind == '%') {
      size_t raw_end = match_raw_begin(j);
      if (raw_end != std::string::npos) {
        emit_text(text, sign, false);
        advance_to(raw_end);
        raw();
        return;
      }
    }
    emit_text(text, sign, kind == '{');
    advance_to(j);
    line_starting_ = false;
    if (kind == '#') {
      comment();
    } else {
      tag(kind == '%');
    }
  }

  size_t match_raw_begin(size_t p) const {
    p = skip_ws(s_, p);
    if (s_.compare(p, 3, "raw") != 0) return std::string::npos;
    p = skip_ws(s_, p + 3);
    if (s_.compare(p, 3, "-%}") == 0) return skip_ws(s_, p + 3);
    if (s_.compare(p, 2, "%}") == 0) return p + 2;
    return std::string::npos;
  }

  void raw() {
    for (size_t i = s_.find("{%", pos_); i != std::string::npos; i = s_.find("{%", i + 1)) {
      size_t p = i + 2;
      char sign = '\0';
      if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) sign = s_[p++];
      p = skip_ws(s_, p);
      if (s_.compare(p, 6, "endraw") != 0) continue;
      size_t end = match_block_end(skip_ws(s_, p + 6));
      if (end == std::string::npos) continue;
      emit_text(std::string_view(s_).substr(pos_, i - pos_), sign, false);
      advance_to(end);
      return;
    }
    fail("Missing end of raw directive");
  }

  void comment() {
    for (size_t p = pos_; p + 1 < s_.size(); ++p) {
      size_t end = std::string::npos;
      if (s_.compare(p, 3, "+#}") == 0) {
        end = p + 3;
      } else if (s_.compare(p, 3, "-#}") == 0) {
        end = skip_ws(s_, p + 3);
      } else if (s_.compare(p, 2, "#}") == 0) {
        end = p + 2;
        if (o_.trim_blocks && end < s_.size() && s_[end] == '\n') ++end;
      }
      if (end != std::string::npos) {
        advance_to(end);
        return;
      }
    }
    fail("Missing end of comment tag");
  }

  void tag(bool block) {
    push(block ? TokenType::kBlockBegin : TokenType::kVarBegin, "");
    std::vector<char> balance;
    while (pos_ < s_.size()) {
      if (balance.empty()) {
        size_t end = std::string::npos;
        if (block) {
          end = match_block_end(pos_);
        } else if (s_.compare(pos_, 3, "-}}") == 0) {
          end = skip_ws(s_, pos_ + 3);
        } else if (s_.compare(pos_, 2, "}}") == 0) {
          end = pos_ + 2;
        }
        if (end != std::string::npos) {
          push(block ? TokenType::kBlockEnd : TokenType::kVarEnd, "");
          advance_to(end);
          return;
        }
      }
      size_t ws = skip_ws(s_, pos_);
      if (ws != pos_) {
        advance_to(ws);
        continue;
      }
      if (lex_number() || lex_name() || lex_string()) continue;
      lex_operator(balance);
    }
    // End of input inside a tag: the parser reports what it expected.
  }

  bool lex_name() {
    if (!is_name_start(s_[pos_])) return false;
    size_t p = pos_;
    while (p < s_.size() && is_name_char(s_[p])) ++p;
    push(TokenType::kName, s_.substr(pos_, p - pos_));
    advance_to(p);
    return true;
  }

  // (\d+_)*\d+ at p: returns the end, or p when there is no digit.
  size_t digits(size_t p) const {
    size_t q = p;
    if (q >= s_.size() || !is_digit(s_[q])) return p;
    while (true) {
      while (q < s_.size() && is_digit(s_[q])) ++q;
      if (q + 1 < s_.size() && s_[q] == '_' && is_digit(s_[q + 1])) {
        ++q;
        continue;
      }
      return q;
    }
  }

  size_t exponent(size_t p) const {
    if (p >= s_.size() || (s_[p] != 'e' && s_[p] != 'E')) return std::string::npos;
    ++p;
    if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
    size_t q = digits(p);
    return q == p ? std::string::npos : q;
  }

  bool lex_number() {
    if (!is_digit(s_[pos_])) return false;
    size_t int_end = digits(pos_);
    size_t end = std::string::npos;
    if (pos_ == 0 || s_[pos_ - 1] != '.') {
      size_t frac_end = std::string::npos;
      if (int_end < s_.size() && s_[int_end] == '.') {
        size_t q = digits(int_end + 1);
        if (q != int_end + 1) frac_end = q;
      }
      if (frac_end != std::string::npos) end = exponent(frac_end);
      if (end == std::string::npos) end = exponent(int_end);
      if (end == std::string::npos) end = frac_end;
    }
    if (end != std::string::npos) {
      std::string text;
      for (size_t k = pos_; k < end; ++k)
        if (s_[k] != '_') text.push_back(s_[k]);
      push(TokenType::kFloat, text);
      out_.back().float_value = std::strtod(text.c_str(), nullptr);
      advance_to(end);
      return true;
    }
    // Integers: 0b/0o/0x prefixes, decimal without leading zeros, or zeros.
    int base = 10;
    size_t p = pos_;
    if (s_[p] == '0' && p + 1 < s_.size()) {
      char x = static_cast<char>(s_[p + 1] | 0x20);
      if (x == 'b' || x == 'o' || x == 'x') base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
    }
    std::string text;
    if (base != 10) {
      auto ok = [&](char c) {
        c = static_cast<char>(c | 0x20);
        return base == 2   ? (c == '0' || c == '1')
               : base == 8 ? (c >= '0' && c <= '7')
                           : (is_digit(c) || (c >= 'a' && c <= 'f'));
      };
      size_t q = p + 2;
      while (q < s_.size()) {
        if (s_[q] == '_' && q + 1 < s_.size() && ok(s_[q + 1])) ++q;
        if (!ok(s_[q])) break;
        text.push_back(s_[q++]);
      }
      if (text.empty()) {
        base = 10;  // "0x" without digits lexes as the integer 0 followed by a name
      } else {
        p = q;
      }
    }
    if (base == 10) {
      size_t q = p;
      if (s_[p] == '0') {
        ++q;
        while (q < s_.size()) {
          if (s_[q] == '0') {
            ++q;
          } else if (s_[q] == '_' && q + 1 < s_.size() && s_[q + 1] == '0') {
            q += 2;
          } else {
            break;
          }
        }
      } else {
        q = int_end;
      }
      for (size_t k = p; k < q; ++k)
        if (s_[k] != '_') text.push_back(s_[k]);
      p = q;
    }
    errno = 0;
    long long v = std::strtoll(text.c_str(), nullptr, base);
    if (errno == ERANGE) fail("integer literal too large");
    push(TokenType::kInteger, text);
    out_.back().int_value = v;
    advance_to(p);
    return true;
  }

  bool lex_string() {
    char q = s_[pos_];
    if (q != '\'' && q != '"') return false;
    size_t p = pos_ + 1;
    while (p < s_.size() && s_[p] != q) p += s_[p] == '\\' ? 2 : 1;
    if (p >= s_.size()) {
      fail("unexpected char " + Value(std::string(1, q)).repr() + " at " + std::to_string(pos_));
    }
    push(TokenType::kString, unescape(std::string_view(s_).substr(pos_ + 1, p - pos_ - 1), line_));
    advance_to(p + 1);
    return true;
  }

  void lex_operator(std::vector<char>& balance) {
    static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                 "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                 ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};
    for (const char* op : kOps) {
      size_t n = std::char_traits<char>::length(op);
      if (s_.compare(pos_, n, op) != 0) continue;
      char c = op[0];
      if (n == 1 && (c == '{' || c == '(' || c == '[')) {
        balance.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
      } else if (n == 1 && (c == '}' || c == ')' || c == ']')) {
        if (balance.empty()) fail(std::string("unexpected '") + c + "'");
        char expected = balance.back();
        balance.pop_back();
        if (expected != c) fail(std::string("unexpected '") + c + "', expected '" + expected + "'");
      }
      push(TokenType::kOperator, op);
      advance_to(pos_ + n);
      return;
    }
    size_t len;
    char32_t c = peek_cp(s_, pos_, &len);
    std::string ch;
    utf8_append(ch, c);
    fail("unexpected char " + Value(ch).repr() + " at " + std::to_string(pos_));
  }

  std::string s_;
  LexOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& opts) {
  // jinja2 turns \r\n and \r into \n, then drops one trailing newline.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src.push_back(source[i]);
    }
  }
  if (!opts.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src), opts).run();
}

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kName:
    case TokenType::kOperator:
      return t.text;
    case TokenType::kData:
      return "template data / text";
    case TokenType::kVarBegin:
      return "begin of print statement";
    case TokenType::kVarEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kEof:
      return "end of template";
  }
  return "token";
}

}  // namespace kt::models::jinja
