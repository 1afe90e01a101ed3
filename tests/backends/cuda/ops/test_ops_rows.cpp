// Row movers on the GPU against the CPU executor: GetRows from tables of every readable GGUF
// type, Gather, WeightedSum, Slice, Concat (with the one-head broadcast) and CacheAppend at a
// position read from device memory; out-of-range ids are clamped.
#include "ops_test_util.h"
#include "tensor/quants.h"

namespace kt::cuda::test {
namespace {

// A {D, V} table of `type` holding random values quantized by the CPU reference quantizer.
Tensor random_table(DType type, int64_t D, int64_t V, uint32_t seed) {
  Tensor f = random_f32({D, V}, seed);
  Tensor t = Tensor::zeros(type, {D, V});
  tensor::quantize_row(type, f.data_as<float>(), t.data(), f.numel());
  return t;
}

class CudaOpsGetRows : public ::testing::TestWithParam<DType> {};

TEST_P(CudaOpsGetRows, MatchesCpuDequantization) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const DType type = GetParam();
  const int64_t block = tensor::type_traits(type).block_size;
  // Two super-blocks, three 32-wide blocks, or an odd width for the plain types.
  const int64_t D = block == 1 ? 37 : (block == 256 ? 512 : 96);
  const int64_t V = 41;
  uint32_t seed = 10 + uint32_t(type);
  Node probe;
  probe.op = tensor::Op::GetRows;
  const Tensor probe_in[2] = {Tensor::zeros(type, {D, V}), Tensor::zeros(DType::I32, {1})};
  ASSERT_TRUE(op_supported(probe, probe_in)) << tensor::dtype_name(type);
  for (int64_t T : {1, 5, 130}) {
    Graph g;
    NodeId table = g.weight("table", random_table(type, D, V, seed++));
    NodeId ids = g.input("ids", DType::I32, {T});
    NodeId y = g.get_rows(table, ids, "embed");
    Tensor id_vals = random_i32({T}, seed++, 0, int32_t(V - 1));
    if (T > 1) {
      id_vals.data_as<int32_t>()[0] = 0;
      id_vals.data_as<int32_t>()[1] = int32_t(V - 1);
    }
    auto vals = cpu_values(g, {{ids, id_vals}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 1e-7f))
        << tensor::dtype_name(type) << " T=" << T;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Types, CudaOpsGetRows,
    ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                      DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                      DType::Q5_K, DType::Q6_K, DType::Q8_K, DType::IQ4_NL, DType::IQ4_XS),
    [](const auto& info) { return std::string(tensor::dtype_name(info.param)); });

TEST(CudaOpsRows, GetRowsAndGatherClampOutOfRangeIds) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t D = 64, V = 9;
  Graph g;
  NodeId table = g.weight("table", random_table(DType::Q8_0, D, V, 1));
  NodeId ids = g.input("ids", DType::I32, {4});
  NodeId y = g.get_rows(table, ids, "embed");
  // The CPU rejects these ids; the reference is the clamped ones.
  auto clamped = cpu_values(g, {{ids, i32({4}, {0, 8, 3, 8})}});
  auto vals = clamped;
  vals[size_t(ids)] = i32({4}, {-5, 9, 3, 1 << 30});
  EXPECT_TRUE(all_close(clamped[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f));

  Graph g2;
  NodeId x = g2.input("x", DType::F32, {7, 2});
  NodeId gi = g2.input("ids", DType::I32, {3, 2});
  NodeId gy = g2.gather(x, gi, "gather");
  auto ref = cpu_values(g2, {{x, random_f32({7, 2}, 2)}, {gi, i32({3, 2}, {0, 6, 2, 6, 0, 0})}});
  auto bad = ref;
  bad[size_t(gi)] = i32({3, 2}, {-1, 7, 2, 100, -100, 0});
  EXPECT_TRUE(all_close(ref[size_t(gy)], gpu_node(g2, gy, bad), 0.0f, 0.0f));
}

TEST(CudaOpsRows, GetRowsOfMoreTokensThanOneGridDimension) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const int64_t D = 64, V = 100, T = 70001;
  Graph g;
  NodeId table = g.weight("table", random_table(DType::Q4_0, D, V, 5));
  NodeId ids = g.input("ids", DType::I32, {T});
  NodeId y = g.get_rows(table, ids, "embed");
  auto vals = cpu_values(g, {{ids, random_i32({T}, 6, 0, int32_t(V - 1))}});
  EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f));
}

TEST(CudaOpsRows, GetRowsOfF32Activations) {
  // The LM head's out_rows: rows of an F32 activation {D, T} picked by index.
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  Graph g;
  NodeId h = g.input("h", DType::F32, {2048, 7});
  NodeId ids = g.input("ids", DType::I32, {2});
  NodeId y = g.get_rows(h, ids, "out_rows");
  auto vals = cpu_values(g, {{h, random_f32({2048, 7}, 3)}, {ids, i32({2}, {6, 2})}});
  EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f));
}

TEST(CudaOpsRows, Gather) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 20;
  for (auto [N, k, T] :
       {std::tuple<int64_t, int64_t, int64_t>{37, 5, 130}, {256, 8, 1}, {3, 3, 5}}) {
    Graph g;
    NodeId x = g.input("x", DType::F32, {N, T});
    NodeId ids = g.input("ids", DType::I32, {k, T});
    NodeId y = g.gather(x, ids, "gather");
    auto vals = cpu_values(
        g, {{x, random_f32({N, T}, seed++)}, {ids, random_i32({k, T}, seed++, 0, int32_t(N - 1))}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f))
        << "N=" << N << " k=" << k << " T=" << T;
  }
}

TEST(CudaOpsRows, WeightedSum) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 30;
  for (auto [N, k, T] :
       {std::tuple<int64_t, int64_t, int64_t>{2048, 6, 5}, {37, 2, 1}, {7168, 8, 130}, {5, 1, 3}}) {
    Graph g;
    NodeId x = g.input("x", DType::F32, {N, k, T});
    NodeId w = g.input("w", DType::F32, {k, T});
    NodeId y = g.weighted_sum(x, w, "combine");
    auto vals =
        cpu_values(g, {{x, random_f32({N, k, T}, seed++)}, {w, random_f32({k, T}, seed++)}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 1e-6f, 1e-6f))
        << "N=" << N << " k=" << k << " T=" << T;
  }
}

TEST(CudaOpsRows, Slice) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 40;
  struct Case {
    tensor::Shape shape;
    int64_t begin, end;
  };
  for (const Case& c : {Case{{192, 7}, 128, 192}, Case{{37, 3, 5}, 3, 20}, Case{{576, 1}, 0, 512},
                        Case{{9, 130}, 8, 9}}) {
    Graph g;
    NodeId x = g.input("x", DType::F32, c.shape);
    NodeId y = g.slice(x, c.begin, c.end, "slice");
    auto vals = cpu_values(g, {{x, random_f32(c.shape, seed++)}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f))
        << tensor::shape_str(c.shape) << " [" << c.begin << ", " << c.end << ")";
  }
}

TEST(CudaOpsRows, ConcatWithOneHeadBroadcast) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 50;
  struct Case {
    tensor::Shape a, b;
  };
  for (const Case& c : {Case{{128, 16, 5}, {64, 1, 5}},  // MLA: nope heads + one shared rope key
                        Case{{64, 1, 1}, {128, 16, 1}}, Case{{37, 4, 3}, {5, 4, 3}},
                        Case{{20, 7}, {17, 7}}, Case{{3, 2, 2, 2}, {4, 2, 2, 2}}}) {
    Graph g;
    NodeId a = g.input("a", DType::F32, c.a);
    NodeId b = g.input("b", DType::F32, c.b);
    NodeId y = g.concat(a, b, "concat");
    auto vals = cpu_values(g, {{a, random_f32(c.a, seed++)}, {b, random_f32(c.b, seed++)}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f))
        << tensor::shape_str(c.a) << " + " << tensor::shape_str(c.b);
  }
}

TEST(CudaOpsRows, CacheAppendWritesAtTheDevicePosition) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 60;
  const int64_t D = 24, H = 3, S = 40;
  for (auto [pos, T] : {std::pair<int64_t, int64_t>{7, 5}, {0, 1}, {39, 1}, {0, 40}, {12, 13}}) {
    Graph g;
    NodeId cache = g.input("cache", DType::F32, {D, H, S});
    NodeId x = g.input("x", DType::F32, {D, H, T});
    NodeId y = g.cache_append(cache, x, pos, "k_cache");
    Tensor cache_host = random_f32({D, H, S}, seed++);
    Tensor d_cache = upload(cache_host);  // before the CPU run, which writes into cache_host
    Tensor xin = random_f32({D, H, T}, seed++);
    cpu_values(g, {{cache, cache_host}, {x, xin}});
    Tensor d_pos = upload(i32({1}, {int32_t(pos)}));
    // The node's own pos_offset must not be read: give it a wrong one.
    Node n = g.node(y);
    n.pos_offset = pos + 3;
    Tensor in[2] = {d_cache, upload(xin)};
    LaunchContext ctx;
    ctx.d_pos = d_pos.data_as<int32_t>();
    launch_op(n, in, d_cache, ctx);
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    EXPECT_TRUE(all_close(cache_host, download(d_cache), 0.0f, 0.0f))
        << "pos=" << pos << " T=" << T;
  }
}

}  // namespace
}  // namespace kt::cuda::test
