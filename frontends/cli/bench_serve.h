#pragma once
// `kt bench serve`: a client-side serving benchmark against a running OpenAI-compatible server
// (`kt serve` or any other), measured as vLLM's `vllm bench serve` measures it: random prompts
// of a fixed length, streamed completions of a fixed length (ignore_eos), at most N requests in
// flight, arrivals all at once or Poisson; TTFT, TPOT, ITL and end-to-end latency (mean, median,
// p99) and request/token throughput.
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace kt::cli {

struct BenchServeOptions {
  std::string url = "http://127.0.0.1:10002";
  std::string api_key;  // sent as "Authorization: Bearer KEY" when set
  int concurrency = 1;  // requests in flight at most
  int num_prompts = 16;
  int input_len = 128;  // prompt tokens (completions) or words (chat)
  int output_len = 64;  // max_tokens, with ignore_eos
  uint64_t seed = 0;
  double request_rate = std::numeric_limits<double>::infinity();  // req/s; inf: all at once
  std::string endpoint = "completions";                           // or "chat"
  bool json = false;
  double timeout_s = 600;  // per request
};

// An http:// URL split up. `base_path` is the path before /v1 ("" for the server root); a
// trailing "/v1" or "/" in the URL is taken off, so "http://h:8000/v1" works too.
struct ServeUrl {
  std::string host;
  int port = 80;
  std::string base_path;
};

// Parses "http://host[:port][/path]" (a missing scheme means http; IPv6 hosts in brackets).
// Throws kt::Error naming the URL for anything else (https, bad port, no host).
ServeUrl parse_serve_url(const std::string& url);

// The p-th percentile (0..100) of `v` with linear interpolation between closest ranks, as
// numpy.percentile computes it; 0 for an empty vector.
double percentile(std::vector<double> v, double p);

double mean_of(const std::vector<double>& v);  // 0 for an empty vector

struct LatencySummary {
  double mean = 0, p50 = 0, p99 = 0;
};
LatencySummary summarize(const std::vector<double>& v);

// Splits a Server-Sent Events stream into events, however it is cut into network reads.
// Each complete event's data (its "data:" lines joined by '\n') is handed to on_data; events
// without data lines and comments (":" lines) are skipped. CRLF and LF line ends both work.
class SseParser {
 public:
  explicit SseParser(std::function<void(std::string_view data)> on_data)
      : on_data_(std::move(on_data)) {}
  void feed(std::string_view bytes);
  void finish();  // the stream ended: an event still open (no blank line after it) is handed on

 private:
  void line(std::string_view l);
  std::function<void(std::string_view)> on_data_;
  std::string buf_;   // an incomplete line
  std::string data_;  // the data lines of the event being read
  bool has_data_ = false;
};

// Runs the benchmark; prints a table (or JSON) to stdout and returns the JSON document.
// Throws kt::Error when the server cannot be reached or every request failed.
nlohmann::json run_bench_serve(const BenchServeOptions& opt);

// Adds the `serve` subcommand to the `bench` subcommand.
void add_bench_serve_command(CLI::App* bench);

}  // namespace kt::cli
