// Element-wise and row-wise ops (Add, Mul with their three broadcasts, Scale, Sigmoid, SiLU,
// SwiGLU, GELU, RMSNorm, Softmax) on the GPU against the CPU executor, on odd shapes.
#include <limits>

#include "ops_test_util.h"

namespace kt::cuda::test {
namespace {

struct Shape2 {
  int64_t row, rows;
};
const Shape2 kShapes[] = {{2048, 5}, {37, 1}, {37, 130}, {6, 3}, {4096, 1}};

TEST(CudaOpsElementwise, AddAndMulWithEveryBroadcast) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 1;
  for (const Shape2 s : kShapes) {
    // b: the same shape, one row for all rows, one value per row.
    for (const tensor::Shape& bshape :
         {tensor::Shape{s.row, s.rows}, tensor::Shape{s.row}, tensor::Shape{1, s.rows}}) {
      for (bool mul : {false, true}) {
        Graph g;
        NodeId a = g.input("a", DType::F32, {s.row, s.rows});
        NodeId b = g.weight("b", random_f32(bshape, seed++));
        NodeId y = mul ? g.mul(a, b, "y") : g.add(a, b, "y");
        auto vals = cpu_values(g, {{a, random_f32({s.row, s.rows}, seed++)}});
        EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 0.0f, 0.0f))
            << (mul ? "Mul" : "Add") << " a {" << s.row << ", " << s.rows << "} b "
            << tensor::shape_str(bshape);
      }
    }
  }
}

TEST(CudaOpsElementwise, UnaryOpsAndSwiGlu) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 100;
  for (const Shape2 s : kShapes) {
    for (int which = 0; which < 5; ++which) {
      Graph g;
      NodeId x = g.input("x", DType::F32, {s.row, s.rows});
      NodeId u = g.input("u", DType::F32, {s.row, s.rows});
      const char* names[] = {"Scale", "Sigmoid", "SiLU", "GELU", "SwiGLU"};
      NodeId y = which == 0   ? g.scale(x, 0.37f, "y")
                 : which == 1 ? g.sigmoid(x, "y")
                 : which == 2 ? g.silu(x, "y")
                 : which == 3 ? g.gelu(x, "y")
                              : g.swiglu(x, u, "y");
      // sd 6: the tails of exp and tanh are exercised too.
      auto vals = cpu_values(g, {{x, random_f32({s.row, s.rows}, seed++, 6.0f)},
                                 {u, random_f32({s.row, s.rows}, seed++)}});
      // atol: GELU's 1 + tanh cancels for x near -4, where a 1-ulp tanh is 1e-6 absolute.
      EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 1e-5f, 2e-6f))
          << names[which] << " {" << s.row << ", " << s.rows << "}";
    }
  }
}

TEST(CudaOpsNorm, RmsNormWithAndWithoutWeight) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 200;
  for (const Shape2 s : {Shape2{2048, 1}, Shape2{37, 5}, Shape2{7168, 130}, Shape2{8192, 3},
                         Shape2{16385, 2}, Shape2{5, 7}}) {
    for (bool weighted : {false, true}) {
      Graph g;
      NodeId x = g.input("x", DType::F32, {s.row, s.rows});
      NodeId w = weighted ? g.weight("w", random_f32({s.row}, seed++)) : -1;
      NodeId y = g.rms_norm(x, w, 1e-6f, "norm");
      auto vals = cpu_values(g, {{x, random_f32({s.row, s.rows}, seed++, 30.0f)}});
      EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 1e-6f, 1e-6f))
          << "RMSNorm {" << s.row << ", " << s.rows << "} weight " << weighted;
    }
  }
}

TEST(CudaOpsNorm, SoftmaxRowsIncludingInfinities) {
  if (kt::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  uint32_t seed = 300;
  const float inf = std::numeric_limits<float>::infinity();
  for (const Shape2 s :
       {Shape2{37, 5}, Shape2{2048, 130}, Shape2{151, 1}, Shape2{8, 3}, Shape2{32000, 2}}) {
    Tensor xin = random_f32({s.row, s.rows}, seed++, 4.0f);
    float* xp = xin.data_as<float>();
    if (s.rows > 1) {
      for (int64_t i = 0; i < s.row; ++i) xp[i] = -inf;             // row 0: all -inf
      for (int64_t i = 0; i < s.row; i += 3) xp[s.row + i] = -inf;  // row 1: some masked
    }
    Graph g;
    NodeId x = g.input("x", DType::F32, {s.row, s.rows});
    NodeId y = g.softmax(x, "softmax");
    auto vals = cpu_values(g, {{x, xin}});
    EXPECT_TRUE(all_close(vals[size_t(y)], gpu_node(g, y, vals), 1e-7f, 2e-6f))
        << "Softmax {" << s.row << ", " << s.rows << "}";
  }
}

}  // namespace
}  // namespace kt::cuda::test
