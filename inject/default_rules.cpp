#include "inject/default_rules.h"

#include <filesystem>

#include "tensor/error.h"

namespace kt::inject {

std::string default_rule_name(const models::ModuleTree& tree, const models::HParams& hp,
                              int n_gpus) {
  const std::string& p = tree.prefix();
  std::string family = "Dense";
  if (p == "DeepseekV3")
    family = "DeepSeek-V3-Chat";
  else if (p == "DeepseekV2")
    // V2-Lite has no query compression (q_proj instead of q_a_proj/q_b_proj).
    family = tree.find("model.layers.0.self_attn.q_a_proj") ? "DeepSeek-V2-Chat"
                                                            : "DeepSeek-V2-Lite-Chat";
  else if (p == "Qwen2Moe")
    family = "Qwen2-57B-A14B-Instruct";
  else if (p == "Qwen3Moe")
    family = "Qwen3Moe";
  else if (p == "Mixtral")
    family = "Mixtral";
  (void)hp;
  return family + (n_gpus <= 0 ? "-cpu" : n_gpus == 1 ? "" : "-multi-gpu") + ".yaml";
}

RuleFile builtin_rules(const std::string& name) {
  std::string names;
  for (const BuiltinRuleFile& f : builtin_rule_files()) {
    if (name == f.name) return parse_rules(f.text, std::string("inject/rules/") + f.name);
    names += (names.empty() ? "" : ", ") + std::string(f.name);
  }
  throw Error("no shipped rule file \"" + name + "\" (shipped: " + names + ")");
}

RuleFile select_rules(const std::string& path, const models::ModuleTree& tree,
                      const models::HParams& hp, int n_gpus) {
  if (path.empty()) return builtin_rules(default_rule_name(tree, hp, n_gpus));
  if (!std::filesystem::exists(path))
    for (const BuiltinRuleFile& f : builtin_rule_files())
      if (path == f.name) return builtin_rules(path);
  return load_rules(path);
}

}  // namespace kt::inject
