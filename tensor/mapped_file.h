#pragma once
// A read-only memory map of a whole file. Model files are used in place (DESIGN.md: "weights
// stay where they are"), so readers hand out pointers into this map instead of copying.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace kt::tensor {

class MappedFile {
 public:
  // Maps `path` read-only. Throws kt::Error naming the file when it is missing, unreadable,
  // a directory or cannot be mapped. An empty file maps to size 0 and data nullptr.
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  void reset() noexcept;

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kt::tensor
