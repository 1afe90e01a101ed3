#pragma once
// jinja2's built-in filters, tests and globals, the Python methods templates call on str, dict
// and list values, and Python's operators, all with Python's results and error messages.
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "models/jinja_value.h"

namespace kt::models::jinja {

class Interp;

// Filters and tests (jinja_filters.cpp).
bool has_filter(std::string_view name);
bool has_test(std::string_view name);
Value apply_filter(Interp& in, const std::string& name, const Value& v, Args& args);
bool apply_test(Interp& in, const std::string& name, const Value& v, Args& args);

// Methods, operators and globals (jinja_methods.cpp).
// A Python attribute of a str/dict/list/tuple that is a method, bound to `obj`.
std::optional<Value> bound_method(const Value& obj, const std::string& name);
void add_globals(std::unordered_map<std::string, Value>& globals);
Value binary_op(Interp& in, std::string_view op, const Value& a, const Value& b);
Value unary_op(char op, const Value& v);
bool compare_op(std::string_view op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
// Python obj[key] for an index or key; `found` is false where Python would raise.
Value index_value(const Value& obj, const Value& key, bool* found);
// The indices Python's slice(start, stop, step) selects from a sequence of `len` (None parts
// take their defaults; PySlice_AdjustIndices clamping).
std::vector<size_t> slice_indices(size_t len, const Value& start, const Value& stop,
                                  const Value& step);
// Python obj[start:stop:step]; absent parts are None.
Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step);
std::string py_strftime(const std::string& fmt, const std::tm& t);
size_t py_len(const Value& v);
char32_t py_toupper(char32_t c);  // str.upper() for one character (common scripts)
char32_t py_tolower(char32_t c);  // len(v), raising TypeError where Python does

// Reads call arguments the way a Python signature binds them: positional index i or keyword
// names[i]; done() rejects leftovers.
class ArgReader {
 public:
  ArgReader(Args& args, std::string func, std::initializer_list<const char*> names);
  bool has(size_t i) const;
  Value get(size_t i, Value def = Value()) const;
  void done() const;

 private:
  Args& args_;
  std::string func_;
  std::vector<const char*> names_;
};

}  // namespace kt::models::jinja
