#include "backends/cpu/membw.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tensor/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kt::cpu {

// Where the checksum of the timed reads goes, so the compiler cannot drop them.
std::atomic<uint64_t> g_membw_sink{0};

namespace {

// Sums 64-bit words so the loads cannot be optimised away; wide loads are needed to reach
// full bandwidth from few cores, hence the AVX2/AVX-512 versions chosen at run time.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) uint64_t read_avx512(const uint8_t* p, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 256 <= n; i += 256) {
    acc0 = _mm512_xor_si512(acc0, _mm512_load_si512(p + i));
    acc1 = _mm512_xor_si512(acc1, _mm512_load_si512(p + i + 64));
    acc2 = _mm512_xor_si512(acc2, _mm512_load_si512(p + i + 128));
    acc3 = _mm512_xor_si512(acc3, _mm512_load_si512(p + i + 192));
  }
  acc0 = _mm512_xor_si512(_mm512_xor_si512(acc0, acc1), _mm512_xor_si512(acc2, acc3));
  alignas(64) uint64_t v[8];
  _mm512_store_si512(v, acc0);
  return v[0] ^ v[1] ^ v[2] ^ v[3] ^ v[4] ^ v[5] ^ v[6] ^ v[7];
}

__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    acc0 = _mm256_xor_si256(acc0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    acc1 = _mm256_xor_si256(acc1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    acc2 = _mm256_xor_si256(acc2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    acc3 = _mm256_xor_si256(acc3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  acc0 = _mm256_xor_si256(_mm256_xor_si256(acc0, acc1), _mm256_xor_si256(acc2, acc3));
  alignas(32) uint64_t v[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v), acc0);
  return v[0] ^ v[1] ^ v[2] ^ v[3];
}
#endif

uint64_t read_plain(const uint8_t* p, size_t n) {
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t a = 0, b = 0;
  for (size_t i = 0; i + 2 <= n / 8; i += 2) {
    a ^= w[i];
    b ^= w[i + 1];
  }
  return a ^ b;
}

uint64_t read_buffer(const uint8_t* p, size_t n) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) return read_avx512(p, n);
  if (__builtin_cpu_supports("avx2")) return read_avx2(p, n);
#endif
  return read_plain(p, n);
}

size_t parse_cache_size(const std::string& s) {
  size_t v = 0, i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + size_t(s[i++] - '0');
  if (i < s.size() && (s[i] == 'K' || s[i] == 'k')) v <<= 10;
  if (i < s.size() && (s[i] == 'M' || s[i] == 'm')) v <<= 20;
  return v;
}

}  // namespace

size_t last_level_cache_bytes() {
  size_t best = 0;
  for (int idx = 0; idx < 8; ++idx) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/size");
    std::string s;
    if (f >> s) best = std::max(best, parse_cache_size(s));
  }
  return best;
}

size_t bandwidth_buffer_bytes() {
  // Server L3s reach hundreds of MB and keep part of a buffer only 4x their size (measured:
  // 1.2 GB over a 300 MB L3 read 15-35% faster than DRAM allows), so take 8x, at least 4 GiB,
  // but no more than a quarter of the memory that is free.
  size_t want = std::max<size_t>(size_t(4) << 30, 8 * last_level_cache_bytes());
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  size_t kb = 0;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") {
      want = std::min(want, kb * 1024 / 4);
      break;
    }
  }
  return std::max<size_t>(want, size_t(256) << 20);
}

double measure_read_bandwidth(ThreadPool& pool, const void* buffer, size_t bytes, int reps) {
  const int nth = pool.size();
  // Each thread's slice is a multiple of 4 KiB so that it starts aligned for wide loads.
  const size_t slice = bytes / size_t(nth) / 4096 * 4096;
  if (slice == 0) throw Error("bandwidth buffer of " + std::to_string(bytes) + " bytes too small");
  const auto* base = static_cast<const uint8_t*>(buffer);
  const size_t misalign = reinterpret_cast<uintptr_t>(base) % 64;
  if (misalign) base += 64 - misalign;  // the loads are aligned; drop a few bytes at the start
  std::vector<uint64_t> sink(size_t(nth) * 8);
  double best = 0.0;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int ith, int) {
      const size_t len = misalign && ith == nth - 1 ? slice - 64 : slice;
      sink[size_t(ith) * 8] += read_buffer(base + size_t(ith) * slice, len);
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, double(slice) * nth / s);
  }
  uint64_t acc = 0;
  for (uint64_t v : sink) acc ^= v;
  g_membw_sink.store(acc, std::memory_order_relaxed);  // the reads are observable
  return best;
}

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int reps) {
  const int nth = pool.size();
  const size_t slice = bytes / size_t(nth) / 4096 * 4096;
  if (slice == 0) throw Error("bandwidth buffer of " + std::to_string(bytes) + " bytes too small");
  void* raw = std::aligned_alloc(4096, slice * size_t(nth));
  if (!raw) throw Error("cannot allocate " + std::to_string(bytes) + " bytes to measure bandwidth");
  std::unique_ptr<void, decltype(&std::free)> buf(raw, &std::free);
  auto* base = static_cast<uint8_t*>(raw);
  // First touch from the thread that will read the slice (places pages on its NUMA node).
  pool.run([&](int ith, int) { std::memset(base + size_t(ith) * slice, ith + 1, slice); });
  return measure_read_bandwidth(pool, raw, slice * size_t(nth), reps);
}

}  // namespace kt::cpu
