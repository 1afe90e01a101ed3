#include "models/jinja_eval.h"

#include <algorithm>
#include <chrono>

#include "models/jinja_builtins.h"

namespace kt::models::jinja {

std::tm system_clock_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

const Value* Scope::find_local(std::string_view name) const {
  for (const auto& kv : vars)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

void Scope::set(std::string_view name, Value v) {
  for (auto& kv : vars) {
    if (kv.first == name) {
      kv.second = std::move(v);
      return;
    }
  }
  vars.emplace_back(std::string(name), std::move(v));
}

namespace {

// jinja2's LoopContext: the `loop` variable inside a for body.
struct LoopObject : Object, std::enable_shared_from_this<LoopObject> {
  std::vector<Value> items;
  size_t index0 = 0;
  int depth0 = 0;
  std::optional<Value> last_changed;
  std::function<Value(Interp&, Args&)> recurse;  // set for `recursive` loops

  std::string type_name() const override { return "LoopContext"; }
  std::string repr() const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items.size()) + ">";
  }
  bool callable() const override { return static_cast<bool>(recurse); }
  Value call(Interp& in, Args& args) override {
    if (!recurse) type_error("The loop must have the 'recursive' marker to be called recursively.");
    return recurse(in, args);
  }

  std::optional<Value> getattr(std::string_view name) override {
    int64_t n = static_cast<int64_t>(items.size());
    int64_t i = static_cast<int64_t>(index0);
    if (name == "index0") return Value(i);
    if (name == "index") return Value(i + 1);
    if (name == "revindex") return Value(n - i);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i + 1 == n);
    if (name == "length") return Value(n);
    if (name == "depth0") return Value(int64_t{depth0});
    if (name == "depth") return Value(int64_t{depth0} + 1);
    if (name == "previtem") {
      return i > 0 ? items[index0 - 1] : Value::undefined("there is no previous item");
    }
    if (name == "nextitem") {
      return i + 1 < n ? items[index0 + 1] : Value::undefined("there is no next item");
    }
    if (name == "cycle") {
      auto self = shared_from_this();
      auto c = std::make_shared<Callable>();
      c->name = "cycle";
      c->fn = [self](Interp&, Args& a) -> Value {
        if (a.pos.empty()) type_error("no items for cycling given");
        return a.pos[self->index0 % a.pos.size()];
      };
      return Value(CallablePtr(std::move(c)));
    }
    if (name == "changed") {
      auto self = shared_from_this();
      auto c = std::make_shared<Callable>();
      c->name = "changed";
      c->fn = [self](Interp&, Args& a) -> Value {
        Value v = Value::tuple(a.pos);
        if (self->last_changed && equals(*self->last_changed, v)) return Value(false);
        self->last_changed = v;
        return Value(true);
      };
      return Value(CallablePtr(std::move(c)));
    }
    return std::nullopt;
  }
};

std::string quoted(const std::string& s) {
  return Value(s).repr();
}

}  // namespace

Interp::Interp(const Template& tmpl, RenderLimits limits, Clock clock)
    : tmpl_(tmpl), limits_(limits), clock_(std::move(clock)) {
  add_globals(globals_);
}

std::string Interp::render(const std::vector<std::pair<std::string, Value>>& vars) {
  auto root = std::make_shared<Scope>();
  for (const auto& [k, v] : vars) root->set(k, v);
  steps_ = 0;
  call_depth_ = 0;
  std::string out;
  struct Cleanup {
    Interp& in;
    ~Cleanup() {
      // Break reference cycles made during the render: scopes <-> macros and namespaces.
      in.pinned_.clear();
      for (auto& weak : in.namespaces_) {
        if (auto ns = weak.lock()) ns->attrs.clear();
      }
      in.namespaces_.clear();
    }
  } cleanup{*this};
  exec(tmpl_.body, root, out);
  return out;
}

void Interp::step() {
  if (++steps_ > limits_.max_steps) {
    throw_error("TemplateRuntimeError", "template exceeded its evaluation budget of " +
                                            std::to_string(limits_.max_steps) + " steps");
  }
}

std::string Interp::checked_string(std::string s) {
  if (s.size() > limits_.max_output_bytes) {
    throw_error("TemplateRuntimeError", "string exceeds the limit of " +
                                            std::to_string(limits_.max_output_bytes) + " bytes");
  }
  return s;
}

void Interp::append(std::string& out, const std::string& s) {
  if (out.size() + s.size() > limits_.max_output_bytes) {
    throw_error("TemplateRuntimeError", "template output exceeds the limit of " +
                                            std::to_string(limits_.max_output_bytes) + " bytes");
  }
  out += s;
}

Interp::Flow Interp::exec(const StmtList& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    Flow f;
    try {
      f = exec_stmt(*s, scope, out);
    } catch (TemplateError& e) {
      if (e.line() == 0) e.set_line(s->line);
      throw;
    }
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Interp::Flow Interp::exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
  step();
  switch (s.kind) {
    case StmtKind::kText:
      append(out, s.text);
      return Flow::kNormal;
    case StmtKind::kPrint:
      append(out, eval(*s.expr, scope).str());
      return Flow::kNormal;
    case StmtKind::kIf:
      for (const auto& br : s.branches) {
        if (eval(*br.cond, scope).truthy()) return exec(br.body, scope, out);
      }
      return exec(s.else_body, scope, out);
    case StmtKind::kFor:
      exec_for(s, eval(*s.expr, scope), scope, out, 0);
      return Flow::kNormal;
    case StmtKind::kSet:
      assign(*s.target, eval(*s.expr, scope), scope);
      return Flow::kNormal;
    case StmtKind::kSetBlock:
    case StmtKind::kFilterBlock: {
      auto inner = std::make_shared<Scope>(scope);
      std::string buf;
      exec(s.body, inner, buf);
      Value v(std::move(buf));
      if (s.expr) {
        // The filter chain's innermost filter has no operand; it filters the block's text.
        std::vector<const Expr*> chain;
        for (const Expr* f = s.expr.get(); f; f = f->a.get()) chain.push_back(f);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          Args args = eval_args(**it, scope);
          v = apply_filter(*this, (*it)->name, v, args);
        }
      }
      if (s.kind == StmtKind::kSetBlock) {
        assign(*s.target, v, scope);
      } else {
        append(out, v.str());
      }
      return Flow::kNormal;
    }
    case StmtKind::kMacro:
      scope->set(s.name, make_macro(s, scope, s.name));
      return Flow::kNormal;
    case StmtKind::kCallBlock: {
      Value caller = make_macro(s, scope, "caller");
      append(out, eval_call(*s.expr, scope, &caller).str());
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      auto inner = std::make_shared<Scope>(scope);
      for (size_t i = 0; i < s.targets.size(); ++i) {
        assign(*s.targets[i], eval(*s.values[i], scope), inner);
      }
      exec(s.body, inner, out);
      return Flow::kNormal;
    }
    case StmtKind::kScope: {
      auto inner = std::make_shared<Scope>(scope);
      exec(s.body, inner, out);
      return Flow::kNormal;
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
  }
  return Flow::kNormal;
}

void Interp::exec_for(const Stmt& s, const Value& iterable, const ScopePtr& scope, std::string& out,
                      int depth0) {
  auto loop = std::make_shared<LoopObject>();
  loop->depth0 = depth0;
  std::vector<Value> all = iterate(iterable);
  if (s.cond) {
    // `for x in xs if cond` filters before the loop runs, so loop.length counts what is kept.
    for (auto& item : all) {
      step();
      auto probe = std::make_shared<Scope>(scope);
      assign(*s.target, item, probe);
      if (eval(*s.cond, probe).truthy()) loop->items.push_back(std::move(item));
    }
  } else {
    loop->items = std::move(all);
  }
  if (s.recursive) {
    pinned_.push_back(scope);
    std::weak_ptr<Scope> weak = scope;
    const Stmt* stmt = &s;
    loop->recurse = [this, weak, stmt, depth0](Interp&, Args& a) -> Value {
      ScopePtr sc = weak.lock();
      if (!sc) throw_error("TemplateRuntimeError", "loop called after its scope ended");
      if (a.pos.size() != 1) type_error("loop() takes exactly one argument");
      if (++call_depth_ > limits_.max_call_depth) {
        --call_depth_;
        throw_error("RecursionError", "maximum recursion depth exceeded");
      }
      std::string buf;
      try {
        exec_for(*stmt, a.pos[0], sc, buf, depth0 + 1);
      } catch (...) {
        --call_depth_;
        throw;
      }
      --call_depth_;
      return Value(std::move(buf));
    };
  }
  Value loop_value{ObjectPtr(loop)};
  for (size_t i = 0; i < loop->items.size(); ++i) {
    step();
    loop->index0 = i;
    auto iter_scope = std::make_shared<Scope>(scope);
    assign(*s.target, loop->items[i], iter_scope);
    iter_scope->set("loop", loop_value);
    if (exec(s.body, iter_scope, out) == Flow::kBreak) break;
  }
  loop->last_changed.reset();  // it may hold the loop itself (loop.changed(loop))
  if (loop->items.empty() && !s.else_body.empty()) {
    auto inner = std::make_shared<Scope>(scope);
    exec(s.else_body, inner, out);
  }
}

Value Interp::make_macro(const Stmt& s, const ScopePtr& scope, const std::string& name) {
  // The macro reads its defining scope when called (Python closure semantics). The scope is
  // held by pinned_ for the render, so the callable only keeps a weak reference: a strong one
  // would form a cycle with the scope that stores the macro.
  pinned_.push_back(scope);
  std::weak_ptr<Scope> weak = scope;
  const Stmt* ms = &s;
  auto c = std::make_shared<Callable>();
  c->name = name;
  c->fn = [this, weak, ms, name](Interp&, Args& args) -> Value {
    ScopePtr def = weak.lock();
    if (!def)
      throw_error("TemplateRuntimeError", "macro '" + name + "' called after its scope ended");
    if (call_depth_ + 1 > limits_.max_call_depth) {
      throw_error("RecursionError", "maximum recursion depth exceeded");
    }
    auto local = std::make_shared<Scope>(def);
    size_t np = ms->params.size();
    size_t first_default = np - ms->defaults.size();
    std::vector<bool> bound(np, false);
    std::vector<Value> varargs;
    for (size_t i = 0; i < args.pos.size(); ++i) {
      if (i < np) {
        local->set(ms->params[i], args.pos[i]);
        bound[i] = true;
      } else {
        varargs.push_back(args.pos[i]);
      }
    }
    std::vector<std::pair<Value, Value>> kwargs;
    for (auto& [k, v] : args.kw) {
      auto it = std::find(ms->params.begin(), ms->params.end(), k);
      if (it != ms->params.end()) {
        size_t i = static_cast<size_t>(it - ms->params.begin());
        if (bound[i])
          type_error("macro '" + name + "' got multiple values for argument '" + k + "'");
        local->set(k, v);
        bound[i] = true;
      } else if (k == "caller") {
        local->set("caller", v);
      } else {
        kwargs.emplace_back(Value(k), v);
      }
    }
    for (size_t i = 0; i < np; ++i) {
      if (bound[i]) continue;
      local->set(ms->params[i], i >= first_default
                                    ? eval(*ms->defaults[i - first_default], local)
                                    : Value::undefined("parameter " + quoted(ms->params[i]) +
                                                       " was not provided"));
    }
    local->set("varargs", Value::tuple(std::move(varargs)));
    local->set("kwargs", Value::dict(std::move(kwargs)));
    ++call_depth_;
    std::string buf;
    try {
      exec(ms->body, local, buf);
    } catch (...) {
      --call_depth_;
      throw;
    }
    --call_depth_;
    return Value(std::move(buf));
  };
  return Value(CallablePtr(std::move(c)));
}

void Interp::assign(const Expr& target, const Value& v, const ScopePtr& scope) {
  switch (target.kind) {
    case ExprKind::kName:
      scope->set(target.name, v);
      return;
    case ExprKind::kNsRef: {
      Value ns = lookup(target.name, scope);
      if (!ns.is_namespace()) {
        throw_error("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      }
      ns.ns()->set(target.attr, v);
      return;
    }
    case ExprKind::kTuple: {
      if (!v.is_list() && !v.is_dict() && !v.is_string() && !v.is_undefined()) {
        type_error("cannot unpack non-iterable " + v.type_name() + " object");
      }
      std::vector<Value> items = iterate(v);
      size_t n = target.args.size();
      if (items.size() < n) {
        throw_error("ValueError", "not enough values to unpack (expected " + std::to_string(n) +
                                      ", got " + std::to_string(items.size()) + ")");
      }
      if (items.size() > n) {
        throw_error("ValueError", "too many values to unpack (expected " + std::to_string(n) + ")");
      }
      for (size_t i = 0; i < n; ++i) assign(*target.args[i], items[i], scope);
      return;
    }
    default:
      throw_error("TemplateRuntimeError", "cannot assign to this expression");
  }
}

Value Interp::lookup(const std::string& name, const ScopePtr& scope) const {
  for (const Scope* s = scope.get(); s; s = s->parent.get()) {
    if (const Value* v = s->find_local(name)) return *v;
  }
  auto it = globals_.find(name);
  if (it != globals_.end()) return it->second;
  return Value::undefined(quoted(name) + " is undefined");
}

Value Interp::eval(const Expr& e, const ScopePtr& scope) {
  step();
  try {
    return eval_inner(e, scope);
  } catch (TemplateError& err) {
    if (err.line() == 0) err.set_line(e.line);
    throw;
  }
}

Args Interp::eval_args(const Expr& e, const ScopePtr& scope) {
  Args args;
  for (const auto& a : e.args) args.pos.push_back(eval(*a, scope));
  if (e.dyn_args) {
    for (auto& v : iterate(eval(*e.dyn_args, scope))) args.pos.push_back(std::move(v));
  }
  for (const auto& kw : e.kwargs) args.kw.emplace_back(kw.name, eval(*kw.value, scope));
  if (e.dyn_kwargs) {
    Value d = eval(*e.dyn_kwargs, scope);
    if (!d.is_dict()) type_error("argument after ** must be a mapping, not " + d.type_name());
    for (const auto& [k, v] : d.dict().items) {
      if (!k.is_string()) type_error("keywords must be strings");
      args.kw.emplace_back(k.as_string(), v);
    }
  }
  return args;
}

Value Interp::eval_call(const Expr& e, const ScopePtr& scope, const Value* caller) {
  Value fn = eval(*e.a, scope);
  Args args = eval_args(e, scope);
  if (caller) args.kw.emplace_back("caller", *caller);
  return call(fn, args);
}

Value Interp::call(const Value& fn, Args& args) {
  fn.fail_if_undefined();
  if (fn.is_callable()) return fn.callable().fn(*this, args);
  if (fn.is_object() && fn.object()->callable()) return fn.object()->call(*this, args);
  type_error(quoted(fn.type_name()) + " object is not callable");
}

Value Interp::eval_inner(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return lookup(e.name, scope);
    case ExprKind::kNsRef:
      return getattr(lookup(e.name, scope), e.attr);
    case ExprKind::kGetAttr:
      return getattr(eval(*e.a, scope), e.name);
    case ExprKind::kGetItem: {
      Value obj = eval(*e.a, scope);
      if (e.b->kind == ExprKind::kSlice) {
        obj.fail_if_undefined();
        const Expr& sl = *e.b;
        Value start = sl.a ? eval(*sl.a, scope) : Value::none();
        Value stop = sl.b ? eval(*sl.b, scope) : Value::none();
        Value stride = sl.c ? eval(*sl.c, scope) : Value::none();
        return slice_value(obj, start, stop, stride);
      }
      return getitem(obj, eval(*e.b, scope));
    }
    case ExprKind::kSlice:
      throw_error("TemplateSyntaxError", "slice outside a subscript");
    case ExprKind::kCall:
      return eval_call(e, scope, nullptr);
    case ExprKind::kFilter: {
      Value v = e.a ? eval(*e.a, scope) : Value();
      Args args = eval_args(e, scope);
      return apply_filter(*this, e.name, v, args);
    }
    case ExprKind::kTest: {
      Value v = eval(*e.a, scope);
      Args args = eval_args(e, scope);
      return Value(apply_test(*this, e.name, v, args));
    }
    case ExprKind::kNot:
      return Value(!eval(*e.a, scope).truthy());
    case ExprKind::kNeg:
      return unary_op('-', eval(*e.a, scope));
    case ExprKind::kPos:
      return unary_op('+', eval(*e.a, scope));
    case ExprKind::kBinary: {
      Value a = eval(*e.a, scope);
      Value b = eval(*e.b, scope);
      return binary_op(*this, e.name, a, b);
    }
    case ExprKind::kAnd: {
      Value a = eval(*e.a, scope);
      return a.truthy() ? eval(*e.b, scope) : a;
    }
    case ExprKind::kOr: {
      Value a = eval(*e.a, scope);
      return a.truthy() ? a : eval(*e.b, scope);
    }
    case ExprKind::kConcat: {
      std::string s;
      for (const auto& a : e.args) {
        s += eval(*a, scope).str();
        if (s.size() > limits_.max_output_bytes) checked_string(std::move(s));
      }
      return Value(std::move(s));
    }
    case ExprKind::kCompare: {
      Value left = eval(*e.a, scope);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.args[i], scope);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "in" || op == "notin") {
          ok = contains(right, left) == (op == "in");
        } else {
          ok = compare_op(op, left, right);
        }
        if (!ok) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kCondExpr:
      if (eval(*e.a, scope).truthy()) return eval(*e.b, scope);
      if (e.c) return eval(*e.c, scope);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.args.size());
      for (const auto& a : e.args) items.push_back(eval(*a, scope));
      return Value::list(std::move(items), e.kind == ExprKind::kTuple ? Value::SeqKind::kTuple
                                                                      : Value::SeqKind::kList);
    }
    case ExprKind::kDict: {
      std::vector<std::pair<Value, Value>> items;
      for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
        Value k = eval(*e.args[i], scope);
        items.emplace_back(std::move(k), eval(*e.args[i + 1], scope));
      }
      return Value::dict(std::move(items));
    }
  }
  return Value();
}

Value Interp::python_attr(const Value& obj, const std::string& name, bool* found) {
  *found = false;
  if (!name.empty() && name[0] == '_') return Value();  // the sandbox hides private attributes
  if (obj.is_namespace()) {
    if (const Value* v = obj.ns()->find(name)) {
      *found = true;
      return *v;
    }
    return Value();
  }
  if (obj.is_object()) {
    if (auto v = obj.object()->getattr(name)) {
      *found = true;
      return *v;
    }
    return Value();
  }
  if (auto m = bound_method(obj, name)) {
    *found = true;
    return *m;
  }
  return Value();
}

Value Interp::getattr(const Value& obj, const std::string& name) {
  obj.fail_if_undefined();
  bool found;
  Value v = python_attr(obj, name, &found);
  if (found) return v;
  Value item = index_value(obj, Value(name), &found);
  if (found) return item;
  return Value::undefined(quoted(obj.object_type_repr()) + " has no attribute " + quoted(name));
}

Value Interp::getitem(const Value& obj, const Value& key) {
  obj.fail_if_undefined();
  bool found;
  Value v = index_value(obj, key, &found);
  if (found) return v;
  if (key.is_string()) {
    Value a = python_attr(obj, key.as_string(), &found);
    if (found) return a;
    return Value::undefined(quoted(obj.object_type_repr()) + " has no attribute " +
                            quoted(key.as_string()));
  }
  return Value::undefined(obj.object_type_repr() + " has no element " + key.repr());
}

std::vector<Value> Interp::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
      return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& kv : v.dict().items) keys.push_back(kv.first);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      for (char32_t c : utf8_decode(v.as_string())) {
        std::string s;
        utf8_append(s, c);
        chars.emplace_back(std::move(s));
      }
      return chars;
    }
    default:
      type_error(quoted(v.type_name()) + " object is not iterable");
  }
}

namespace {

void validate_expr(const Expr* e);

void validate_list(const StmtList& body);

void validate_expr(const Expr* e) {
  if (!e) return;
  if (e->kind == ExprKind::kFilter && !has_filter(e->name)) {
    throw TemplateError("TemplateAssertionError", "No filter named " + quoted(e->name) + ".",
                        e->line);
  }
  if (e->kind == ExprKind::kTest && !has_test(e->name)) {
    throw TemplateError("TemplateAssertionError", "No test named " + quoted(e->name) + ".",
                        e->line);
  }
  validate_expr(e->a.get());
  validate_expr(e->b.get());
  validate_expr(e->c.get());
  validate_expr(e->dyn_args.get());
  validate_expr(e->dyn_kwargs.get());
  for (const auto& a : e->args) validate_expr(a.get());
  for (const auto& k : e->kwargs) validate_expr(k.value.get());
}

void validate_list(const StmtList& body) {
  for (const auto& s : body) {
    validate_expr(s->expr.get());
    validate_expr(s->target.get());
    validate_expr(s->cond.get());
    for (const auto& br : s->branches) {
      validate_expr(br.cond.get());
      validate_list(br.body);
    }
    for (const auto& d : s->defaults) validate_expr(d.get());
    for (const auto& v : s->values) validate_expr(v.get());
    validate_list(s->body);
    validate_list(s->else_body);
  }
}

}  // namespace

void validate(const Template& tmpl) {
  validate_list(tmpl.body);
}

}  // namespace kt::models::jinja
