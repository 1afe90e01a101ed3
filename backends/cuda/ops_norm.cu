// Row-wise RMSNorm and Softmax: one block per row, warp-shuffle reductions. Sums run in
// double as backends/cpu/ops.cpp does (rows reach 8192 floats, activations grow large after
// many layers), so the GPU's rounding stays at the level of the CPU reference.
#include <cuda_runtime.h>

#include "backends/cuda/ops_internal.cuh"

namespace kt::cuda::ops_detail {
namespace {

// Values a thread keeps in registers: with row_threads' 8 per thread every row up to 8192
// floats is read from memory once; a longer row is read twice.
constexpr int kRowPer = 8;

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                float* __restrict__ y, int64_t n, float eps) {
  __shared__ double red[33];
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  const bool cached = n <= int64_t(blockDim.x) * kRowPer;
  float v[kRowPer];
  double ss = 0.0;
  if (cached) {
#pragma unroll
    for (int j = 0; j < kRowPer; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
      v[j] = i < n ? xr[i] : 0.0f;
      ss += double(v[j]) * v[j];
    }
  } else {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += double(xr[i]) * xr[i];
  }
  ss = block_reduce(ss, SumOp{}, 0.0, red);
  const float r = float(1.0 / sqrt(ss / double(n) + double(eps)));
  if (cached) {
#pragma unroll
    for (int j = 0; j < kRowPer; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
      if (i < n) yr[i] = w ? v[j] * r * w[i] : v[j] * r;
    }
  } else {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = w ? xr[i] * r * w[i] : xr[i] * r;
  }
}

// Max subtracted for stability; an all -inf row becomes zeros (the CPU's rule).
__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  __shared__ float red_max[33];
  __shared__ double red_sum[33];
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, xr[i]);
  m = block_reduce(m, MaxOp{}, -INFINITY, red_max);
  if (m == -INFINITY) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float e = expf(xr[i] - m);
    yr[i] = e;
    sum += e;
  }
  sum = block_reduce(sum, SumOp{}, 0.0, red_sum);
  const float inv = float(1.0 / sum);
  // Each thread rescales the values it wrote itself: no barrier needed.
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] *= inv;
}

}  // namespace

void launch_rms_norm(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor& x = in[0];
  const int64_t row = out.ne(0), rows = out.numel() / (row ? row : 1);
  if (x.numel() != out.numel()) fail(n, "input " + x.str() + " does not match " + out.str());
  const float* w = nullptr;
  if (in.size() > 1) {
    if (in[1].numel() != row) fail(n, "weight " + in[1].str() + " is not one row of the input");
    w = in[1].data_as<const float>();
  }
  if (rows == 0 || row == 0) return;
  rms_norm_kernel<<<unsigned(rows), row_threads(row), 0, s>>>(x.data_as<const float>(), w,
                                                              out.data_as<float>(), row, n.eps);
  check_launch(n);
}

void launch_softmax(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor& x = in[0];
  const int64_t row = out.ne(0), rows = out.numel() / (row ? row : 1);
  if (x.numel() != out.numel()) fail(n, "input " + x.str() + " does not match " + out.str());
  if (rows == 0 || row == 0) return;
  softmax_kernel<<<unsigned(rows), row_threads(row), 0, s>>>(x.data_as<const float>(),
                                                             out.data_as<float>(), row);
  check_launch(n);
}

}  // namespace kt::cuda::ops_detail
