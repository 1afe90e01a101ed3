#pragma once
// The value model of the Jinja2 engine behind chat templates. Templates are written against
// Python objects, so values here follow Python's rules: str()/repr() text, truthiness, ==
// across int/float/bool, list vs tuple, ordered dicts, and jinja2's Undefined (prints as
// empty, is falsy, but raises when used in arithmetic or when an attribute of it is read).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace kt::models::jinja {

// A render-time or parse-time failure. `type` is the Python exception class jinja2 would
// raise (TemplateError, UndefinedError, TypeError, TemplateSyntaxError, ...); `line` is the
// template line, 0 until the statement that failed fills it in.
class TemplateError : public std::runtime_error {
 public:
  TemplateError(std::string type, const std::string& message, int line = 0)
      : std::runtime_error(message), type_(std::move(type)), line_(line) {}
  const std::string& type() const { return type_; }
  int line() const { return line_; }
  void set_line(int line) { line_ = line; }

 private:
  std::string type_;
  int line_;
};

[[noreturn]] void throw_error(const std::string& type, const std::string& message);
[[noreturn]] inline void type_error(const std::string& message) {
  throw_error("TypeError", message);
}

class Value;
struct ListData;
struct DictData;
struct Callable;
struct Namespace;
struct Object;
using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using CallablePtr = std::shared_ptr<const Callable>;
using NamespacePtr = std::shared_ptr<Namespace>;
using ObjectPtr = std::shared_ptr<Object>;

// Positional and keyword arguments of a call, filter or test.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

class Interp;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,  // list, tuple or generator (see SeqKind)
    kDict,
    kCallable,
    kNamespace,
    kObject,  // loop objects and other built-in objects with computed attributes
  };
  enum class SeqKind : uint8_t { kList, kTuple, kGenerator };

  Value() : v_(Undef{}) {}  // undefined
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t{i}) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(ListPtr l) : v_(std::move(l)) {}
  Value(DictPtr d) : v_(std::move(d)) {}
  Value(CallablePtr c) : v_(std::move(c)) {}
  Value(NamespacePtr n) : v_(std::move(n)) {}
  Value(ObjectPtr o) : v_(std::move(o)) {}

  // Undefined with the message jinja2 would raise when it is used ("'x' is undefined").
  static Value undefined(std::string message = {}) { return Value(Undef{std::move(message)}); }
  static Value none() { return Value(None{}); }
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), SeqKind::kTuple); }
  static Value dict(std::vector<std::pair<Value, Value>> items);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_callable() const { return kind() == Kind::kCallable; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_object() const { return kind() == Kind::kObject; }
  SeqKind seq_kind() const;

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;    // bool or int
  double as_double() const;  // bool, int or float
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const std::string& undefined_message() const { return std::get<Undef>(v_).message; }
  const std::vector<Value>& items() const;  // list/tuple/generator items
  const DictData& dict() const { return *std::get<DictPtr>(v_); }
  const Callable& callable() const { return *std::get<CallablePtr>(v_); }
  const NamespacePtr& ns() const { return std::get<NamespacePtr>(v_); }
  const ObjectPtr& object() const { return std::get<ObjectPtr>(v_); }
  const void* identity() const;  // for `is sameas` on reference types

  bool truthy() const;
  // Python str(): what {{ x }} prints; Undefined prints as "".
  std::string str() const;
  // Python repr(), used for items inside printed lists and dicts.
  std::string repr() const;
  // Python type(x).__name__ ("str", "NoneType", ...), for error messages.
  std::string type_name() const;
  // jinja2's object_type_repr ("dict object", "None"), for undefined-attribute messages.
  std::string object_type_repr() const;
  // Raises jinja2's UndefinedError when this is undefined; used wherever Python would call a
  // dunder method that Undefined makes fail (arithmetic, ordering, attribute access, calls).
  void fail_if_undefined() const;

 private:
  struct Undef {
    std::string message;
  };
  struct None {};
  explicit Value(Undef u) : v_(std::move(u)) {}
  explicit Value(None n) : v_(n) {}

  std::variant<Undef, None, bool, int64_t, double, std::string, ListPtr, DictPtr, CallablePtr,
               NamespacePtr, ObjectPtr>
      v_;
};

struct ListData {
  std::vector<Value> items;
  Value::SeqKind kind = Value::SeqKind::kList;
};

// An insertion-ordered mapping, as Python dicts are. Keys compare with Python ==.
struct DictData {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
};

struct Callable {
  std::string name;  // for repr and error messages
  std::function<Value(Interp&, Args&)> fn;
};

// jinja2's namespace(): the one mutable object templates have ({% set ns.x = ... %}).
struct Namespace {
  std::vector<std::pair<std::string, Value>> attrs;
  const Value* find(std::string_view key) const;
  void set(std::string_view key, Value value);
};

// Built-in objects whose attributes are computed on access (loop, joiner, ...).
struct Object {
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;
  virtual std::string module() const { return "jinja2.runtime"; }
  virtual std::optional<Value> getattr(std::string_view name) = 0;  // nullopt: no such attribute
  // Objects that can be called (`loop(...)` in recursive loops); default: not callable.
  virtual bool callable() const { return false; }
  virtual Value call(Interp&, Args&) { type_error("'" + type_name() + "' object is not callable"); }
  virtual std::string repr() const { return "<" + module() + "." + type_name() + " object>"; }
};

// Python ==, total over all kinds (mismatched kinds are unequal; 1 == 1.0 == True).
bool equals(const Value& a, const Value& b);
// Python <, raising TypeError where Python does ('<' not supported between ...).
bool less_than(const Value& a, const Value& b);

// Python float repr: shortest round-trip digits, "1.0", "1e+16", "1.5e-05", "inf", "nan".
std::string float_repr(double d);

struct JsonOptions {
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_indent = false;
  std::string indent;          // the indent unit when has_indent
  std::string item_separator;  // ", " without indent, "," with
  std::string key_separator = ": ";
};
// Python json.dumps(value, ...) as transformers' tojson filter calls it.
std::string to_json(const Value& v, const JsonOptions& opts);

// UTF-8 helpers. Python strings index by code point; bytes that are not valid UTF-8 decode to
// U+DC80..U+DCFF (like Python's surrogateescape) so that they survive a round trip unchanged.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t c);
bool is_ascii(std::string_view s);
size_t utf8_length(std::string_view s);
bool py_isspace(char32_t c);  // str.isspace()
// str.strip()/lstrip()/rstrip(): whitespace when `chars` is null, else those characters.
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);

}  // namespace kt::models::jinja
