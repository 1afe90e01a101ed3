// A decode step of these ops captured once into a CUDA graph and replayed at several positions
// (only the contents of d_pos and the inputs change), against the CPU executor at each step;
// and the errors launch_op reports.
#include <cstring>

#include "ops_test_util.h"
#include "tensor/error.h"

namespace kt::cuda::test {
namespace {

using tensor::MoeGating;
using tensor::MoeRouting;
using tensor::Op;
using tensor::RopeParams;

constexpr int64_t kE = 2048, kDh = 64, kH = 4, kS = 16, kX = 256;

struct Step {
  Graph g;
  NodeId x, q, pos, cache, logits, norm, rope, append, sum, ids, weights;
};

// The same graph for every position; only CacheAppend's pos_offset differs.
void build_step(Step& s, int64_t pos, const Tensor& norm_w, const Tensor& bias) {
  Graph& g = s.g;
  s.x = g.input("x", DType::F32, {kE, 1});
  s.norm = g.rms_norm(s.x, g.weight("norm.w", norm_w), 1e-6f, "attn_norm");
  s.sum = g.add(g.silu(s.norm), s.x, "residual");
  s.q = g.input("q", DType::F32, {kDh, kH, 1});
  s.pos = g.input("pos", DType::I32, {1});
  RopeParams rp;
  rp.n_rot = kDh;
  rp.freq_base = 10000.0f;
  s.rope = g.rope(s.q, s.pos, rp, "rope");
  s.cache = g.input("cache", DType::F32, {kDh, kH, kS});
  s.append = g.cache_append(s.cache, s.rope, pos, "k_cache");
  s.logits = g.input("logits", DType::F32, {kX, 1});
  MoeRouting r;
  r.k = 8;
  r.gating = MoeGating::Sigmoid;
  r.n_group = 8;
  r.n_group_used = 4;
  r.norm = true;
  r.scale = 2.5f;
  NodeId b = g.weight("bias", bias);
  s.ids = g.moe_select(s.logits, b, r, "select");
  s.weights = g.moe_weights(s.logits, s.ids, r, "weights");
}

void copy_to_device(const Tensor& dst, const Tensor& src) {
  check(cudaMemcpy(dst.data(), src.data(), src.nbytes(), cudaMemcpyHostToDevice), "cudaMemcpy");
}

TEST(CudaOpsCapture, DecodeStepReplaysAtEveryPosition) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const Tensor norm_w = random_f32({kE}, 1), bias = random_f32({kX}, 2, 0.1f);
  Tensor cpu_cache = random_f32({kDh, kH, kS}, 3);
  Step proto;
  build_step(proto, 0, norm_w, bias);
  const Graph& g = proto.g;

  // Device values of every node, at fixed addresses; the cache node's value is the cache.
  std::vector<Tensor> dev(g.size());
  for (size_t i = 0; i < g.size(); ++i) {
    const tensor::Node& n = g.node(NodeId(i));
    if (n.op == Op::Weight)
      dev[i] = upload(n.weight);
    else if (n.op != Op::CacheAppend)
      dev[i] = device_empty(n.dtype, n.shape);
  }
  copy_to_device(dev[size_t(proto.cache)], cpu_cache);
  dev[size_t(proto.append)] = dev[size_t(proto.cache)];
  Tensor d_pos = device_zeros(DType::I32, {1});

  cudaStream_t stream;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  LaunchContext ctx;
  ctx.stream = stream;
  ctx.d_pos = d_pos.data_as<int32_t>();
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture");
  for (size_t i = 0; i < g.size(); ++i) {
    const tensor::Node& n = g.node(NodeId(i));
    if (n.op == Op::Input || n.op == Op::Weight) continue;
    std::vector<Tensor> in;
    for (NodeId j : n.inputs) in.push_back(dev[size_t(j)]);
    launch_op(n, in, dev[i], ctx);
  }
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");

  for (int64_t pos : {0, 1, 5, 15}) {
    Step ref;
    build_step(ref, pos, norm_w, bias);
    const uint32_t seed = 100 + uint32_t(pos) * 10;
    std::map<NodeId, Tensor> inputs = {{ref.x, random_f32({kE, 1}, seed)},
                                       {ref.q, random_f32({kDh, kH, 1}, seed + 1)},
                                       {ref.pos, i32({1}, {int32_t(pos)})},
                                       {ref.cache, cpu_cache},
                                       {ref.logits, random_f32({kX, 1}, seed + 2)}};
    for (const auto& [id, t] : inputs)
      if (id != ref.cache) copy_to_device(dev[size_t(id)], t);
    copy_to_device(d_pos, i32({1}, {int32_t(pos)}));
    auto want = cpu_values(ref.g, inputs);  // also appends to cpu_cache
    check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    for (NodeId id : {ref.norm, ref.sum, ref.rope, ref.weights})
      EXPECT_TRUE(all_close(want[size_t(id)], download(dev[size_t(id)]), 1e-6f, 2e-6f))
          << g.node(id).name << " at pos " << pos;
    EXPECT_TRUE(all_close(cpu_cache, download(dev[size_t(ref.cache)]), 0.0f, 2e-6f))
        << "cache at pos " << pos;
    EXPECT_TRUE(all_equal_i32(want[size_t(ref.ids)], download(dev[size_t(ref.ids)])))
        << "ids at pos " << pos;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(CudaOpsErrors, UnsupportedOpsAndOperandsAreReportedWithTheNodeName) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Graph g;
  NodeId w = g.weight("w", Tensor::zeros(DType::F32, {32, 8}));
  NodeId x = g.input("x", DType::F32, {32, 2});
  NodeId mm = g.matmul(w, x, "blk.0.ffn_up");
  NodeId norm = g.rms_norm(x, g.weight("nw", Tensor::zeros(DType::F16, {32})), 1e-6f, "blk.0.norm");
  const Tensor mm_in[2] = {Tensor::zeros(DType::F32, {32, 8}), Tensor::zeros(DType::F32, {32, 2})};
  EXPECT_FALSE(op_supported(g.node(mm), mm_in));
  const Tensor norm_f16[2] = {Tensor::zeros(DType::F32, {32, 2}), Tensor::zeros(DType::F16, {32})};
  EXPECT_FALSE(op_supported(g.node(norm), norm_f16));
  const Tensor norm_f32[2] = {Tensor::zeros(DType::F32, {32, 2}), Tensor::zeros(DType::F32, {32})};
  EXPECT_TRUE(op_supported(g.node(norm), norm_f32));
  tensor::Node gr;
  gr.op = Op::GetRows;
  const Tensor iq2[2] = {Tensor::zeros(DType::IQ2_XXS, {256, 2}), Tensor::zeros(DType::I32, {1})};
  EXPECT_FALSE(op_supported(gr, iq2));

  Tensor out = device_empty(DType::F32, {8, 2});
  try {
    launch_op(g.node(mm), mm_in, out, LaunchContext{});
    ADD_FAILURE() << "MatMul was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.ffn_up"), std::string::npos) << e.what();
  }
  // Host operands are refused before any kernel could read them.
  EXPECT_THROW(launch_op(g.node(norm), norm_f32, out, LaunchContext{}), Error);

  // CacheAppend needs the device position.
  Graph gc;
  NodeId cache = gc.input("cache", DType::F32, {4, 1, 8});
  NodeId ca = gc.cache_append(cache, gc.input("k", DType::F32, {4, 1, 1}), 0, "k_cache");
  const Tensor ca_in[2] = {device_zeros(DType::F32, {4, 1, 8}),
                           device_zeros(DType::F32, {4, 1, 1})};
  try {
    launch_op(gc.node(ca), ca_in, ca_in[0], LaunchContext{});
    ADD_FAILURE() << "CacheAppend without d_pos was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("k_cache"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kt::cuda::test
