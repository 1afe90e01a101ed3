#pragma once
// Route groups, each in its own file, registered by Server.
#include <httplib.h>

#include <cstdint>

#include "frontends/server/server_state.h"

namespace kt::server {

void add_openai_routes(httplib::Server& http, ServerState& s);  // openai_routes.cpp
void add_ollama_routes(httplib::Server& http, ServerState& s);  // ollama_routes.cpp
// /health, /metrics, /tokenize, /detokenize, /apply-template, /props (ops_routes.cpp)
void add_ops_routes(httplib::Server& http, ServerState& s);
void add_web_routes(httplib::Server& http);  // the chat UI at /web (web_routes.cpp)

// Parameters of all weights (elements of every tensor over all splits).
uint64_t model_parameter_count(const engine::Model& m);
// "7.2B", "270M": the size label Ollama shows.
std::string parameter_size_label(uint64_t n);
// The weight type most of the parameters have ("Q4_K", "F16"), or the GGUF file type name.
std::string quantization_label(const engine::Model& m);

}  // namespace kt::server
