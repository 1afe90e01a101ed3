#pragma once
// Each `kt` subcommand lives in its own cmd_*.cpp and registers itself on the app here.
#include <CLI/CLI.hpp>

namespace kt::cli {

// Parses argv as the `kt` command does and runs the subcommand; returns the exit status (errors
// are printed to stderr).
int run(int argc, char** argv);

// Each add_* function adds one subcommand (and its callback) to the app.
void add_gguf_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_perplexity_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace kt::cli
