// `kt bench ...`: benchmarks. Figures are printed, never asserted.
#include <memory>

#include "frontends/cli/bench_cuda.h"
#include "frontends/cli/bench_model.h"
#include "frontends/cli/bench_ops.h"
#include "frontends/cli/bench_serve.h"
#include "frontends/cli/bench_tokenizer.h"
#include "frontends/cli/commands.h"

namespace kt::cli {

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand(
      "bench", "Benchmarks: a model (-m, llama-bench style), CPU kernels (ops), tokenizers");
  bench->require_subcommand(0, 1);
  add_bench_model_options(bench);

  auto opt = std::make_shared<BenchOpsOptions>();
  CLI::App* ops = bench->add_subcommand(
      "ops",
      "GEMV/GEMM throughput of the CPU kernels per weight type and thread count, beside "
      "the measured memory read bandwidth");
  ops->add_option("-t,--threads", opt->threads,
                  "Thread counts to run (default: 1, powers of two, all physical cores)")
      ->delimiter(',');
  ops->add_option("--types", opt->types,
                  "Weight types (default: f32,f16,bf16,q4_0,q8_0,q4_K,q5_K,q6_K)")
      ->delimiter(',');
  ops->add_option("--isa", opt->isa, "Kernel tier: best, reference, avx2, avx512 or all")
      ->capture_default_str();
  ops->add_option("-k,--cols", opt->k, "Inner dimension K of each weight matrix")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("-n,--rows", opt->n, "Rows N of each weight matrix")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("--tokens", opt->tokens, "Tokens in the GEMM (prefill-shaped) run")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("--working-set", opt->working_set_gib,
                  "GiB of weights cycled through by the GEMV run (default: 8x LLC, >= 4 GiB)");
  ops->add_option("--reps", opt->reps, "Repetitions; the best is reported")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_flag("--json", opt->json, "Print JSON instead of a table");
  ops->add_flag("--quick", opt->quick, "Tiny sizes, to check that everything runs");
  auto cuda = std::make_shared<bool>(false);
  ops->add_flag("--cuda", *cuda, "Marlin int4 vs cuBLAS FP16 GEMM on the GPU, real layer shapes");
  ops->callback([opt, cuda] {
    if (*cuda)
      run_bench_cuda({opt->reps, opt->json, opt->quick});
    else
      run_bench_ops(*opt);
  });

  add_bench_tokenizer_command(bench);
  add_bench_serve_command(bench);
}

}  // namespace kt::cli
