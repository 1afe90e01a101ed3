#pragma once
// A fixed pool of worker threads for the CPU kernels. run() executes one function on every
// thread (the caller is thread 0) and returns when all are done. Workers spin briefly before
// sleeping, because decode issues many short jobs back to back and a futex wake-up per job
// would cost more than the job.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace kt::cpu {

// Physical cores available to this process (affinity mask, SMT siblings counted once).
int physical_cores();
// The default --cpu_infer: physical cores minus 2, at least 1.
int default_cpu_threads();

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(ith, nth) once on each of the nth = size() threads; blocks until all return.
  // Not re-entrant: fn must not call run() on the same pool.
  void run(const std::function<void(int ith, int nth)>& fn);

  // Splits [0, n) into chunks of at least `grain` items handed out dynamically, so threads
  // that finish early take more. fn(begin, end, ith) is called for each chunk.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t begin, int64_t end, int ith)>& fn);

 private:
  void worker(int ith);

  int n_threads_;
  std::vector<std::thread> threads_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace kt::cpu
