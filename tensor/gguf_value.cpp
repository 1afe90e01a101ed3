// Typed access to GGUF metadata values (GgufValue) and their human-readable rendering.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "tensor/error.h"
#include "tensor/gguf.h"

namespace kt::tensor {
namespace {

// Values in the map may sit at any byte offset, so they are copied out rather than cast.
template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string type_desc(const GgufKv& kv) {
  if (kv.type != GgufType::ARRAY) return gguf_type_name(kv.type);
  return std::string("ARRAY of ") + gguf_type_name(kv.elem_type);
}

}  // namespace

const char* gguf_type_short_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
      return "u8";
    case GgufType::INT8:
      return "i8";
    case GgufType::UINT16:
      return "u16";
    case GgufType::INT16:
      return "i16";
    case GgufType::UINT32:
      return "u32";
    case GgufType::INT32:
      return "i32";
    case GgufType::FLOAT32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::UINT64:
      return "u64";
    case GgufType::INT64:
      return "i64";
    case GgufType::FLOAT64:
      return "f64";
  }
  return "?";
}

namespace {

template <class F>
std::string float_text(F v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, r.ptr);
}

std::string scalar_text(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::UINT8:
      return std::to_string(load<uint8_t>(p));
    case GgufType::INT8:
      return std::to_string(load<int8_t>(p));
    case GgufType::UINT16:
      return std::to_string(load<uint16_t>(p));
    case GgufType::INT16:
      return std::to_string(load<int16_t>(p));
    case GgufType::UINT32:
      return std::to_string(load<uint32_t>(p));
    case GgufType::INT32:
      return std::to_string(load<int32_t>(p));
    case GgufType::UINT64:
      return std::to_string(load<uint64_t>(p));
    case GgufType::INT64:
      return std::to_string(load<int64_t>(p));
    case GgufType::FLOAT32:
      return float_text(load<float>(p));
    case GgufType::FLOAT64:
      return float_text(load<double>(p));
    case GgufType::BOOL:
      return load<uint8_t>(p) ? "true" : "false";
    default:
      return "?";
  }
}

}  // namespace

std::string gguf_quote(std::string_view s, size_t max_chars) {
  const bool cut = s.size() > max_chars;
  size_t n = cut ? max_chars : s.size();
  // Never cut a UTF-8 sequence in half: back up over continuation bytes.
  while (cut && n > 0 && (uint8_t(s[n]) & 0xC0) == 0x80) --n;
  std::string out = "\"";
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = s[i];
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += cut ? "...\"" : "\"";
  if (cut) out += " (" + std::to_string(s.size()) + " bytes)";
  return out;
}

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
      return "UINT8";
    case GgufType::INT8:
      return "INT8";
    case GgufType::UINT16:
      return "UINT16";
    case GgufType::INT16:
      return "INT16";
    case GgufType::UINT32:
      return "UINT32";
    case GgufType::INT32:
      return "INT32";
    case GgufType::FLOAT32:
      return "FLOAT32";
    case GgufType::BOOL:
      return "BOOL";
    case GgufType::STRING:
      return "STRING";
    case GgufType::ARRAY:
      return "ARRAY";
    case GgufType::UINT64:
      return "UINT64";
    case GgufType::INT64:
      return "INT64";
    case GgufType::FLOAT64:
      return "FLOAT64";
  }
  return "?";
}

size_t gguf_type_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL:
      return 1;
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::UINT64:
    case GgufType::INT64:
    case GgufType::FLOAT64:
      return 8;
    case GgufType::STRING:
    case GgufType::ARRAY:
      return 0;
  }
  return 0;
}

void GgufValue::type_error(const char* wanted) const {
  throw Error(*file_ + ": key " + gguf_quote(kv_->key, 80) + " has type " + type_desc(*kv_) +
              ", expected " + wanted);
}

void GgufValue::range_error(const char* wanted, const std::string& value) const {
  throw Error(*file_ + ": key " + gguf_quote(kv_->key, 80) + " value " + value +
              " does not fit in " + wanted + " (stored as " + type_desc(*kv_) + ")");
}

template <class T>
T GgufValue::scalar_as(GgufType t, const uint8_t* p, const char* wanted) const {
  if constexpr (std::is_same_v<T, bool>) {
    if (t == GgufType::BOOL) return load<uint8_t>(p) != 0;  // the format reads bools as != 0
  } else if constexpr (std::is_floating_point_v<T>) {
    if (t == GgufType::FLOAT32) return T(load<float>(p));
    if constexpr (std::is_same_v<T, double>) {
      if (t == GgufType::FLOAT64) return load<double>(p);
    }
  } else {
    // Integers convert between widths and signedness whenever the value itself fits: files
    // written by different converters disagree on e.g. UINT32 vs INT32 for the same key.
    auto fit = [&](auto v) -> T {
      if (!std::in_range<T>(v)) range_error(wanted, std::to_string(v));
      return T(v);
    };
    switch (t) {
      case GgufType::UINT8:
        return fit(load<uint8_t>(p));
      case GgufType::INT8:
        return fit(load<int8_t>(p));
      case GgufType::UINT16:
        return fit(load<uint16_t>(p));
      case GgufType::INT16:
        return fit(load<int16_t>(p));
      case GgufType::UINT32:
        return fit(load<uint32_t>(p));
      case GgufType::INT32:
        return fit(load<int32_t>(p));
      case GgufType::UINT64:
        return fit(load<uint64_t>(p));
      case GgufType::INT64:
        return fit(load<int64_t>(p));
      default:
        break;
    }
  }
  type_error(wanted);
}

uint8_t GgufValue::as_u8() const {
  return scalar_as<uint8_t>(kv_->type, kv_->data, "UINT8");
}
int8_t GgufValue::as_i8() const {
  return scalar_as<int8_t>(kv_->type, kv_->data, "INT8");
}
uint16_t GgufValue::as_u16() const {
  return scalar_as<uint16_t>(kv_->type, kv_->data, "UINT16");
}
int16_t GgufValue::as_i16() const {
  return scalar_as<int16_t>(kv_->type, kv_->data, "INT16");
}
uint32_t GgufValue::as_u32() const {
  return scalar_as<uint32_t>(kv_->type, kv_->data, "UINT32");
}
int32_t GgufValue::as_i32() const {
  return scalar_as<int32_t>(kv_->type, kv_->data, "INT32");
}
uint64_t GgufValue::as_u64() const {
  return scalar_as<uint64_t>(kv_->type, kv_->data, "UINT64");
}
int64_t GgufValue::as_i64() const {
  return scalar_as<int64_t>(kv_->type, kv_->data, "INT64");
}
float GgufValue::as_f32() const {
  return scalar_as<float>(kv_->type, kv_->data, "FLOAT32");
}
double GgufValue::as_f64() const {
  return scalar_as<double>(kv_->type, kv_->data, "FLOAT64");
}
bool GgufValue::as_bool() const {
  return scalar_as<bool>(kv_->type, kv_->data, "BOOL");
}

std::string_view GgufValue::as_string() const {
  if (kv_->type != GgufType::STRING) type_error("STRING");
  return {reinterpret_cast<const char*>(kv_->data), size_t(kv_->size)};
}

GgufType GgufValue::elem_type() const {
  if (!is_array()) type_error("ARRAY");
  return kv_->elem_type;
}

uint64_t GgufValue::size() const {
  if (!is_array()) type_error("ARRAY");
  return kv_->count;
}

std::span<const std::string_view> GgufValue::as_strings() const {
  if (!is_array() || kv_->elem_type != GgufType::STRING) type_error("ARRAY of STRING");
  return kv_->strings;
}

template <class T>
std::vector<T> GgufValue::array_as(const char* wanted) const {
  if (!is_array() || kv_->elem_type == GgufType::STRING) type_error(wanted);
  const size_t esz = gguf_type_size(kv_->elem_type);
  std::vector<T> out;
  out.reserve(kv_->count);
  for (uint64_t i = 0; i < kv_->count; ++i) {
    out.push_back(scalar_as<T>(kv_->elem_type, kv_->data + i * esz, wanted));
  }
  return out;
}

std::vector<uint32_t> GgufValue::as_u32_array() const {
  return array_as<uint32_t>("ARRAY of UINT32");
}
std::vector<int32_t> GgufValue::as_i32_array() const {
  return array_as<int32_t>("ARRAY of INT32");
}
std::vector<int64_t> GgufValue::as_i64_array() const {
  return array_as<int64_t>("ARRAY of INT64");
}
std::vector<float> GgufValue::as_f32_array() const {
  return array_as<float>("ARRAY of FLOAT32");
}
std::vector<uint8_t> GgufValue::as_u8_array() const {
  return array_as<uint8_t>("ARRAY of UINT8");
}

std::string GgufValue::to_string(size_t max_elems, size_t max_chars) const {
  const GgufKv& kv = *kv_;
  if (kv.type == GgufType::STRING) return gguf_quote(as_string(), max_chars);
  if (kv.type != GgufType::ARRAY) return scalar_text(kv.type, kv.data);

  std::string out = "[";
  out += std::to_string(kv.count);
  out += " x ";
  out += gguf_type_short_name(kv.elem_type);
  out += "] [";
  const uint64_t shown = std::min<uint64_t>(kv.count, max_elems);
  const size_t esz = gguf_type_size(kv.elem_type);
  for (uint64_t i = 0; i < shown; ++i) {
    if (i) out += ", ";
    out += kv.elem_type == GgufType::STRING ? gguf_quote(kv.strings[i], max_chars)
                                            : scalar_text(kv.elem_type, kv.data + i * esz);
  }
  if (shown < kv.count) out += ", ... ";
  out += "]";
  return out;
}

}  // namespace kt::tensor
