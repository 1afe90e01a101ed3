#pragma once
// Renders a parsed Jinja2 template. Semantics follow Python jinja2 in transformers' sandboxed
// chat-template environment: jinja2's scoping (loop bodies and macros get their own scope,
// `if` does not), default Undefined, sandboxed attribute lookup (dict keys via `.`, Python
// methods on str/dict/list, no mutation of lists and dicts), loop controls, and the
// `raise_exception` / `strftime_now` globals. Runaway templates are stopped by budgets.
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/jinja_parser.h"
#include "models/jinja_value.h"

namespace kt::models::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;  // also caps any one string built
  uint64_t max_steps = 5'000'000;              // expression and statement evaluations
  int max_call_depth = 100;                    // nested macro calls (recursion)
};

// Local wall-clock time for strftime_now; tests inject a fixed one.
using Clock = std::function<std::tm()>;
std::tm system_clock_now();

struct Scope {
  explicit Scope(std::shared_ptr<Scope> p = nullptr) : parent(std::move(p)) {}
  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
  const Value* find_local(std::string_view name) const;
  void set(std::string_view name, Value v);
};
using ScopePtr = std::shared_ptr<Scope>;

class Interp {
 public:
  Interp(const Template& tmpl, RenderLimits limits, Clock clock);

  // Renders with `vars` as the template context (messages, tools, bos_token, ...).
  std::string render(const std::vector<std::pair<std::string, Value>>& vars);

  // Python/jinja2 operations used by filters, tests and methods.
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value call(const Value& fn, Args& args);
  std::vector<Value> iterate(const Value& v);  // iter(v), materialized
  std::string checked_string(std::string s);   // enforces max_output_bytes
  void step();                                 // counts work against max_steps
  std::tm now() const { return clock_ ? clock_() : system_clock_now(); }
  const RenderLimits& limits() const { return limits_; }
  // Namespaces are the only mutable values, so only they can form reference cycles
  // ({% set ns.self = ns %}); the render clears the ones it created when it ends.
  void track(const NamespacePtr& ns) { namespaces_.push_back(ns); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  friend struct MacroCall;

  Flow exec(const StmtList& body, const ScopePtr& scope, std::string& out);
  Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out);
  void exec_for(const Stmt& s, const Value& iterable, const ScopePtr& scope, std::string& out,
                int depth0);
  Value eval(const Expr& e, const ScopePtr& scope);
  Value eval_inner(const Expr& e, const ScopePtr& scope);
  Value eval_call(const Expr& e, const ScopePtr& scope, const Value* caller);
  Args eval_args(const Expr& e, const ScopePtr& scope);
  Value lookup(const std::string& name, const ScopePtr& scope) const;
  void assign(const Expr& target, const Value& v, const ScopePtr& scope);
  Value make_macro(const Stmt& s, const ScopePtr& scope, const std::string& name);
  Value python_attr(const Value& obj, const std::string& name, bool* found);
  void append(std::string& out, const std::string& s);

  const Template& tmpl_;
  RenderLimits limits_;
  Clock clock_;
  std::unordered_map<std::string, Value> globals_;
  std::vector<ScopePtr> pinned_;  // scopes that macros close over, alive for the render
  std::vector<std::weak_ptr<Namespace>> namespaces_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
};

// Checks that every filter and test the template names exists, as jinja2 does when it compiles
// a template; throws TemplateError("TemplateAssertionError", "No filter named 'x'.", line).
void validate(const Template& tmpl);

}  // namespace kt::models::jinja
