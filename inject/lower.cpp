#include "inject/lower.h"

#include <map>

namespace kt::inject {

void lower(const Plan& plan, const models::ModuleTree& tree, tensor::Graph& g, Phase phase) {
  // Weight name -> its placement; a step graph names the same weights every step.
  std::map<std::string, const Placement*> by_weight;
  auto placement_of = [&](const tensor::Node& w) {
    auto [it, fresh] = by_weight.try_emplace(w.name, nullptr);
    if (fresh) it->second = &plan.owner(tree.module_of(w.name));
    return it->second;
  };
  for (size_t i = 0; i < g.size(); ++i) {
    tensor::Node& n = g.node(tensor::NodeId(i));
    if (n.op == tensor::Op::Input) continue;
    const Placement* p = nullptr;
    if (n.op == tensor::Op::Weight) {
      p = placement_of(n);
    } else {
      for (tensor::NodeId in : n.inputs)
        if (g.node(in).op == tensor::Op::Weight) {
          p = placement_of(g.node(in));
          break;
        }
    }
    if (p) {
      n.device = p->device(phase);
      // Weights whose decode home is the CPU stay there; a GPU prefill streams them.
      n.stream_weights =
          n.op != tensor::Op::Weight && n.device.is_cuda() && p->device(Phase::Generate).is_cpu();
      if ((n.op == tensor::Op::MatMulExperts || n.op == tensor::Op::MatMul) &&
          !p->op(phase).empty())
        if (auto info = resolve_op(p->op(phase))) n.variant = info->node_variant;
    } else {
      for (tensor::NodeId in : n.inputs)
        if (g.node(in).op != tensor::Op::Input) {
          n.device = g.node(in).device;
          break;
        }
      // A weightless binary op joining a CPU value with a GPU one (the routed experts' sum
      // plus the shared expert's) runs on the GPU: the CPU result crosses once, instead of the
      // GPU result crossing to the CPU and the sum crossing back.
      if (n.device.is_cpu() && (n.op == tensor::Op::Add || n.op == tensor::Op::Mul))
        for (tensor::NodeId in : n.inputs)
          if (g.node(in).device.is_cuda() && g.node(in).op != tensor::Op::Input) {
            n.device = g.node(in).device;
            break;
          }
    }
  }
}

}  // namespace kt::inject
