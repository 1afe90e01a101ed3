#pragma once
// `kt bench ops`: throughput of the CPU matrix kernels per weight type and thread count,
// next to the measured memory read bandwidth that bounds decode.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kt::cli {

struct BenchOpsOptions {
  std::vector<int> threads;        // empty: 1, powers of two, and all physical cores
  std::vector<std::string> types;  // empty: the eight kernel types
  std::string isa = "best";        // best | reference | avx2 | avx512 | all
  int64_t k = 4096;                // columns (inner dimension)
  int64_t n = 4096;                // rows per matrix
  int64_t tokens = 64;             // tokens of the GEMM (prefill-shaped) run
  double working_set_gib = 0;      // GEMV working set; 0: bandwidth_buffer_bytes()
  int reps = 5;
  bool json = false;
  bool quick = false;  // tiny sizes: checks that everything runs, figures meaningless
};

// Runs the benchmark; prints a table (or JSON) to stdout and returns the JSON document.
nlohmann::json run_bench_ops(const BenchOpsOptions& opt);

}  // namespace kt::cli
