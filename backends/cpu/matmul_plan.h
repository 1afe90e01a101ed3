#pragma once
// Pieces shared by the matmul drivers of this folder (matmul.cpp, matmul_experts.cpp): the
// kernel plan of a weight type, grow-only scratch, and the barrier of one pool dispatch.
// Internal to backends/cpu; callers use matmul.h and matmul_experts.h.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/vec_dot.h"
#include "tensor/dtype.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KT_PAUSE() _mm_pause()
#else
#define KT_PAUSE() ((void)0)
#endif

namespace kt::cpu::detail {

// Below this many weight bytes × tokens a matmul runs on the calling thread alone: waking
// the pool would cost more than the work.
constexpr size_t kSerialBytes = 64 * 1024;
// Activation bytes of one token tile of a prefill matmul (kept in L2 while rows stream by).
constexpr size_t kTokenTileBytes = 512 * 1024;

struct Plan {
  VecDotFn dot = nullptr;
  QuantizeActFn quantize = nullptr;  // nullptr: activations are used as f32
  int64_t act_block = 1;             // elements per activation block
  size_t act_row = 0;                // bytes of one activation row
  size_t w_row = 0;                  // bytes of one weight row
};

// Throws kt::Error for a weight type without a kernel, an unsupported ISA, or a row length
// that is not a multiple of the block size.
Plan make_plan(tensor::DType wtype, int64_t k, Isa isa);

// Tokens per tile of a prefill product whose activation rows are act_row bytes apart: a
// multiple of kVecDotMaxRows, so that the kernel calls (and hence the float results) depend
// only on the shape, never on the thread count.
int64_t token_tile(size_t act_row, int64_t n_tokens);

// Grow-only, 64-byte aligned buffer.
struct Scratch {
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> buf;
  size_t cap = 0;

  uint8_t* get(size_t bytes);
};

// All nth threads of one ThreadPool::run call meet here.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    const int phase = phase_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      phase_.fetch_add(1, std::memory_order_acq_rel);
      return;
    }
    while (phase_.load(std::memory_order_acquire) == phase) KT_PAUSE();
  }

 private:
  int n_;
  std::atomic<int> count_{0};
  std::atomic<int> phase_{0};
};

}  // namespace kt::cpu::detail
