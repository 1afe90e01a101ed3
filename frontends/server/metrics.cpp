#include "frontends/server/metrics.h"

#include <cstdio>

namespace kt::server {

void Metrics::request() {
  std::lock_guard lock(mu_);
  ++requests_;
}
void Metrics::rejected() {
  std::lock_guard lock(mu_);
  ++rejected_;
}
void Metrics::failed() {
  std::lock_guard lock(mu_);
  ++failed_;
}
void Metrics::cancelled() {
  std::lock_guard lock(mu_);
  ++cancelled_;
}

void Metrics::generation(int64_t prompt_tokens, int64_t cached_tokens, double prompt_seconds,
                         int64_t generated_tokens, double generation_seconds) {
  std::lock_guard lock(mu_);
  ++generations_;
  prompt_tokens_ += uint64_t(prompt_tokens);
  cached_tokens_ += uint64_t(cached_tokens);
  generated_tokens_ += uint64_t(generated_tokens);
  prompt_seconds_ += prompt_seconds;
  generation_seconds_ += generation_seconds;
  if (generation_seconds > 0)
    last_generation_tok_s_ = double(generated_tokens) / generation_seconds;
}

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double v) {
  char line[96];
  std::snprintf(line, sizeof line, "%.9g", v);
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + line + "\n";
}

}  // namespace

std::string Metrics::render(size_t waiting, bool processing, int64_t n_ctx) const {
  std::lock_guard lock(mu_);
  std::string o;
  metric(o, "kt_requests_total", "counter", "API requests received.", double(requests_));
  metric(o, "kt_requests_failed_total", "counter", "Requests answered with an error.",
         double(failed_));
  metric(o, "kt_requests_rejected_total", "counter", "Requests refused because the queue was full.",
         double(rejected_));
  metric(o, "kt_requests_cancelled_total", "counter",
         "Generations stopped because the client disconnected.", double(cancelled_));
  metric(o, "kt_generations_total", "counter", "Generations run.", double(generations_));
  metric(o, "kt_prompt_tokens_total", "counter", "Prompt tokens of all requests.",
         double(prompt_tokens_));
  metric(o, "kt_prompt_tokens_cached_total", "counter",
         "Prompt tokens reused from the KV cache instead of evaluated.", double(cached_tokens_));
  metric(o, "kt_prompt_seconds_total", "counter", "Time spent evaluating prompts.",
         prompt_seconds_);
  metric(o, "kt_tokens_predicted_total", "counter", "Generated tokens.", double(generated_tokens_));
  metric(o, "kt_tokens_predicted_seconds_total", "counter", "Time spent generating tokens.",
         generation_seconds_);
  const double evaluated = double(prompt_tokens_ - cached_tokens_);
  metric(o, "kt_prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
         prompt_seconds_ > 0 ? evaluated / prompt_seconds_ : 0.0);
  metric(o, "kt_predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s.",
         generation_seconds_ > 0 ? double(generated_tokens_) / generation_seconds_ : 0.0);
  metric(o, "kt_last_predicted_tokens_seconds", "gauge",
         "Generation throughput of the last request in tokens/s.", last_generation_tok_s_);
  metric(o, "kt_requests_processing", "gauge", "Requests generating now.", processing ? 1.0 : 0.0);
  metric(o, "kt_requests_deferred", "gauge", "Requests waiting in the queue (queue depth).",
         double(waiting));
  metric(o, "kt_n_ctx", "gauge", "Context size in tokens.", double(n_ctx));
  return o;
}

}  // namespace kt::server
