#pragma once
// Measures the machine's memory read bandwidth: the bound that decode-time GEMV kernels are
// judged against (kt bench ops reports each kernel as a fraction of it).
#include <cstddef>

#include "backends/cpu/thread_pool.h"

namespace kt::cpu {

// Size of the last-level cache in bytes (0 when unknown).
size_t last_level_cache_bytes();

// A buffer size far bigger than the caches: 8x the last-level cache, at least 4 GiB (capped at
// a quarter of the available memory).
size_t bandwidth_buffer_bytes();

// Best-of-`reps` read bandwidth in bytes/second with all threads of the pool streaming disjoint
// slices of a buffer of `bytes`.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int reps = 5);

// The same on a caller's buffer (e.g. the weights a kernel is about to stream), so that the
// bound and the kernel see the same pages at nearly the same time; bytes should be a multiple
// of 4 KiB per thread for the wide loads to stay aligned.
double measure_read_bandwidth(ThreadPool& pool, const void* buffer, size_t bytes, int reps);

}  // namespace kt::cpu
