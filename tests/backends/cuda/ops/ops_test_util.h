#pragma once
// Helpers of the CUDA op tests: a tiny Graph is run on the CPU executor (the reference), and
// one of its nodes is run on the GPU from the CPU's values of that node's operands; the two
// results are compared with a report of the worst element.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/graph_exec.h"
#include "backends/cuda/device.h"
#include "backends/cuda/memory.h"
#include "backends/cuda/ops.h"
#include "tensor/graph.h"

namespace kt::cuda::test {

using tensor::DType;
using tensor::Graph;
using tensor::Node;
using tensor::NodeId;
using tensor::Tensor;

inline Tensor random_f32(const tensor::Shape& shape, uint32_t seed, float sd = 1.0f) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = dist(rng);
  return t;
}

// Uniform integers in [lo, hi].
inline Tensor random_i32(const tensor::Shape& shape, uint32_t seed, int32_t lo, int32_t hi) {
  Tensor t = Tensor::zeros(DType::I32, shape);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<int32_t>()[i] = dist(rng);
  return t;
}

inline Tensor i32(const tensor::Shape& shape, const std::vector<int32_t>& v) {
  Tensor t = Tensor::zeros(DType::I32, shape);
  for (size_t i = 0; i < v.size(); ++i) t.data_as<int32_t>()[i] = v[i];
  return t;
}

// Every node's value on the CPU executor.
inline std::vector<Tensor> cpu_values(const Graph& g, const std::map<NodeId, Tensor>& inputs) {
  cpu::ThreadPool pool(2);
  cpu::GraphExecutor ex(pool);
  return ex.run(g, inputs);
}

// Node id on the GPU, its operands uploaded from vals (the CPU's values); the result on the
// host. The output starts as all-ones bytes (NaN, or -1 for I32) so untouched entries show.
inline Tensor gpu_node(const Graph& g, NodeId id, const std::vector<Tensor>& vals,
                       const int32_t* d_pos = nullptr) {
  const Node& n = g.node(id);
  std::vector<Tensor> in;
  for (NodeId j : n.inputs) in.push_back(upload(vals[size_t(j)]));
  Tensor out = device_empty(n.dtype, n.shape);
  check(cudaMemset(out.data(), 0xFF, out.nbytes()), "cudaMemset");
  LaunchContext ctx;
  ctx.d_pos = d_pos;
  launch_op(n, in, out, ctx);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return download(out);
}

// want vs got element by element: |got - want| <= atol + rtol |want| (NaN only where want is
// NaN). On failure: the number of bad elements, the worst one and the max abs error.
inline ::testing::AssertionResult all_close(const Tensor& want, const Tensor& got, float atol,
                                            float rtol) {
  if (want.numel() != got.numel())
    return ::testing::AssertionFailure()
           << "sizes differ: want " << want.str() << ", got " << got.str();
  const float* w = want.data_as<float>();
  const float* g = got.data_as<float>();
  int64_t bad = 0, worst = -1;
  double max_err = 0.0, worst_excess = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (std::isnan(w[i]) || std::isnan(g[i])) {
      if (std::isnan(w[i]) != std::isnan(g[i])) {
        ++bad;
        if (worst_excess < INFINITY) worst = i, worst_excess = INFINITY;
      }
      continue;
    }
    const double err = std::fabs(double(g[i]) - double(w[i]));
    if (w[i] == g[i]) continue;  // equal infinities
    max_err = std::max(max_err, err);
    const double excess = err - (atol + rtol * std::fabs(double(w[i])));
    if (excess > 0) {
      ++bad;
      if (worst < 0 || excess > worst_excess) worst = i, worst_excess = excess;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << want.numel() << " elements of " << want.shape_str()
         << " differ; worst at flat index " << worst << " (row " << worst / want.ne(0) << ", col "
         << worst % want.ne(0) << "): want " << w[worst] << ", got " << g[worst]
         << "; max abs error " << max_err;
}

inline ::testing::AssertionResult all_equal_i32(const Tensor& want, const Tensor& got) {
  if (want.numel() != got.numel())
    return ::testing::AssertionFailure()
           << "sizes differ: want " << want.str() << ", got " << got.str();
  const int32_t* w = want.data_as<int32_t>();
  const int32_t* g = got.data_as<int32_t>();
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (w[i] != g[i] && bad++ == 0) first = i;
  if (bad == 0) return ::testing::AssertionSuccess();
  const int64_t row = want.ne(0), r = first / row;
  std::ostringstream ws, gs;
  for (int64_t j = 0; j < row; ++j) {
    ws << (j ? "," : "") << w[r * row + j];
    gs << (j ? "," : "") << g[r * row + j];
  }
  return ::testing::AssertionFailure()
         << bad << " of " << want.numel() << " ids differ; first in row " << r << ": want ["
         << ws.str() << "], got [" << gs.str() << "]";
}

}  // namespace kt::cuda::test
