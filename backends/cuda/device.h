#pragma once
// CUDA device discovery. Safe to call on machines without a GPU or driver: it reports zero
// devices instead of failing.
#include <string>
#include <vector>

namespace kt::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  size_t total_memory = 0;  // bytes
  size_t free_memory = 0;   // bytes
  int sm_major = 0, sm_minor = 0;
  int multiprocessors = 0;
};

// Number of usable CUDA devices; 0 when there is no driver or no GPU.
int device_count();
std::vector<DeviceInfo> devices();

// Throws kt::Error naming the CUDA call and its error string when err is not success.
void check(int err, const char* what);

}  // namespace kt::cuda
