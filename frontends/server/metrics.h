#pragma once
// Server counters, read by GET /metrics in Prometheus' text format.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace kt::server {

class Metrics {
 public:
  void request();    // any API request that reached a handler
  void rejected();   // 503: the queue was full
  void failed();     // answered with an error status
  void cancelled();  // the client went away before the end
  void generation(int64_t prompt_tokens, int64_t cached_tokens, double prompt_seconds,
                  int64_t generated_tokens, double generation_seconds);
  // Prometheus text; queue state is read at the time of the scrape.
  std::string render(size_t waiting, bool processing, int64_t n_ctx) const;

 private:
  mutable std::mutex mu_;
  uint64_t requests_ = 0, rejected_ = 0, failed_ = 0, cancelled_ = 0, generations_ = 0;
  uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0;
  double prompt_seconds_ = 0, generation_seconds_ = 0;
  double last_generation_tok_s_ = 0;
};

}  // namespace kt::server
