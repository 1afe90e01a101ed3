#pragma once
// Small helpers shared by the route files: JSON answers, the two error dialects, the client
// key the fair queue uses, and SSE/NDJSON writing into a chunked response.
#include <httplib.h>

#include <string>

#include "frontends/server/api_error.h"
#include "frontends/server/json_fields.h"

namespace kt::server {

// Model text may end inside a UTF-8 character or hold invalid bytes: replace them (U+FFFD)
// rather than fail to serialize.
inline std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

// {"error":{"message","type","param","code"}} as OpenAI and llama.cpp answer.
json openai_error_body(const ApiError& e);
// {"error":"message"} as Ollama answers.
json ollama_error_body(const ApiError& e);

void send_openai_error(httplib::Response& res, const ApiError& e);
void send_ollama_error(httplib::Response& res, const ApiError& e);

// Who is asking, for fairness between clients: the API key's holder when keys are in use
// would all look alike, so the peer address (and port-less) identifies a client.
std::string client_key(const httplib::Request& req);

// Writes text to a chunked response; false when the client has gone.
inline bool write_all(httplib::DataSink& sink, const std::string& s) {
  return sink.write(s.data(), s.size());
}
inline bool write_sse(httplib::DataSink& sink, const json& j) {
  return write_all(sink, "data: " + dump(j) + "\n\n");
}

}  // namespace kt::server
