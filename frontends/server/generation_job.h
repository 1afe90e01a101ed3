#pragma once
// The common path of every generating route: wait for a turn in the fair queue (503 when it is
// full), run the generator, count the result in the metrics.
#include <functional>
#include <memory>
#include <string>

#include "engine/generator.h"
#include "engine/scheduler.h"
#include "frontends/server/server_state.h"

namespace kt::server {

using Turn = std::shared_ptr<engine::FairQueue::Turn>;

// Waits for the engine; throws ApiError 503 (queue full) naming the queue size.
Turn wait_for_turn(ServerState& s, const std::string& client);

// Runs req with the turn held. Errors from the engine (bad token, context) become ApiError 400.
engine::GenerateResult run_generation(
    ServerState& s, const engine::GenerateRequest& req,
    const std::function<bool(const engine::GenerateChunk&)>& on_chunk);

// Checks the prompt against the limits (400 exceed_context_size_error) and caps max_tokens:
// requested < 0 takes the server's default.
void check_prompt_and_limit(const ServerState& s, engine::GenerateRequest& req, int64_t requested);

// A seed for requests that give none: different every time, as OpenAI's default.
uint64_t random_seed();

}  // namespace kt::server
