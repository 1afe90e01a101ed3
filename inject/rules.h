#pragma once
// A rule file as written (KTransformers' optimize-rule YAML, reference §2.1): a list of
// rules, each `match` (name regex and/or class), `replace` (class + kwargs) and optional
// `recursive`. Every field keeps the line it came from, so that every later error names the
// file and line at fault.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kt::inject {

struct Located {
  std::string text;
  int line = 0;  // 1-based
};

struct Kwarg {
  std::string key;
  std::string value;                       // a scalar as written; a map in flow form
  std::map<std::string, std::string> map;  // a map's entries (transfer_map)
  bool is_map = false;
  int line = 0;
};

struct Rule {
  std::string file;
  int line = 0;                        // of the rule's first key
  std::optional<Located> name;         // match.name
  std::optional<Located> match_class;  // match.class
  Located replace_class{"default", 0};
  std::vector<Kwarg> kwargs;
  bool recursive = true;

  std::string where(int at_line = 0) const;  // "FILE:LINE"
  const Kwarg* kwarg(const std::string& key) const;
};

struct RuleFile {
  std::string source;  // path, or "builtin:inject/rules/NAME.yaml"
  std::vector<Rule> rules;
};

// Throws kt::Error "SOURCE:LINE: ..." for YAML syntax errors and for a file that is not a list
// of rules of that shape.
RuleFile parse_rules(const std::string& text, const std::string& source);
// Reads and parses a file; throws kt::Error naming the path when it cannot be read.
RuleFile load_rules(const std::string& path);

}  // namespace kt::inject
