#pragma once
// `kt bench ops --cuda`: the Marlin int4 GEMM against cuBLAS FP16 GEMM on real layer shapes and
// decode-sized batches. Weights are cycled through copies larger than the L2 cache, as in a
// real decode step where every layer's weights come from HBM.
#include <nlohmann/json.hpp>

namespace kt::cli {

struct BenchCudaOptions {
  int reps = 5;  // timed samples per case is max(reps, 5) x 3; the median is reported
  bool json = false;
  bool quick = false;  // two shapes, three batch sizes: checks that everything runs
};

// Prints a table (or JSON) to stdout and returns the JSON document. Throws kt::Error when
// the build has no CUDA or there is no GPU.
nlohmann::json run_bench_cuda(const BenchCudaOptions& opt);

}  // namespace kt::cli
