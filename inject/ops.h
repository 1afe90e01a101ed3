#pragma once
// The operators a rule may name, under kt's own names and KTransformers' (class paths and
// operator names are aliases), with the module classes each may replace and the devices each
// variant runs on. One table, so that "which names does kt accept" has one answer.
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/graph.h"

namespace kt::inject {

// What a replace class stands for: which kind of module it replaces.
enum class OpKind { Default, Linear, Experts, MoE, Attention, RoPE, Gate, Norm, MLP, Model };

const char* kind_name(OpKind k);

// A replace class (`replace: class:`): kt name, kind, KTransformers' names.
struct ReplaceClass {
  std::string name;  // kt's name: "default", "Experts", "Linear", ...
  OpKind kind = OpKind::Default;
  // Set when the class is itself an operator variant (KTransformers lets a rule name
  // KExpertsCPU directly): both phases run it.
  std::string op;
};

// An operator variant (`generate_op` / `prefill_op`).
struct OpVariantInfo {
  std::string name;  // kt's name: "experts_fused"
  OpKind kind = OpKind::Default;
  bool on_cpu = false, on_cuda = false;
  tensor::OpVariant node_variant = tensor::OpVariant::Auto;  // what lowering writes on nodes
  std::string ktransformers;                                 // its KTransformers name, for messages
};

// Resolves a replace class as written in a rule: a kt name, a KTransformers class path
// ("ktransformers.operators.experts.KTransformersExperts") or its last component. nullopt for
// a name no table knows; throws kt::Error for a KTransformers operator kt does not have (the
// message names it and what to use instead). Error messages carry no location: the caller adds
// the rule's file and line.
std::optional<ReplaceClass> resolve_replace_class(const std::string& written);
std::optional<OpVariantInfo> resolve_op(const std::string& written);

// Whether a replace class of this kind may replace a module of this class and path.
bool kind_fits(OpKind kind, const std::string& module_class, const std::string& path);

// Everything accepted, for "unknown ..." messages.
std::string known_replace_classes();
std::string known_ops();

}  // namespace kt::inject
