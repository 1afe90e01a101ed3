// Load-time conversion of a GGUF weight into the Marlin layout (marlin_internal.cuh): every row
// is dequantized on the host, each group of 64 or 128 inputs requantized to symmetric int4 with
// one FP16 scale, and the nibbles shuffled into the order the kernel's fragment loads want.
// Host-only code; it lives in a .cu file so that it shares the layout header with the kernel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/marlin.h"
#include "backends/cuda/marlin_internal.cuh"
#include "backends/cuda/memory.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/fp16.h"

namespace kt::cuda {
namespace {

using tensor::fp16_to_fp32;
using tensor::fp32_to_fp16;

// Runs fn(begin, end) over [0, count) on up to 16 host threads (repacking a large layer is
// seconds of work on one core).
template <typename Fn>
void parallel_for(int64_t count, Fn fn) {
  const int64_t workers = std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 16);
  const int64_t chunk = (count + workers - 1) / workers;
  std::vector<std::thread> pool;
  for (int64_t b = 0; b < count; b += chunk)
    pool.emplace_back([=] { fn(b, std::min(count, b + chunk)); });
  for (auto& t : pool) t.join();
}

// Squared error of v quantized with scale s (q = round(v / s) clamped to -8..7).
double group_error(const float* v, int n, float s) {
  const float inv = 1.0f / s;
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const float q = std::clamp(std::nearbyint(v[i] * inv), -8.0f, 7.0f);
    const double d = double(v[i]) - double(q) * s;
    err += d * d;
  }
  return err;
}

// One group -> FP16 scale bits and n nibbles (q + 8). max|w|/7 is the obvious scale, but a
// slightly larger divisor (using -8, clipping the rare extreme) often lowers the error, and so
// does a least-squares refit of the scale to the chosen integers; the search keeps the best,
// judged with the scale as it will be stored (rounded to FP16).
uint16_t quantize_group(const float* v, int n, uint8_t* q) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(v[i]));
  double best_err = std::numeric_limits<double>::infinity();
  uint16_t best = 0;
  auto consider = [&](float raw) {
    const uint16_t h = fp32_to_fp16(raw);
    const float s = fp16_to_fp32(h);
    if (!(s > 0.0f) || std::isinf(s)) return;
    const double err = group_error(v, n, s);
    if (err < best_err) best_err = err, best = h;
  };
  if (amax > 0.0f) {
    for (int i = 0; i <= 8; ++i) consider(amax / (6.0f + 0.25f * float(i)));
    if (best != 0) {
      const float s = fp16_to_fp32(best);
      double vq = 0, qq = 0;
      for (int i = 0; i < n; ++i) {
        const float qi = std::clamp(std::nearbyint(v[i] / s), -8.0f, 7.0f);
        vq += double(v[i]) * qi;
        qq += double(qi) * qi;
      }
      if (qq > 0) consider(float(vq / qq));
    }
  }
  const float s = fp16_to_fp32(best);
  for (int i = 0; i < n; ++i)
    q[i] = best == 0 ? 8 : uint8_t(std::clamp(std::nearbyint(v[i] / s), -8.0f, 7.0f) + 8.0f);
  return best;
}

std::string shape_str(int64_t k, int64_t n) {
  std::string s = "{";  // appended piecewise: GCC 12 warns (-Wrestrict) on "{" + to_string
  s += std::to_string(k);
  s += ", ";
  s += std::to_string(n);
  return s + "}";
}

}  // namespace

MarlinWeight marlin_repack(const tensor::Tensor& host_w, int group, cudaStream_t stream) {
  const int64_t K = host_w.ne(0), N = host_w.ne(1);
  if (host_w.device().type != tensor::DeviceType::CPU)
    throw Error("marlin_repack: weight " + host_w.str() + " is not in host memory");
  if (host_w.ne(2) * host_w.ne(3) != 1)
    throw Error("marlin_repack: weight " + host_w.str() + " is not a matrix");
  if (!marlin_supported(K, N, group))
    throw Error("marlin_repack: weight " + host_w.str() + " cannot use Marlin with group " +
                std::to_string(group) +
                " (needs group 64 or 128, K a multiple of the group, N a multiple of 64)");
  if (!tensor::type_traits(host_w.dtype()).to_f32)
    throw Error("marlin_repack: weight " + host_w.str() + ": cannot dequantize this type");

  const int64_t groups = K / group, strips = N / marlin::kTileN, ktiles = K / 16;
  std::vector<uint8_t> q(size_t(K * N));            // [n][k], q + 8
  std::vector<uint16_t> scale(size_t(groups * N));  // [g][n]
  parallel_for(N, [&](int64_t n0, int64_t n1) {
    std::vector<float> row(static_cast<size_t>(K));
    for (int64_t n = n0; n < n1; ++n) {
      tensor::dequantize_row(host_w.dtype(), host_w.row(n), row.data(), K);
      for (int64_t g = 0; g < groups; ++g)
        scale[size_t(g * N + n)] =
            quantize_group(row.data() + g * group, group, q.data() + n * K + g * group);
    }
  });

  std::vector<uint32_t> packed(size_t(K * N / 8));
  parallel_for(strips, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t kt = 0; kt < ktiles; ++kt)
        for (int lane = 0; lane < 32; ++lane)
          for (int i = 0; i < 4; ++i) {
            uint32_t word = 0;
            for (int j = 0; j < 8; ++j) {
              const int64_t k = marlin::packed_k(int(kt), lane, j);
              const int64_t n = p * marlin::kTileN + marlin::packed_n(i, lane, j);
              word |= uint32_t(q[size_t(n * K + k)]) << (4 * j);
            }
            packed[size_t(((p * ktiles + kt) * 32 + lane) * 4 + i)] = word;
          }
  });
  std::vector<uint16_t> scales_out(scale.size());
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t p = 0; p < strips; ++p)
      for (int r = 0; r < 8; ++r)
        for (int s = 0; s < 8; ++s)
          scales_out[size_t(((g * strips + p) * 8 + r) * 8 + s)] =
              scale[size_t(g * N + p * marlin::kTileN + 8 * s + r)];

  MarlinWeight w;
  w.k = K;
  w.n = N;
  w.group = group;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  const std::string what = "Marlin weight " + shape_str(K, N);
  w.qweight = device_alloc(packed.size() * 4, dev, what);
  w.scales = device_alloc(scales_out.size() * 2, dev, what + " scales");
  check(cudaMemcpyAsync(w.qweight.get(), packed.data(), packed.size() * 4, cudaMemcpyHostToDevice,
                        stream),
        "cudaMemcpyAsync (marlin weight)");
  check(cudaMemcpyAsync(w.scales.get(), scales_out.data(), scales_out.size() * 2,
                        cudaMemcpyHostToDevice, stream),
        "cudaMemcpyAsync (marlin scales)");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (marlin repack)");
  return w;
}

std::vector<float> marlin_dequantize(const MarlinWeight& w, cudaStream_t stream) {
  const int64_t K = w.k, N = w.n, groups = K / w.group, strips = N / marlin::kTileN;
  const int64_t ktiles = K / 16;
  std::vector<uint32_t> packed(size_t(K * N / 8));
  std::vector<uint16_t> scales(size_t(groups * N));
  check(cudaMemcpyAsync(packed.data(), w.qweight.get(), packed.size() * 4, cudaMemcpyDeviceToHost,
                        stream),
        "cudaMemcpyAsync (marlin weight)");
  check(cudaMemcpyAsync(scales.data(), w.scales.get(), scales.size() * 2, cudaMemcpyDeviceToHost,
                        stream),
        "cudaMemcpyAsync (marlin scales)");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (marlin dequantize)");
  std::vector<float> out(size_t(K * N));
  for (int64_t p = 0; p < strips; ++p)
    for (int64_t kt = 0; kt < ktiles; ++kt)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
          const uint32_t word = packed[size_t(((p * ktiles + kt) * 32 + lane) * 4 + i)];
          for (int j = 0; j < 8; ++j) {
            const int64_t k = marlin::packed_k(int(kt), lane, j);
            const int col = marlin::packed_n(i, lane, j);  // inside the strip: 8 s + r
            const int64_t g = k / w.group;
            const float s =
                fp16_to_fp32(scales[size_t(((g * strips + p) * 8 + col % 8) * 8 + col / 8)]);
            const int qv = int((word >> (4 * j)) & 15) - 8;
            out[size_t((p * marlin::kTileN + col) * K + k)] = float(qv) * s;
          }
        }
  return out;
}

}  // namespace kt::cuda
