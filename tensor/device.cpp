#include "tensor/device.h"

#include <charconv>

#include "tensor/error.h"

namespace kt::tensor {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device Device::parse(std::string_view text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.starts_with("cuda:")) {
    std::string_view num = text.substr(5);
    int idx = -1;
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), idx);
    if (ec == std::errc() && ptr == num.data() + num.size() && idx >= 0) return cuda(idx);
  }
  throw Error("unknown device \"" + std::string(text) + "\" (expected cpu, cuda or cuda:N)");
}

}  // namespace kt::tensor
