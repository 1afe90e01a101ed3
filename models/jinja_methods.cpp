// The Python methods templates call on str, dict and list values.
#include <algorithm>

#include "models/jinja_builtins.h"
#include "models/jinja_eval.h"

namespace kt::models::jinja {

namespace {

std::string quoted(const std::string& s) {
  return Value(s).repr();
}

bool is_seq(const Value& v) {
  return v.is_list() && v.seq_kind() != Value::SeqKind::kGenerator;
}

// ---- str methods ----------------------------------------------------------------------

bool is_cased_lower(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0xFF && c != 0xF7) ||
         (c >= 0x3B1 && c <= 0x3C9) || (c >= 0x430 && c <= 0x45F);
}
bool is_cased_upper(char32_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
         (c >= 0x391 && c <= 0x3A9) || (c >= 0x400 && c <= 0x42F);
}

}  // namespace

// Case mapping for ASCII, Latin-1, basic Greek and Cyrillic; other scripts are left as-is.
char32_t py_toupper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 32;
  if (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) return c - 32;
  if (c >= 0x430 && c <= 0x44F) return c - 32;
  if (c >= 0x450 && c <= 0x45F) return c - 80;
  return c;
}
char32_t py_tolower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
  if (c >= 0x391 && c <= 0x3A9) return c + 32;
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;
  return c;
}

namespace {

std::vector<std::string> split_ws(const std::string& s, int64_t maxsplit, bool from_right) {
  std::u32string cs = utf8_decode(s);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t i = 0, n = cs.size();
    while (true) {
      while (i < n && py_isspace(cs[i])) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t e = n;
        while (e > i && py_isspace(cs[e - 1])) --e;
        parts.push_back(utf8_encode(std::u32string_view(cs).substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < n && !py_isspace(cs[j])) ++j;
      parts.push_back(utf8_encode(std::u32string_view(cs).substr(i, j - i)));
      i = j;
    }
    return parts;
  }
  int64_t e = static_cast<int64_t>(cs.size());
  while (true) {
    while (e > 0 && py_isspace(cs[e - 1])) --e;
    if (e <= 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
      size_t b = 0;
      while (static_cast<int64_t>(b) < e && py_isspace(cs[b])) ++b;
      parts.push_back(utf8_encode(std::u32string_view(cs).substr(b, e - b)));
      break;
    }
    int64_t b = e;
    while (b > 0 && !py_isspace(cs[b - 1])) --b;
    parts.push_back(utf8_encode(std::u32string_view(cs).substr(b, e - b)));
    e = b;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> split_sep(const std::string& s, const std::string& sep, int64_t maxsplit,
                                   bool from_right) {
  if (sep.empty()) throw_error("ValueError", "empty separator");
  std::vector<std::string> parts;
  if (!from_right) {
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t f = s.find(sep, pos);
      if (f == std::string::npos) break;
      parts.push_back(s.substr(pos, f - pos));
      pos = f + sep.size();
    }
    parts.push_back(s.substr(pos));
    return parts;
  }
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
    if (end < sep.size()) break;
    size_t f = s.rfind(sep, end - sep.size());
    if (f == std::string::npos) break;
    parts.push_back(s.substr(f + sep.size(), end - f - sep.size()));
    end = f;
  }
  parts.push_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

Value str_list(const std::vector<std::string>& parts) {
  std::vector<Value> out;
  for (const auto& p : parts) out.emplace_back(p);
  return Value::list(std::move(out));
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

// Code-point position of a byte offset (find() returns code-point indices like Python).
int64_t cp_index(const std::string& s, size_t byte_pos) {
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_pos)));
}

// Python `(start, end)` arguments of find/count/startswith as a byte range of `s`.
std::pair<size_t, size_t> byte_range(const std::string& s, const ArgReader& r, size_t first) {
  if (!r.has(first) && !r.has(first + 1)) return {0, s.size()};
  std::u32string cs = utf8_decode(s);
  auto idx = slice_indices(cs.size(), r.get(first, Value::none()), r.get(first + 1, Value::none()),
                           Value::none());
  if (idx.empty()) return {s.size() + 1, s.size() + 1};  // an empty window matches nothing
  size_t b = utf8_encode(std::u32string_view(cs).substr(0, idx.front())).size();
  size_t e = b + utf8_encode(std::u32string_view(cs).substr(idx.front(), idx.size())).size();
  return {b, e};
}

std::string need_str(const Value& v, const std::string& what) {
  if (!v.is_string()) type_error(what + " arg must be None or str");
  return v.as_string();
}

Value str_method(Interp& in, const std::string& s, const std::string& m, Args& args) {
  auto chars_arg = [&](ArgReader& r) -> std::optional<std::string> {
    Value c = r.get(0, Value::none());
    r.done();
    if (c.is_none()) return std::nullopt;
    return need_str(c, "strip");
  };
  if (m == "strip" || m == "lstrip" || m == "rstrip") {
    ArgReader r(args, m, {"chars"});
    auto chars = chars_arg(r);
    return Value(py_strip(s, chars ? &*chars : nullptr, m != "rstrip", m != "lstrip"));
  }
  if (m == "startswith" || m == "endswith") {
    ArgReader r(args, m, {"prefix", "start", "end"});
    Value p = r.get(0);
    auto [b, e] = byte_range(s, r, 1);
    r.done();
    std::vector<Value> options =
        p.is_list() && p.seq_kind() == Value::SeqKind::kTuple ? p.items() : std::vector<Value>{p};
    for (const auto& o : options) {
      if (!o.is_string()) {
        type_error(m + " first arg must be str or a tuple of str, not " + o.type_name());
      }
      const std::string& x = o.as_string();
      if (b > s.size() || e - b < x.size()) continue;
      size_t at = m == "startswith" ? b : e - x.size();
      if (s.compare(at, x.size(), x) == 0) return Value(true);
    }
    return Value(false);
  }
  if (m == "split" || m == "rsplit") {
    ArgReader r(args, m, {"sep", "maxsplit"});
    Value sep = r.get(0, Value::none());
    Value maxsplit = r.get(1, Value(-1));
    r.done();
    if (!maxsplit.is_int() && !maxsplit.is_bool()) type_error("'maxsplit' must be an integer");
    if (sep.is_none()) return str_list(split_ws(s, maxsplit.as_int(), m == "rsplit"));
    return str_list(split_sep(s, need_str(sep, "sep"), maxsplit.as_int(), m == "rsplit"));
  }
  if (m == "splitlines") {
    ArgReader r(args, m, {"keepends"});
    bool keep = r.get(0, Value(false)).truthy();
    r.done();
    std::u32string cs = utf8_decode(s);
    std::vector<std::string> lines;
    size_t i = 0;
    while (i < cs.size()) {
      size_t j = i;
      while (j < cs.size() && !is_line_break(cs[j])) ++j;
      size_t eol = j;
      if (j < cs.size()) j += (cs[j] == '\r' && j + 1 < cs.size() && cs[j + 1] == '\n') ? 2 : 1;
      lines.push_back(utf8_encode(std::u32string_view(cs).substr(i, (keep ? j : eol) - i)));
      i = j;
    }
    return str_list(lines);
  }
  if (m == "replace") {
    ArgReader r(args, m, {"old", "new", "count"});
    std::string from = need_str(r.get(0), "replace");
    std::string to = need_str(r.get(1), "replace");
    int64_t count = r.get(2, Value(-1)).as_int();
    r.done();
    std::string out;
    if (from.empty()) {
      std::u32string cs = utf8_decode(s);
      int64_t done = 0;
      for (size_t i = 0; i <= cs.size(); ++i) {
        if (count < 0 || done < count) {
          out += to;
          ++done;
        }
        if (i < cs.size()) utf8_append(out, cs[i]);
      }
      return Value(in.checked_string(std::move(out)));
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
      size_t f = s.find(from, pos);
      if (f == std::string::npos) break;
      out.append(s, pos, f - pos);
      out += to;
      pos = f + from.size();
      ++done;
      if (out.size() > in.limits().max_output_bytes) in.checked_string(std::move(out));
    }
    out.append(s, pos, std::string::npos);
    return Value(in.checked_string(std::move(out)));
  }
  if (m == "upper" || m == "lower" || m == "title" || m == "capitalize" || m == "swapcase" ||
      m == "casefold") {
    ArgReader(args, m, {}).done();
    std::u32string cs = utf8_decode(s);
    bool prev_cased = false;
    for (size_t i = 0; i < cs.size(); ++i) {
      char32_t c = cs[i];
      if (m == "upper") {
        cs[i] = py_toupper(c);
      } else if (m == "lower" || m == "casefold") {
        cs[i] = py_tolower(c);
      } else if (m == "swapcase") {
        cs[i] = is_cased_upper(c) ? py_tolower(c) : py_toupper(c);
      } else if (m == "capitalize") {
        cs[i] = i == 0 ? py_toupper(c) : py_tolower(c);
      } else {
        cs[i] = prev_cased ? py_tolower(c) : py_toupper(c);
        prev_cased = is_cased_lower(c) || is_cased_upper(c);
      }
    }
    return Value(utf8_encode(cs));
  }
  if (m == "find" || m == "rfind" || m == "index" || m == "rindex" || m == "count") {
    ArgReader r(args, m, {"sub", "start", "end"});
    std::string sub = need_str(r.get(0), m);
    auto [b, e] = byte_range(s, r, 1);
    r.done();
    if (m == "count") {
      if (b > s.size()) return Value(0);
      if (sub.empty()) return Value(cp_index(s, e) - cp_index(s, b) + 1);
      int64_t n = 0;
      for (size_t p = s.find(sub, b); p != std::string::npos && p + sub.size() <= e;
           p = s.find(sub, p + sub.size()))
        ++n;
      return Value(n);
    }
    size_t f = std::string::npos;
    if (b <= s.size() && e - b >= sub.size()) {
      f = m[0] == 'r' ? s.rfind(sub, e - sub.size()) : s.find(sub, b);
      if (f != std::string::npos && (f < b || f + sub.size() > e)) f = std::string::npos;
    }
    if (f == std::string::npos) {
      if (m == "index" || m == "rindex") throw_error("ValueError", "substring not found");
      return Value(-1);
    }
    return Value(cp_index(s, f));
  }
  if (m == "join") {
    ArgReader r(args, m, {"iterable"});
    Value it = r.get(0);
    r.done();
    std::string out;
    bool first = true;
    for (const auto& v : in.iterate(it)) {
      if (!v.is_string())
        type_error("sequence item: expected str instance, " + v.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += v.as_string();
      if (out.size() > in.limits().max_output_bytes) in.checked_string(std::move(out));
    }
    return Value(std::move(out));
  }
  if (m == "removeprefix" || m == "removesuffix") {
    ArgReader r(args, m, {"affix"});
    std::string a = need_str(r.get(0), m);
    r.done();
    if (m == "removeprefix" && s.compare(0, a.size(), a) == 0) return Value(s.substr(a.size()));
    if (m == "removesuffix" && s.size() >= a.size() && !a.empty() &&
        s.compare(s.size() - a.size(), a.size(), a) == 0)
      return Value(s.substr(0, s.size() - a.size()));
    return Value(s);
  }
  if (m == "partition" || m == "rpartition") {
    ArgReader r(args, m, {"sep"});
    std::string sep = need_str(r.get(0), m);
    r.done();
    if (sep.empty()) throw_error("ValueError", "empty separator");
    size_t f = m == "partition" ? s.find(sep) : s.rfind(sep);
    if (f == std::string::npos) {
      return m == "partition" ? Value::tuple({Value(s), Value(""), Value("")})
                              : Value::tuple({Value(""), Value(""), Value(s)});
    }
    return Value::tuple({Value(s.substr(0, f)), Value(sep), Value(s.substr(f + sep.size()))});
  }
  if (m == "isdigit" || m == "isalpha" || m == "isalnum" || m == "isspace" || m == "islower" ||
      m == "isupper" || m == "isnumeric" || m == "isdecimal") {
    ArgReader(args, m, {}).done();
    std::u32string cs = utf8_decode(s);
    if (cs.empty()) return Value(false);
    bool any_cased = false;
    for (char32_t c : cs) {
      bool digit = c >= '0' && c <= '9';
      bool alpha = is_cased_lower(c) || is_cased_upper(c) || (c >= 0x100 && !py_isspace(c));
      if ((m == "isdigit" || m == "isnumeric" || m == "isdecimal") && !digit) return Value(false);
      if (m == "isalpha" && !alpha) return Value(false);
      if (m == "isalnum" && !alpha && !digit) return Value(false);
      if (m == "isspace" && !py_isspace(c)) return Value(false);
      if (m == "islower" && is_cased_upper(c)) return Value(false);
      if (m == "isupper" && is_cased_lower(c)) return Value(false);
      any_cased |= is_cased_lower(c) || is_cased_upper(c);
    }
    if (m == "islower" || m == "isupper") return Value(any_cased);
    return Value(true);
  }
  if (m == "center" || m == "ljust" || m == "rjust" || m == "zfill") {
    ArgReader r(args, m, {"width", "fillchar"});
    int64_t width = r.get(0).as_int();
    std::string fill = m == "zfill" ? "0" : need_str(r.get(1, Value(" ")), m);
    r.done();
    if (width > static_cast<int64_t>(in.limits().max_output_bytes))
      in.checked_string(std::string(in.limits().max_output_bytes + 1, ' '));
    int64_t len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value(s);
    int64_t pad = width - len;
    int64_t left = m == "center" ? pad / 2 + (pad & width & 1) : m == "ljust" ? 0 : pad;
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    if (m == "zfill" && !s.empty() && (s[0] == '-' || s[0] == '+')) {
      out = s.substr(0, 1) + out + s.substr(1);
    } else {
      out += s;
    }
    for (int64_t i = 0; i < pad - left; ++i) out += fill;
    return Value(std::move(out));
  }
  throw_error("SecurityError", "access to attribute " + quoted(m) + " of 'str' object is unsafe.");
}

const char* const kStrMethods[] = {
    "strip",      "lstrip",     "rstrip",    "startswith",   "endswith",     "split",
    "rsplit",     "splitlines", "replace",   "upper",        "lower",        "title",
    "capitalize", "swapcase",   "casefold",  "find",         "rfind",        "index",
    "rindex",     "count",      "join",      "removeprefix", "removesuffix", "partition",
    "rpartition", "isdigit",    "isalpha",   "isalnum",      "isspace",      "islower",
    "isupper",    "isnumeric",  "isdecimal", "center",       "ljust",        "rjust",
    "zfill"};

Value dict_method(const Value& d, const std::string& m, Args& args) {
  if (m == "get") {
    ArgReader r(args, "get", {"key", "default"});
    Value key = r.get(0);
    Value def = r.get(1, Value::none());
    r.done();
    const Value* v = d.dict().find(key);
    return v ? *v : def;
  }
  ArgReader(args, m, {}).done();
  std::vector<Value> out;
  for (const auto& [k, v] : d.dict().items) {
    if (m == "keys") {
      out.push_back(k);
    } else if (m == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::tuple({k, v}));
    }
  }
  return Value::list(std::move(out));
}

Value list_method(const Value& l, const std::string& m, Args& args) {
  ArgReader r(args, m, {"value"});
  Value x = r.get(0);
  r.done();
  const auto& items = l.items();
  if (m == "count") {
    int64_t n = 0;
    for (const auto& v : items) n += equals(v, x);
    return Value(n);
  }
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], x)) return Value(static_cast<int64_t>(i));
  throw_error("ValueError", x.repr() + " is not in list");
}

Value make_callable(std::string name, std::function<Value(Interp&, Args&)> fn) {
  auto c = std::make_shared<Callable>();
  c->name = std::move(name);
  c->fn = std::move(fn);
  return Value(CallablePtr(std::move(c)));
}

Value unsafe(const std::string& attr, const Value& obj) {
  return Value::undefined("access to attribute " + quoted(attr) + " of " + quoted(obj.type_name()) +
                          " object is unsafe.");
}

}  // namespace

ArgReader::ArgReader(Args& args, std::string func, std::initializer_list<const char*> names)
    : args_(args), func_(std::move(func)), names_(names) {}

bool ArgReader::has(size_t i) const {
  if (i < args_.pos.size()) return true;
  if (i >= names_.size()) return false;
  for (const auto& kw : args_.kw)
    if (kw.first == names_[i]) return true;
  return false;
}

Value ArgReader::get(size_t i, Value def) const {
  if (i < args_.pos.size()) return args_.pos[i];
  if (i < names_.size()) {
    for (const auto& kw : args_.kw)
      if (kw.first == names_[i]) return kw.second;
  }
  return def;
}

void ArgReader::done() const {
  if (args_.pos.size() > names_.size()) {
    type_error(func_ + "() takes at most " + std::to_string(names_.size()) + " argument" +
               (names_.size() == 1 ? "" : "s") + " (" + std::to_string(args_.pos.size()) +
               " given)");
  }
  for (const auto& kw : args_.kw) {
    auto it =
        std::find_if(names_.begin(), names_.end(), [&](const char* n) { return kw.first == n; });
    if (it == names_.end()) {
      type_error(func_ + "() got an unexpected keyword argument " + quoted(kw.first));
    }
    if (static_cast<size_t>(it - names_.begin()) < args_.pos.size()) {
      type_error(func_ + "() got multiple values for argument " + quoted(kw.first));
    }
  }
}

std::optional<Value> bound_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    if (std::find(std::begin(kStrMethods), std::end(kStrMethods), name) == std::end(kStrMethods)) {
      if (name == "format" || name == "format_map" || name == "encode") return unsafe(name, obj);
      return std::nullopt;
    }
    std::string s = obj.as_string();
    return make_callable(name,
                         [s, name](Interp& in, Args& a) { return str_method(in, s, name, a); });
  }
  if (obj.is_dict()) {
    if (name == "get" || name == "items" || name == "keys" || name == "values") {
      return make_callable(name,
                           [obj, name](Interp&, Args& a) { return dict_method(obj, name, a); });
    }
    if (name == "copy") {  // values are immutable, so the copy can share the dict
      return make_callable(name, [obj](Interp&, Args& a) {
        ArgReader(a, "copy", {}).done();
        return obj;
      });
    }
    if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" ||
        name == "clear")
      return unsafe(name, obj);
    return std::nullopt;
  }
  if (is_seq(obj)) {
    if (name == "index" || name == "count") {
      return make_callable(name,
                           [obj, name](Interp&, Args& a) { return list_method(obj, name, a); });
    }
    if (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
        name == "remove" || name == "reverse" || name == "sort" || name == "clear")
      return unsafe(name, obj);
  }
  return std::nullopt;
}

}  // namespace kt::models::jinja
