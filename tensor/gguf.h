#pragma once
// GGUF reader: validates the whole container up front (every count, length and extent against
// the bytes that remain) and then hands out views into the memory-mapped file. Format: see
// shared/reference/gguf.md sections 1-3. Writing lives in gguf_writer.h.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/mapped_file.h"

namespace kt::tensor {

// Metadata value type ids as stored in the file (i32).
enum class GgufType : int32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

const char* gguf_type_name(GgufType t);        // "UINT32", ...; "?" for ids outside the enum
const char* gguf_type_short_name(GgufType t);  // "u32", "string", ... for listings
size_t gguf_type_size(GgufType t);             // bytes of one scalar; 0 for STRING and ARRAY
// `s` in double quotes on one line (control bytes escaped); cut after max_chars bytes with
// the full length appended: "abc..." (4116 bytes). Used for messages and listings.
std::string gguf_quote(std::string_view s, size_t max_chars = 120);

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint64_t kGgufMaxStringLength = uint64_t(1) << 30;
inline constexpr uint64_t kGgufMaxArrayElements = uint64_t(1) << 30;
inline constexpr size_t kGgufMaxTensorName = 63;  // ggml's GGML_MAX_NAME (64) less the NUL
inline constexpr int kGgufMaxDims = 4;

// One parsed key/value record. Pointers refer into the file's bytes.
struct GgufKv {
  std::string_view key;
  GgufType type = GgufType::UINT8;
  GgufType elem_type = GgufType::UINT8;   // ARRAY only
  uint64_t count = 1;                     // ARRAY: element count; scalars: 1
  const uint8_t* data = nullptr;          // scalar bytes, string bytes or first array element
  uint64_t size = 0;                      // STRING: byte length; numeric ARRAY: total bytes
  size_t offset = 0;                      // file offset of the record, for messages
  std::vector<std::string_view> strings;  // ARRAY of STRING: the elements
};

// A typed view of one metadata value. Getters convert only where no information is lost
// (any integer type to any other when the value fits; FLOAT32 to double) and otherwise throw
// kt::Error "FILE: key 'K' has type T, expected U". Cheap to copy; valid while the file lives.
class GgufValue {
 public:
  GgufValue(const GgufKv* kv, const std::string* file) : kv_(kv), file_(file) {}

  std::string_view key() const { return kv_->key; }
  GgufType type() const { return kv_->type; }
  bool is_array() const { return kv_->type == GgufType::ARRAY; }
  const GgufKv& record() const { return *kv_; }

  uint8_t as_u8() const;
  int8_t as_i8() const;
  uint16_t as_u16() const;
  int16_t as_i16() const;
  uint32_t as_u32() const;
  int32_t as_i32() const;
  uint64_t as_u64() const;
  int64_t as_i64() const;
  float as_f32() const;
  double as_f64() const;
  bool as_bool() const;
  std::string_view as_string() const;

  // Arrays. elem_type()/size() throw when the value is not an array.
  GgufType elem_type() const;
  uint64_t size() const;
  std::span<const std::string_view> as_strings() const;  // ARRAY of STRING only
  // Numeric arrays copied out with the same conversion rules as the scalar getters, element by
  // element (the file's elements may be unaligned).
  std::vector<uint32_t> as_u32_array() const;
  std::vector<int32_t> as_i32_array() const;
  std::vector<int64_t> as_i64_array() const;
  std::vector<float> as_f32_array() const;
  std::vector<uint8_t> as_u8_array() const;

  // Human-readable rendering used by `kt gguf`; arrays longer than max_elems are abbreviated
  // and strings longer than max_chars are cut with their length shown.
  std::string to_string(size_t max_elems = 8, size_t max_chars = 120) const;

 private:
  template <class T>
  T scalar_as(GgufType t, const uint8_t* p, const char* wanted) const;
  template <class T>
  std::vector<T> array_as(const char* wanted) const;
  [[noreturn]] void type_error(const char* wanted) const;
  [[noreturn]] void range_error(const char* wanted, const std::string& value) const;

  const GgufKv* kv_;
  const std::string* file_;
};

struct GgufTensorInfo {
  std::string_view name;
  DType type = DType::F32;
  uint32_t n_dims = 0;                    // as stored (0..4); trailing 1s may or may not be stored
  std::array<int64_t, 4> ne{1, 1, 1, 1};  // dims not stored are 1
  uint64_t offset = 0;                    // relative to the data section
  size_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the file; nullptr only when nbytes is 0
  size_t info_offset = 0;         // file offset of the tensor-info record

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Memory-maps and validates `path`. Throws kt::Error "PATH: what is wrong (...)".
  static GgufFile open(const std::string& path);
  // Parses bytes held in memory (tests, fuzzing); `name` stands for the file in messages.
  static GgufFile from_memory(std::string name, std::vector<uint8_t> bytes);

  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;
  ~GgufFile();

  const std::string& name() const { return name_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }  // absolute start of the data section
  size_t file_size() const { return size_; }
  const uint8_t* file_data() const { return bytes_; }

  // Metadata, in file order.
  size_t kv_count() const { return kvs_.size(); }
  GgufValue kv(size_t i) const { return GgufValue(&kvs_.at(i), &name_); }
  std::optional<GgufValue> find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key).has_value(); }
  // Throws when the key is missing or has an incompatible type.
  GgufValue get(std::string_view key) const;
  uint32_t get_u32(std::string_view key) const { return get(key).as_u32(); }
  int32_t get_i32(std::string_view key) const { return get(key).as_i32(); }
  uint64_t get_u64(std::string_view key) const { return get(key).as_u64(); }
  int64_t get_i64(std::string_view key) const { return get(key).as_i64(); }
  float get_f32(std::string_view key) const { return get(key).as_f32(); }
  double get_f64(std::string_view key) const { return get(key).as_f64(); }
  bool get_bool(std::string_view key) const { return get(key).as_bool(); }
  std::string_view get_string(std::string_view key) const { return get(key).as_string(); }
  GgufValue get_array(std::string_view key) const;
  std::span<const std::string_view> get_strings(std::string_view key) const {
    return get(key).as_strings();
  }
  // With defaults for absent keys (a present key of the wrong type still throws).
  uint32_t get_u32(std::string_view key, uint32_t def) const;
  int32_t get_i32(std::string_view key, int32_t def) const;
  float get_f32(std::string_view key, float def) const;
  bool get_bool(std::string_view key, bool def) const;
  std::string_view get_string(std::string_view key, std::string_view def) const;

  // Tensors, in tensor-info order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  const GgufTensorInfo& tensor(std::string_view name) const;  // throws when absent

 private:
  GgufFile() = default;
  void parse();

  std::string name_;
  std::unique_ptr<MappedFile> map_;  // one of map_ / memory_ holds the bytes
  std::vector<uint8_t> memory_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;

  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  size_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

// Split models: "<prefix>-00001-of-00003.gguf". Returns the path of split `no` (1-based).
std::string gguf_split_path(std::string_view prefix, int no, int count);
// All sibling split paths of `path` in order when its name follows the split pattern,
// otherwise just {path}. Does not touch the file system.
std::vector<std::string> gguf_split_paths(const std::string& path);

}  // namespace kt::tensor
