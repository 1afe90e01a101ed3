// GPU dequantization against the CPU reference, on random block bytes (every bit pattern of
// the quants, sane f16 scales). Skips cleanly on machines without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/dequantize.h"
#include "backends/cuda/device.h"
#include "tensor/error.h"
#include "tensor/fp16.h"

namespace kt::cuda {
namespace {

using tensor::DType;

// Random bytes for n elements of `type`, with every f16 scale field replaced by a small value
// so that no NaN/inf appears (offsets of the f16 fields per gguf.md section 7).
std::vector<uint8_t> random_blocks(DType type, int64_t n, uint32_t seed) {
  const auto& tr = tensor::type_traits(type);
  const size_t bytes = tensor::row_size(type, n);
  std::vector<uint8_t> v(bytes);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  std::vector<size_t> f16_offsets;
  switch (type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
      f16_offsets = {0};
      break;
    case DType::Q4_K:
    case DType::Q5_K:
      f16_offsets = {0, 2};
      break;
    case DType::Q6_K:
      f16_offsets = {208};
      break;
    default:
      break;
  }
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  auto put = [&](size_t at) {
    const uint16_t h = tensor::fp32_to_fp16(scale(rng));
    std::memcpy(v.data() + at, &h, 2);
  };
  if (type == DType::F16 || type == DType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const float f = scale(rng) * 100;
      const uint16_t h = type == DType::F16 ? tensor::fp32_to_fp16(f) : tensor::fp32_to_bf16(f);
      std::memcpy(v.data() + 2 * i, &h, 2);
    }
  }
  for (size_t blk = 0; blk < bytes / tr.type_size; ++blk)
    for (size_t off : f16_offsets) put(blk * tr.type_size + off);
  return v;
}

class CudaDequant : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

TEST_P(CudaDequant, MatchesCpuReference) {
  const DType type = GetParam();
  const int64_t n = 256 * 37;  // odd number of super-blocks
  auto host = random_blocks(type, n, 1234u + uint32_t(type));
  std::vector<float> want(n), got(n);
  tensor::dequantize_row(type, host.data(), want.data(), n);
  void* d_src = nullptr;
  float* d_dst = nullptr;
  check(cudaMalloc(&d_src, host.size()), "cudaMalloc");
  check(cudaMalloc(reinterpret_cast<void**>(&d_dst), n * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(d_src, host.data(), host.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
  dequantize_on_device(type, d_src, d_dst, n);
  check(cudaMemcpy(got.data(), d_dst, n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  cudaFree(d_src);
  cudaFree(d_dst);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_NEAR(got[i], want[i], 1e-6f * std::max(1.0f, std::fabs(want[i])))
        << tensor::dtype_name(type) << " element " << i;
}

INSTANTIATE_TEST_SUITE_P(Types, CudaDequant,
                         ::testing::Values(DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0,
                                           DType::Q5_0, DType::Q4_K, DType::Q5_K, DType::Q6_K),
                         [](const auto& info) {
                           return std::string(tensor::dtype_name(info.param));
                         });

TEST(CudaDequantErrors, RejectsUnsupportedTypeAndBadLength) {
  EXPECT_THROW(dequantize_on_device(DType::IQ4_XS, nullptr, nullptr, 256), Error);
  EXPECT_THROW(dequantize_on_device(DType::Q4_K, nullptr, nullptr, 100), Error);
}

TEST(CudaDevice, CountIsConsistentWithDeviceList) {
  EXPECT_EQ(int(devices().size()), device_count());
}

}  // namespace
}  // namespace kt::cuda
