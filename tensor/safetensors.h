#pragma once
// safetensors reader and writer. Layout: u64 little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}),
// then the data section; offsets are relative to its start. Files are memory-mapped and
// validated up front like GGUF (tensor/gguf.h).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/mapped_file.h"

namespace kt::tensor {

enum class StDType { BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2 };

const char* st_dtype_name(StDType t);  // as spelled in the header: "BF16", "F8_E4M3", ...
size_t st_dtype_size(StDType t);       // bytes per element
std::optional<StDType> st_dtype_from_name(std::string_view name);  // exact spelling
// The matching GGUF/ggml type where one exists (F32, F16, BF16, F64, I8..I64).
std::optional<DType> st_to_dtype(StDType t);

inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsTensor {
  std::string name;
  StDType dtype = StDType::F32;
  std::vector<int64_t> shape;  // as in the header: outermost dimension first (PyTorch order)
  uint64_t begin = 0;          // data_offsets, relative to the data section
  uint64_t end = 0;
  const uint8_t* data = nullptr;  // into the file; nullptr when the tensor is empty
  size_t nbytes() const { return size_t(end - begin); }
  int64_t n_elements() const;
};

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  static SafetensorsFile from_memory(std::string name, std::vector<uint8_t> bytes);

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

  const std::string& name() const { return name_; }
  size_t file_size() const { return size_; }
  size_t data_offset() const { return data_offset_; }  // 8 + header length
  // Tensors sorted by data offset (JSON object order carries no meaning).
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const SafetensorsTensor& tensor(std::string_view name) const;  // throws when absent
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse();

  std::string name_;
  std::unique_ptr<MappedFile> map_;
  std::vector<uint8_t> memory_;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  size_t data_offset_ = 0;
  std::vector<SafetensorsTensor> tensors_;
  std::unordered_map<std::string_view, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors back to back in insertion order; the header is padded with spaces to a
// multiple of 8 bytes so that the data section is aligned.
class SafetensorsWriter {
 public:
  void set_metadata(std::string key, std::string value);
  // `data` must hold exactly product(shape) * size(dtype) bytes and outlive write().
  void add_tensor(std::string name, StDType dtype, std::vector<int64_t> shape, const void* data,
                  size_t nbytes);
  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    StDType dtype;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
  };
  std::string header() const;
  std::map<std::string, std::string> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace kt::tensor
