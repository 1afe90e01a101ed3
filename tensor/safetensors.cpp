#include "tensor/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "tensor/gguf.h"  // gguf_quote

namespace kt::tensor {
namespace {

using nlohmann::json;

struct StTypeInfo {
  StDType type;
  const char* name;
  size_t size;
};

constexpr StTypeInfo kStTypes[] = {
    {StDType::BOOL, "BOOL", 1}, {StDType::U8, "U8", 1},           {StDType::I8, "I8", 1},
    {StDType::I16, "I16", 2},   {StDType::I32, "I32", 4},         {StDType::I64, "I64", 8},
    {StDType::F16, "F16", 2},   {StDType::BF16, "BF16", 2},       {StDType::F32, "F32", 4},
    {StDType::F64, "F64", 8},   {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E5M2, "F8_E5M2", 1},
};

std::string q(std::string_view s) {
  return gguf_quote(s, 80);
}

}  // namespace

const char* st_dtype_name(StDType t) {
  return kStTypes[int(t)].name;
}
size_t st_dtype_size(StDType t) {
  return kStTypes[int(t)].size;
}

std::optional<StDType> st_dtype_from_name(std::string_view name) {
  for (const StTypeInfo& i : kStTypes) {
    if (name == i.name) return i.type;
  }
  return std::nullopt;
}

std::optional<DType> st_to_dtype(StDType t) {
  switch (t) {
    case StDType::F32:
      return DType::F32;
    case StDType::F16:
      return DType::F16;
    case StDType::BF16:
      return DType::BF16;
    case StDType::F64:
      return DType::F64;
    case StDType::I8:
      return DType::I8;
    case StDType::I16:
      return DType::I16;
    case StDType::I32:
      return DType::I32;
    case StDType::I64:
      return DType::I64;
    default:
      return std::nullopt;
  }
}

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.name_ = path;
  f.map_ = std::make_unique<MappedFile>(MappedFile::open(path));
  f.bytes_ = f.map_->data();
  f.size_ = f.map_->size();
  f.parse();
  return f;
}

SafetensorsFile SafetensorsFile::from_memory(std::string name, std::vector<uint8_t> bytes) {
  SafetensorsFile f;
  f.name_ = std::move(name);
  f.memory_ = std::move(bytes);
  f.bytes_ = f.memory_.data();
  f.size_ = f.memory_.size();
  f.parse();
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

void SafetensorsFile::parse() {
  auto fail = [&](const std::string& what) -> void { throw Error(name_ + ": " + what); };
  if (size_ < 8) {
    fail("file truncated: " + std::to_string(size_) +
         " bytes, a safetensors file starts with an 8-byte header length");
  }
  uint64_t header_len;
  std::memcpy(&header_len, bytes_, 8);
  if (header_len > kSafetensorsMaxHeader) {
    fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
         std::to_string(kSafetensorsMaxHeader) + " bytes");
  }
  if (header_len > size_ - 8) {
    fail("file truncated: header length " + std::to_string(header_len) + " but only " +
         std::to_string(size_ - 8) + " bytes follow");
  }
  data_offset_ = 8 + size_t(header_len);
  const uint64_t data_size = size_ - data_offset_;

  // Duplicate names would silently keep the last entry; catch them while parsing.
  std::unordered_set<std::string> seen;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !seen.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  const auto* begin = reinterpret_cast<const char*>(bytes_ + 8);
  json header;
  try {
    header = json::parse(begin, begin + header_len, cb);
  } catch (const json::parse_error& e) {
    fail("header is not valid JSON (error at byte " + std::to_string(e.byte) + " of " +
         std::to_string(header_len) + ")");
  }
  if (!header.is_object()) fail("header is not a JSON object");
  if (!duplicate.empty()) fail("duplicate tensor " + q(duplicate) + " in the header");

  tensors_.reserve(header.size());
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (const auto& [mk, mv] : entry.items()) {
        if (!mv.is_string()) fail("__metadata__ value of " + q(mk) + " is not a string");
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor " + q(key) + ": ";
    if (!entry.is_object()) fail(where + "entry is not an object");
    SafetensorsTensor t;
    t.name = key;

    auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) fail(where + "missing or non-string \"dtype\"");
    const auto st = st_dtype_from_name(dt->get<std::string>());
    if (!st) fail(where + "unknown dtype " + q(dt->get<std::string>()));
    t.dtype = *st;

    auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) fail(where + "missing or non-array \"shape\"");
    uint64_t elems = 1;
    for (const json& d : *shape) {
      if (!d.is_number_unsigned()) fail(where + "shape entries must be non-negative integers");
      const uint64_t n = d.get<uint64_t>();
      if (n > uint64_t(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(elems, n, &elems)) {
        fail(where + "shape too large");
      }
      t.shape.push_back(int64_t(n));
    }
    uint64_t expected;
    if (__builtin_mul_overflow(elems, uint64_t(st_dtype_size(t.dtype)), &expected)) {
      fail(where + "shape too large");
    }

    auto offs = entry.find("data_offsets");
    if (offs == entry.end() || !offs->is_array() || offs->size() != 2 ||
        !(*offs)[0].is_number_unsigned() || !(*offs)[1].is_number_unsigned()) {
      fail(where + "\"data_offsets\" must be two non-negative integers");
    }
    t.begin = (*offs)[0].get<uint64_t>();
    t.end = (*offs)[1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size) {
      fail(where + "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
           "] out of range (data section is " + std::to_string(data_size) + " bytes)");
    }
    if (t.end - t.begin != expected) {
      fail(where + "data_offsets span " + std::to_string(t.end - t.begin) + " bytes, but " +
           st_dtype_name(t.dtype) + " of this shape needs " + std::to_string(expected));
    }
    t.data = t.end > t.begin ? bytes_ + data_offset_ + t.begin : nullptr;
    tensors_.push_back(std::move(t));
  }

  std::stable_sort(
      tensors_.begin(), tensors_.end(),
      [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.begin < b.begin; });
  const SafetensorsTensor* prev = nullptr;
  for (const SafetensorsTensor& t : tensors_) {
    if (t.begin == t.end) continue;
    if (prev && t.begin < prev->end) {
      fail("tensor " + q(t.name) + ": data [" + std::to_string(t.begin) + ", " +
           std::to_string(t.end) + ") overlaps tensor " + q(prev->name));
    }
    prev = &t;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const SafetensorsTensor& SafetensorsFile::tensor(std::string_view name) const {
  if (const SafetensorsTensor* t = find(name)) return *t;
  throw Error(name_ + ": no tensor named " + q(name));
}

// --- writer

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

void SafetensorsWriter::add_tensor(std::string name, StDType dtype, std::vector<int64_t> shape,
                                   const void* data, size_t nbytes) {
  const std::string what = "safetensors writer: tensor " + q(name) + ": ";
  if (name == "__metadata__" || name.empty()) throw Error(what + "invalid name");
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw Error(what + "added twice");
  }
  uint64_t elems = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(elems, uint64_t(d), &elems)) {
      throw Error(what + "bad shape");
    }
  }
  if (elems * st_dtype_size(dtype) != nbytes) {
    throw Error(what + std::to_string(nbytes) + " bytes of data, the shape needs " +
                std::to_string(elems * st_dtype_size(dtype)));
  }
  if (!data && nbytes) throw Error(what + "no data");
  tensors_.push_back({std::move(name), dtype, std::move(shape), data, nbytes});
}

std::string SafetensorsWriter::header() const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) h["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    h[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string s = h.dump();
  s.resize((s.size() + 7) / 8 * 8, ' ');  // spaces are valid JSON padding
  return s;
}

std::vector<uint8_t> SafetensorsWriter::to_bytes() const {
  const std::string h = header();
  size_t total = 8 + h.size();
  for (const Tensor& t : tensors_) total += t.nbytes;
  std::vector<uint8_t> out(total);
  const uint64_t len = h.size();
  std::memcpy(out.data(), &len, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  size_t at = 8 + h.size();
  for (const Tensor& t : tensors_) {
    if (t.nbytes) std::memcpy(out.data() + at, t.data, t.nbytes);
    at += t.nbytes;
  }
  return out;
}

void SafetensorsWriter::write(const std::string& path) const {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  const std::string h = header();
  const uint64_t len = h.size();
  bool ok = std::fwrite(&len, 8, 1, f.get()) == 1 &&
            std::fwrite(h.data(), 1, h.size(), f.get()) == h.size();
  for (const Tensor& t : tensors_) {
    ok = ok && (t.nbytes == 0 || std::fwrite(t.data, 1, t.nbytes, f.get()) == t.nbytes);
  }
  if (std::fclose(f.release()) != 0 || !ok) {
    throw Error(path + ": write failed: " + std::strerror(errno));
  }
}

}  // namespace kt::tensor
