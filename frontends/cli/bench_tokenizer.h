#pragma once
// `kt bench tokenizer`: encode and decode throughput (MB/s, one thread) of each tokenizer on a
// large English + code text built from the project's own sources and test strings.
#include <cstddef>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace kt::cli {

struct BenchTokenizerOptions {
  std::vector<std::string> models;  // GGUF files, HF folders or tokenizer.json; empty: testdata
  std::string text_file;            // the text to use; empty: built from the sources
  std::string testdata;             // shared/testdata; empty: looked for beside the sources
  double mb = 8.0;                  // size of the benchmark text
  size_t chunk = 64 * 1024;         // bytes per encode() call
  int reps = 3;                     // best of
  bool json = false;
};

// Runs the benchmark; prints a table (or JSON) to stdout and returns the JSON document.
nlohmann::json run_bench_tokenizer(const BenchTokenizerOptions& opt);

// Adds the `tokenizer` subcommand to the `bench` subcommand.
void add_bench_tokenizer_command(CLI::App* bench);

}  // namespace kt::cli
