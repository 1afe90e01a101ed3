#include "backends/cuda/exec_launch.h"

#include "backends/cuda/attention.h"
#include "backends/cuda/matmul.h"
#include "backends/cuda/ops.h"
#include "tensor/error.h"

namespace kt::cuda {

using tensor::Node;
using tensor::Op;
using tensor::Tensor;

bool launches_kernel(Op op) {
  return op != Op::Input && op != Op::Weight && op != Op::Reshape && op != Op::Copy;
}

namespace {

int64_t columns(const Tensor& x, int64_t k) {
  return k > 0 ? x.numel() / k : 0;
}

}  // namespace

void launch_node(const Node& n, std::span<const Tensor> in, const Tensor& out,
                 const LaunchContext& ctx, const MarlinWeight* marlin) {
  switch (n.op) {
    case Op::MatMul:
      if (marlin) {
        marlin_matmul(*marlin, in[1].data_as<float>(), out.data_as<float>(),
                      columns(in[1], marlin->k), ctx);
      } else {
        launch_matmul(n, in[0], in[1], out, ctx);
      }
      return;
    case Op::MatMulExperts:
      launch_matmul_experts(n, in[0], in[1], in[2], out, ctx);
      return;
    case Op::MatMulHeads:
      launch_matmul_heads(n, in[0], in[1], out, ctx);
      return;
    case Op::Attention:
      launch_attention(n, in[0], in[1], in.size() > 2 ? &in[2] : nullptr, out, ctx);
      return;
    default:
      launch_op(n, in, out, ctx);
  }
}

size_t node_workspace_bytes(const Node& n, std::span<const Tensor> in, const MarlinWeight* marlin) {
  switch (n.op) {
    case Op::MatMul:
      return marlin ? marlin_workspace_bytes(*marlin, columns(in[1], marlin->k))
                    : matmul_workspace_bytes(in[0], columns(in[1], in[0].ne(0)));
    case Op::MatMulExperts:
      return matmul_experts_workspace_bytes(in[0], in[2]);
    case Op::MatMulHeads:
      return matmul_heads_workspace_bytes(in[0], n.shape.size() > 2 ? n.shape[2] : 1);
    case Op::Attention:
      return attention_workspace_bytes(n, in[0], in[1].ne(2));
    default:
      return 0;
  }
}

}  // namespace kt::cuda
