#include "models/jinja_parser.h"

#include <algorithm>
#include <initializer_list>

namespace kt::models::jinja {

namespace {

// Nesting deeper than this (brackets, nested blocks) is refused rather than risking the
// native stack on hostile input; real templates nest a handful of levels.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::unique_ptr<Template> parse() {
    auto tmpl = std::make_unique<Template>();
    tmpl->body = subparse({});
    return tmpl;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p(p) {
      if (++p->depth_ > kMaxDepth) p->fail("template nesting too deep");
    }
    ~DepthGuard() { --p->depth_; }
    Parser* p;
  };

  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  Token next() {
    Token t = t_[i_];
    if (i_ + 1 < t_.size()) ++i_;
    return t;
  }
  bool is_name(std::string_view v) const {
    return cur().type == TokenType::kName && cur().text == v;
  }
  bool is_op(std::string_view v) const {
    return cur().type == TokenType::kOperator && cur().text == v;
  }
  bool skip_name(std::string_view v) {
    if (!is_name(v)) return false;
    next();
    return true;
  }
  bool skip_op(std::string_view v) {
    if (!is_op(v)) return false;
    next();
    return true;
  }

  [[noreturn]] void fail(const std::string& msg, int line = 0) {
    throw TemplateError("TemplateSyntaxError", msg, line ? line : cur().line);
  }

  [[noreturn]] void fail_expected(const std::string& what) {
    if (cur().type == TokenType::kEof) fail("unexpected end of template, expected '" + what + "'.");
    fail("expected token '" + what + "', got '" + describe(cur()) + "'");
  }

  void expect_op(std::string_view v) {
    if (!skip_op(v)) fail_expected(std::string(v));
  }
  void expect_type(TokenType type) {
    if (cur().type != type) {
      Token want;
      want.type = type;
      fail_expected(describe(want));
    }
    next();
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName) fail_expected("name");
    return next().text;
  }
  void expect_name(std::string_view v) {
    if (!skip_name(v)) fail_expected(std::string(v));
  }

  // jinja2's message for an unexpected tag or end of template, naming the tags it wanted.
  [[noreturn]] void fail_tag(const std::string& name, bool eof) {
    std::string msg =
        eof ? "Unexpected end of template." : "Encountered unknown tag '" + name + "'.";
    if (!end_stack_.empty()) {
      std::string looking;
      for (const auto& t : end_stack_.back())
        looking += (looking.empty() ? "'" : " or '") + t + "'";
      bool expected = false;
      for (const auto& tags : end_stack_)
        expected |= std::find(tags.begin(), tags.end(), name) != tags.end();
      if (!eof && expected) {
        msg +=
            " You probably made a nesting mistake. Jinja is expecting this tag, but currently "
            "looking for " +
            looking + ".";
      } else {
        msg += " Jinja was looking for the following tags: " + looking + ".";
      }
    }
    if (!tag_stack_.empty()) {
      msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    }
    fail(msg);
  }

  StmtList subparse(const std::vector<std::string>& end_tokens) {
    DepthGuard guard(this);
    bool pushed = !end_tokens.empty();
    if (pushed) end_stack_.push_back(end_tokens);
    StmtList body;
    while (cur().type != TokenType::kEof) {
      const Token& tok = cur();
      if (tok.type == TokenType::kData) {
        auto s = make_stmt(StmtKind::kText, tok.line);
        s->text = tok.text;
        body.push_back(std::move(s));
        next();
      } else if (tok.type == TokenType::kVarBegin) {
        next();
        auto s = make_stmt(StmtKind::kPrint, cur().line);
        s->expr = parse_tuple(false, true, {}, false);
        expect_type(TokenType::kVarEnd);
        body.push_back(std::move(s));
      } else if (tok.type == TokenType::kBlockBegin) {
        next();
        if (cur().type == TokenType::kName &&
            std::find(end_tokens.begin(), end_tokens.end(), cur().text) != end_tokens.end()) {
          if (pushed) end_stack_.pop_back();
          return body;
        }
        body.push_back(parse_statement());
        expect_type(TokenType::kBlockEnd);
      } else {
        fail("unexpected '" + describe(tok) + "'");
      }
    }
    if (pushed) end_stack_.pop_back();
    return body;
  }

  StmtPtr make_stmt(StmtKind k, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = k;
    s->line = line;
    return s;
  }

  StmtList parse_statements(const std::vector<std::string>& end_tokens, bool drop_needle) {
    skip_op(":");
    expect_type(TokenType::kBlockEnd);
    StmtList body = subparse(end_tokens);
    if (cur().type == TokenType::kEof) {
      end_stack_.push_back(end_tokens);
      fail_tag("", true);
    }
    if (drop_needle) next();
    return body;
  }

  StmtPtr parse_statement() {
    if (cur().type != TokenType::kName) fail("tag name expected");
    std::string tag = cur().text;
    int line = cur().line;
    static const char* kKnown[] = {"for",  "if",    "set",   "macro",    "call",      "filter",
                                   "with", "print", "break", "continue", "generation"};
    if (std::find(std::begin(kKnown), std::end(kKnown), tag) == std::end(kKnown)) {
      fail_tag(tag, false);
    }
    tag_stack_.push_back(tag);
    StmtPtr s;
    next();
    if (tag == "for") {
      s = parse_for(line);
    } else if (tag == "if") {
      s = parse_if(line);
    } else if (tag == "set") {
      s = parse_set(line);
    } else if (tag == "macro") {
      s = make_stmt(StmtKind::kMacro, line);
      s->name = expect_name();
      parse_signature(*s);
      s->body = parse_statements({"endmacro"}, true);
    } else if (tag == "call") {
      s = make_stmt(StmtKind::kCallBlock, line);
      if (is_op("(")) parse_signature(*s);
      s->expr = parse_expression(true);
      if (s->expr->kind != ExprKind::kCall) fail("expected call", line);
      s->body = parse_statements({"endcall"}, true);
    } else if (tag == "filter") {
      s = make_stmt(StmtKind::kFilterBlock, line);
      s->expr = parse_filter(nullptr, true);
      s->body = parse_statements({"endfilter"}, true);
    } else if (tag == "with") {
      s = make_stmt(StmtKind::kWith, line);
      while (cur().type != TokenType::kBlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(parse_assign_target(true, false, {}));
        expect_op("=");
        s->values.push_back(parse_expression(true));
      }
      s->body = parse_statements({"endwith"}, true);
    } else if (tag == "print") {
      s = make_stmt(StmtKind::kPrint, line);
      std::vector<ExprPtr> items;
      while (cur().type != TokenType::kBlockEnd) {
        if (!items.empty()) expect_op(",");
        items.push_back(parse_expression(true));
      }
      auto tuple = make_expr(ExprKind::kTuple, line);
      tuple->args = std::move(items);
      s->expr = std::move(tuple);
    } else if (tag == "break" || tag == "continue") {
      s = make_stmt(tag == "break" ? StmtKind::kBreak : StmtKind::kContinue, line);
      // jinja2 accepts break/continue only inside a loop body.
      if (std::find(tag_stack_.begin(), tag_stack_.end(), "for") == tag_stack_.end())
        fail("'" + tag + "' outside loop", line);
    } else {  // generation
      s = make_stmt(StmtKind::kScope, line);
      s->body = parse_statements({"endgeneration"}, true);
    }
    tag_stack_.pop_back();
    return s;
  }

  StmtPtr parse_for(int line) {
    auto s = make_stmt(StmtKind::kFor, line);
    s->target = parse_assign_target(true, false, {"in"});
    expect_name("in");
    s->expr = parse_tuple(false, false, {"recursive"}, false);
    if (skip_name("if")) s->cond = parse_expression(true);
    s->recursive = skip_name("recursive");
    s->body = parse_statements({"endfor", "else"}, false);
    if (next().text != "endfor") s->else_body = parse_statements({"endfor"}, true);
    return s;
  }

  StmtPtr parse_if(int line) {
    auto s = make_stmt(StmtKind::kIf, line);
    while (true) {
      Branch br;
      br.cond = parse_tuple(false, false, {}, false);
      br.body = parse_statements({"elif", "else", "endif"}, false);
      s->branches.push_back(std::move(br));
      Token tok = next();
      if (tok.text == "elif") continue;
      if (tok.text == "else") s->else_body = parse_statements({"endif"}, true);
      break;
    }
    return s;
  }

  StmtPtr parse_set(int line) {
    auto target = parse_assign_target(true, true, {});
    if (skip_op("=")) {
      auto s = make_stmt(StmtKind::kSet, line);
      s->target = std::move(target);
      s->expr = parse_tuple(false, true, {}, false);
      return s;
    }
    auto s = make_stmt(StmtKind::kSetBlock, line);
    s->target = std::move(target);
    if (is_op("|")) s->expr = parse_filter(nullptr, false);
    s->body = parse_statements({"endset"}, true);
    return s;
  }

  void parse_signature(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string name = expect_name();
      if (skip_op("=")) {
        s.defaults.push_back(parse_expression(true));
      } else if (!s.defaults.empty()) {
        fail("non-default argument follows default argument");
      }
      s.params.push_back(name);
    }
    expect_op(")");
  }

  ExprPtr make_expr(ExprKind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  ExprPtr parse_assign_target(bool with_tuple, bool with_namespace,
                              const std::vector<std::string>& extra_end) {
    int line = cur().line;
    ExprPtr target = with_tuple ? parse_tuple(true, true, extra_end, false, with_namespace)
                                : parse_primary(with_namespace);
    auto assignable = [](const Expr& e) {
      return e.kind == ExprKind::kName || e.kind == ExprKind::kNsRef;
    };
    bool ok = assignable(*target);
    if (target->kind == ExprKind::kTuple) {
      ok = true;
      for (const auto& item : target->args) ok &= item->kind == ExprKind::kName;
    }
    if (ok && target->kind == ExprKind::kName) {
      const std::string& n = target->name;
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None")
        ok = false;
    }
    if (!ok)
      fail("can't assign to '" +
               std::string(target->kind == ExprKind::kConst ? "const" : "expression") + "'",
           line);
    return target;
  }

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    auto ty = cur().type;
    if (ty == TokenType::kVarEnd || ty == TokenType::kBlockEnd || ty == TokenType::kEof ||
        is_op(")"))
      return true;
    for (const auto& e : extra_end)
      if (is_name(e)) return true;
    return false;
  }

  ExprPtr parse_tuple(bool simplified, bool with_condexpr,
                      const std::vector<std::string>& extra_end, bool explicit_parens,
                      bool with_namespace = false) {
    int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail("Expected an expression, got '" + describe(cur()) + "'");
    }
    auto t = make_expr(ExprKind::kTuple, line);
    t->args = std::move(items);
    return t;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    int line = cur().line;
    ExprPtr expr1 = parse_or();
    while (skip_name("if")) {
      auto e = make_expr(ExprKind::kCondExpr, line);
      e->a = parse_or();
      e->b = std::move(expr1);
      if (skip_name("else")) e->c = parse_condexpr();
      expr1 = std::move(e);
      line = cur().line;
    }
    return expr1;
  }

  ExprPtr binary(ExprKind k, int line, ExprPtr l, ExprPtr r, std::string op = {}) {
    auto e = make_expr(k, line);
    e->a = std::move(l);
    e->b = std::move(r);
    e->name = std::move(op);
    return e;
  }

  ExprPtr parse_or() {
    int line = cur().line;
    ExprPtr left = parse_and();
    while (skip_name("or")) left = binary(ExprKind::kOr, line, std::move(left), parse_and());
    return left;
  }

  ExprPtr parse_and() {
    int line = cur().line;
    ExprPtr left = parse_not();
    while (skip_name("and")) left = binary(ExprKind::kAnd, line, std::move(left), parse_not());
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      int line = next().line;
      DepthGuard guard(this);
      auto e = make_expr(ExprKind::kNot, line);
      e->a = parse_not();
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr expr = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      std::string op;
      if (cur().type == TokenType::kOperator &&
          (is_op("==") || is_op("!=") || is_op(">") || is_op(">=") || is_op("<") || is_op("<="))) {
        op = next().text;
      } else if (skip_name("in")) {
        op = "in";
      } else if (is_name("not") && look().type == TokenType::kName && look().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return expr;
    auto e = make_expr(ExprKind::kCompare, line);
    e->a = std::move(expr);
    e->ops = std::move(ops);
    e->args = std::move(operands);
    return e;
  }

  ExprPtr parse_math1() {
    int line = cur().line;
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().text;
      left = binary(ExprKind::kBinary, line, std::move(left), parse_concat(), op);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_concat() {
    int line = cur().line;
    std::vector<ExprPtr> args;
    args.push_back(parse_math2());
    while (skip_op("~")) args.push_back(parse_math2());
    if (args.size() == 1) return std::move(args[0]);
    auto e = make_expr(ExprKind::kConcat, line);
    e->args = std::move(args);
    return e;
  }

  ExprPtr parse_math2() {
    int line = cur().line;
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = next().text;
      left = binary(ExprKind::kBinary, line, std::move(left), parse_pow(), op);
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_pow() {
    int line = cur().line;
    ExprPtr left = parse_unary(true);
    while (skip_op("**")) {
      left = binary(ExprKind::kBinary, line, std::move(left), parse_unary(true), "**");
      line = cur().line;
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(this);
    int line = cur().line;
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      bool neg = next().text == "-";
      node = make_expr(neg ? ExprKind::kNeg : ExprKind::kPos, line);
      node->a = parse_unary(false);
    } else {
      node = parse_primary(false);
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary(bool with_namespace) {
    DepthGuard guard(this);
    const Token& tok = cur();
    int line = tok.line;
    if (tok.type == TokenType::kName) {
      std::string v = next().text;
      if (v == "true" || v == "True" || v == "false" || v == "False") {
        auto e = make_expr(ExprKind::kConst, line);
        e->value = Value(v == "true" || v == "True");
        return e;
      }
      if (v == "none" || v == "None") {
        auto e = make_expr(ExprKind::kConst, line);
        e->value = Value::none();
        return e;
      }
      if (with_namespace && is_op(".")) {
        next();
        auto e = make_expr(ExprKind::kNsRef, line);
        e->name = v;
        e->attr = expect_name();
        return e;
      }
      auto e = make_expr(ExprKind::kName, line);
      e->name = v;
      return e;
    }
    if (tok.type == TokenType::kString) {
      std::string s;
      while (cur().type == TokenType::kString) s += next().text;  // adjacent literals join
      auto e = make_expr(ExprKind::kConst, line);
      e->value = Value(std::move(s));
      return e;
    }
    if (tok.type == TokenType::kInteger || tok.type == TokenType::kFloat) {
      Token t = next();
      auto e = make_expr(ExprKind::kConst, line);
      e->value = t.type == TokenType::kInteger ? Value(t.int_value) : Value(t.float_value);
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr e = parse_tuple(false, true, {}, true);
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      next();
      auto e = make_expr(ExprKind::kList, line);
      while (!is_op("]")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("]")) break;
        e->args.push_back(parse_expression(true));
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make_expr(ExprKind::kDict, line);
      while (!is_op("}")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("}")) break;
        e->args.push_back(parse_expression(true));
        expect_op(":");
        e->args.push_back(parse_expression(true));
      }
      expect_op("}");
      return e;
    }
    if (tok.type == TokenType::kEof) fail("unexpected end of template");
    fail("unexpected '" + describe(tok) + "'");
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter(std::move(node), false);
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    Token tok = next();
    if (tok.text == ".") {
      Token attr = next();
      if (attr.type == TokenType::kName) {
        auto e = make_expr(ExprKind::kGetAttr, tok.line);
        e->a = std::move(node);
        e->name = attr.text;
        return e;
      }
      if (attr.type != TokenType::kInteger) fail("expected name or number", attr.line);
      auto e = make_expr(ExprKind::kGetItem, tok.line);
      e->a = std::move(node);
      e->b = make_expr(ExprKind::kConst, attr.line);
      e->b->value = Value(attr.int_value);
      return e;
    }
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto e = make_expr(ExprKind::kGetItem, tok.line);
    e->a = std::move(node);
    if (args.size() == 1) {
      e->b = std::move(args[0]);
    } else {
      e->b = make_expr(ExprKind::kTuple, tok.line);
      e->b->args = std::move(args);
    }
    return e;
  }

  ExprPtr parse_subscribed() {
    int line = cur().line;
    std::vector<ExprPtr> parts;
    if (is_op(":")) {
      next();
      parts.push_back(nullptr);
    } else {
      ExprPtr node = parse_expression(true);
      if (!is_op(":")) return node;
      next();
      parts.push_back(std::move(node));
    }
    if (is_op(":") || is_op("]") || is_op(",")) {
      parts.push_back(nullptr);
    } else {
      parts.push_back(parse_expression(true));
    }
    if (skip_op(":")) {
      parts.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression(true));
    } else {
      parts.push_back(nullptr);
    }
    auto e = make_expr(ExprKind::kSlice, line);
    e->a = std::move(parts[0]);
    e->b = std::move(parts[1]);
    e->c = std::move(parts[2]);
    return e;
  }

  void parse_call_args(Expr& e) {
    int line = cur().line;
    expect_op("(");
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) fail("invalid syntax for function call expression", line);
    };
    while (!is_op(")")) {
      if (require_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (skip_op("*")) {
        ensure(!e.dyn_args && !e.dyn_kwargs);
        e.dyn_args = parse_expression(true);
      } else if (skip_op("**")) {
        ensure(!e.dyn_kwargs);
        e.dyn_kwargs = parse_expression(true);
      } else if (cur().type == TokenType::kName && look().type == TokenType::kOperator &&
                 look().text == "=") {
        ensure(!e.dyn_kwargs);
        std::string key = next().text;
        next();
        e.kwargs.push_back(Keyword{key, parse_expression(true)});
      } else {
        ensure(!e.dyn_args && !e.dyn_kwargs && e.kwargs.empty());
        e.args.push_back(parse_expression(true));
      }
      require_comma = true;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr node) {
    auto e = make_expr(ExprKind::kCall, cur().line);
    e->a = std::move(node);
    parse_call_args(*e);
    return e;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      int line = cur().line;
      std::string name = expect_name();
      while (skip_op(".")) {
        name.push_back('.');
        name.append(expect_name());
      }
      auto e = make_expr(ExprKind::kFilter, line);
      e->a = std::move(node);
      e->name = name;
      if (is_op("(")) parse_call_args(*e);
      node = std::move(e);
      start_inline = false;
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    int line = next().line;  // 'is'
    bool negated = skip_name("not");
    std::string name = expect_name();
    while (skip_op(".")) {
      name.push_back('.');
      name.append(expect_name());
    }
    auto e = make_expr(ExprKind::kTest, line);
    e->a = std::move(node);
    e->name = name;
    auto ty = cur().type;
    if (is_op("(")) {
      parse_call_args(*e);
    } else if ((ty == TokenType::kName || ty == TokenType::kString || ty == TokenType::kInteger ||
                ty == TokenType::kFloat || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      e->args.push_back(parse_postfix(parse_primary(false)));
    }
    if (!negated) return e;
    auto n = make_expr(ExprKind::kNot, line);
    n->a = std::move(e);
    return n;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<std::string> tag_stack_;
  std::vector<std::vector<std::string>> end_stack_;
};

}  // namespace

std::unique_ptr<Template> parse_template(std::string_view source, const LexOptions& opts) {
  return Parser(tokenize(source, opts)).parse();
}

}  // namespace kt::models::jinja
