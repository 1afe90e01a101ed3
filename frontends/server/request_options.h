#pragma once
// Sampling and stopping settings from a request: OpenAI's top-level fields (and llama.cpp's
// extras: top_k, min_p, repeat_penalty, ignore_eos) or Ollama's `options` object. Absent fields
// keep llama.cpp's server defaults; a request without a seed gets a random one.
#include "engine/generator.h"
#include "frontends/server/json_fields.h"

namespace kt::server {

// Fills req.sampler, req.stop and req.ignore_eos from an OpenAI request body.
void openai_sampling(const json& body, engine::GenerateRequest& req);
// The same from Ollama's options object (temperature, top_k, top_p, min_p, seed,
// repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, stop); num_predict is
// returned (-1 when absent). Unknown keys are ignored as Ollama does.
int64_t ollama_sampling(const json& options, engine::GenerateRequest& req);

}  // namespace kt::server
