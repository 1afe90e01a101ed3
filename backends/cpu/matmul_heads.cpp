#include "backends/cpu/matmul_heads.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "backends/cpu/matmul.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"

namespace kt::cpu {
namespace {

using tensor::DType;

// Below this many weight bytes × tokens the products run on the calling thread alone.
constexpr size_t kSerialBytes = 64 * 1024;
// Tokens of one tile: each weight row is reused from cache over them.
constexpr int64_t kTokenTile = 64;

// Grow-only scratch of the calling thread for the quantized activations.
struct Scratch {
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> buf;
  size_t cap = 0;
  uint8_t* get(size_t bytes) {
    if (bytes > cap) {
      const size_t n = (bytes + 4095) & ~size_t(4095);
      buf.reset(static_cast<uint8_t*>(std::aligned_alloc(64, n)));
      if (!buf) throw Error("matmul_heads: out of memory for " + std::to_string(n) + " bytes");
      cap = n;
    }
    return buf.get();
  }
};
thread_local Scratch t_scratch;

}  // namespace

void matmul_heads(ThreadPool& pool, DType wtype, const void* w, size_t w_head_stride,
                  int64_t n_rows, int64_t k, int64_t n_heads, const float* x, int64_t n_tokens,
                  float* y, Isa isa) {
  if (kernels_ref().vec_dot(wtype) == nullptr)
    throw Error(std::string("matmul_heads: no CPU kernel for weight type ") +
                tensor::dtype_name(wtype));
  if (!isa_supported(isa))
    throw Error(std::string("matmul_heads: instruction set ") + isa_name(isa) +
                " is not supported by this CPU");
  const tensor::TypeTraits& tr = tensor::type_traits(wtype);
  if (k <= 0 || k % tr.block_size != 0)
    throw Error("matmul_heads: row length " + std::to_string(k) +
                " is not a positive multiple of " + std::to_string(tr.block_size) +
                " (block size of " + tr.name + ")");
  if (n_rows <= 0 || n_heads <= 0 || n_tokens <= 0) return;
  const VecDotFn dot = kernels(isa).vec_dot(wtype);
  const size_t w_row = tensor::row_size(wtype, k);
  const int64_t n_x = n_tokens * n_heads;

  // Activations in the kernel's format, row (t, h) at t·xq_token + h·xq_row bytes.
  const char* xq = reinterpret_cast<const char*>(x);
  size_t xq_row = size_t(k) * sizeof(float);
  if (tr.vec_dot_type != DType::F32) {
    xq_row = quantized_row_size(wtype, k);
    void* dst = t_scratch.get(xq_row * size_t(n_x));
    quantize_activations(pool, wtype, x, k, n_x, k, dst, isa);
    xq = static_cast<const char*>(dst);
  }
  const size_t xq_token = xq_row * size_t(n_heads);

  const int64_t tb = std::min(n_tokens, kTokenTile);
  const int64_t n_tt = (n_tokens + tb - 1) / tb;
  const int nth = w_row * size_t(n_rows * n_heads * n_tokens) < kSerialBytes ? 1 : pool.size();
  // Row tiles: a few items per thread over all heads, so the dynamic hand-out balances.
  const int64_t rb = std::clamp<int64_t>(n_rows * n_heads * n_tt / (int64_t(nth) * 4), 1,
                                         n_tokens > 1 ? 64 : n_rows);
  const int64_t n_rt = (n_rows + rb - 1) / rb;
  const int64_t items = n_heads * n_rt * n_tt;
  auto run_item = [&](int64_t it) {
    const int64_t h = it % n_heads, rt = it / n_heads % n_rt, tt = it / (n_heads * n_rt);
    const char* wh = static_cast<const char*>(w) + size_t(h) * w_head_stride;
    const int64_t r1 = std::min(n_rows, (rt + 1) * rb), t1 = std::min(n_tokens, (tt + 1) * tb);
    for (int64_t r = rt * rb; r < r1; ++r)
      for (int64_t t = tt * tb; t < t1; t += kVecDotMaxRows) {
        const int nx = int(std::min<int64_t>(kVecDotMaxRows, t1 - t));
        dot(k, wh + size_t(r) * w_row, xq + size_t(t) * xq_token + size_t(h) * xq_row, xq_token, nx,
            y + (t * n_heads + h) * n_rows + r, size_t(n_heads * n_rows));
      }
  };
  if (nth == 1) {
    for (int64_t it = 0; it < items; ++it) run_item(it);
    return;
  }
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (;;) {
      const int64_t it = next.fetch_add(1, std::memory_order_relaxed);
      if (it >= items) break;
      run_item(it);
    }
  });
}

}  // namespace kt::cpu
