// The launch is captured once and replayed at other positions (only *d_pos changes, as in a
// captured decode step), and the node's errors name it.
#include <gtest/gtest.h>

#include "tensor/error.h"
#include "tests/backends/cuda/attention/attention_fixture.h"

namespace kt::cuda::test {
namespace {

void replay_at_positions(Case c, const std::vector<int64_t>& positions) {
  Problem pr(c);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  check(cudaStreamBeginCapture(pr.stream(), cudaStreamCaptureModeGlobal), "begin capture");
  pr.launch(pr.context());
  check(cudaStreamEndCapture(pr.stream(), &graph), "end capture");
  check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  for (int64_t pos : positions) {
    pr.set_pos(pos);
    pr.poison_output();
    check(cudaGraphLaunch(exec, pr.stream()), "cudaGraphLaunch");
    EXPECT_LT(pr.compare("graph"), kTolerance) << c.name << " replayed at pos " << pos;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

TEST(CudaAttentionGraph, CapturedDecodeReplaysAtOtherPositions) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Case c;
  c.name = "graph_gqa_decode";
  c.dk = c.dv = 128, c.hq = 32, c.hkv = 8, c.n_q = 1, c.pos = 20, c.n_ctx = 4096;
  c.valid = 4000;
  replay_at_positions(c, {20, 0, 77, 1500, 3998});
}

TEST(CudaAttentionGraph, CapturedMlaDecodeReplaysAtOtherPositions) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Case c;
  c.name = "graph_mla_decode";
  c.dk = 576, c.dv = 512, c.hq = 16, c.hkv = 1, c.n_q = 1, c.pos = 5, c.n_ctx = 3000;
  c.shared_kv = true, c.scale = 0.1352f, c.valid = 2900;
  replay_at_positions(c, {5, 2000, 1, 2898});
}

TEST(CudaAttentionGraph, CapturedChunkReplaysAtOtherPositions) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Case c;
  c.name = "graph_window_chunk";
  c.dk = c.dv = 64, c.hq = 8, c.hkv = 2, c.n_q = 7, c.pos = 0, c.n_ctx = 1200;
  c.window = 300, c.valid = 1150;
  replay_at_positions(c, {0, 3, 99, 700, 1143});
}

TEST(CudaAttentionErrors, SmallWorkspaceNamesTheNode) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Case c;
  c.name = "ws";
  c.dk = c.dv = 128, c.hq = 8, c.hkv = 2, c.n_q = 1, c.pos = 3000;
  Problem pr(c);
  ASSERT_GT(pr.workspace_bytes(), 0u) << "a long decode should take the split-K path";
  try {
    pr.launch(pr.context(pr.workspace_bytes() - 1));
    FAIL() << "a too small workspace was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(pr.node().name), std::string::npos) << e.what();
  }
}

TEST(CudaAttentionErrors, MismatchedShapesAreRejected) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  tensor::Node n;
  n.op = tensor::Op::Attention;
  n.name = "blk.1.attn";
  n.shape = {64, 6, 2};
  LaunchContext ctx;
  std::shared_ptr<void> pos = device_alloc(sizeof(int32_t));
  ctx.d_pos = static_cast<const int32_t*>(pos.get());
  const auto q = device_zeros(tensor::DType::F32, {64, 6, 2});
  const auto k4 = device_zeros(tensor::DType::F32, {64, 4, 10});   // 6 heads over 4: no
  const auto k32 = device_zeros(tensor::DType::F32, {32, 3, 10});  // rows of 32, not 64
  const auto k = device_zeros(tensor::DType::F32, {64, 3, 10});
  const auto out = device_zeros(tensor::DType::F32, {64, 6, 2});
  const auto bad_out = device_zeros(tensor::DType::F32, {64, 6, 3});
  EXPECT_THROW(launch_attention(n, q, k4, &k4, out, ctx), Error);
  EXPECT_THROW(launch_attention(n, q, k32, &k32, out, ctx), Error);
  EXPECT_THROW(launch_attention(n, q, k, &k, bad_out, ctx), Error);
  n.v_dim = 65;  // shared k/v wider than k
  EXPECT_THROW(launch_attention(n, q, k, nullptr, out, ctx), Error);
  const auto host_q = tensor::Tensor::zeros(tensor::DType::F32, {64, 6, 2});
  EXPECT_THROW(launch_attention(n, host_q, k, &k, out, ctx), Error);
}

}  // namespace
}  // namespace kt::cuda::test
