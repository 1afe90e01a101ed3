#pragma once
// What the CLI needs to know of the GPUs: how many (to validate placement rules) and how much
// memory each has (for `kt plan`'s fit check). The only place the CLI asks the CUDA backend;
// none in builds without it.
#include <cstdint>
#include <vector>

namespace kt::cli {

int cuda_gpu_count();
std::vector<uint64_t> cuda_gpu_memory();  // total bytes per device, index = cuda:N
uint64_t host_memory_bytes();             // physical RAM
// Device-to-device copy bandwidth of cuda:dev in bytes/s (0 without CUDA).
double cuda_memory_bandwidth(int dev);

}  // namespace kt::cli
