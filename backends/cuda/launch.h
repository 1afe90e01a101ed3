#pragma once
// What every node kernel of the CUDA backend is launched with. The executor owns all of it:
// one stream per device for the GPU nodes, a cuBLAS handle bound to that stream, the step's
// scalars in device memory and one scratch buffer. Kernels read the step's position from
// d_pos rather than from the Node, so a captured CUDA graph replays for every decode step:
// only the contents of d_pos (and the inputs) change between steps, never an address.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace kt::cuda {

struct LaunchContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;  // bound to `stream`, with its own workspace set
  // Device int32: how many positions the KV caches held before this step (the graph's `pos`).
  // CacheAppend writes at row *d_pos; Attention sees *d_pos + T keys with query 0 at *d_pos.
  const int32_t* d_pos = nullptr;
  // Device scratch, the same address for every replay of a captured step. A kernel that needs
  // more than workspace_bytes throws kt::Error (the executor sizes it from *_workspace_bytes).
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

}  // namespace kt::cuda
