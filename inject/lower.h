#pragma once
// Lowering: writes a Plan onto a step graph. Each node takes the device and operator variant of
// the module it belongs to, found through its weight operand (a Weight node's GGUF name names
// its module, models/module_tree.h); a node without one follows its first operand, so an
// attention block's norms, RoPE and softmax run where its projections do. Inputs fed by the
// engine stay on the CPU.
#include "inject/plan.h"
#include "models/module_tree.h"
#include "tensor/graph.h"

namespace kt::inject {

void lower(const Plan& plan, const models::ModuleTree& tree, tensor::Graph& g, Phase phase);

}  // namespace kt::inject
