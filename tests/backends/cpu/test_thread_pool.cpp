// ThreadPool: parallel_for covers every index exactly once; run() back to back never hangs.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "backends/cpu/thread_pool.h"

namespace kt::cpu {
namespace {

TEST(ThreadPool, ParallelForCoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 64, 100, 1000, 12345}) {
      for (int64_t grain : {1, 3, 64, 1000, 20000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<int> bad_thread{0};
        pool.parallel_for(n, grain, [&](int64_t begin, int64_t end, int ith) {
          if (ith < 0 || ith >= threads || begin >= end || begin < 0 || end > n) ++bad_thread;
          for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1);
        });
        EXPECT_EQ(bad_thread.load(), 0);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[size_t(i)].load(), 1)
              << "threads=" << threads << " n=" << n << " grain=" << grain << " i=" << i;
      }
    }
  }
}

TEST(ThreadPool, RunThousandsOfTimes) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::atomic<int64_t> calls{0};
    std::vector<int> seen(size_t(threads), 0);
    // Oversubscribed pools (more threads than cores) pay a scheduler time slice per run.
    const int kRuns = threads <= int(std::thread::hardware_concurrency()) ? 20000 : 2000;
    for (int r = 0; r < kRuns; ++r) {
      pool.run([&](int ith, int nth) {
        ASSERT_EQ(nth, threads);
        ++seen[size_t(ith)];  // each ith on exactly one thread per run
        calls.fetch_add(1, std::memory_order_relaxed);
      });
    }
    EXPECT_EQ(calls.load(), int64_t(kRuns) * threads);
    for (int i = 0; i < threads; ++i) EXPECT_EQ(seen[size_t(i)], kRuns) << i;
  }
}

TEST(ThreadPool, ManyPoolsCreatedAndDestroyed) {
  for (int i = 0; i < 50; ++i) {
    auto pool = std::make_unique<ThreadPool>(1 + i % 4);
    std::atomic<int> n{0};
    pool->run([&](int, int) { n.fetch_add(1); });
    EXPECT_EQ(n.load(), pool->size());
  }
}

TEST(ThreadPool, DefaultThreadCountIsPositive) {
  EXPECT_GE(physical_cores(), 1);
  EXPECT_GE(default_cpu_threads(), 1);
}

}  // namespace
}  // namespace kt::cpu
