#include "frontends/server/json_fields.h"

#include <cmath>

#include "frontends/server/api_error.h"

namespace kt::server {

namespace {

std::string shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string range(double lo, double hi) {
  auto fmt = [](double x) {
    if (std::fabs(x) >= 1e15) return std::string(x < 0 ? "-inf" : "inf");
    std::string s = std::to_string(x);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return fmt(lo) + " and " + fmt(hi);
}

}  // namespace

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    default:
      return "a number";
  }
}

json parse_body(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw bad_request(std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object())
    throw bad_request("the request body must be a JSON object, got " + type_name(j));
  return j;
}

std::optional<double> get_number(const json& o, const char* key, double lo, double hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < lo ||
      it->get<double>() > hi)
    throw bad_request(std::string("'") + key + "' must be a number between " + range(lo, hi) +
                          ", got " + shown(*it),
                      key);
  return it->get<double>();
}

std::optional<int64_t> get_int(const json& o, const char* key, int64_t lo, int64_t hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  // 5.0 is accepted as 5 (JSON has one number type); 5.5 is not.
  const bool integral =
      it->is_number_integer() ||
      (it->is_number_float() && std::isfinite(it->get<double>()) &&
       std::floor(it->get<double>()) == it->get<double>() && std::fabs(it->get<double>()) < 9e15);
  if (!integral || (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)))
    throw bad_request(std::string("'") + key + "' must be an integer, got " + shown(*it), key);
  const int64_t v = it->is_number_float() ? int64_t(it->get<double>()) : it->get<int64_t>();
  if (v < lo || v > hi)
    throw bad_request(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                          std::to_string(hi) + ", got " + std::to_string(v),
                      key);
  return v;
}

std::optional<bool> get_bool(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean())
    throw bad_request(std::string("'") + key + "' must be true or false, got " + shown(*it), key);
  return it->get<bool>();
}

std::optional<std::string> get_string(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_string())
    throw bad_request(std::string("'") + key + "' must be a string, got " + type_name(*it), key);
  return it->get<std::string>();
}

std::vector<std::string> get_string_list(const json& o, const char* key, size_t most) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return {};
  if (it->is_string()) return {it->get<std::string>()};
  if (!it->is_array())
    throw bad_request(
        std::string("'") + key + "' must be a string or a list of strings, got " + type_name(*it),
        key);
  if (it->size() > most)
    throw bad_request(std::string("'") + key + "' holds " + std::to_string(it->size()) +
                          " entries; at most " + std::to_string(most) + " are allowed",
                      key);
  std::vector<std::string> out;
  for (const json& v : *it) {
    if (!v.is_string())
      throw bad_request(std::string("'") + key + "' must hold only strings, got " + type_name(v),
                        key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::optional<json> get_array(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_array())
    throw bad_request(std::string("'") + key + "' must be an array, got " + type_name(*it), key);
  return *it;
}

std::optional<json> get_object(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_object())
    throw bad_request(std::string("'") + key + "' must be an object, got " + type_name(*it), key);
  return *it;
}

}  // namespace kt::server
