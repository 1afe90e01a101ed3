#pragma once
// Where a tensor lives or an operation runs: the CPU or a numbered CUDA device.
#include <string>
#include <string_view>

namespace kt::tensor {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;

  // "cpu", "cuda:0" (the spelling of KTransformers' rule files).
  std::string str() const;
  // Accepts "cpu", "cuda", "cuda:N"; throws kt::Error naming the text otherwise.
  static Device parse(std::string_view text);
};

}  // namespace kt::tensor
