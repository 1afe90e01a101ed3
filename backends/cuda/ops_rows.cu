// Ops that move rows around: GetRows (embedding lookup from a GGUF-typed table, or an F32
// one), Gather, WeightedSum, Slice, Concat and CacheAppend. Simple index arithmetic with one
// thread per output element, coalesced along rows.
//
// Out-of-range indices cannot throw on the GPU (the error would surface at some later
// synchronisation, far from its node): GetRows and Gather clamp an id into the table or row
// instead, so nothing outside the operand is read, and set no flag. CacheAppend skips rows
// that would land outside the cache.
#include <cuda_runtime.h>

#include <algorithm>

#include "backends/cuda/ops_internal.cuh"
#include "backends/cuda/quant_device.cuh"

namespace kt::cuda::ops_detail {
namespace {

using tensor::DType;

// out {D, T}: row ids[t] of the table (V rows of row_bytes bytes), one thread per element:
// blockIdx.x picks a chunk of the row, blockIdx.y (and its grid stride) the token.
template <DType Type>
__global__ void get_rows_kernel(const uint8_t* __restrict__ table, size_t row_bytes, int64_t V,
                                const int32_t* __restrict__ ids, int64_t D, int64_t T,
                                float* __restrict__ out) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= D) return;
  for (int64_t t = blockIdx.y; t < T; t += gridDim.y) {
    const int64_t id = min(max(int64_t(ids[t]), int64_t(0)), V - 1);
    out[t * D + i] = quant::row_elem<Type>(table + size_t(id) * row_bytes, i);
  }
}

__global__ void gather_kernel(const float* __restrict__ x, const int32_t* __restrict__ ids,
                              int64_t N, int64_t k, int64_t n, float* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += step) {
    const int64_t t = e / k;
    const int64_t id = min(max(int64_t(ids[e]), int64_t(0)), N - 1);
    out[e] = x[t * N + id];
  }
}

// out[t, i] = sum_j w[j, t] x[i, j, t], summed in the CPU's order with unfused products.
__global__ void weighted_sum_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                    int64_t N, int64_t k, int64_t n, float* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += step) {
    const int64_t t = e / N, i = e % N;
    float acc = 0.0f;
    for (int64_t j = 0; j < k; ++j)
      acc = __fadd_rn(acc, __fmul_rn(w[t * k + j], x[(t * k + j) * N + i]));
    out[e] = acc;
  }
}

__global__ void slice_kernel(const float* __restrict__ x, int64_t src_row, int64_t offset,
                             int64_t width, int64_t n, float* __restrict__ out) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += step)
    out[e] = x[(e / width) * src_row + offset + e % width];
}

// out {da + db, n1, n23}: row (h, r) is a's row (ha, r) then b's row (hb, r), where an operand
// with one entry in dim 1 repeats it for every h.
__global__ void concat_kernel(const float* __restrict__ a, int64_t da, int64_t a1,
                              const float* __restrict__ b, int64_t db, int64_t b1, int64_t n1,
                              int64_t n, float* __restrict__ out) {
  const int64_t d = da + db, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += step) {
    const int64_t c = e % d, hr = e / d, h = hr % n1, r = hr / n1;
    out[e] = c < da ? a[(r * a1 + (a1 == 1 ? 0 : h)) * da + c]
                    : b[(r * b1 + (b1 == 1 ? 0 : h)) * db + (c - da)];
  }
}

// x {row, T} into cache rows [*pos, *pos + T) of n_ctx rows. The position is read here, on the
// device, so that a captured graph appends at the current step's position on every replay.
__global__ void cache_append_kernel(const float* __restrict__ x, int64_t row, int64_t n,
                                    const int32_t* __restrict__ pos, int64_t n_ctx,
                                    float* __restrict__ cache) {
  const int64_t p = *pos, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += step) {
    const int64_t r = p + e / row;
    if (r >= 0 && r < n_ctx) cache[p * row + e] = x[e];
  }
}

}  // namespace

bool get_rows_readable(DType t) {
  return quant::readable(t);
}

void launch_get_rows(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor &table = in[0], &ids = in[1];
  const int64_t D = table.ne(0), V = table.numel() / std::max<int64_t>(1, D), T = ids.numel();
  if (out.ne(0) != D || out.numel() != D * T)
    fail(n, "output " + out.str() + " is not {" + std::to_string(D) + ", " + std::to_string(T) +
                "} for table " + table.str());
  if (D % tensor::type_traits(table.dtype()).block_size != 0)
    fail(n, "table rows of " + std::to_string(D) + " are not whole blocks of " + table.str());
  if (T == 0 || D == 0) return;
  if (V == 0) fail(n, "empty table " + table.str());
  const dim3 grid(unsigned((D + kThreads - 1) / kThreads), unsigned(std::min<int64_t>(T, 65535)));
  const size_t row_bytes = table.row_bytes();
  quant::dispatch_readable(table.dtype(), [&](auto type) {
    get_rows_kernel<decltype(type)::value>
        <<<grid, kThreads, 0, s>>>(table.data_as<const uint8_t>(), row_bytes, V,
                                   ids.data_as<const int32_t>(), D, T, out.data_as<float>());
  });
  check_launch(n);
}

void launch_gather(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor &x = in[0], &ids = in[1];
  const int64_t N = x.ne(0), k = out.ne(0), T = out.numel() / std::max<int64_t>(1, k);
  if (ids.numel() != out.numel() || x.numel() != N * T)
    fail(n, "x " + x.str() + " and ids " + ids.str() + " do not match the output " + out.str());
  if (out.numel() == 0) return;
  gather_kernel<<<grid_for(out.numel()), kThreads, 0, s>>>(x.data_as<const float>(),
                                                           ids.data_as<const int32_t>(), N, k,
                                                           out.numel(), out.data_as<float>());
  check_launch(n);
}

void launch_weighted_sum(const Node& n, std::span<const Tensor> in, const Tensor& out,
                         cudaStream_t s) {
  const Tensor &x = in[0], &w = in[1];
  const int64_t N = out.ne(0), T = out.numel() / std::max<int64_t>(1, N), k = w.ne(0);
  if (w.numel() != k * T || x.numel() != N * k * T)
    fail(n,
         "x " + x.str() + " and w " + w.str() + " are not {N, k, T} and {k, T} for " + out.str());
  if (out.numel() == 0) return;
  weighted_sum_kernel<<<grid_for(out.numel()), kThreads, 0, s>>>(
      x.data_as<const float>(), w.data_as<const float>(), N, k, out.numel(), out.data_as<float>());
  check_launch(n);
}

void launch_slice(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor& x = in[0];
  const int64_t width = out.ne(0), src = x.ne(0), rows = out.numel() / std::max<int64_t>(1, width);
  if (n.offset < 0 || n.offset + width > src || x.numel() != src * rows)
    fail(n, std::string("[").append(std::to_string(n.offset)).append(", ") +
                std::to_string(n.offset + width) + ") of every row of " + x.str() +
                " does not give " + out.str());
  if (out.numel() == 0) return;
  slice_kernel<<<grid_for(out.numel()), kThreads, 0, s>>>(x.data_as<const float>(), src, n.offset,
                                                          width, out.numel(), out.data_as<float>());
  check_launch(n);
}

void launch_concat(const Node& n, std::span<const Tensor> in, const Tensor& out, cudaStream_t s) {
  const Tensor &a = in[0], &b = in[1];
  const int64_t da = a.ne(0), db = b.ne(0), n1 = out.ne(1);
  const int64_t n23 = out.numel() / std::max<int64_t>(1, (da + db) * n1);
  const bool shapes_ok = out.ne(0) == da + db && (a.ne(1) == n1 || a.ne(1) == 1) &&
                         (b.ne(1) == n1 || b.ne(1) == 1) && a.numel() == da * a.ne(1) * n23 &&
                         b.numel() == db * b.ne(1) * n23;
  if (!shapes_ok) fail(n, a.str() + " and " + b.str() + " do not concatenate into " + out.str());
  if (out.numel() == 0) return;
  concat_kernel<<<grid_for(out.numel()), kThreads, 0, s>>>(a.data_as<const float>(), da, a.ne(1),
                                                           b.data_as<const float>(), db, b.ne(1),
                                                           n1, out.numel(), out.data_as<float>());
  check_launch(n);
}

void launch_cache_append(const Node& n, std::span<const Tensor> in, const LaunchContext& ctx) {
  const Tensor &cache = in[0], &x = in[1];
  const int64_t row = x.ne(0) * x.ne(1);
  if (cache.ne(0) * cache.ne(1) != row || row == 0)
    fail(n, "rows " + x.str() + " do not fit the cache " + cache.str());
  if (ctx.d_pos == nullptr) fail(n, "no device position (LaunchContext::d_pos) to append at");
  if (x.numel() == 0) return;
  cache_append_kernel<<<grid_for(x.numel()), kThreads, 0, ctx.stream>>>(
      x.data_as<const float>(), row, x.numel(), ctx.d_pos, cache.numel() / row,
      cache.data_as<float>());
  check_launch(n);
}

}  // namespace kt::cuda::ops_detail
