#include "inject/rules.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace kt::inject {
namespace {

int line_of(const YAML::Node& n) {
  return n.Mark().line + 1;  // yaml-cpp counts from 0
}

[[noreturn]] void fail(const std::string& source, int line, const std::string& what) {
  throw Error(source + ":" + std::to_string(line) + ": " + what);
}

std::string scalar(const YAML::Node& n, const std::string& source, const std::string& field) {
  if (!n.IsScalar()) fail(source, line_of(n), field + " must be a single value");
  return n.Scalar();
}

Kwarg read_kwarg(const std::string& key, const YAML::Node& v, const std::string& source) {
  Kwarg k;
  k.key = key;
  k.line = line_of(v);
  if (v.IsScalar()) {
    k.value = v.Scalar();
  } else if (v.IsMap()) {
    k.is_map = true;
    for (const auto& e : v) {
      const std::string mk = scalar(e.first, source, "a key of " + key);
      k.map[mk] = scalar(e.second, source, key + "[" + mk + "]");
      k.value += (k.value.empty() ? "{" : ", ") + mk + ": " + k.map[mk];
    }
    k.value += "}";
  } else {
    fail(source, k.line, "kwarg " + key + " must be a value or a map");
  }
  return k;
}

Rule read_rule(const YAML::Node& item, const std::string& source) {
  Rule r;
  r.file = source;
  r.line = line_of(item);
  if (!item.IsMap())
    fail(source, r.line, "a rule must be a map with match, replace and optional recursive");
  bool has_match = false, has_replace = false;
  for (const auto& e : item) {
    const std::string key = scalar(e.first, source, "a rule key");
    const YAML::Node& v = e.second;
    if (key == "match") {
      has_match = true;
      if (!v.IsMap()) fail(source, line_of(v), "match must be a map with name and/or class");
      for (const auto& m : v) {
        const std::string mk = scalar(m.first, source, "a match key");
        Located loc{scalar(m.second, source, "match." + mk), line_of(m.second)};
        if (mk == "name")
          r.name = loc;
        else if (mk == "class")
          r.match_class = loc;
        else
          fail(source, line_of(m.first), "unknown match key \"" + mk + "\" (name, class)");
      }
      if (!r.name && !r.match_class)
        fail(source, line_of(v), "match needs a name (regex) or a class, or both");
    } else if (key == "replace") {
      has_replace = true;
      if (!v.IsMap()) fail(source, line_of(v), "replace must be a map with class and kwargs");
      r.replace_class.line = line_of(v);
      for (const auto& m : v) {
        const std::string mk = scalar(m.first, source, "a replace key");
        if (mk == "class") {
          r.replace_class = {scalar(m.second, source, "replace.class"), line_of(m.second)};
        } else if (mk == "kwargs") {
          if (m.second.IsNull()) continue;
          if (!m.second.IsMap()) fail(source, line_of(m.second), "kwargs must be a map");
          for (const auto& kw : m.second)
            r.kwargs.push_back(
                read_kwarg(scalar(kw.first, source, "a kwargs key"), kw.second, source));
        } else if (mk == "device") {
          // Old KTransformers docs show replace.device; KTransformers never reads it.
        } else {
          fail(source, line_of(m.first), "unknown replace key \"" + mk + "\" (class, kwargs)");
        }
      }
    } else if (key == "recursive") {
      const std::string s = scalar(v, source, "recursive");
      if (s == "false" || s == "False")
        r.recursive = false;
      else if (s == "true" || s == "True")
        r.recursive = true;
      else
        fail(source, line_of(v), "recursive must be true or false, not \"" + s + "\"");
    } else {
      fail(source, line_of(e.first),
           "unknown rule key \"" + key + "\" (match, replace, recursive)");
    }
  }
  if (!has_match) fail(source, r.line, "rule without match");
  if (!has_replace) fail(source, r.line, "rule without replace");
  if (r.replace_class.line == 0) r.replace_class.line = r.line;
  return r;
}

}  // namespace

std::string Rule::where(int at_line) const {
  return file + ":" + std::to_string(at_line > 0 ? at_line : line);
}

const Kwarg* Rule::kwarg(const std::string& key) const {
  for (const Kwarg& k : kwargs)
    if (k.key == key) return &k;
  return nullptr;
}

RuleFile parse_rules(const std::string& text, const std::string& source) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(source, e.mark.line + 1, "YAML syntax error: " + e.msg);
  }
  RuleFile f;
  f.source = source;
  if (doc.IsNull()) return f;  // an empty file: no rules, everything on the default device
  if (!doc.IsSequence()) fail(source, line_of(doc), "a rule file must be a list of rules");
  for (const auto& item : doc) f.rules.push_back(read_rule(item, source));
  return f;
}

RuleFile load_rules(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read the rule file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_rules(ss.str(), path);
}

}  // namespace kt::inject
