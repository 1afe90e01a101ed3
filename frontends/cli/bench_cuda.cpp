#include "frontends/cli/bench_cuda.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tensor/error.h"

#if KT_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backends/cuda/device.h"
#include "backends/cuda/marlin.h"
#include "backends/cuda/memory.h"
#include "tensor/fp16.h"
#include "tensor/tensor.h"
#endif

namespace kt::cli {

#if KT_HAVE_CUDA
namespace {

struct LayerShape {
  const char* name;
  int64_t k, n;
};

// Real layers: DeepSeek-V2-Lite, Qwen3-30B-A3B, and a Llama/Mistral-sized MLP pair.
const LayerShape kShapes[] = {
    {"V2-Lite q_proj", 2048, 3072},         {"V2-Lite kv_a_proj", 2048, 576},
    {"V2-Lite dense up/gate", 2048, 10944}, {"V2-Lite dense down", 10944, 2048},
    {"V2-Lite expert down", 1408, 2048},    {"Qwen3-30B q_proj", 2048, 4096},
    {"MLP up 4096x14336", 4096, 14336},     {"MLP down 14336x4096", 14336, 4096},
};

constexpr size_t kWorkingSet = size_t(256) << 20;  // > the H100's 50 MB L2, several times

void check_blas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string(what) + " failed: cuBLAS status " + std::to_string(int(s)));
}

int copies_for(size_t bytes) {
  return int(std::clamp<size_t>((kWorkingSet + bytes - 1) / bytes, 1, 64));
}

// Median microseconds per call of fn(i), over `samples` runs of `calls` back-to-back calls
// (i counts the calls, so fn can cycle through weight copies), after a warm-up run. With
// `graph`, the calls are captured once and each run replays the CUDA graph, as kt's decode
// steps do: launch overheads of the host then no longer hide the kernels' own time.
template <typename Fn>
double time_us(cudaStream_t stream, int samples, int calls, bool graph, Fn fn) {
  for (int c = 0; c < calls; ++c) fn(c);
  cuda::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  cudaGraphExec_t exec = nullptr;
  if (graph) {
    cudaGraph_t g = nullptr;
    cuda::check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                "cudaStreamBeginCapture");
    try {
      for (int c = 0; c < calls; ++c) fn(c);
    } catch (...) {
      cudaStreamEndCapture(stream, &g);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      throw;
    }
    cuda::check(cudaStreamEndCapture(stream, &g), "cudaStreamEndCapture");
    const cudaError_t err = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    cuda::check(err, "cudaGraphInstantiate");
  }
  auto run = [&] {
    if (exec)
      cuda::check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
    else
      for (int c = 0; c < calls; ++c) fn(c);
  };
  run();
  cudaEvent_t start, stop;
  cuda::check(cudaEventCreate(&start), "cudaEventCreate");
  cuda::check(cudaEventCreate(&stop), "cudaEventCreate");
  std::vector<double> t;
  for (int s = 0; s < samples; ++s) {
    cuda::check(cudaEventRecord(start, stream), "cudaEventRecord");
    run();
    cuda::check(cudaEventRecord(stop, stream), "cudaEventRecord");
    cuda::check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    cuda::check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    t.push_back(double(ms) * 1e3 / calls);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  if (exec) cudaGraphExecDestroy(exec);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Graph-replayed time, or -1 (with a note on stderr) when the calls cannot be captured.
template <typename Fn>
double graph_us(cudaStream_t stream, int samples, int calls, Fn fn) {
  try {
    return time_us(stream, samples, calls, true, fn);
  } catch (const Error& e) {
    std::fprintf(stderr, "note: CUDA graph timing failed (%s)\n", e.what());
    return -1;
  }
}

std::shared_ptr<void> device_copy(const std::shared_ptr<void>& src, size_t bytes) {
  std::shared_ptr<void> dst = cuda::device_alloc(bytes, 0, "bench weight copy");
  cuda::check(cudaMemcpy(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy");
  return dst;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

nlohmann::json run_bench_cuda(const BenchCudaOptions& opt) {
  if (cuda::device_count() == 0) throw Error("kt bench ops --cuda: no CUDA device");
  cuda::check(cudaSetDevice(0), "cudaSetDevice");
  cudaDeviceProp prop{};
  cuda::check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cudaStream_t stream = nullptr;
  cuda::check(cudaStreamCreate(&stream), "cudaStreamCreate");
  cublasHandle_t blas = nullptr;
  check_blas(cublasCreate(&blas), "cublasCreate");
  check_blas(cublasSetStream(blas, stream), "cublasSetStream");
  // Its own workspace, so that cuBLAS allocates nothing while a graph is being captured.
  const size_t blas_ws_bytes = size_t(32) << 20;
  std::shared_ptr<void> blas_ws = cuda::device_alloc(blas_ws_bytes, 0, "cuBLAS workspace");
  check_blas(cublasSetWorkspace(blas, blas_ws.get(), blas_ws_bytes), "cublasSetWorkspace");

  std::vector<LayerShape> shapes(std::begin(kShapes), std::end(kShapes));
  std::vector<int64_t> batches = {1, 2, 4, 8, 16, 32, 64};
  if (opt.quick) {
    shapes = {kShapes[1], kShapes[3]};
    batches = {1, 16, 64};
  }
  const int64_t max_t = *std::max_element(batches.begin(), batches.end());
  const int samples = std::max(opt.reps, 5) * 3;

  nlohmann::json doc;
  doc["device"] = prop.name;
  doc["config"] = {{"working_set_bytes", kWorkingSet}, {"samples", samples}};
  if (!opt.json) {
    std::printf(
        "device: %s; Marlin int4 (FP16 scales) vs cuBLAS FP16 GEMM (FP32 accumulate), "
        "weights cycled over %zu MiB; median of %d samples; us per call replayed in a "
        "CUDA graph (eager: launched one by one)\n",
        prop.name, kWorkingSet >> 20, samples);
    std::printf("%-22s %11s %3s %9s %9s %7s %11s %11s %9s %9s %7s\n", "layer", "K x N", "T",
                "marlin us", "cublas us", "speedup", "marlin GB/s", "cublas GB/s", "eager m",
                "eager c", "eager x");
  }

  nlohmann::json results = nlohmann::json::array();
  for (const LayerShape& s : shapes) {
    const int group = s.k % 128 == 0 ? 128 : 64;
    std::vector<float> w(size_t(s.k * s.n));
    std::mt19937 rng(uint32_t(s.k * 31 + s.n));
    std::normal_distribution<float> dist(0.0f, 0.02f);
    for (float& v : w) v = dist(rng);
    std::vector<uint16_t> w16(w.size());
    for (size_t i = 0; i < w.size(); ++i) w16[i] = tensor::fp32_to_fp16(w[i]);

    const tensor::Tensor host =
        tensor::Tensor::wrap(tensor::DType::F32, {s.k, s.n}, w.data(), tensor::Device::cpu());
    std::vector<cuda::MarlinWeight> mw = {cuda::marlin_repack(host, group, stream)};
    const size_t qbytes = size_t(s.k * s.n / 2), sbytes = size_t(s.k / group * s.n * 2);
    for (int c = 1; c < copies_for(mw[0].bytes()); ++c) {
      cuda::MarlinWeight m = mw[0];
      m.qweight = device_copy(mw[0].qweight, qbytes);
      m.scales = device_copy(mw[0].scales, sbytes);
      mw.push_back(m);
    }
    const size_t fbytes = w16.size() * 2;
    std::vector<std::shared_ptr<void>> fw = {cuda::device_alloc(fbytes, 0, "bench FP16 weight")};
    cuda::check(cudaMemcpy(fw[0].get(), w16.data(), fbytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    for (int c = 1; c < copies_for(fbytes); ++c) fw.push_back(device_copy(fw[0], fbytes));

    std::vector<uint16_t> a16(size_t(s.k * max_t));
    for (auto& v : a16) v = tensor::fp32_to_fp16(dist(rng) * 50.0f);
    std::shared_ptr<void> a = cuda::device_alloc(a16.size() * 2, 0, "bench activations");
    cuda::check(cudaMemcpy(a.get(), a16.data(), a16.size() * 2, cudaMemcpyHostToDevice),
                "cudaMemcpy");
    std::shared_ptr<void> c = cuda::device_alloc(size_t(s.n * max_t) * 2, 0, "bench output");
    size_t ws_bytes = 0;
    for (int64_t t : batches)
      ws_bytes = std::max(ws_bytes, cuda::marlin_gemm_f16_workspace_bytes(mw[0], t));
    std::shared_ptr<void> ws = cuda::device_alloc(std::max<size_t>(ws_bytes, 1), 0, "bench ws");

    for (int64_t t : batches) {
      const int mcalls = std::max<int>(int(mw.size()), 8);
      auto marlin = [&](int i) {
        cuda::marlin_gemm_f16(mw[size_t(i) % mw.size()], a.get(), c.get(), t, ws.get(), ws_bytes,
                              stream);
      };
      const float alpha = 1.0f, beta = 0.0f;
      const int fcalls = std::max<int>(int(fw.size()), 8);
      auto cublas = [&](int i) {
        check_blas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(s.n), int(t), int(s.k), &alpha,
                                fw[size_t(i) % fw.size()].get(), CUDA_R_16F, int(s.k), a.get(),
                                CUDA_R_16F, int(s.k), &beta, c.get(), CUDA_R_16F, int(s.n),
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx");
      };
      const double marlin_eager = time_us(stream, samples, mcalls, false, marlin);
      const double cublas_eager = time_us(stream, samples, fcalls, false, cublas);
      double marlin_us = graph_us(stream, samples, mcalls, marlin);
      double cublas_us = graph_us(stream, samples, fcalls, cublas);
      if (marlin_us < 0 || cublas_us < 0) marlin_us = marlin_eager, cublas_us = cublas_eager;
      const double marlin_gbs = double(mw[0].bytes()) / marlin_us / 1e3;
      const double cublas_gbs = double(fbytes) / cublas_us / 1e3;
      const std::string kn = std::to_string(s.k) + "x" + std::to_string(s.n);
      results.push_back({{"layer", s.name},
                         {"k", s.k},
                         {"n", s.n},
                         {"tokens", t},
                         {"group", group},
                         {"marlin_us", marlin_us},
                         {"cublas_us", cublas_us},
                         {"speedup", cublas_us / marlin_us},
                         {"marlin_weight_gb_s", marlin_gbs},
                         {"cublas_weight_gb_s", cublas_gbs},
                         {"marlin_eager_us", marlin_eager},
                         {"cublas_eager_us", cublas_eager}});
      if (!opt.json)
        std::printf("%-22s %11s %3lld %9s %9s %6sx %11s %11s %9s %9s %6sx\n", s.name, kn.c_str(),
                    (long long)t, fmt("%.1f", marlin_us).c_str(), fmt("%.1f", cublas_us).c_str(),
                    fmt("%.2f", cublas_us / marlin_us).c_str(), fmt("%.0f", marlin_gbs).c_str(),
                    fmt("%.0f", cublas_gbs).c_str(), fmt("%.1f", marlin_eager).c_str(),
                    fmt("%.1f", cublas_eager).c_str(),
                    fmt("%.2f", cublas_eager / marlin_eager).c_str());
      std::fflush(stdout);
    }
  }
  cublasDestroy(blas);
  cudaStreamDestroy(stream);
  doc["results"] = results;
  if (opt.json) std::printf("%s\n", doc.dump(2).c_str());
  return doc;
}

#else

nlohmann::json run_bench_cuda(const BenchCudaOptions&) {
  throw Error("kt bench ops --cuda: this kt was built without CUDA");
}

#endif

}  // namespace kt::cli
