#include "frontends/server/generation_job.h"

#include <random>

#include "frontends/server/api_error.h"
#include "tensor/error.h"

namespace kt::server {

Turn wait_for_turn(ServerState& s, const std::string& client) {
  auto turn = std::make_shared<engine::FairQueue::Turn>();
  if (s.queue.acquire(client, turn.get()) != engine::FairQueue::Outcome::kGranted) {
    s.metrics.rejected();
    throw ApiError(503, "unavailable_error",
                   "the server is busy: " + std::to_string(s.queue.max_waiting()) +
                       " requests are already waiting; retry later");
  }
  return turn;
}

engine::GenerateResult run_generation(
    ServerState& s, const engine::GenerateRequest& req,
    const std::function<bool(const engine::GenerateChunk&)>& on_chunk) {
  engine::GenerateResult r;
  try {
    r = s.generator.run(req, on_chunk);
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  s.metrics.generation(r.prompt_tokens, r.cached_tokens, r.prefill_seconds, r.completion_tokens,
                       r.decode_seconds);
  if (r.finish_reason == "cancelled") s.metrics.cancelled();
  return r;
}

void check_prompt_and_limit(const ServerState& s, engine::GenerateRequest& req, int64_t requested) {
  const int64_t n = int64_t(req.prompt.size());
  if (n == 0) throw bad_request("the prompt is empty", "prompt");
  if (n > s.max_prompt_tokens()) {
    throw ApiError(400, "exceed_context_size_error",
                   "the prompt has " + std::to_string(n) + " tokens; this server accepts at most " +
                       std::to_string(s.max_prompt_tokens()) + " (context " +
                       std::to_string(s.opt.n_ctx) + ")");
  }
  int64_t limit = requested >= 0 ? requested : s.opt.max_new_tokens;
  if (s.opt.max_new_tokens >= 0 && limit > s.opt.max_new_tokens) limit = s.opt.max_new_tokens;
  req.max_tokens = limit;  // < 0: until the context is full
}

uint64_t random_seed() {
  static std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

}  // namespace kt::server
