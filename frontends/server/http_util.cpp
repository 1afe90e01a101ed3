#include "frontends/server/http_util.h"

namespace kt::server {

json openai_error_body(const ApiError& e) {
  json err = {{"message", e.what()}, {"type", e.type}};
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  err["code"] = e.status;
  return {{"error", err}};
}

json ollama_error_body(const ApiError& e) {
  return {{"error", e.what()}};
}

void send_openai_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status, openai_error_body(e));
  if (e.status == 503) res.set_header("Retry-After", "1");
}

void send_ollama_error(httplib::Response& res, const ApiError& e) {
  send_json(res, e.status, ollama_error_body(e));
  if (e.status == 503) res.set_header("Retry-After", "1");
}

std::string client_key(const httplib::Request& req) {
  return req.remote_addr;
}

}  // namespace kt::server
