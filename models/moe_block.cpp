#include "models/moe_block.h"

#include "tensor/error.h"

namespace kt::models {

using tensor::Graph;
using tensor::MoeGating;
using tensor::NodeId;

MoeSpec MoeSpec::from_gguf(const tensor::GgufFile& f, const HParams& hp, bool norm_default) {
  const std::string a = hp.arch + ".";
  auto bad = [&](const std::string& what) { throw Error(f.name() + ": " + what); };
  MoeSpec m;
  m.n_expert = f.get_u32(a + "expert_count", 0);
  m.routing.k = int(f.get_u32(a + "expert_used_count", 0));
  if (m.n_expert <= 0) bad(a + "expert_count is missing or zero");
  if (m.routing.k <= 0 || m.routing.k > m.n_expert)
    bad(a + "expert_used_count " + std::to_string(m.routing.k) + " outside [1, " +
        std::to_string(m.n_expert) + "]");
  m.n_ff = f.get_u32(a + "expert_feed_forward_length", uint32_t(hp.n_ff));
  switch (f.get_u32(a + "expert_gating_func", 0)) {
    case 0:  // legacy files: softmax
    case 1:
      m.routing.gating = MoeGating::Softmax;
      break;
    case 2:
      m.routing.gating = MoeGating::Sigmoid;
      break;
    case 3:
      m.routing.gating = MoeGating::SoftmaxWeight;
      break;
    case 4:
      m.routing.gating = MoeGating::SqrtSoftplus;
      break;
    default:
      bad(a + "expert_gating_func " + std::to_string(f.get_u32(a + "expert_gating_func")) +
          " is not supported (0-4)");
  }
  m.routing.norm = f.get_bool(a + "expert_weights_norm", norm_default);
  const float scale = f.get_f32(a + "expert_weights_scale", 1.0f);
  m.routing.scale = scale == 0.0f ? 1.0f : scale;
  m.routing.n_group = int(f.get_u32(a + "expert_group_count", 1));
  m.routing.n_group_used = int(f.get_u32(a + "expert_group_used_count", 1));
  if (m.routing.n_group < 1) m.routing.n_group = 1;
  if (m.routing.n_group > 1) {
    if (m.n_expert % m.routing.n_group != 0)
      bad(a + "expert_group_count " + std::to_string(m.routing.n_group) + " does not divide " +
          std::to_string(m.n_expert) + " experts");
    if (m.routing.n_group_used < 1 || m.routing.n_group_used > m.routing.n_group)
      bad(a + "expert_group_used_count " + std::to_string(m.routing.n_group_used) +
          " outside [1, expert_group_count]");
  }
  const std::string scoring(f.get_string(a + "expert_group_scoring", "top2_sum"));
  if (scoring == "max")
    m.routing.group_score = tensor::MoeGroupScore::Max;
  else if (scoring == "top2_sum")
    m.routing.group_score = tensor::MoeGroupScore::Top2Sum;
  else
    bad(a + "expert_group_scoring \"" + scoring + "\" is not supported (max, top2_sum)");
  return m;
}

void check_moe_weights(const WeightSet& w, int64_t l, int64_t E, const MoeSpec& m) {
  const int64_t X = m.n_expert, F = m.n_ff;
  if (F <= 0) throw Error(w.source() + ": the expert FFN width is missing");
  w.get(blk_name(l, "ffn_gate_inp"), {E, X});
  if (m.select_bias) w.get(blk_name(l, "exp_probs_b", "bias"), {X});
  w.get(blk_name(l, "ffn_gate_exps"), {E, F, X});
  w.get(blk_name(l, "ffn_up_exps"), {E, F, X});
  w.get(blk_name(l, "ffn_down_exps"), {F, E, X});
  if (m.shared != SharedExpert::None) check_dense_ffn(w, l, E, m.n_ff_shared, "_shexp");
  if (m.shared == SharedExpert::Gated) {
    // HF [1, E]: {E} in files (or {E, 1}, the same bytes).
    const tensor::Tensor& gi = w.get(blk_name(l, "ffn_gate_inp_shexp"));
    if (gi.numel() != E || gi.ne(0) != E)
      throw Error(w.source() + ": tensor " + blk_name(l, "ffn_gate_inp_shexp") + " has shape " +
                  gi.shape_str() + ", expected {" + std::to_string(E) + "}");
  }
}

NodeId moe_ffn(Graph& g, const WeightSet& w, int64_t l, NodeId h, const MoeSpec& m) {
  const std::string p = "blk." + std::to_string(l) + ".";
  NodeId logits = g.matmul(weight_node(g, w, blk_name(l, "ffn_gate_inp")), h, p + "router");
  NodeId bias = m.select_bias ? weight_node(g, w, blk_name(l, "exp_probs_b", "bias")) : -1;
  NodeId ids = g.moe_select(logits, bias, m.routing, p + "expert_ids");
  NodeId weights = g.moe_weights(logits, ids, m.routing, p + "expert_weights");
  NodeId gate = g.matmul_experts(weight_node(g, w, blk_name(l, "ffn_gate_exps")), h, ids);
  NodeId up = g.matmul_experts(weight_node(g, w, blk_name(l, "ffn_up_exps")), h, ids);
  NodeId down = g.matmul_experts(weight_node(g, w, blk_name(l, "ffn_down_exps")),
                                 g.swiglu(gate, up), ids, p + "experts");
  NodeId out = g.weighted_sum(down, weights, p + "moe");
  if (m.shared == SharedExpert::None) return out;
  NodeId sh = dense_ffn(g, w, l, h, "_shexp");
  if (m.shared == SharedExpert::Gated) {
    const tensor::Tensor& gi = w.get(blk_name(l, "ffn_gate_inp_shexp"));
    NodeId gw = g.weight(blk_name(l, "ffn_gate_inp_shexp"), gi.reshape({gi.ne(0), 1}));
    sh = g.mul(sh, g.sigmoid(g.matmul(gw, h), p + "shexp_gate"), p + "shexp_gated");
  }
  return g.add(out, sh, p + "ffn_out");
}

}  // namespace kt::models
