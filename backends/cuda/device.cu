#include <cuda_runtime.h>

#include "backends/cuda/device.h"
#include "tensor/error.h"

namespace kt::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  // Threads that wait for the GPU sleep instead of spinning: in a hybrid step every core runs
  // the CPU experts, and one spinning waiter stalls each of their parallel regions by a
  // scheduler slice (measured: decode 100x slower). The flag only takes before a device's
  // context exists, so it is set here, at the first question anyone asks the CUDA runtime.
  static const bool configured = [n] {
    for (int i = 0; i < n; ++i)
      if (cudaSetDevice(i) != cudaSuccess ||
          cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync) != cudaSuccess)
        cudaGetLastError();
    cudaSetDevice(0);
    return true;
  }();
  (void)configured;
  return n;
}

std::vector<DeviceInfo> devices() {
  std::vector<DeviceInfo> out;
  const int n = device_count();
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    check(cudaGetDeviceProperties(&p, i), "cudaGetDeviceProperties");
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.total_memory = p.totalGlobalMem;
    d.sm_major = p.major;
    d.sm_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    check(cudaSetDevice(i), "cudaSetDevice");
    size_t free_b = 0, total_b = 0;
    check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
    d.free_memory = free_b;
    out.push_back(d);
  }
  return out;
}

void check(int err, const char* what) {
  if (err != cudaSuccess)
    throw Error(std::string("CUDA error in ") + what + ": " +
                cudaGetErrorString(static_cast<cudaError_t>(err)));
}

}  // namespace kt::cuda
