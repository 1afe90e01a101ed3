#include "backends/cpu/thread_pool.h"

#include <sched.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KT_PAUSE() _mm_pause()
#else
#define KT_PAUSE() ((void)0)
#endif

namespace kt::cpu {
namespace {

// How long an idle worker spins before sleeping on the generation counter.
constexpr int kSpinIterations = 1 << 16;
// How long the caller spins waiting for workers before yielding its core.
constexpr int kCallerSpinIterations = 1 << 12;

int read_int(const std::string& path, int fallback) {
  std::ifstream f(path);
  int v;
  return (f >> v) ? v : fallback;
}

}  // namespace

int physical_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0)
    return std::max(1u, std::thread::hardware_concurrency());
  std::set<std::pair<int, int>> cores;  // (package, core id)
  int logical = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    ++logical;
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    const int pkg = read_int(base + "physical_package_id", 0);
    const int core = read_int(base + "core_id", cpu);
    cores.insert({pkg, core});
  }
  if (cores.empty()) return std::max(1, logical);
  return int(cores.size());
}

int default_cpu_threads() {
  return std::max(1, physical_cores() - 2);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  threads_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker(int ith) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      KT_PAUSE();
      gen = generation_.load(std::memory_order_acquire);
    }
    while (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(ith, n_threads_);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  fn(0, n_threads_);
  // Spin briefly, then yield: with more threads than free cores the workers we wait for need
  // this core to finish.
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kCallerSpinIterations)
      KT_PAUSE();
    else
      std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  // Aim for a few chunks per thread so that uneven progress still balances.
  const int64_t target = std::max<int64_t>(grain, n / (int64_t(n_threads_) * 4));
  std::atomic<int64_t> next{0};
  run([&](int ith, int) {
    for (;;) {
      const int64_t begin = next.fetch_add(target, std::memory_order_relaxed);
      if (begin >= n) break;
      fn(begin, std::min(n, begin + target), ith);
    }
  });
}

}  // namespace kt::cpu
