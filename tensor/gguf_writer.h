#pragma once
// GGUF writer following the reference layout exactly: header, key/values in insertion order,
// tensor infos, zero padding to the alignment, then tensor data in info order, each padded with
// zeros to the alignment (shared/reference/gguf.md 1.5). Any reader, strict or tolerant, accepts
// its output.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/gguf.h"

namespace kt::tensor {

class GgufWriter {
 public:
  // Scalars. Setting a key again replaces its value in place (the key keeps its position).
  void set_u8(std::string_view key, uint8_t v);
  void set_i8(std::string_view key, int8_t v);
  void set_u16(std::string_view key, uint16_t v);
  void set_i16(std::string_view key, int16_t v);
  void set_u32(std::string_view key, uint32_t v);
  void set_i32(std::string_view key, int32_t v);
  void set_u64(std::string_view key, uint64_t v);
  void set_i64(std::string_view key, int64_t v);
  void set_f32(std::string_view key, float v);
  void set_f64(std::string_view key, double v);
  void set_bool(std::string_view key, bool v);
  void set_string(std::string_view key, std::string_view v);

  // Arrays. `data` holds `count` little-endian elements of the numeric type `elem`.
  void set_array(std::string_view key, GgufType elem, const void* data, size_t count);
  void set_array(std::string_view key, std::span<const uint8_t> v);
  void set_array(std::string_view key, std::span<const int32_t> v);
  void set_array(std::string_view key, std::span<const uint32_t> v);
  void set_array(std::string_view key, std::span<const int64_t> v);
  void set_array(std::string_view key, std::span<const float> v);
  void set_array(std::string_view key, std::span<const double> v);
  void set_strings(std::string_view key, std::span<const std::string> v);
  void set_strings(std::string_view key, std::span<const std::string_view> v);

  // Copies a key/value read from another file (any type, arrays of strings included) under
  // its own key.
  void copy_value(const GgufValue& v);

  // general.alignment (UINT32, non-zero power of two); data is laid out with it.
  void set_alignment(uint32_t alignment);
  // 3 by default; 2 has the same layout and exists for compatibility tests.
  void set_version(uint32_t version);

  // Adds a tensor with shape ne = {ne0, ne1, ...} (1 to 4 dims, stored as given). `data` must
  // hold exactly the tensor's bytes and stay alive until write()/to_bytes(); it is not copied.
  void add_tensor(std::string_view name, DType type, std::span<const int64_t> ne, const void* data,
                  size_t nbytes);
  void add_tensor(std::string_view name, DType type, std::initializer_list<int64_t> ne,
                  const void* data, size_t nbytes) {
    add_tensor(name, type, std::span<const int64_t>(ne.begin(), ne.size()), data, nbytes);
  }

  // Adds a tensor whose bytes are made when write()/to_bytes() reaches it: `produce` fills
  // exactly the tensor's bytes (the next tensor is made while this one is being written). At
  // most two tensors' bytes exist at a time, so files far bigger than memory (synthetic
  // models, conversions) stream straight to disk.
  using Producer = std::function<void(uint8_t* dst, size_t nbytes)>;
  void add_tensor(std::string_view name, DType type, std::span<const int64_t> ne, Producer produce);

  uint32_t alignment() const;
  size_t kv_count() const { return kvs_.size(); }
  size_t tensor_count() const { return tensors_.size(); }

  std::vector<uint8_t> to_bytes() const;
  // Writes the file; throws kt::Error naming the path when it cannot be written.
  void write(const std::string& path) const;
  // As write(), calling progress(bytes written, total bytes) after each tensor.
  void write(const std::string& path,
             const std::function<void(uint64_t done, uint64_t total)>& progress) const;

 private:
  struct Kv {
    std::string key;
    std::vector<uint8_t> value;  // type id followed by the encoded value
  };
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> ne;
    const void* data;
    size_t nbytes;
    Producer produce;  // set instead of data for tensors made at write time
  };
  // Checks name, shape and type; returns the bytes the tensor needs.
  size_t check_tensor(std::string_view name, DType type, std::span<const int64_t> ne) const;
  template <class Sink>
  void serialize(Sink&& sink,
                 const std::function<void(uint64_t, uint64_t)>* progress = nullptr) const;
  std::vector<uint8_t>& slot(std::string_view key);
  template <class T>
  void set_scalar(std::string_view key, GgufType type, T v);

  uint32_t version_ = 3;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace kt::tensor
