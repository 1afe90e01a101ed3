// Prints how long the ops take at prefill and decode sizes (for the record; nothing is
// asserted about time, only that the kernels run).
#include <cstdio>

#include "ops_test_util.h"
#include "tensor/quants.h"

namespace kt::cuda::test {
namespace {

// Mean microseconds of `reps` launches of node id (operands: device tensors).
double time_node(const Node& n, const std::vector<Tensor>& in, const Tensor& out,
                 const LaunchContext& ctx, int reps) {
  launch_op(n, in, out, ctx);  // warm-up
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  check(cudaEventRecord(a, ctx.stream), "cudaEventRecord");
  for (int i = 0; i < reps; ++i) launch_op(n, in, out, ctx);
  check(cudaEventRecord(b, ctx.stream), "cudaEventRecord");
  check(cudaEventSynchronize(b), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 1000.0 * ms / reps;
}

// Times node id of g with its operands uploaded from vals.
void report(const char* what, const Graph& g, NodeId id, const std::vector<Tensor>& vals,
            double bytes, const int32_t* d_pos = nullptr) {
  const Node& n = g.node(id);
  std::vector<Tensor> in;
  for (NodeId j : n.inputs) in.push_back(upload(vals[size_t(j)]));
  Tensor out = device_empty(n.dtype, n.shape);
  LaunchContext ctx;
  ctx.d_pos = d_pos;
  const double us = time_node(n, in, out, ctx, 50);
  std::printf("[timing] %-34s %9.2f us  %7.1f GB/s\n", what, us, bytes / (us * 1e3));
}

TEST(CudaOpsTiming, PrintsPrefillAndDecodeTimes) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t E = 7168;
  for (int64_t T : {int64_t(1), int64_t(4096)}) {
    const double act = double(E) * T * 4;
    {
      Graph g;
      NodeId x = g.input("x", DType::F32, {E, T});
      NodeId y = g.rms_norm(x, g.weight("w", random_f32({E}, 1)), 1e-6f);
      NodeId a = g.add(x, y);
      NodeId s = g.swiglu(x, y);
      auto vals = cpu_values(g, {{x, random_f32({E, T}, 2)}});
      const std::string t = " T=" + std::to_string(T);
      report(("RMSNorm {7168}" + t).c_str(), g, y, vals, 2 * act);
      report(("Add {7168}" + t).c_str(), g, a, vals, 3 * act);
      report(("SwiGLU {7168}" + t).c_str(), g, s, vals, 3 * act);
    }
    {
      Graph g;
      NodeId table = g.weight("tok_embd", [] {
        Tensor f = random_f32({E, 512}, 3);
        Tensor q = Tensor::zeros(DType::Q4_K, {E, 512});
        tensor::quantize_row(DType::Q4_K, f.data_as<float>(), q.data(), f.numel());
        return q;
      }());
      NodeId ids = g.input("ids", DType::I32, {T});
      NodeId y = g.get_rows(table, ids);
      auto vals = cpu_values(g, {{ids, random_i32({T}, 4, 0, 511)}});
      report(("GetRows Q4_K {7168} T=" + std::to_string(T)).c_str(), g, y, vals, act);
    }
    {
      Graph g;
      NodeId x = g.input("q", DType::F32, {64, 128, T});
      NodeId p = g.input("pos", DType::I32, {T});
      tensor::RopeParams rp;
      rp.n_rot = 64;
      rp.ext_factor = 1.0f;
      rp.freq_scale = 1.0f / 40;
      rp.n_ctx_orig = 4096;
      NodeId y = g.rope(x, p, rp);
      auto vals =
          cpu_values(g, {{x, random_f32({64, 128, T}, 5)}, {p, random_i32({T}, 6, 0, 4095)}});
      report(("RoPE yarn {64, 128} T=" + std::to_string(T)).c_str(), g, y, vals,
             2.0 * 64 * 128 * T * 4);
    }
    {
      Graph g;
      NodeId l = g.input("logits", DType::F32, {256, T});
      tensor::MoeRouting r;
      r.k = 8;
      r.gating = tensor::MoeGating::Sigmoid;
      r.n_group = 8;
      r.n_group_used = 4;
      r.norm = true;
      r.scale = 2.5f;
      NodeId ids = g.moe_select(l, g.weight("bias", random_f32({256}, 7, 0.1f)), r);
      NodeId w = g.moe_weights(l, ids, r);
      auto vals = cpu_values(g, {{l, random_f32({256, T}, 8)}});
      report(("MoeSelect V3 {256} T=" + std::to_string(T)).c_str(), g, ids, vals, 256.0 * T * 4);
      report(("MoeWeights V3 {256} T=" + std::to_string(T)).c_str(), g, w, vals, 256.0 * T * 4);
    }
  }
}

}  // namespace
}  // namespace kt::cuda::test
