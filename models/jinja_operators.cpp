// Python operators, indexing and slicing, and jinja2's global functions.
#include <algorithm>
#include <climits>
#include <cmath>

#include "models/jinja_builtins.h"
#include "models/jinja_eval.h"

namespace kt::models::jinja {

namespace {

std::string quoted(const std::string& s) {
  return Value(s).repr();
}

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
  type_error("unsupported operand type(s) for " + std::string(op) + ": '" + a.type_name() +
             "' and '" + b.type_name() + "'");
}

void check_overflow(bool overflow) {
  if (overflow) throw_error("OverflowError", "integer result too large");
}

int64_t floor_div(int64_t a, int64_t b) {
  if (a == INT64_MIN && b == -1) throw_error("OverflowError", "integer result too large");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t py_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

double py_fmod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  if (r == 0) r = std::copysign(0.0, b);
  return r;
}

Value repeat(Interp& in, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? Value(std::string()) : Value::list({}, seq.seq_kind());
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(n) > in.limits().max_output_bytes / s.size())
      in.checked_string(std::string(in.limits().max_output_bytes + 1, ' '));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.items();
  if (!items.empty() && static_cast<uint64_t>(n) > (size_t{1} << 24) / items.size())
    throw_error("MemoryError", "list repetition too large");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.seq_kind());
}

bool is_seq(const Value& v) {
  return v.is_list() && v.seq_kind() != Value::SeqKind::kGenerator;
}

Value make_callable(std::string name, std::function<Value(Interp&, Args&)> fn) {
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  return Value(CallablePtr(std::move(c)));
}

// jinja2's joiner(): returns "" on the first call, then the separator.
Value make_joiner(Args& args) {
  ArgReader r(args, "joiner", {"sep"});
  std::string sep = r.get(0, Value(", ")).str();
  r.done();
  auto used = std::make_shared<bool>(false);
  return make_callable("joiner", [sep, used](Interp&, Args&) -> Value {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}
}  // namespace

std::vector<size_t> slice_indices(size_t len, const Value& start, const Value& stop,
                                  const Value& step) {
  auto as_index = [](const Value& v) {
    if (!v.is_int() && !v.is_bool()) {
      type_error("slice indices must be integers or None or have an __index__ method");
    }
    return v.as_int();
  };
  int64_t st = step.is_none() ? 1 : as_index(step);
  if (st == 0) throw_error("ValueError", "slice step cannot be zero");
  int64_t n = static_cast<int64_t>(len);
  int64_t lo, hi;
  auto clamp = [&](int64_t v, bool is_start) {
    if (v < 0) {
      v += n;
      if (v < 0) v = st < 0 ? -1 : 0;
    } else if (v >= n) {
      v = st < 0 ? n - 1 : n;
    }
    (void)is_start;
    return v;
  };
  lo = start.is_none() ? (st < 0 ? n - 1 : 0) : clamp(as_index(start), true);
  hi = stop.is_none() ? (st < 0 ? -1 : n) : clamp(as_index(stop), false);
  std::vector<size_t> idx;
  if (st > 0) {
    for (int64_t i = lo; i < hi; i += st) idx.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = lo; i > hi; i += st) idx.push_back(static_cast<size_t>(i));
  }
  return idx;
}

void add_globals(std::unordered_map<std::string, Value>& g) {
  g["range"] = make_callable("range", [](Interp&, Args& a) -> Value {
    if (!a.kw.empty()) type_error("range() takes no keyword arguments");
    if (a.pos.empty() || a.pos.size() > 3) {
      type_error("range expected at most 3 arguments, got " + std::to_string(a.pos.size()));
    }
    for (const auto& v : a.pos) {
      if (!v.is_int() && !v.is_bool()) {
        type_error(quoted(v.type_name()) + " object cannot be interpreted as an integer");
      }
    }
    int64_t start = a.pos.size() > 1 ? a.pos[0].as_int() : 0;
    int64_t stop = a.pos.size() > 1 ? a.pos[1].as_int() : a.pos[0].as_int();
    int64_t step = a.pos.size() > 2 ? a.pos[2].as_int() : 1;
    if (step == 0) throw_error("ValueError", "range() arg 3 must not be zero");
    double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                             static_cast<double>(step));
    if (count > kMaxRange) {
      throw_error("OverflowError",
                  "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    std::vector<Value> out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
    return Value::list(std::move(out));
  });
  g["dict"] = make_callable("dict", [](Interp& in, Args& a) -> Value {
    std::vector<std::pair<Value, Value>> items;
    if (a.pos.size() > 1)
      type_error("dict expected at most 1 argument, got " + std::to_string(a.pos.size()));
    if (!a.pos.empty()) {
      if (a.pos[0].is_dict()) {
        items = a.pos[0].dict().items;
      } else {
        for (const auto& pair : in.iterate(a.pos[0])) {
          auto kv = in.iterate(pair);
          if (kv.size() != 2)
            throw_error("ValueError", "dictionary update sequence element has wrong length");
          items.emplace_back(kv[0], kv[1]);
        }
      }
    }
    for (auto& [k, v] : a.kw) items.emplace_back(Value(k), v);
    return Value::dict(std::move(items));
  });
  g["namespace"] = make_callable("namespace", [](Interp& in, Args& a) -> Value {
    auto ns = std::make_shared<Namespace>();
    if (a.pos.size() > 1)
      type_error("dict expected at most 1 argument, got " + std::to_string(a.pos.size()));
    if (!a.pos.empty()) {
      Value d = a.pos[0].is_dict() ? a.pos[0] : Value();
      if (!d.is_dict()) type_error("namespace() argument must be a mapping");
      for (const auto& [k, v] : d.dict().items) ns->set(k.str(), v);
    }
    for (auto& [k, v] : a.kw) ns->set(k, v);
    in.track(ns);
    return Value(NamespacePtr(std::move(ns)));
  });
  g["raise_exception"] = make_callable("raise_exception", [](Interp&, Args& a) -> Value {
    ArgReader r(a, "raise_exception", {"message"});
    Value msg = r.get(0);
    r.done();
    throw_error("TemplateError", msg.str());
  });
  g["strftime_now"] = make_callable("strftime_now", [](Interp& in, Args& a) -> Value {
    ArgReader r(a, "strftime_now", {"format"});
    Value fmt = r.get(0);
    r.done();
    if (!fmt.is_string()) type_error("strftime() argument 1 must be str, not " + fmt.type_name());
    return Value(py_strftime(fmt.as_string(), in.now()));
  });
  g["joiner"] = make_callable("joiner", [](Interp&, Args& a) { return make_joiner(a); });
}

Value unary_op(char op, const Value& v) {
  v.fail_if_undefined();
  if (v.is_float()) return Value(op == '-' ? -v.as_double() : v.as_double());
  if (v.is_int() || v.is_bool()) {
    if (op == '+') return Value(v.as_int());
    if (v.as_int() == INT64_MIN) throw_error("OverflowError", "integer result too large");
    return Value(-v.as_int());
  }
  type_error(std::string("bad operand type for unary ") + op + ": '" + v.type_name() + "'");
}

Value binary_op(Interp& in, std::string_view op, const Value& a, const Value& b) {
  a.fail_if_undefined();
  b.fail_if_undefined();
  bool nums = a.is_number() && b.is_number();
  bool ints = nums && !a.is_float() && !b.is_float();
  int64_t r = 0;
  if (op == "+") {
    if (ints) {
      check_overflow(__builtin_add_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    if (nums) return Value(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string())
      return Value(in.checked_string(a.as_string() + b.as_string()));
    if (is_seq(a) && is_seq(b) && a.seq_kind() == b.seq_kind()) {
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(items), a.seq_kind());
    }
    if (a.is_string() || is_seq(a)) {
      type_error("can only concatenate " + a.type_name() + " (not \"" + b.type_name() + "\") to " +
                 a.type_name());
    }
    unsupported(op, a, b);
  }
  if (op == "-") {
    if (ints) {
      check_overflow(__builtin_sub_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    if (nums) return Value(a.as_double() - b.as_double());
    unsupported(op, a, b);
  }
  if (op == "*") {
    if (ints) {
      check_overflow(__builtin_mul_overflow(a.as_int(), b.as_int(), &r));
      return Value(r);
    }
    if (nums) return Value(a.as_double() * b.as_double());
    if ((a.is_string() || is_seq(a)) && (b.is_int() || b.is_bool()))
      return repeat(in, a, b.as_int());
    if ((b.is_string() || is_seq(b)) && (a.is_int() || a.is_bool()))
      return repeat(in, b, a.as_int());
    if (a.is_string() || is_seq(a) || b.is_string() || is_seq(b)) {
      type_error("can't multiply sequence by non-int of type '" +
                 (a.is_string() || is_seq(a) ? b : a).type_name() + "'");
    }
    unsupported(op, a, b);
  }
  if (op == "/") {
    if (!nums) unsupported(op, a, b);
    if (b.as_double() == 0) throw_error("ZeroDivisionError", "division by zero");
    return Value(a.as_double() / b.as_double());
  }
  if (op == "//") {
    if (!nums) unsupported(op, a, b);
    if (ints) {
      if (b.as_int() == 0) throw_error("ZeroDivisionError", "integer division or modulo by zero");
      return Value(floor_div(a.as_int(), b.as_int()));
    }
    if (b.as_double() == 0) throw_error("ZeroDivisionError", "float floor division by zero");
    return Value(std::floor(a.as_double() / b.as_double()));
  }
  if (op == "%") {
    if (!nums) {
      if (a.is_string())
        throw_error("TypeError", "printf-style string formatting is not supported");
      unsupported(op, a, b);
    }
    if (ints) {
      if (b.as_int() == 0) throw_error("ZeroDivisionError", "integer division or modulo by zero");
      return Value(py_mod(a.as_int(), b.as_int()));
    }
    if (b.as_double() == 0) throw_error("ZeroDivisionError", "float modulo");
    return Value(py_fmod(a.as_double(), b.as_double()));
  }
  if (op == "**") {
    if (!nums) unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), acc = 1;
      while (e > 0) {
        if (e & 1) check_overflow(__builtin_mul_overflow(acc, base, &acc));
        e >>= 1;
        if (e) check_overflow(__builtin_mul_overflow(base, base, &base));
      }
      return Value(acc);
    }
    if (a.as_double() == 0 && b.as_double() < 0) {
      throw_error("ZeroDivisionError", "0.0 cannot be raised to a negative power");
    }
    return Value(std::pow(a.as_double(), b.as_double()));
  }
  throw_error("TemplateRuntimeError", "unknown operator " + std::string(op));
}

bool compare_op(std::string_view op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  a.fail_if_undefined();
  b.fail_if_undefined();
  bool comparable = (a.is_number() && b.is_number()) || (a.is_string() && b.is_string()) ||
                    (is_seq(a) && is_seq(b) && a.seq_kind() == b.seq_kind());
  if (!comparable) {
    std::string msg(1, '\'');
    msg.append(op);
    msg +=
        "' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'";
    type_error(msg);
  }
  if (op == "<") return less_than(a, b);
  if (op == ">") return less_than(b, a);
  if (op == "<=") return !less_than(b, a);
  return !less_than(a, b);  // >=
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        type_error("'in <string>' requires string as left operand, not " + item.type_name());
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::kList:
      for (const auto& v : container.items())
        if (equals(v, item)) return true;
      return false;
    case Value::Kind::kDict:
      return container.dict().find(item) != nullptr;
    default:
      type_error("argument of type " + quoted(container.type_name()) + " is not iterable");
  }
}

Value index_value(const Value& obj, const Value& key, bool* found) {
  *found = false;
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(key)) {
      *found = true;
      return *v;
    }
    return Value();
  }
  if (!key.is_int() && !key.is_bool()) return Value();
  int64_t i = key.as_int();
  if (is_seq(obj)) {
    int64_t n = static_cast<int64_t>(obj.items().size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value();
    *found = true;
    return obj.items()[static_cast<size_t>(i)];
  }
  if (obj.is_string()) {
    std::u32string cs = utf8_decode(obj.as_string());
    int64_t n = static_cast<int64_t>(cs.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value();
    *found = true;
    std::string s;
    utf8_append(s, cs[static_cast<size_t>(i)]);
    return Value(std::move(s));
  }
  return Value();
}

Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    if (is_ascii(s)) {
      std::string out;
      for (size_t i : slice_indices(s.size(), start, stop, step)) out.push_back(s[i]);
      return Value(std::move(out));
    }
    std::u32string cs = utf8_decode(s);
    std::string out;
    for (size_t i : slice_indices(cs.size(), start, stop, step)) utf8_append(out, cs[i]);
    return Value(std::move(out));
  }
  if (is_seq(obj)) {
    std::vector<Value> out;
    for (size_t i : slice_indices(obj.items().size(), start, stop, step))
      out.push_back(obj.items()[i]);
    return Value::list(std::move(out), obj.seq_kind());
  }
  // Python raises TypeError for other types; jinja2's getitem turns that into Undefined.
  return Value::undefined(obj.object_type_repr() + " has no element slice(" + start.repr() + ", " +
                          stop.repr() + ", " + step.repr() + ")");
}

size_t py_len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return utf8_length(v.as_string());
    case Value::Kind::kList:
      if (v.seq_kind() == Value::SeqKind::kGenerator) break;
      return v.items().size();
    case Value::Kind::kDict:
      return v.dict().items.size();
    default:
      break;
  }
  type_error("object of type " + quoted(v.type_name()) + " has no len()");
}

std::string py_strftime(const std::string& fmt, const std::tm& t) {
  if (fmt.empty()) return "";
  std::vector<char> buf(256);
  // strftime returns 0 both for "too small" and for an empty result; grow a few times, then
  // accept an empty result (Python would return "" for formats such as "%p" in some locales).
  for (int tries = 0; tries < 8; ++tries) {
    size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &t);
    if (n > 0) return std::string(buf.data(), n);
    if (buf.size() > (size_t{1} << 20)) break;
    buf.resize(buf.size() * 4);
  }
  return "";
}

}  // namespace kt::models::jinja
