#include "backends/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <string>

#include "backends/cpu/matmul_plan.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/error.h"

namespace kt::cpu {
namespace detail {

using tensor::DType;

Plan make_plan(DType wtype, int64_t k, Isa isa) {
  const VecDotFn dot = kernels_ref().vec_dot(wtype);
  if (dot == nullptr)
    throw Error(std::string("matmul: no CPU kernel for weight type ") + tensor::dtype_name(wtype));
  if (!isa_supported(isa))
    throw Error(std::string("matmul: instruction set ") + isa_name(isa) +
                " is not supported by this CPU");
  const tensor::TypeTraits& tr = tensor::type_traits(wtype);
  if (k <= 0 || k % tr.block_size != 0)
    throw Error("matmul: row length " + std::to_string(k) + " is not a positive multiple of " +
                std::to_string(tr.block_size) + " (block size of " + tr.name + ")");
  const Kernels& kern = kernels(isa);
  Plan p;
  p.dot = kern.vec_dot(wtype);
  p.w_row = tensor::row_size(wtype, k);
  switch (tr.vec_dot_type) {
    case DType::Q8_0:
      p.quantize = kern.quantize_q8_0;
      break;
    case DType::Q8_K:
      p.quantize = kern.quantize_q8_K;
      break;
    case DType::F32:
      p.quantize = nullptr;
      break;
    default:
      throw Error(std::string("matmul: unexpected activation type for ") + tr.name);
  }
  const tensor::TypeTraits& at = tensor::type_traits(tr.vec_dot_type);
  p.act_block = at.block_size;
  p.act_row = tensor::row_size(tr.vec_dot_type, k);
  return p;
}

int64_t token_tile(size_t act_row, int64_t n_tokens) {
  if (n_tokens <= 1) return n_tokens;
  const int64_t fit = int64_t(kTokenTileBytes / std::max<size_t>(act_row, 1));
  const int64_t tb =
      std::clamp<int64_t>(fit / kVecDotMaxRows * kVecDotMaxRows, kVecDotMaxRows, 256);
  return std::min(tb, n_tokens);
}

uint8_t* Scratch::get(size_t bytes) {
  if (bytes > cap) {
    const size_t n = (bytes + 4095) & ~size_t(4095);
    buf.reset(static_cast<uint8_t*>(std::aligned_alloc(64, n)));
    if (!buf) throw Error("matmul: out of memory for " + std::to_string(n) + " scratch bytes");
    cap = n;
  }
  return buf.get();
}

}  // namespace detail

namespace {

using namespace detail;
using tensor::DType;

struct Job {
  Plan plan;
  const char* w = nullptr;
  size_t w_stride = 0;
  int64_t n_rows = 0, k = 0;
  // Quantization phase (skipped when quantize is nullptr or src is nullptr).
  const float* src = nullptr;
  int64_t src_stride = 0;
  // Activations the kernels read.
  const char* xq = nullptr;
  size_t xq_stride = 0;
  int64_t n_tokens = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
};

// Quantizes this thread's share: the rows × pieces units split evenly over threads.
void quantize_share(const Job& job, int ith, int nth) {
  const int64_t nblk = job.k / job.plan.act_block;
  const int64_t pieces = std::clamp<int64_t>((nth + job.n_tokens - 1) / job.n_tokens, 1, nblk);
  const int64_t units = job.n_tokens * pieces;
  const int64_t u0 = units * ith / nth, u1 = units * (ith + 1) / nth;
  const size_t blk_bytes = job.plan.act_row / size_t(nblk);
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t t = u / pieces, p = u % pieces;
    const int64_t b0 = nblk * p / pieces, b1 = nblk * (p + 1) / pieces;
    if (b1 <= b0) continue;
    job.plan.quantize(
        job.src + t * job.src_stride + b0 * job.plan.act_block,
        const_cast<char*>(job.xq) + size_t(t) * job.xq_stride + size_t(b0) * blk_bytes,
        (b1 - b0) * job.plan.act_block);
  }
}

// Rows [r0, r1) × tokens [t0, t1).
void compute_tile(const Job& job, int64_t r0, int64_t r1, int64_t t0, int64_t t1) {
  const VecDotFn dot = job.plan.dot;
  for (int64_t r = r0; r < r1; ++r) {
    const char* wr = job.w + size_t(r) * job.w_stride;
    for (int64_t t = t0; t < t1; t += kVecDotMaxRows) {
      const int nx = int(std::min<int64_t>(kVecDotMaxRows, t1 - t));
      dot(job.k, wr, job.xq + size_t(t) * job.xq_stride, job.xq_stride, nx,
          job.y + t * job.y_stride + r, size_t(job.y_stride));
    }
  }
}

void execute(ThreadPool& pool, const Job& job) {
  const bool quantize = job.plan.quantize != nullptr && job.src != nullptr;
  const size_t work = job.plan.w_row * size_t(job.n_rows) * size_t(job.n_tokens);
  const int nth = work < kSerialBytes ? 1 : pool.size();

  // Tiles: a token tile's activations stay in L2 while the row tiles stream past.
  const int64_t tb = token_tile(job.xq_stride, job.n_tokens);
  const int64_t n_tt = (job.n_tokens + tb - 1) / tb;
  // Enough row tiles for several per thread, so that dynamic hand-out balances.
  const int64_t rb =
      std::clamp<int64_t>(job.n_rows * n_tt / (int64_t(nth) * 8), 1, job.n_tokens > 1 ? 64 : 4096);
  const int64_t n_rt = (job.n_rows + rb - 1) / rb;
  const int64_t items = n_rt * n_tt;

  if (nth == 1) {
    if (quantize) quantize_share(job, 0, 1);
    for (int64_t tt = 0; tt < n_tt; ++tt)
      compute_tile(job, 0, job.n_rows, tt * tb, std::min(job.n_tokens, (tt + 1) * tb));
    return;
  }

  SpinBarrier barrier(nth);
  std::atomic<int64_t> next{0};
  pool.run([&](int ith, int n) {
    if (quantize) {
      quantize_share(job, ith, n);
      barrier.wait();
    }
    for (;;) {
      const int64_t it = next.fetch_add(1, std::memory_order_relaxed);
      if (it >= items) break;
      const int64_t tt = it / n_rt, rt = it % n_rt;
      compute_tile(job, rt * rb, std::min(job.n_rows, (rt + 1) * rb), tt * tb,
                   std::min(job.n_tokens, (tt + 1) * tb));
    }
  });
}

thread_local Scratch t_scratch;

}  // namespace

bool matmul_supported(DType wtype) {
  return kernels_ref().vec_dot(wtype) != nullptr;
}

size_t quantized_row_size(DType wtype, int64_t k) {
  return tensor::row_size(tensor::type_traits(wtype).vec_dot_type, k);
}

void matmul(ThreadPool& pool, DType wtype, const void* w, int64_t n_rows, int64_t k, const float* x,
            int64_t n_tokens, float* y, Isa isa) {
  matmul_strided(pool, wtype, w, tensor::row_size(wtype, k), n_rows, k, x, k, n_tokens, y, n_rows,
                 isa);
}

void matmul_strided(ThreadPool& pool, DType wtype, const void* w, size_t w_row_stride,
                    int64_t n_rows, int64_t k, const float* x, int64_t x_stride, int64_t n_tokens,
                    float* y, int64_t y_stride, Isa isa) {
  const Plan plan = make_plan(wtype, k, isa);
  if (n_rows <= 0 || n_tokens <= 0) return;
  Job job;
  job.plan = plan;
  job.w = static_cast<const char*>(w);
  job.w_stride = w_row_stride;
  job.n_rows = n_rows;
  job.k = k;
  job.n_tokens = n_tokens;
  job.y = y;
  job.y_stride = y_stride;
  if (plan.quantize == nullptr) {
    job.xq = reinterpret_cast<const char*>(x);
    job.xq_stride = size_t(x_stride) * sizeof(float);
  } else {
    job.src = x;
    job.src_stride = x_stride;
    job.xq = reinterpret_cast<const char*>(t_scratch.get(plan.act_row * size_t(n_tokens)));
    job.xq_stride = plan.act_row;
  }
  execute(pool, job);
}

void quantize_activations(ThreadPool& pool, DType wtype, const float* x, int64_t x_stride,
                          int64_t n_tokens, int64_t k, void* dst, Isa isa) {
  const Plan plan = make_plan(wtype, k, isa);
  if (n_tokens <= 0) return;
  if (plan.quantize == nullptr) {
    for (int64_t t = 0; t < n_tokens; ++t)
      std::copy(x + t * x_stride, x + t * x_stride + k, static_cast<float*>(dst) + t * k);
    return;
  }
  Job job;
  job.plan = plan;
  job.k = k;
  job.src = x;
  job.src_stride = x_stride;
  job.xq = static_cast<const char*>(dst);
  job.xq_stride = plan.act_row;
  job.n_tokens = n_tokens;
  if (plan.act_row * size_t(n_tokens) < kSerialBytes / 4) {
    quantize_share(job, 0, 1);
  } else {
    pool.run([&](int ith, int nth) { quantize_share(job, ith, nth); });
  }
}

void matmul_quantized(ThreadPool& pool, DType wtype, const void* w, size_t w_row_stride,
                      int64_t n_rows, int64_t k, const void* xq, size_t xq_stride, int64_t n_tokens,
                      float* y, int64_t y_stride, Isa isa) {
  const Plan plan = make_plan(wtype, k, isa);
  if (n_rows <= 0 || n_tokens <= 0) return;
  Job job;
  job.plan = plan;
  job.w = static_cast<const char*>(w);
  job.w_stride = w_row_stride;
  job.n_rows = n_rows;
  job.k = k;
  job.xq = static_cast<const char*>(xq);
  job.xq_stride = xq_stride;
  job.n_tokens = n_tokens;
  job.y = y;
  job.y_stride = y_stride;
  execute(pool, job);
}

}  // namespace kt::cpu
