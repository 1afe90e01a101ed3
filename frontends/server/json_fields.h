#pragma once
// Typed reading of request bodies: each getter names the field and what was wrong with it
// ("'temperature' must be a number between 0 and 2, got \"hot\""), as an ApiError 400.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kt::server {

using json = nlohmann::ordered_json;

// Parses a request body that must be a JSON object.
json parse_body(const std::string& body);

std::optional<double> get_number(const json& o, const char* key, double lo, double hi);
std::optional<int64_t> get_int(const json& o, const char* key, int64_t lo, int64_t hi);
std::optional<bool> get_bool(const json& o, const char* key);
std::optional<std::string> get_string(const json& o, const char* key);
// A string or a list of strings (OpenAI's `stop`); at most `most` of them.
std::vector<std::string> get_string_list(const json& o, const char* key, size_t most);
// An array (absent or null -> nullopt).
std::optional<json> get_array(const json& o, const char* key);
std::optional<json> get_object(const json& o, const char* key);

std::string type_name(const json& v);  // for messages: "a string", "an array", ...

}  // namespace kt::server
