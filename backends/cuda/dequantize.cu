// One CUDA thread per output element: conversion runs once per weight at load time, so the
// simple indexing here is chosen for obvious correctness against tensor/dequantize.cpp.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/dequantize.h"
#include "backends/cuda/device.h"
#include "tensor/error.h"
#include "tensor/quant_blocks.h"

namespace kt::cuda {
namespace {

using namespace kt::tensor;

__device__ float h2f(uint16_t h) {
  return __half2float(__ushort_as_half(h));
}

__device__ void scale_min_k4(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

__global__ void k_f16(const uint16_t* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = h2f(x[i]);
}

__global__ void k_bf16(const uint16_t* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = __uint_as_float(uint32_t(x[i]) << 16);
}

__global__ void k_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ8_0& b = x[i / QK8_0];
  y[i] = h2f(b.d) * b.qs[i % QK8_0];
}

__global__ void k_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ4_0& b = x[i / QK4_0];
  const int e = int(i % QK4_0);
  const int q = e < 16 ? (b.qs[e] & 0x0F) : (b.qs[e - 16] >> 4);
  y[i] = h2f(b.d) * (q - 8);
}

__global__ void k_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ5_0& b = x[i / QK5_0];
  const int e = int(i % QK5_0);
  const uint32_t h =
      b.qh[0] | (uint32_t(b.qh[1]) << 8) | (uint32_t(b.qh[2]) << 16) | (uint32_t(b.qh[3]) << 24);
  const int lo = e < 16 ? (b.qs[e] & 0x0F) : (b.qs[e - 16] >> 4);
  const int q = lo | int(((h >> e) & 1) << 4);
  y[i] = h2f(b.d) * (q - 16);
}

__global__ void k_q4_K(const BlockQ4_K* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ4_K& b = x[i / QK_K];
  const int e = int(i % QK_K), c = e / 64, l = e % 64;
  int sc, m;
  scale_min_k4(2 * c + (l >= 32), b.scales, &sc, &m);
  const uint8_t q = b.qs[32 * c + (l % 32)];
  const int v = l < 32 ? (q & 0x0F) : (q >> 4);
  y[i] = h2f(b.d) * sc * v - h2f(b.dmin) * m;
}

__global__ void k_q5_K(const BlockQ5_K* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ5_K& b = x[i / QK_K];
  const int e = int(i % QK_K), c = e / 64, l = e % 64, hi = l >= 32;
  int sc, m;
  scale_min_k4(2 * c + hi, b.scales, &sc, &m);
  const uint8_t q = b.qs[32 * c + (l % 32)];
  const int v = (hi ? (q >> 4) : (q & 0x0F)) + 16 * ((b.qh[l % 32] >> (2 * c + hi)) & 1);
  y[i] = h2f(b.d) * sc * v - h2f(b.dmin) * m;
}

__global__ void k_q6_K(const BlockQ6_K* x, float* y, int64_t n) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const BlockQ6_K& b = x[i / QK_K];
  const int e = int(i % QK_K), half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
  const uint8_t* L = b.ql + 64 * half;
  const uint8_t hb = b.qh[32 * half + l];
  const uint8_t lb = L[l + 32 * (quarter & 1)];
  const int low = quarter < 2 ? (lb & 0x0F) : (lb >> 4);
  const int q = (low | (((hb >> (2 * quarter)) & 3) << 4)) - 32;
  y[i] = h2f(b.d) * b.scales[8 * half + l / 16 + 2 * quarter] * q;
}

}  // namespace

bool can_dequantize(tensor::DType t) {
  switch (t) {
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void dequantize_on_device(tensor::DType type, const void* src, float* dst, int64_t n,
                          void* stream) {
  if (!can_dequantize(type))
    throw Error(std::string("no GPU dequantization for tensor type ") + dtype_name(type));
  const int64_t bs = type_traits(type).block_size;
  if (n < 0 || n % bs != 0)
    throw Error("GPU dequantization: " + std::to_string(n) + " elements is not a multiple of " +
                std::to_string(bs));
  if (n == 0) return;
  const int threads = 256;
  const unsigned blocks = unsigned((n + threads - 1) / threads);
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case DType::F16:
      k_f16<<<blocks, threads, 0, s>>>(static_cast<const uint16_t*>(src), dst, n);
      break;
    case DType::BF16:
      k_bf16<<<blocks, threads, 0, s>>>(static_cast<const uint16_t*>(src), dst, n);
      break;
    case DType::Q8_0:
      k_q8_0<<<blocks, threads, 0, s>>>(static_cast<const BlockQ8_0*>(src), dst, n);
      break;
    case DType::Q4_0:
      k_q4_0<<<blocks, threads, 0, s>>>(static_cast<const BlockQ4_0*>(src), dst, n);
      break;
    case DType::Q5_0:
      k_q5_0<<<blocks, threads, 0, s>>>(static_cast<const BlockQ5_0*>(src), dst, n);
      break;
    case DType::Q4_K:
      k_q4_K<<<blocks, threads, 0, s>>>(static_cast<const BlockQ4_K*>(src), dst, n);
      break;
    case DType::Q5_K:
      k_q5_K<<<blocks, threads, 0, s>>>(static_cast<const BlockQ5_K*>(src), dst, n);
      break;
    case DType::Q6_K:
      k_q6_K<<<blocks, threads, 0, s>>>(static_cast<const BlockQ6_K*>(src), dst, n);
      break;
    default:
      break;
  }
  check(cudaGetLastError(), "dequantize kernel launch");
}

}  // namespace kt::cuda
