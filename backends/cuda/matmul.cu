// MatMul on the GPU: GEMV straight from the GGUF blocks for few tokens (decode), and for many
// (prefill) the weight dequantized to F16 in the workspace, a chunk of rows at a time, then
// cuBLAS with F32 sums. Also the operand checks and prefill helpers the other ops share.
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "backends/cuda/device.h"
#include "backends/cuda/matmul.h"
#include "backends/cuda/matmul_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda {

namespace mm {

using tensor::DType;
using tensor::Node;
using tensor::Tensor;

void fail(const Node& n, const std::string& what) {
  throw Error(std::string(tensor::op_name(n.op)) + " '" + n.name + "': " + what);
}

namespace {

// Byte alignment the kernels' loads need for a weight type's data and strides: 16-byte loads
// for the types whose blocks are multiples of 16 bytes, 16-bit loads for the others.
size_t weight_alignment(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q4_K:
    case DType::Q5_K:
      return 16;
    default:
      return 2;
  }
}

bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

// 32-bit index math (64-bit division costs more than the copy); callers stay below 2^31.
__global__ void rows_to_f16_kernel(const float4* x, uint32_t k4, const int32_t* src,
                                   uint32_t src_div, uint32_t total, __half2* out) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const uint32_t r = i / k4, c = i % k4;
  const uint32_t sr = src != nullptr ? uint32_t(src[r]) / src_div : r;
  const float4 v = x[size_t(sr) * k4 + c];
  out[2 * size_t(i)] = __floats2half2_rn(v.x, v.y);
  out[2 * size_t(i) + 1] = __floats2half2_rn(v.z, v.w);
}

__global__ void scatter_rows_kernel(const float* y, const int32_t* order, uint32_t count,
                                    uint32_t n, float* out) {
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= count * n) return;
  const uint32_t r = i / n, c = i % n;
  out[size_t(order[r]) * n + c] = y[i];
}

unsigned blocks_for(int64_t total, int threads) {
  return unsigned((total + threads - 1) / threads);
}

}  // namespace

void check_weight(const Node& n, const Tensor& w) {
  if (!gemv_supported(w.dtype()))
    fail(n, std::string("no CUDA kernel for weight type ") + tensor::dtype_name(w.dtype()));
  if (!w.device().is_cuda()) fail(n, "weight " + w.str() + " is not on a CUDA device");
  const int64_t g = k_granularity(w.dtype());
  if (w.ne(0) % g != 0)
    fail(n, "weight rows of " + std::to_string(w.ne(0)) + " elements are not a multiple of " +
                std::to_string(g));
  const size_t a = weight_alignment(w.dtype());
  if (!aligned(w.data(), a) || w.nb(1) % a != 0 || w.nb(2) % a != 0)
    fail(n, "weight " + w.str() + " is not " + std::to_string(a) + "-byte aligned");
  if (w.nb(1) < w.row_bytes()) fail(n, "weight rows overlap");
}

void check_f32(const Node& n, const Tensor& t, const char* role) {
  if (t.dtype() != DType::F32) fail(n, std::string(role) + " must be F32, got " + t.str());
  if (!t.device().is_cuda()) fail(n, std::string(role) + " " + t.str() + " is not on the GPU");
  if (!t.is_contiguous()) fail(n, std::string(role) + " must be contiguous");
  if (!aligned(t.data(), 16)) fail(n, std::string(role) + " must be 16-byte aligned");
}

void check_cublas(cublasStatus_t st, const std::string& what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw Error(what + ": cuBLAS failed (" + cublasGetStatusString(st) + ")");
}

void rows_to_f16(const float* x, int64_t K, const int32_t* src, int64_t src_div, int64_t rows,
                 __half* out, cudaStream_t stream) {
  const int64_t total = rows * (K / 4);
  if (total == 0) return;
  if (total >= (int64_t(1) << 31)) throw Error("F16 conversion of too many activation rows");
  rows_to_f16_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(
      reinterpret_cast<const float4*>(x), uint32_t(K / 4), src, uint32_t(src_div), uint32_t(total),
      reinterpret_cast<__half2*>(out));
  check(cudaGetLastError(), "F32-to-F16 kernel launch");
}

void scatter_rows(const float* y, const int32_t* order, int64_t count, int64_t n, float* out,
                  cudaStream_t stream) {
  if (count * n == 0) return;
  if (count * n >= (int64_t(1) << 31)) throw Error("scatter of too many rows");
  scatter_rows_kernel<<<blocks_for(count * n, 256), 256, 0, stream>>>(y, order, uint32_t(count),
                                                                      uint32_t(n), out);
  check(cudaGetLastError(), "scatter kernel launch");
}

void gemm_f16(cublasHandle_t h, int64_t m, int64_t n, int64_t k, const __half* A, int64_t lda,
              const __half* B, float* C, int64_t ldc, const std::string& what) {
  const float one = 1.0f, zero = 0.0f;
  check_cublas(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &one, A,
                            CUDA_R_16F, int(lda), B, CUDA_R_16F, int(k), &zero, C, CUDA_R_32F,
                            int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               what);
}

}  // namespace mm

namespace {

using mm::fail;
using tensor::DType;
using tensor::Node;
using tensor::Tensor;

// Rows dequantized per cuBLAS call: the F16 copy of a chunk stays under this many bytes, so
// that an LM head (100k+ rows) does not need its whole F16 copy in the workspace.
constexpr size_t kDequantChunkBytes = size_t(64) << 20;

int64_t chunk_rows(int64_t N, int64_t K) {
  return std::clamp<int64_t>(int64_t(kDequantChunkBytes / (size_t(K) * 2)), 1,
                             std::max<int64_t>(N, 1));
}

bool use_gemv(MatMulPath path, DType wt, int64_t T) {
  const bool direct = wt == DType::F16 || wt == DType::F32;  // cuBLAS reads them in place
  const int64_t limit = direct ? kMatMulGemvMaxTokensDirect : kMatMulGemvMaxTokens;
  return path == MatMulPath::Gemv || (path == MatMulPath::Auto && T <= limit);
}

// The workspace layout of the cuBLAS path (Carver over nullptr measures it).
struct GemmSpace {
  __half* x = nullptr;  // T rows of K, F16
  __half* w = nullptr;  // chunk rows of K, F16 (not for F16 weights, used in place)
  size_t bytes = 0;
};
GemmSpace carve_gemm(DType wt, int64_t N, int64_t K, int64_t T, void* base) {
  GemmSpace s;
  if (wt == DType::F32) return s;  // F32 x F32 straight through cuBLAS
  mm::Carver c(base);
  s.x = c.take<__half>(T * K);
  if (wt != DType::F16) s.w = c.take<__half>(chunk_rows(N, K) * K);
  s.bytes = c.used();
  return s;
}

}  // namespace

bool matmul_supported(tensor::DType wtype) {
  return mm::gemv_supported(wtype);
}

size_t matmul_workspace_bytes(const Tensor& w, int64_t T, MatMulPath path) {
  if (use_gemv(path, w.dtype(), T)) return 0;
  return carve_gemm(w.dtype(), w.ne(1), w.ne(0), T, nullptr).bytes;
}

size_t matmul_workspace_bytes(const Tensor& w, int64_t T) {
  return matmul_workspace_bytes(w, T, MatMulPath::Auto);
}

void launch_matmul(const Node& n, const Tensor& w, const Tensor& x, const Tensor& out,
                   const LaunchContext& ctx, MatMulPath path) {
  mm::check_weight(n, w);
  mm::check_f32(n, x, "input");
  mm::check_f32(n, out, "output");
  const int64_t K = w.ne(0), N = w.ne(1), T = x.rows();
  if (w.ne(2) != 1 || w.ne(3) != 1) fail(n, "weight " + w.str() + " must be 2-D");
  if (x.ne(0) != K) fail(n, "input " + x.str() + " does not match weight " + w.str());
  if (out.ne(0) != N || out.rows() != T)
    fail(n,
         "output " + out.str() + " is not {" + std::to_string(N) + ", " + std::to_string(T) + "}");
  if (N == 0 || T == 0) return;
  const auto* wp = static_cast<const uint8_t*>(w.data());
  if (use_gemv(path, w.dtype(), T)) {
    mm::GemvArgs a;
    a.w = wp;
    a.row_stride = w.nb(1);
    a.N = N;
    a.K = K;
    a.T = T;
    a.x = x.data_as<float>();
    a.x_col = K;
    a.y = out.data_as<float>();
    a.y_col = N;
    mm::gemv(w.dtype(), a, ctx.stream);
    return;
  }
  const std::string what = "MatMul '" + n.name + "'";
  if (w.dtype() == DType::F32) {
    const float one = 1.0f, zero = 0.0f;
    mm::check_cublas(
        cublasGemmEx(ctx.cublas, CUBLAS_OP_T, CUBLAS_OP_N, int(N), int(T), int(K), &one, wp,
                     CUDA_R_32F, int(w.nb(1) / 4), x.data(), CUDA_R_32F, int(K), &zero, out.data(),
                     CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        what);
    return;
  }
  const GemmSpace need = carve_gemm(w.dtype(), N, K, T, nullptr);
  if (need.bytes > ctx.workspace_bytes)
    fail(n, "needs " + std::to_string(need.bytes) + " workspace bytes, has " +
                std::to_string(ctx.workspace_bytes));
  const GemmSpace s = carve_gemm(w.dtype(), N, K, T, ctx.workspace);
  mm::rows_to_f16(x.data_as<float>(), K, nullptr, 1, T, s.x, ctx.stream);
  if (w.dtype() == DType::F16) {
    mm::gemm_f16(ctx.cublas, N, T, K, static_cast<const __half*>(w.data()), int64_t(w.nb(1) / 2),
                 s.x, out.data_as<float>(), N, what);
    return;
  }
  const int64_t chunk = chunk_rows(N, K);
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t rows = std::min(chunk, N - n0);
    mm::dequant_f16(w.dtype(), wp + size_t(n0) * w.nb(1), w.nb(1), 0, rows, rows, K, s.w,
                    ctx.stream);
    mm::gemm_f16(ctx.cublas, rows, T, K, s.w, K, s.x, out.data_as<float>() + n0, N, what);
  }
}

void launch_matmul(const Node& n, const Tensor& w, const Tensor& x, const Tensor& out,
                   const LaunchContext& ctx) {
  launch_matmul(n, w, x, out, ctx, MatMulPath::Auto);
}

}  // namespace kt::cuda
