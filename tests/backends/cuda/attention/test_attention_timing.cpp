// Prints how long the shapes that matter take (no assertions: benchmarks are `kt bench`'s
// job; this is a quick look while the kernels are young).
#include <gtest/gtest.h>

#include "tests/backends/cuda/attention/attention_fixture.h"

namespace kt::cuda::test {
namespace {

void time_case(Case c) {
  c.n_ctx = c.pos + c.n_q;
  Problem pr(c);
  const LaunchContext ctx = pr.context();
  for (int i = 0; i < 3; ++i) pr.launch(ctx);
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  constexpr int kIters = 20;
  check(cudaEventRecord(e0, pr.stream()), "cudaEventRecord");
  for (int i = 0; i < kIters; ++i) pr.launch(ctx);
  check(cudaEventRecord(e1, pr.stream()), "cudaEventRecord");
  check(cudaEventSynchronize(e1), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  const double us = 1e3 * ms / kIters;
  // Bytes of cache read once per key/value head, and multiply-adds of the visible keys.
  const int64_t keys = c.pos + c.n_q;
  const double bytes = 4.0 * keys * c.hkv * (c.dk + (c.shared_kv ? 0 : c.dv));
  double pairs = 0;
  for (int64_t t = 0; t < c.n_q; ++t) {
    const int64_t last = c.pos + t,
                  first = c.window > 0 ? std::max<int64_t>(0, last - c.window + 1) : 0;
    pairs += double(last - first + 1);
  }
  const double flops = 2.0 * pairs * c.hq * (c.dk + c.dv);
  std::printf("[attention timing] %-26s T=%-5lld keys=%-5lld %9.1f us  %7.1f GB/s  %7.2f TFLOP/s\n",
              c.name.c_str(), (long long)c.n_q, (long long)keys, us, bytes / us * 1e-3,
              flops / us * 1e-6);
}

TEST(CudaAttentionTiming, PrintsShapesThatMatter) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  auto mk = [](std::string name, int64_t dk, int64_t dv, int64_t hq, int64_t hkv, int64_t n_q,
               int64_t pos, int64_t window = 0, bool shared = false) {
    Case c;
    c.name = std::move(name);
    c.dk = dk, c.dv = dv, c.hq = hq, c.hkv = hkv, c.n_q = n_q, c.pos = pos;
    c.window = window, c.shared_kv = shared;
    return c;
  };
  time_case(mk("llama_decode_8k", 128, 128, 32, 8, 1, 8191));
  time_case(mk("llama_decode_1k", 128, 128, 32, 8, 1, 1023));
  time_case(mk("mla_decode_8k", 576, 512, 16, 1, 1, 8191, 0, true));
  time_case(mk("mla_decode_1k", 576, 512, 16, 1, 1, 1023, 0, true));
  time_case(mk("gemma_w512_decode_8k", 256, 256, 16, 8, 1, 8191, 512));
  time_case(mk("llama_prefill_512", 128, 128, 32, 8, 512, 0));
  time_case(mk("llama_prefill_4096", 128, 128, 32, 8, 4096, 0));
  time_case(mk("mla_prefill_512", 576, 512, 16, 1, 512, 0, 0, true));
  time_case(mk("mla_prefill_2048", 576, 512, 16, 1, 2048, 0, 0, true));
  time_case(mk("gemma_w512_prefill_4096", 256, 256, 16, 8, 4096, 0, 512));
}

}  // namespace
}  // namespace kt::cuda::test
