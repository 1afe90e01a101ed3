// HybridExecutor on hand-built graphs: GPU nodes, CPU nodes between them (host functions on the
// side stream), host inputs, outputs from either side, and replays of a captured graph, all
// against the CPU executor.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/cpu/graph_exec.h"
#include "backends/cuda/device.h"
#include "backends/cuda/exec.h"

namespace kt::cuda {
namespace {

using tensor::Device;
using tensor::DType;
using tensor::Graph;
using tensor::NodeId;
using tensor::Tensor;

Tensor random_tensor(const tensor::Shape& shape, uint32_t seed) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

TEST(HybridExec, CpuNodesBetweenGpuNodesMatchTheCpuExecutor) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  for (int64_t T : {1, 5}) {
    Graph g;
    const NodeId pos = g.input("positions", DType::I32, {T});
    const NodeId x = g.input("x", DType::F32, {48, T});
    const Tensor wt = random_tensor({48, 32}, 7);
    const NodeId w = g.weight("w", wt);
    const NodeId a = g.matmul(w, x, "a");            // GPU
    const NodeId b = g.silu(a, "b");                 // CPU
    const NodeId c = g.scale(b, 0.5f, "c");          // CPU
    const NodeId d = g.add(a, c, "d");               // GPU, joins the CPU segment
    const NodeId e = g.rms_norm(d, -1, 1e-6f, "e");  // GPU
    const NodeId f = g.mul(e, b, "f");               // GPU reading the segment again
    for (NodeId id : {a, d, e, f, w}) g.node(id).device = Device::cuda(0);
    (void)pos;
    std::map<NodeId, Tensor> in = {{x, random_tensor({48, T}, 11)},
                                   {pos, Tensor::zeros(DType::I32, {T})}};
    cpu::ThreadPool pool(2);
    Graph gc = g;
    for (size_t i = 0; i < gc.size(); ++i) gc.node(NodeId(i)).device = Device::cpu();
    cpu::GraphExecutor ce(pool);
    const std::vector<Tensor> ref = ce.run(gc, in);
    HybridExecutor he;
    const NodeId outs[] = {f, c};
    for (int rep = 0; rep < 4; ++rep) {  // eager, capture, replays
      const std::vector<Tensor> got = he.run(g, in, outs, pool);
      ASSERT_EQ(got.size(), 2u);
      for (int o = 0; o < 2; ++o) {
        const Tensor& want = ref[size_t(outs[o])];
        double err = 0;
        for (int64_t i = 0; i < want.numel(); ++i)
          err = std::max(err, double(std::fabs(got[size_t(o)].data_as<float>()[i] -
                                               want.data_as<float>()[i])));
        EXPECT_LT(err, 1e-4) << "T=" << T << " rep " << rep << " output " << o;
      }
      EXPECT_EQ(he.last_profile().graph_replay, T == 1 && rep >= 1) << "T=" << T << " rep " << rep;
    }
  }
}

}  // namespace
}  // namespace kt::cuda
