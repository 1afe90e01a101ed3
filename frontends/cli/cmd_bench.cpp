// TEMPORARY placeholder so the tree links; replaced by the bench work.
#include "frontends/cli/commands.h"
namespace kt::cli {
void add_bench_command(CLI::App& app) { app.add_subcommand("bench", "Benchmarks"); }
}  // namespace kt::cli
