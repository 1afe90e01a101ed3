// Tensor views and Graph IR shape checking.
#include <gtest/gtest.h>

#include "tensor/error.h"
#include "tensor/graph.h"
#include "tensor/tensor.h"

namespace kt::tensor {
namespace {

TEST(TensorView, ContiguousStridesFollowGgmlOrder) {
  Tensor t = Tensor::zeros(DType::F32, {5, 3, 2});
  EXPECT_EQ(t.n_dims(), 3);
  EXPECT_EQ(t.nb(0), 4u);
  EXPECT_EQ(t.nb(1), 20u);
  EXPECT_EQ(t.nb(2), 60u);
  EXPECT_EQ(t.nbytes(), 120u);
  EXPECT_EQ(t.numel(), 30);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  EXPECT_EQ(t.str(), "F32 {5, 3, 2} cpu");
}

TEST(TensorView, QuantizedRowsUseBlockSizes) {
  Tensor t = Tensor::zeros(DType::Q4_K, {512, 3});
  EXPECT_EQ(t.nb(0), 144u);
  EXPECT_EQ(t.row_bytes(), 288u);
  EXPECT_EQ(t.nbytes(), 864u);
  EXPECT_THROW(Tensor::zeros(DType::Q4_K, {100, 3}), Error);
  Tensor s = t.slice(0, 256, 512);
  EXPECT_EQ(static_cast<uint8_t*>(s.data()) - static_cast<uint8_t*>(t.data()), 144);
  EXPECT_THROW(t.slice(0, 10, 256), Error);
  EXPECT_THROW(t.transpose(0, 1), Error);
}

TEST(TensorView, SliceTransposeReshape) {
  Tensor t = Tensor::zeros(DType::F32, {4, 3});
  float* p = t.data_as<float>();
  for (int i = 0; i < 12; ++i) p[i] = float(i);
  Tensor r = t.slice(1, 1, 3);  // rows 1..2
  EXPECT_EQ(r.ne(1), 2);
  EXPECT_EQ(static_cast<float*>(r.row(0))[0], 4.0f);
  EXPECT_TRUE(r.is_contiguous());
  Tensor c = t.slice(0, 1, 3);  // columns 1..2 of every row: strided
  EXPECT_FALSE(c.is_contiguous());
  EXPECT_EQ(static_cast<float*>(c.row(2))[1], 10.0f);
  EXPECT_THROW(c.reshape({6}), Error);
  Tensor tr = t.transpose(0, 1);
  EXPECT_EQ(tr.ne(0), 3);
  EXPECT_EQ(tr.nb(0), 16u);
  Tensor flat = t.reshape({12});
  EXPECT_EQ(flat.n_dims(), 1);
  EXPECT_THROW(t.reshape({5}), Error);
  EXPECT_THROW(t.slice(1, 2, 4), Error);
}

TEST(TensorView, WrapKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(8, 1.5f);
  Tensor t;
  { t = Tensor::wrap(DType::F32, {8}, owner->data(), Device::cpu(), owner); }
  owner.reset();
  EXPECT_EQ(t.data_as<float>()[7], 1.5f);
}

TEST(DeviceName, ParseAndPrint) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("cuda"), Device::cuda(0));
  EXPECT_EQ(Device::parse("cuda:1").str(), "cuda:1");
  EXPECT_THROW(Device::parse("gpu"), Error);
  EXPECT_THROW(Device::parse("cuda:x"), Error);
  EXPECT_THROW(Device::parse("cuda:-1"), Error);
}

// A MoE feed-forward block as a model would build it.
TEST(GraphIR, BuildsMoeBlockWithInferredShapes) {
  const int64_t E = 64, T = 3, n_exp = 8, k = 2, F = 32;
  Graph g;
  NodeId x = g.input("x", DType::F32, {E, T});
  NodeId router = g.weight("router", Tensor::zeros(DType::F32, {E, n_exp}));
  NodeId up = g.weight("up", Tensor::zeros(DType::Q8_0, {E, F, n_exp}));
  NodeId down = g.weight("down", Tensor::zeros(DType::Q8_0, {F, E, n_exp}));
  NodeId logits = g.matmul(router, x, "logits");
  EXPECT_EQ(g.node(logits).shape, (std::vector<int64_t>{n_exp, T}));
  NodeId probs = g.softmax(logits);
  NodeId ids = g.top_k(probs, int(k), "ids");
  EXPECT_EQ(g.node(ids).dtype, DType::I32);
  EXPECT_EQ(g.node(ids).shape, (std::vector<int64_t>{k, T}));
  NodeId w = g.gather(probs, ids);
  NodeId h = g.matmul_experts(up, x, ids);
  EXPECT_EQ(g.node(h).shape, (std::vector<int64_t>{F, k, T}));
  NodeId a = g.silu(h);
  NodeId o = g.matmul_experts(down, g.reshape(a, {F, k * T}), ids);
  EXPECT_THROW(g.weighted_sum(h, ids), Error);  // combine weights must be F32, not ids
  NodeId y = g.weighted_sum(o, w, "moe_out");
  EXPECT_EQ(g.node(y).shape, (std::vector<int64_t>{E, T}));
  EXPECT_EQ(g.find("moe_out"), y);
  EXPECT_NE(g.dump().find("MatMulExperts"), std::string::npos);
}

TEST(GraphIR, RejectsMismatchedShapesNamingTheNode) {
  Graph g;
  NodeId x = g.input("x", DType::F32, {64, 2});
  NodeId w = g.weight("w", Tensor::zeros(DType::F32, {32, 16}));
  try {
    g.matmul(w, x, "blk.0.attn_q");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q"), std::string::npos);
  }
  NodeId pos = g.input("pos", DType::I32, {2});
  NodeId q = g.input("q", DType::F32, {16, 4, 2});
  RopeParams p;
  p.n_rot = 18;
  EXPECT_THROW(g.rope(q, pos, p), Error);
  p.n_rot = 16;
  EXPECT_NO_THROW(g.rope(q, pos, p));
  NodeId kv = g.input("k", DType::F32, {16, 3, 5});
  EXPECT_THROW(g.attention(q, kv, kv, 0.25f, 0), Error);  // 4 heads not a multiple of 3
  NodeId k2 = g.input("k2", DType::F32, {16, 2, 5});
  NodeId att = g.attention(q, k2, k2, 0.25f, 3);
  EXPECT_EQ(g.node(att).shape, (std::vector<int64_t>{16, 4, 2}));
  EXPECT_THROW(g.attention(q, k2, k2, 0.25f, 4), Error);  // queries past the end
  EXPECT_THROW(g.add(x, q), Error);
  EXPECT_THROW(g.reshape(x, {100}), Error);
  EXPECT_THROW(g.top_k(x, 65), Error);
  EXPECT_THROW(g.matmul(w, 99), Error);
}

TEST(GraphIR, SliceConcatAndRoutingShapes) {
  Graph g;
  NodeId q = g.input("q", DType::F32, {24, 4, 3});
  NodeId nope = g.slice(q, 0, 16, "q_nope");
  EXPECT_EQ(g.node(nope).shape, (std::vector<int64_t>{16, 4, 3}));
  EXPECT_EQ(g.node(g.slice(q, 16, 24)).shape, (std::vector<int64_t>{8, 4, 3}));
  EXPECT_THROW(g.slice(q, 16, 25), Error);
  EXPECT_THROW(g.slice(q, 8, 8), Error);
  EXPECT_THROW(g.slice(q, -1, 4), Error);
  NodeId pe = g.input("pe", DType::F32, {8, 1, 3});
  EXPECT_EQ(g.node(g.concat(nope, pe)).shape, (std::vector<int64_t>{24, 4, 3}));  // broadcast
  EXPECT_EQ(g.node(g.concat(pe, nope)).shape, (std::vector<int64_t>{24, 4, 3}));
  NodeId pe2 = g.input("pe2", DType::F32, {8, 2, 3});
  EXPECT_THROW(g.concat(nope, pe2), Error);  // 4 heads and 2 heads
  NodeId pe3 = g.input("pe3", DType::F32, {8, 4, 2});
  EXPECT_THROW(g.concat(nope, pe3), Error);  // token counts differ

  // One value per row broadcasts along the row (a per-token gate).
  NodeId x = g.input("x", DType::F32, {6, 3});
  NodeId gate = g.input("gate", DType::F32, {1, 3});
  EXPECT_EQ(g.node(g.mul(x, gate)).shape, (std::vector<int64_t>{6, 3}));
  EXPECT_THROW(g.mul(x, g.input("bad", DType::F32, {1, 4})), Error);

  NodeId logits = g.input("logits", DType::F32, {8, 3});
  NodeId bias = g.input("bias", DType::F32, {8});
  MoeRouting r;
  r.k = 2;
  r.n_group = 4;
  r.n_group_used = 2;
  NodeId ids = g.moe_select(logits, bias, r, "ids");
  EXPECT_EQ(g.node(ids).dtype, DType::I32);
  EXPECT_EQ(g.node(ids).shape, (std::vector<int64_t>{2, 3}));
  NodeId w = g.moe_weights(logits, ids, r, "w");
  EXPECT_EQ(g.node(w).dtype, DType::F32);
  EXPECT_EQ(g.node(w).shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THROW(g.moe_select(logits, g.input("b7", DType::F32, {7}), r), Error);
  EXPECT_THROW(g.moe_weights(logits, logits, r), Error);  // ids must be I32
  MoeRouting bad = r;
  bad.n_group = 3;  // does not divide 8
  EXPECT_THROW(g.moe_select(logits, -1, bad), Error);
  bad = r;
  bad.n_group_used = 5;
  EXPECT_THROW(g.moe_select(logits, -1, bad), Error);
  bad = r;
  bad.k = 5;  // more than the 2 groups x 2 experts kept
  EXPECT_THROW(g.moe_select(logits, -1, bad), Error);
  bad = r;
  bad.n_group = 8;  // one expert per group: no top-2 sum
  bad.n_group_used = 4;
  EXPECT_THROW(g.moe_select(logits, -1, bad), Error);
  bad.group_score = MoeGroupScore::Max;
  EXPECT_NO_THROW(g.moe_select(logits, -1, bad));
  bad = r;
  bad.k = 0;
  EXPECT_THROW(g.moe_select(logits, -1, bad), Error);
}

TEST(GraphIR, GeluAndSlidingWindowAttention) {
  Graph g;
  NodeId x = g.input("x", DType::F32, {6, 2});
  NodeId y = g.gelu(x, "act");
  EXPECT_EQ(g.node(y).op, Op::GELU);
  EXPECT_EQ(g.node(y).shape, (std::vector<int64_t>{6, 2}));
  EXPECT_NE(g.dump().find("GELU(%0)"), std::string::npos);

  NodeId q = g.input("q", DType::F32, {8, 4, 2});
  NodeId kv = g.input("kv", DType::F32, {8, 2, 5});
  NodeId plain = g.attention(q, kv, kv, 0.25f, 3);
  EXPECT_EQ(g.node(plain).window, 0);  // no window: every earlier key
  NodeId swa = g.attention(q, kv, kv, 0.25f, 3, 4, "swa");
  EXPECT_EQ(g.node(swa).window, 4);
  EXPECT_EQ(g.node(swa).shape, (std::vector<int64_t>{8, 4, 2}));
  EXPECT_THROW(g.attention(q, kv, kv, 0.25f, 3, -1, "bad"), Error);
}

}  // namespace
}  // namespace kt::tensor
