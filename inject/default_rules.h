#pragma once
// The rule files shipped in inject/rules/, compiled into the binary, and the choice of one by
// architecture when the user names none (KTransformers' local_chat picks by architecture too).
#include <string>
#include <vector>

#include "inject/rules.h"
#include "models/hparams.h"
#include "models/module_tree.h"

namespace kt::inject {

struct BuiltinRuleFile {
  const char* name;  // "DeepSeek-V3-Chat.yaml"
  const char* text;
};

// Every file of inject/rules/, embedded at build time (inject/CMakeLists.txt).
const std::vector<BuiltinRuleFile>& builtin_rule_files();

// The shipped file for this model and GPU count: "<Family>-cpu.yaml" with no GPU,
// "<Family>.yaml" (hybrid: experts on the CPU, the rest on cuda:0) with one, and
// "<Family>-multi-gpu.yaml" (layer ranges on cuda:0 / cuda:1) with two or more.
std::string default_rule_name(const models::ModuleTree& tree, const models::HParams& hp,
                              int n_gpus);

// A shipped file by name; source "inject/rules/NAME". Throws kt::Error for an unknown name.
RuleFile builtin_rules(const std::string& name);

// The rules to use: the file at `path`; a shipped file's bare name when no such file exists;
// the default for the model when path is empty.
RuleFile select_rules(const std::string& path, const models::ModuleTree& tree,
                      const models::HParams& hp, int n_gpus);

}  // namespace kt::inject
