// jinja2's built-in filters and tests, with transformers' tojson override.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>

#include "models/jinja_builtins.h"
#include "models/jinja_eval.h"

namespace kt::models::jinja {

namespace {

using FilterFn = std::function<Value(Interp&, const Value&, Args&)>;
using TestFn = std::function<bool(Interp&, const Value&, Args&)>;

std::string quoted(const std::string& s) {
  return Value(s).repr();
}

Value generator(std::vector<Value> items) {
  return Value::list(std::move(items), Value::SeqKind::kGenerator);
}

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then index 0, each with getitem.
std::function<Value(const Value&)> attrgetter(Interp& in, const Value& attribute,
                                              std::optional<Value> def = std::nullopt) {
  std::vector<Value> parts;
  if (attribute.is_string()) {
    const std::string& s = attribute.as_string();
    size_t pos = 0;
    while (true) {
      size_t dot = s.find('.', pos);
      std::string part = s.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                                 [](char c) { return c >= '0' && c <= '9'; });
      parts.push_back(digits && part.size() < 18 ? Value(static_cast<int64_t>(std::stoll(part)))
                                                 : Value(part));
      if (dot == std::string::npos) break;
      pos = dot + 1;
    }
  } else {
    parts.push_back(attribute);
  }
  return [&in, parts, def](const Value& item) {
    Value v = item;
    for (const auto& p : parts) {
      v = in.getitem(v, p);
      if (def && v.is_undefined()) v = *def;
    }
    return v;
  };
}

// Lower-cases strings for the case-insensitive comparisons of sort/unique/min/max/dictsort.
Value fold(const Value& v, bool case_sensitive) {
  if (case_sensitive || !v.is_string()) return v;
  std::u32string cs = utf8_decode(v.as_string());
  for (auto& c : cs) c = py_tolower(c);
  return Value(utf8_encode(cs));
}

int64_t to_int_arg(const Value& v, const char* what) {
  if (!v.is_int() && !v.is_bool()) {
    type_error(std::string("'") + v.type_name() + "' object cannot be interpreted as an integer" +
               (what[0] ? std::string(" (") + what + ")" : std::string()));
  }
  return v.as_int();
}

std::optional<int64_t> parse_py_int(std::string s, int base) {
  s = py_strip(s, nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, base);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return v;
}

std::optional<double> parse_py_float(std::string s) {
  s = py_strip(s, nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return std::nullopt;
  return v;
}

std::vector<Value> sorted(Interp& in, std::vector<Value> items, bool reverse,
                          const std::function<Value(const Value&)>& key) {
  std::vector<std::pair<Value, Value>> keyed;
  for (auto& v : items) keyed.emplace_back(key(v), std::move(v));
  auto cmp = [&](const auto& a, const auto& b) {
    in.step();
    return reverse ? less_than(b.first, a.first) : less_than(a.first, b.first);
  };
  std::stable_sort(keyed.begin(), keyed.end(), cmp);
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Value filter_tojson(Interp&, const Value& v, Args& args) {
  ArgReader r(args, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = r.get(0, Value(false)).truthy();
  Value indent = r.get(1, Value::none());
  Value seps = r.get(2, Value::none());
  o.sort_keys = r.get(3, Value(false)).truthy();
  r.done();
  if (!indent.is_none()) {
    o.has_indent = true;
    if (indent.is_string()) {
      o.indent = indent.as_string();
    } else {
      int64_t n = to_int_arg(indent, "");
      o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(n, 0, 1024)), ' ');
    }
  }
  o.item_separator = o.has_indent ? "," : ", ";
  if (!seps.is_none()) {
    if (!seps.is_list() || seps.items().size() != 2 || !seps.items()[0].is_string() ||
        !seps.items()[1].is_string()) {
      type_error("separators must be a (item_separator, key_separator) pair of str");
    }
    o.item_separator = seps.items()[0].as_string();
    o.key_separator = seps.items()[1].as_string();
  }
  return Value(to_json(v, o));
}

Value filter_indent(Interp& in, const Value& v, Args& args) {
  ArgReader r(args, "indent", {"width", "first", "blank"});
  Value width = r.get(0, Value(4));
  bool first = r.get(1, Value(false)).truthy();
  bool blank = r.get(2, Value(false)).truthy();
  r.done();
  std::string ind =
      width.is_string()
          ? width.as_string()
          : std::string(static_cast<size_t>(std::clamp<int64_t>(to_int_arg(width, ""), 0, 1 << 16)),
                        ' ');
  Args none;
  Value lines_v = in.call(*bound_method(Value(v.str() + "\n"), "splitlines"), none);
  std::vector<Value> lines = lines_v.items();
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + ind;
      rv += lines[i].as_string();
    }
  } else if (!lines.empty()) {
    rv = lines[0].as_string();
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::string& l = lines[i].as_string();
      rv += "\n" + (l.empty() ? l : ind + l);
      if (rv.size() > in.limits().max_output_bytes) in.checked_string(std::move(rv));
    }
  }
  if (first) rv = ind + rv;
  return Value(std::move(rv));
}

Value filter_title(const Value& v) {
  // jinja2 splits on runs of [-\s({[<] and capitalizes each piece.
  std::u32string cs = utf8_decode(v.str());
  bool at_start = true;
  for (auto& c : cs) {
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    if (!sep) c = at_start ? py_toupper(c) : py_tolower(c);
    at_start = sep;
  }
  return Value(utf8_encode(cs));
}

const std::map<std::string, FilterFn, std::less<>>& filters();
const std::map<std::string, TestFn, std::less<>>& tests();

Value select_or_reject(Interp& in, const Value& v, Args& args, bool select, bool lookup_attr) {
  size_t off = 0;
  std::function<Value(const Value&)> trans = [](const Value& x) { return x; };
  if (lookup_attr) {
    if (args.pos.empty())
      throw_error("FilterArgumentError", "Missing parameter for attribute name");
    trans = attrgetter(in, args.pos[0]);
    off = 1;
  }
  std::function<bool(const Value&)> test;
  if (args.pos.size() > off) {
    std::string name = args.pos[off].str();
    Args rest;
    rest.pos.assign(args.pos.begin() + static_cast<std::ptrdiff_t>(off + 1), args.pos.end());
    rest.kw = args.kw;
    test = [&in, name, rest](const Value& x) {
      Args a = rest;
      return apply_test(in, name, x, a);
    };
  } else {
    test = [](const Value& x) { return x.truthy(); };
  }
  std::vector<Value> out;
  for (const auto& item : in.iterate(v)) {
    in.step();
    if (test(trans(item)) == select) out.push_back(item);
  }
  return generator(std::move(out));
}

Value filter_map(Interp& in, const Value& v, Args& args) {
  std::function<Value(const Value&)> fn;
  const Value* attribute = nullptr;
  for (const auto& kw : args.kw)
    if (kw.first == "attribute") attribute = &kw.second;
  if (args.pos.empty() && attribute) {
    std::optional<Value> def;
    for (const auto& kw : args.kw) {
      if (kw.first == "default") {
        def = kw.second;
      } else if (kw.first != "attribute") {
        throw_error("FilterArgumentError", "Unexpected keyword argument " + quoted(kw.first));
      }
    }
    // jinja2 substitutes the default only when one other than None is given.
    if (def && def->is_none()) def.reset();
    fn = attrgetter(in, *attribute, def);
  } else {
    if (args.pos.empty()) throw_error("FilterArgumentError", "map requires a filter argument");
    std::string name = args.pos[0].str();
    Args rest;
    rest.pos.assign(args.pos.begin() + 1, args.pos.end());
    rest.kw = args.kw;
    if (!has_filter(name))
      throw_error("TemplateRuntimeError", "No filter named " + quoted(name) + ".");
    fn = [&in, name, rest](const Value& x) {
      Args a = rest;
      return apply_filter(in, name, x, a);
    };
  }
  std::vector<Value> out;
  for (const auto& item : in.iterate(v)) {
    in.step();
    out.push_back(fn(item));
  }
  return generator(std::move(out));
}

Value min_max(Interp& in, const Value& v, Args& args, bool want_max, const char* name) {
  ArgReader r(args, name, {"case_sensitive", "attribute"});
  bool cs = r.get(0, Value(false)).truthy();
  Value attr = r.get(1, Value::none());
  r.done();
  std::vector<Value> items = in.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto get = attr.is_none() ? std::function<Value(const Value&)>([](const Value& x) { return x; })
                            : attrgetter(in, attr);
  size_t best = 0;
  Value best_key = fold(get(items[0]), cs);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = fold(get(items[i]), cs);
    if (want_max ? less_than(best_key, k) : less_than(k, best_key)) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

const std::map<std::string, FilterFn, std::less<>>& filters() {
  static const std::map<std::string, FilterFn, std::less<>> kFilters = [] {
    std::map<std::string, FilterFn, std::less<>> f;
    auto string_filter = [](std::function<Value(const std::string&)> fn, const char* name) {
      return [fn, name](Interp&, const Value& v, Args& args) {
        ArgReader(args, name, {}).done();
        return fn(v.str());
      };
    };
    f["tojson"] = filter_tojson;
    f["trim"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "trim", {"chars"});
      Value chars = r.get(0, Value::none());
      r.done();
      std::string c = chars.is_none() ? "" : chars.str();
      return Value(py_strip(v.str(), chars.is_none() ? nullptr : &c, true, true));
    };
    for (const char* m : {"upper", "lower", "capitalize"}) {
      f[m] = [m](Interp& in, const Value& v, Args& args) {
        ArgReader(args, m, {}).done();
        Args none;
        return in.call(*bound_method(Value(v.str()), m), none);
      };
    }
    f["title"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "title", {}).done();
      return filter_title(v);
    };
    f["replace"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "replace", {"old", "new", "count"});
      Args a;
      a.pos = {Value(r.get(0).str()), Value(r.get(1).str())};
      Value count = r.get(2, Value::none());
      r.done();
      if (!count.is_none()) a.pos.push_back(Value(to_int_arg(count, "")));
      return in.call(*bound_method(Value(v.str()), "replace"), a);
    };
    f["default"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "default", {"default_value", "boolean"});
      Value def = r.get(0, Value(""));
      bool boolean = r.get(1, Value(false)).truthy();
      r.done();
      return v.is_undefined() || (boolean && !v.truthy()) ? def : v;
    };
    f["d"] = f["default"];
    f["length"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "length", {}).done();
      return Value(static_cast<int64_t>(py_len(v)));
    };
    f["count"] = f["length"];
    f["string"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "string", {}).done();
      return Value(v.str());
    };
    f["safe"] = f["string"];
    f["escape"] =
        string_filter([](const std::string& s) { return Value(html_escape(s)); }, "escape");
    f["e"] = f["escape"];
    f["forceescape"] = f["escape"];
    f["list"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "list", {}).done();
      return Value::list(in.iterate(v));
    };
    f["items"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "items", {}).done();
      if (v.is_undefined()) return generator({});
      if (!v.is_dict()) type_error("Can only get item pairs from a mapping.");
      std::vector<Value> out;
      for (const auto& [k, val] : v.dict().items) out.push_back(Value::tuple({k, val}));
      return generator(std::move(out));
    };
    f["join"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "join", {"d", "attribute"});
      std::string d = r.get(0, Value("")).str();
      Value attr = r.get(1, Value::none());
      r.done();
      std::vector<Value> items = in.iterate(v);
      std::string out;
      auto get = attr.is_none() ? std::function<Value(const Value&)>() : attrgetter(in, attr);
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += d;
        out += (get ? get(items[i]) : items[i]).str();
        if (out.size() > in.limits().max_output_bytes) in.checked_string(std::move(out));
      }
      return Value(std::move(out));
    };
    f["first"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "first", {}).done();
      std::vector<Value> items = in.iterate(v);
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items[0];
    };
    f["last"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "last", {}).done();
      if (v.is_list() && v.seq_kind() == Value::SeqKind::kGenerator) {
        type_error("'generator' object is not reversible");
      }
      std::vector<Value> items = in.iterate(v);
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    };
    f["reverse"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "reverse", {}).done();
      if (v.is_string()) {
        std::u32string cs = utf8_decode(v.as_string());
        std::reverse(cs.begin(), cs.end());
        return Value(utf8_encode(cs));
      }
      std::vector<Value> items = in.iterate(v);
      std::reverse(items.begin(), items.end());
      return generator(std::move(items));
    };
    f["sort"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "sort", {"reverse", "case_sensitive", "attribute"});
      bool reverse = r.get(0, Value(false)).truthy();
      bool cs = r.get(1, Value(false)).truthy();
      Value attr = r.get(2, Value::none());
      r.done();
      auto get = attr.is_none()
                     ? std::function<Value(const Value&)>([](const Value& x) { return x; })
                     : attrgetter(in, attr);
      return Value::list(
          sorted(in, in.iterate(v), reverse, [&](const Value& x) { return fold(get(x), cs); }));
    };
    f["dictsort"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "dictsort", {"case_sensitive", "by", "reverse"});
      bool cs = r.get(0, Value(false)).truthy();
      std::string by = r.get(1, Value("key")).str();
      bool reverse = r.get(2, Value(false)).truthy();
      r.done();
      if (!v.is_dict()) type_error("dictsort expects a mapping");
      if (by != "key" && by != "value") {
        throw_error("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
      }
      std::vector<Value> items;
      for (const auto& [k, val] : v.dict().items) items.push_back(Value::tuple({k, val}));
      size_t pos = by == "key" ? 0 : 1;
      return Value::list(sorted(in, std::move(items), reverse,
                                [&](const Value& x) { return fold(x.items()[pos], cs); }));
    };
    f["unique"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "unique", {"case_sensitive", "attribute"});
      bool cs = r.get(0, Value(false)).truthy();
      Value attr = r.get(1, Value::none());
      r.done();
      auto get = attr.is_none()
                     ? std::function<Value(const Value&)>([](const Value& x) { return x; })
                     : attrgetter(in, attr);
      std::vector<Value> seen, out;
      for (const auto& item : in.iterate(v)) {
        in.step();
        Value k = fold(get(item), cs);
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); }))
          continue;
        seen.push_back(k);
        out.push_back(item);
      }
      return generator(std::move(out));
    };
    f["min"] = [](Interp& in, const Value& v, Args& args) {
      return min_max(in, v, args, false, "min");
    };
    f["max"] = [](Interp& in, const Value& v, Args& args) {
      return min_max(in, v, args, true, "max");
    };
    f["sum"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "sum", {"attribute", "start"});
      Value attr = r.get(0, Value::none());
      Value total = r.get(1, Value(0));
      r.done();
      auto get = attr.is_none() ? std::function<Value(const Value&)>() : attrgetter(in, attr);
      for (const auto& item : in.iterate(v))
        total = binary_op(in, "+", total, get ? get(item) : item);
      return total;
    };
    f["abs"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "abs", {}).done();
      if (v.is_float()) return Value(std::fabs(v.as_double()));
      if (v.is_int() || v.is_bool()) {
        if (v.as_int() == INT64_MIN) throw_error("OverflowError", "integer result too large");
        return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      }
      type_error("bad operand type for abs(): '" + v.type_name() + "'");
    };
    f["int"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "int", {"default", "base"});
      Value def = r.get(0, Value(0));
      int64_t base = to_int_arg(r.get(1, Value(10)), "");
      r.done();
      if (v.is_int() || v.is_bool()) return Value(v.as_int());
      if (v.is_float()) {
        double d = v.as_double();
        if (std::isfinite(d) && std::fabs(d) < 9.2e18) return Value(static_cast<int64_t>(d));
        return def;
      }
      if (v.is_string()) {
        if (base >= 2 && base <= 36) {
          if (auto i = parse_py_int(v.as_string(), static_cast<int>(base))) return Value(*i);
        }
        if (auto d = parse_py_float(v.as_string())) {
          if (std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value(static_cast<int64_t>(*d));
        }
      }
      return def;
    };
    f["float"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "float", {"default"});
      Value def = r.get(0, Value(0.0));
      r.done();
      if (v.is_number()) return Value(v.as_double());
      if (v.is_string()) {
        if (auto d = parse_py_float(v.as_string())) return Value(*d);
      }
      return def;
    };
    f["round"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "round", {"precision", "method"});
      int64_t precision = to_int_arg(r.get(0, Value(0)), "");
      std::string method = r.get(1, Value("common")).str();
      r.done();
      if (method != "common" && method != "ceil" && method != "floor") {
        throw_error("FilterArgumentError", "method must be common, ceil or floor");
      }
      if (!v.is_number()) type_error("type " + v.type_name() + " doesn't define __round__ method");
      if (method == "common" && !v.is_float()) return Value(v.as_int());
      double x = v.as_double();
      double scale = std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -300, 300)));
      double y = x * scale;
      y = method == "ceil" ? std::ceil(y) : method == "floor" ? std::floor(y) : std::nearbyint(y);
      return Value(y / scale);
    };
    f["center"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "center", {"width"});
      Args a;
      a.pos = {r.get(0, Value(80))};
      r.done();
      return in.call(*bound_method(Value(v.str()), "center"), a);
    };
    f["indent"] = filter_indent;
    f["wordcount"] = string_filter(
        [](const std::string& s) {
          int64_t n = 0;
          bool in_word = false;
          for (char32_t c : utf8_decode(s)) {
            bool w = c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                     (c >= 'A' && c <= 'Z') || (c >= 0x80 && !py_isspace(c));
            if (w && !in_word) ++n;
            in_word = w;
          }
          return Value(n);
        },
        "wordcount");
    f["attr"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "attr", {"name"});
      std::string name = r.get(0).str();
      r.done();
      if (v.is_dict()) {
        // attr() reads Python attributes only, never dict items.
        auto m = bound_method(v, name);
        return m ? *m
                 : Value::undefined(quoted(v.object_type_repr()) + " has no attribute " +
                                    quoted(name));
      }
      return in.getattr(v, name);
    };
    f["map"] = filter_map;
    f["select"] = [](Interp& in, const Value& v, Args& a) {
      return select_or_reject(in, v, a, true, false);
    };
    f["reject"] = [](Interp& in, const Value& v, Args& a) {
      return select_or_reject(in, v, a, false, false);
    };
    f["selectattr"] = [](Interp& in, const Value& v, Args& a) {
      return select_or_reject(in, v, a, true, true);
    };
    f["rejectattr"] = [](Interp& in, const Value& v, Args& a) {
      return select_or_reject(in, v, a, false, true);
    };
    f["batch"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "batch", {"linecount", "fill_with"});
      int64_t n = to_int_arg(r.get(0), "");
      Value fill = r.get(1, Value::none());
      r.done();
      if (n <= 0) throw_error("ValueError", "batch size must be positive");
      std::vector<Value> out, cur;
      for (const auto& item : in.iterate(v)) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == n) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (!fill.is_none()) {
          while (static_cast<int64_t>(cur.size()) < n) cur.push_back(fill);
        }
        out.push_back(Value::list(std::move(cur)));
      }
      return generator(std::move(out));
    };
    f["pprint"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "pprint", {}).done();
      return Value(v.repr());
    };
    return f;
  }();
  return kFilters;
}

bool is_int_value(const Value& v) {
  return v.is_int();
}

const std::map<std::string, TestFn, std::less<>>& tests() {
  static const std::map<std::string, TestFn, std::less<>> kTests = [] {
    std::map<std::string, TestFn, std::less<>> t;
    auto unary = [](std::function<bool(const Value&)> fn, const char* name) {
      return [fn, name](Interp&, const Value& v, Args& args) {
        ArgReader(args, name, {}).done();
        return fn(v);
      };
    };
    t["defined"] = unary([](const Value& v) { return !v.is_undefined(); }, "defined");
    t["undefined"] = unary([](const Value& v) { return v.is_undefined(); }, "undefined");
    t["none"] = unary([](const Value& v) { return v.is_none(); }, "none");
    t["boolean"] = unary([](const Value& v) { return v.is_bool(); }, "boolean");
    t["false"] = unary([](const Value& v) { return v.is_bool() && !v.as_bool(); }, "false");
    t["true"] = unary([](const Value& v) { return v.is_bool() && v.as_bool(); }, "true");
    t["integer"] = unary(is_int_value, "integer");
    t["float"] = unary([](const Value& v) { return v.is_float(); }, "float");
    t["number"] = unary([](const Value& v) { return v.is_number(); }, "number");
    t["string"] = unary([](const Value& v) { return v.is_string(); }, "string");
    t["mapping"] = unary([](const Value& v) { return v.is_dict(); }, "mapping");
    t["sequence"] = unary(
        [](const Value& v) {
          return v.is_undefined() || v.is_string() || v.is_dict() ||
                 (v.is_list() && v.seq_kind() != Value::SeqKind::kGenerator);
        },
        "sequence");
    t["iterable"] = unary(
        [](const Value& v) {
          return v.is_undefined() || v.is_string() || v.is_dict() || v.is_list();
        },
        "iterable");
    t["callable"] = unary(
        [](const Value& v) {
          return v.is_callable() || v.is_undefined() || (v.is_object() && v.object()->callable());
        },
        "callable");
    t["escaped"] = unary([](const Value&) { return false; }, "escaped");
    t["odd"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "odd", {}).done();
      return binary_op(in, "%", v, Value(2)).as_int() == 1;
    };
    t["even"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "even", {}).done();
      return binary_op(in, "%", v, Value(2)).as_int() == 0;
    };
    t["divisibleby"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader r(args, "divisibleby", {"num"});
      Value num = r.get(0);
      r.done();
      return !binary_op(in, "%", v, num).truthy();
    };
    t["lower"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "lower", {}).done();
      Args none;
      return in.call(*bound_method(Value(v.str()), "islower"), none).truthy();
    };
    t["upper"] = [](Interp& in, const Value& v, Args& args) {
      ArgReader(args, "upper", {}).done();
      Args none;
      return in.call(*bound_method(Value(v.str()), "isupper"), none).truthy();
    };
    t["sameas"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "sameas", {"other"});
      Value o = r.get(0);
      r.done();
      if (v.kind() != o.kind()) return false;
      if (v.identity()) return v.identity() == o.identity();
      return equals(v, o);
    };
    t["in"] = [](Interp&, const Value& v, Args& args) {
      ArgReader r(args, "in", {"seq"});
      Value seq = r.get(0);
      r.done();
      return contains(seq, v);
    };
    auto cmp = [](const char* op, const char* name) {
      return [op, name](Interp&, const Value& v, Args& args) {
        ArgReader r(args, name, {"b"});
        Value other = r.get(0);
        r.done();
        return compare_op(op, v, other);
      };
    };
    t["eq"] = t["equalto"] = t["=="] = cmp("==", "eq");
    t["ne"] = t["!="] = cmp("!=", "ne");
    t["lt"] = t["lessthan"] = t["<"] = cmp("<", "lt");
    t["le"] = t["<="] = cmp("<=", "le");
    t["gt"] = t["greaterthan"] = t[">"] = cmp(">", "gt");
    t["ge"] = t[">="] = cmp(">=", "ge");
    t["filter"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "filter", {}).done();
      return v.is_string() && has_filter(v.as_string());
    };
    t["test"] = [](Interp&, const Value& v, Args& args) {
      ArgReader(args, "test", {}).done();
      return v.is_string() && has_test(v.as_string());
    };
    return t;
  }();
  return kTests;
}

}  // namespace

bool has_filter(std::string_view name) {
  return filters().count(name) > 0;
}
bool has_test(std::string_view name) {
  return tests().count(name) > 0;
}

Value apply_filter(Interp& in, const std::string& name, const Value& v, Args& args) {
  auto it = filters().find(name);
  if (it == filters().end())
    throw_error("TemplateRuntimeError", "No filter named " + quoted(name) + ".");
  return it->second(in, v, args);
}

bool apply_test(Interp& in, const std::string& name, const Value& v, Args& args) {
  auto it = tests().find(name);
  if (it == tests().end())
    throw_error("TemplateRuntimeError", "No test named " + quoted(name) + ".");
  return it->second(in, v, args);
}

}  // namespace kt::models::jinja
