#pragma once
// `kt bench -m MODEL`: llama-bench-style prefill and decode throughput of a whole model
// (pp: one chunk of -p random tokens; tg: -n tokens one at a time after that prompt), mean
// and standard deviation over repetitions, beside the decode bound: the bytes of weights one
// token reads (all non-expert weights, top-k/n_expert of the routed experts) against the
// measured memory read bandwidth.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace kt::cli {

struct BenchModelOptions {
  std::string model;
  std::string rule_path;  // --optimize_rule_path; empty: the shipped rules
  std::vector<int> device_map;  // --device-map: the GPU behind each cuda:N of the rules
  int n_prompt = 512;
  int n_gen = 128;
  std::vector<int> threads;  // empty: all physical cores
  int reps = 5;
  double bw_gib = 0;  // bandwidth buffer; 0: cpu::bandwidth_buffer_bytes()
  bool json = false;
  bool profile = false;     // GPU plans: one more pass timing every kernel (--profile)
  bool cuda_graphs = true;  // --no-cuda-graphs: decode steps run eagerly
};

// Loads the model, runs the benchmark, prints a table (or JSON) and returns the JSON document.
nlohmann::json run_bench_model(const BenchModelOptions& opt);

// Adds -m/-p/-n/-t/-r/--json to the `bench` command itself, run when no subcommand is given.
void add_bench_model_options(CLI::App* bench);

}  // namespace kt::cli
