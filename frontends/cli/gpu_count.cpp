#include "frontends/cli/gpu_count.h"

#include <unistd.h>

#ifdef KT_HAVE_CUDA
#include "backends/cuda/device.h"
#include "backends/cuda/memory.h"
#endif

namespace kt::cli {

int cuda_gpu_count() {
#ifdef KT_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

std::vector<uint64_t> cuda_gpu_memory() {
  std::vector<uint64_t> out;
#ifdef KT_HAVE_CUDA
  for (const cuda::DeviceInfo& d : cuda::devices()) out.push_back(d.total_memory);
#endif
  return out;
}

double cuda_memory_bandwidth(int dev) {
#ifdef KT_HAVE_CUDA
  return cuda::measure_device_bandwidth(dev);
#else
  (void)dev;
  return 0;
#endif
}

uint64_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

}  // namespace kt::cli
