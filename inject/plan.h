#pragma once
// The Plan: the result of walking a model's module tree once with a rule file (reference
// §2.2). For every module visited, its operator (replace class and per-phase variant) and its
// devices per phase. Loading, lowering and the memory preview read the Plan; nothing else
// decides placement.
//
// Semantics follow KTransformers: rules are tried in file order and the first whose name
// regex (searched in the module path, like Python's re.search) and class both fit wins; a
// module no rule matches gets the default device; `recursive: false` leaves the module's
// children to it. Everything a rule file can get wrong — unknown class, operator, kwarg or
// device, a bad regex, an operator on a device it cannot run on, CUDA with no GPU, an operator
// on a module of the wrong kind — is reported with the rule's file and line before any weight
// is read; a rule that matches nothing is a warning.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "inject/ops.h"
#include "inject/rules.h"
#include "models/module_tree.h"
#include "tensor/device.h"

namespace kt::inject {

enum class Phase { Prefill, Generate };

struct Placement {
  std::string path;                  // module path
  std::string module_class;          // its class in the tree
  std::string op_class = "default";  // kt's replace class
  OpKind kind = OpKind::Default;
  std::string generate_op, prefill_op;  // kt variant names; "" = the backend's choice
  tensor::Device generate_device, prefill_device;
  std::optional<tensor::Device> out_device;
  std::map<std::string, std::string> kwargs;  // every other kwarg, as written
  std::string rule;  // "FILE:LINE" of the rule that placed it; "" = default device

  const tensor::Device& device(Phase p) const {
    return p == Phase::Prefill ? prefill_device : generate_device;
  }
  const std::string& op(Phase p) const { return p == Phase::Prefill ? prefill_op : generate_op; }
};

struct PlanOptions {
  tensor::Device default_device = tensor::Device::cpu();  // for modules no rule matches
  int gpu_count = 0;  // CUDA devices present (the caller asks the CUDA backend; tests fake it)
};

class Plan {
 public:
  // Throws kt::Error listing every error, one "FILE:LINE: ..." per line.
  static Plan build(const models::ModuleTree& tree, const RuleFile& rules,
                    const PlanOptions& opt = {});

  const std::vector<Placement>& entries() const { return entries_; }
  const Placement* find(const std::string& path) const;
  // The placement that governs a module: its own, or that of its nearest placed ancestor
  // (children of a `recursive: false` module belong to it).
  const Placement& owner(const std::string& path) const;
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::string& source() const { return source_; }
  // Layer index -> device its activations move to (KTransformers' transfer_map).
  const std::map<int64_t, tensor::Device>& transfer_map() const { return transfer_map_; }
  // The first placement off the CPU (either phase), or nullptr.
  const Placement* first_off_cpu() const;

 private:
  std::vector<Placement> entries_;
  std::map<std::string, size_t> index_;
  std::vector<std::string> warnings_;
  std::map<int64_t, tensor::Device> transfer_map_;
  std::string source_;
};

}  // namespace kt::inject
