#pragma once
// Tokenizer for Jinja2 templates, configured as transformers configures jinja2 for chat
// templates: trim_blocks and lstrip_blocks on, keep_trailing_newline off. Whitespace control
// ({%- -%} {{- -}} {%+ +%}) is applied here, to the text tokens, exactly as jinja2's lexer does.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kt::models::jinja {

enum class TokenType : uint8_t {
  kData,        // template text between tags
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the unescaped value
  kInteger,
  kFloat,
  kOperator,  // text holds the operator ("+", "//", "==", "(", ...)
  kEof,
};

struct Token {
  TokenType type;
  std::string text;
  int line = 1;
  int64_t int_value = 0;
  double float_value = 0;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws TemplateError("TemplateSyntaxError", ...) with the line on malformed input.
std::vector<Token> tokenize(std::string_view source, const LexOptions& opts = {});

// Human-readable name of a token for parser messages ("end of statement block", "endfor").
std::string describe(const Token& t);

}  // namespace kt::models::jinja
