#pragma once
// Errors a request can cause, with the HTTP status and OpenAI error type they are answered
// with: {"error":{"message","type","param","code"}} for the OpenAI routes, {"error":"message"}
// for Ollama's.
#include <stdexcept>
#include <string>

namespace kt::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string type, const std::string& message, std::string param = "")
      : std::runtime_error(message),
        status(status),
        type(std::move(type)),
        param(std::move(param)) {}
  int status;
  std::string type;   // invalid_request_error, authentication_error, not_found_error, ...
  std::string param;  // the request field at fault, if one is
};

inline ApiError bad_request(const std::string& message, std::string param = "") {
  return ApiError(400, "invalid_request_error", message, std::move(param));
}

}  // namespace kt::server
