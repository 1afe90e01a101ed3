#pragma once
// Abstract syntax tree and parser for Jinja2 templates. The grammar and operator precedence
// follow jinja2's parser (filters and tests bind tighter than arithmetic; `not` looser than
// comparisons; `a if b else c` loosest), so templates parse to what Python jinja2 would run.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/jinja_lexer.h"
#include "models/jinja_value.h"

namespace kt::models::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using StmtList = std::vector<StmtPtr>;

enum class ExprKind {
  kConst,     // value
  kName,      // name
  kNsRef,     // name.attr as an assignment target (name, attr)
  kGetAttr,   // a.name
  kGetItem,   // a[b]
  kSlice,     // a:b:c inside [] (each may be null)
  kCall,      // a(args, kwargs, *dyn_args, **dyn_kwargs)
  kFilter,    // a|name(args) (a is null in {% filter %} blocks)
  kTest,      // a is name(args)
  kNot,       // not a
  kNeg,       // -a
  kPos,       // +a
  kBinary,    // a op b, op in + - * / // % **
  kAnd,       // a and b
  kOr,        // a or b
  kConcat,    // args joined with ~
  kCompare,   // a op0 args[0] op1 args[1] ...
  kCondExpr,  // b if a else c (c may be null)
  kList,
  kTuple,
  kDict,  // args = k0, v0, k1, v1, ...
};

struct Keyword {
  std::string name;
  ExprPtr value;
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;
  std::string name;
  std::string attr;
  ExprPtr a, b, c;
  std::vector<ExprPtr> args;
  std::vector<Keyword> kwargs;
  ExprPtr dyn_args, dyn_kwargs;
  std::vector<std::string> ops;
};

enum class StmtKind {
  kText,         // text
  kPrint,        // {{ expr }}
  kIf,           // branches of (cond, body), else_body
  kFor,          // for target in expr [if cond] [recursive]: body else else_body
  kSet,          // set target = expr
  kSetBlock,     // set target [| filters] ... endset (expr: filter chain or null)
  kMacro,        // macro name(params=defaults)
  kCallBlock,    // call(params) expr ... endcall
  kFilterBlock,  // filter expr ... endfilter
  kWith,         // with targets = values ... endwith
  kBreak,
  kContinue,
  kScope,  // a body run in place ({% generation %} of transformers' AssistantTracker)
};

struct Branch {
  ExprPtr cond;
  StmtList body;
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr target;
  ExprPtr cond;
  bool recursive = false;
  std::vector<Branch> branches;
  StmtList body, else_body;
  std::string name;                      // macro name
  std::vector<std::string> params;       // macro / call-block parameters
  std::vector<ExprPtr> defaults;         // defaults of the last params
  std::vector<ExprPtr> targets, values;  // with
};

struct Template {
  StmtList body;
};

// Parses a whole template; throws TemplateError("TemplateSyntaxError", msg, line).
std::unique_ptr<Template> parse_template(std::string_view source, const LexOptions& opts = {});

}  // namespace kt::models::jinja
