#include "backends/cuda/exec.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "backends/cuda/device.h"
#include "backends/cuda/exec_program.h"
#include "backends/cuda/memory.h"
#include "tensor/error.h"

namespace kt::cuda {

using tensor::Graph;
using tensor::Node;
using tensor::NodeId;
using tensor::Op;
using tensor::Tensor;

namespace {

// FNV-1a over everything a Program depends on: ops, wiring, shapes, parameters, weights and
// the device tensors passed in — but not the position, which kernels read from device memory
// (so CacheAppend's key count and every pos_offset are left out).
class Hasher {
 public:
  template <class T>
  void add(const T& v) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    for (size_t i = 0; i < sizeof(T); ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 1469598103934665603ull;
};

uint64_t signature(const Graph& g, const std::map<NodeId, Tensor>& inputs,
                   std::span<const NodeId> outputs) {
  Hasher h;
  h.add(g.size());
  for (const Node& n : g.nodes()) {
    h.add(n.op);
    h.add(n.dtype);
    h.add(n.device);
    h.add(n.variant);
    h.add(n.stream_weights);
    const size_t dims = n.op == Op::CacheAppend ? 2 : n.shape.size();
    for (size_t i = 0; i < dims; ++i) h.add(n.shape[i]);
    for (NodeId in : n.inputs) h.add(in);
    h.add(n.eps);
    h.add(n.scalar);
    h.add(n.k);
    h.add(n.window);
    h.add(n.v_dim);
    h.add(n.offset);
    h.add(n.rope.n_rot);
    h.add(n.rope.freq_base);
    h.add(n.rope.freq_scale);
    h.add(n.rope.pairing);
    h.add(n.rope.ext_factor);
    h.add(n.rope.attn_factor);
    h.add(n.routing.k);
    h.add(n.routing.gating);
    h.add(n.routing.n_group);
    h.add(n.routing.n_group_used);
    h.add(n.routing.scale);
    if (n.op == Op::Weight) h.add(n.weight.data());
  }
  for (const auto& [id, t] : inputs) {
    h.add(id);
    if (t.device().is_cuda() || g.node(id).op == Op::Input) h.add(t.device());
    if (t.device().is_cuda()) h.add(t.data());
  }
  for (NodeId o : outputs) h.add(o);
  return h.value();
}

}  // namespace

WeightForm weight_form(const Node& consumer, size_t operand) {
  if (operand == 0 && (consumer.op == Op::MatMul || consumer.op == Op::MatMulExperts ||
                       consumer.op == Op::MatMulHeads || consumer.op == Op::GetRows))
    return WeightForm::Raw;
  return WeightForm::F32;
}

HybridExecutor::HybridExecutor(ExecOptions opt) : opt_(opt), weights_(opt.device) {
  if (device_count() <= opt.device)
    throw Error("no CUDA device cuda:" + std::to_string(opt.device) + " (" +
                std::to_string(device_count()) + " found); use a CPU rule file");
  // The thread that waits for a step must sleep, not spin: during a hybrid step every core is
  // running the CPU experts, and a spinning waiter slows them all (measured: 100x). Only
  // possible before the device's context exists; later it is left as it is.
  if (cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync) != cudaSuccess) cudaGetLastError();
  check(cudaSetDevice(opt.device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&main_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasCreate(&cublas_) == CUBLAS_STATUS_SUCCESS ? 0 : 1, "cublasCreate");
  cublasSetStream(cublas_, main_);
  // cuBLAS inside a captured graph must not allocate: give it its own workspace.
  constexpr size_t kCublasWorkspace = 32u << 20;
  cublas_ws_ = device_alloc(kCublasWorkspace, opt.device, "cuBLAS workspace");
  cublasSetWorkspace(cublas_, cublas_ws_.get(), kCublasWorkspace);
  d_pos_ = device_alloc(sizeof(int32_t), opt.device, "step position");
  check(cudaMallocHost(reinterpret_cast<void**>(&h_pos_), sizeof(int32_t)), "cudaMallocHost");
}

void HybridExecutor::stream_to_device(void* dst, const void* src, size_t bytes) {
  if (!ring_[0].data())
    for (int i = 0; i < kRingSlots; ++i) {
      ring_[i] = pinned_empty(tensor::DType::I8, {int64_t(kRingChunk)});
      check(cudaEventCreateWithFlags(&ring_done_[i], cudaEventDisableTiming), "cudaEventCreate");
    }
  for (size_t done = 0; done < bytes; done += kRingChunk) {
    const size_t n = std::min(kRingChunk, bytes - done);
    const int slot = ring_next_;
    ring_next_ = (ring_next_ + 1) % kRingSlots;
    check(cudaEventSynchronize(ring_done_[slot]), "cudaEventSynchronize (weight streaming)");
    char* to = static_cast<char*>(ring_[slot].data());
    const char* from = static_cast<const char*>(src) + done;
    constexpr size_t kPiece = size_t(1) << 20;
    if (!copy_pool_) copy_pool_ = std::make_unique<cpu::ThreadPool>(kCopyThreads);
    {
      copy_pool_->parallel_for(
          int64_t((n + kPiece - 1) / kPiece), 1, [&](int64_t b, int64_t e, int) {
            const size_t lo = size_t(b) * kPiece, hi = std::min(n, size_t(e) * kPiece);
            std::memcpy(to + lo, from + lo, hi - lo);
          });
    }
    check(cudaMemcpyAsync(static_cast<char*>(dst) + done, to, n, cudaMemcpyHostToDevice, main_),
          "cudaMemcpyAsync (weight streaming)");
    check(cudaEventRecord(ring_done_[slot], main_), "cudaEventRecord");
  }
}

HybridExecutor::~HybridExecutor() {
  if (main_) cudaStreamSynchronize(main_);
  for (cudaEvent_t e : ring_done_)
    if (e) cudaEventDestroy(e);
  if (side_) cudaStreamSynchronize(side_);
  programs_.clear();
  if (cublas_) cublasDestroy(cublas_);
  if (h_pos_) cudaFreeHost(h_pos_);
  if (main_) cudaStreamDestroy(main_);
  if (side_) cudaStreamDestroy(side_);
}

void HybridExecutor::set_options(const ExecOptions& opt) {
  if (opt.device != opt_.device) throw Error("HybridExecutor: the device cannot change");
  opt_ = opt;
}

size_t HybridExecutor::arena_bytes() const {
  size_t b = 0;
  for (const auto& [sig, p] : programs_) b += p->arena_bytes;
  return b;
}

void HybridExecutor::drop_graphs() {
  for (auto& [sig, p] : programs_)
    if (p->graph_exec) {
      cudaGraphExecDestroy(p->graph_exec);
      p->graph_exec = nullptr;
    }
}

void HybridExecutor::ensure_workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return;
  check(cudaStreamSynchronize(main_), "cudaStreamSynchronize");
  drop_graphs();  // they hold the old address
  workspace_.reset();
  workspace_ = device_alloc(bytes, opt_.device, "kernel workspace");
  workspace_bytes_ = bytes;
}

Program& HybridExecutor::program_for(const Graph& g, const std::map<NodeId, Tensor>& inputs,
                                     std::span<const NodeId> outputs, bool keep_on_device) {
  const uint64_t sig = signature(g, inputs, outputs) ^ (keep_on_device ? 0x9e3779b97f4a7c15ull : 0);
  auto it = programs_.find(sig);
  if (it != programs_.end()) return *it->second;
  // Prefill programs of other lengths are dropped beyond a few: their arenas are large.
  constexpr size_t kMaxPrograms = 8;
  if (programs_.size() >= kMaxPrograms) {
    check(cudaStreamSynchronize(main_), "cudaStreamSynchronize");
    for (auto p = programs_.begin(); p != programs_.end();)
      p = p->second->capturable ? std::next(p) : programs_.erase(p);
  }
  auto prog = std::make_unique<Program>(*this, g, inputs, outputs, sig, keep_on_device);
  ensure_workspace(prog->workspace_need);
  return *programs_.emplace(sig, std::move(prog)).first->second;
}

std::vector<Tensor> HybridExecutor::run(const Graph& g, const std::map<NodeId, Tensor>& inputs,
                                        std::span<const NodeId> outputs, cpu::ThreadPool& pool) {
  return run_step(g, inputs, outputs, pool, false);
}

std::vector<Tensor> HybridExecutor::run_keep_on_device(const Graph& g,
                                                       const std::map<NodeId, Tensor>& inputs,
                                                       std::span<const NodeId> outputs,
                                                       cpu::ThreadPool& pool) {
  return run_step(g, inputs, outputs, pool, true);
}

std::vector<Tensor> HybridExecutor::run_step(const Graph& g, const std::map<NodeId, Tensor>& inputs,
                                             std::span<const NodeId> outputs, cpu::ThreadPool& pool,
                                             bool keep_on_device) {
  const auto t0 = std::chrono::steady_clock::now();
  pool_ = &pool;
  check(cudaSetDevice(opt_.device), "cudaSetDevice");
  Program& p = program_for(g, inputs, outputs, keep_on_device);
  p.bind(g, inputs);
  const bool profile = opt_.profile;
  // Replay a captured decode step; capture it on its second run (the first one warms up
  // cuBLAS and lazily loaded kernels, which must not happen during a capture).
  const bool use_graph = opt_.cuda_graphs && !profile && p.capturable;
  profile_.graph_replay = false;
  if (use_graph && !p.graph_exec && p.runs >= 1) {
    cudaGraph_t graph = nullptr;
    check(cudaStreamBeginCapture(main_, cudaStreamCaptureModeThreadLocal),
          "cudaStreamBeginCapture");
    try {
      p.enqueue(false);
    } catch (...) {
      cudaStreamEndCapture(main_, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    check(cudaStreamEndCapture(main_, &graph), "cudaStreamEndCapture");
    const cudaError_t err = cudaGraphInstantiate(&p.graph_exec, graph, 0);
    cudaGraphDestroy(graph);
    check(err, "cudaGraphInstantiate");
  }
  if (use_graph && p.graph_exec) {
    check(cudaGraphLaunch(p.graph_exec, main_), "cudaGraphLaunch");
    profile_.graph_replay = true;
  } else {
    p.enqueue(profile);
  }
  check(cudaStreamSynchronize(main_), "step (cudaStreamSynchronize)");
  ++p.runs;
  p.finish(profile_, profile);
  std::vector<Tensor> out = p.outputs();
  profile_.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

void HybridExecutor::upload_weights(const Graph& g, const Progress& progress) {
  // Weight nodes that GPU nodes read, with the form each reader needs.
  struct Item {
    const Node* w;
    WeightForm form;
  };
  std::vector<Item> items;
  size_t total = 0;
  for (const Node& n : g.nodes()) {
    if (!n.device.is_cuda()) continue;
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const Node& w = g.node(n.inputs[j]);
      if (w.op != Op::Weight) continue;
      if (n.stream_weights && weight_form(n, j) == WeightForm::Raw) continue;  // stays in RAM
      const bool marlin = n.op == Op::MatMul && j == 0 && n.variant == tensor::OpVariant::Marlin &&
                          tensor::type_traits(w.weight.dtype()).is_quantized &&
                          marlin_supported(w.weight.ne(0), w.weight.ne(1), 128);
      items.push_back({&w, marlin ? WeightForm::Marlin : weight_form(n, j)});
      total += w.weight.nbytes();
    }
  }
  size_t done = 0;
  for (const Item& it : items) {
    if (it.form == WeightForm::Marlin)
      weights_.marlin(it.w->weight, it.w->name, main_);
    else
      weights_.get(it.w->weight, it.form, it.w->name, main_);
    done += it.w->weight.nbytes();
    if (progress) progress(done, total);
  }
}

}  // namespace kt::cuda
