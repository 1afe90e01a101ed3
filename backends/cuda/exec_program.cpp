#include "backends/cuda/exec_program.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "backends/cuda/device.h"
#include "backends/cuda/exec_launch.h"
#include "backends/cuda/matmul.h"
#include "backends/cuda/memory.h"
#include "tensor/error.h"

namespace kt::cuda {

using tensor::DType;
using tensor::Graph;
using tensor::Node;
using tensor::NodeId;
using tensor::Op;
using tensor::Tensor;

namespace {

constexpr size_t kAlign = 256;

size_t value_bytes(const Node& n) {
  const size_t elem = n.dtype == DType::I32 ? 4 : tensor::row_size(n.dtype, 1);
  return (size_t(tensor::numel(n.shape)) * elem + kAlign - 1) / kAlign * kAlign;
}

[[noreturn]] void fail(const Node& n, NodeId id, const std::string& why) {
  throw Error(std::string(tensor::op_name(n.op)) + " %" + std::to_string(id) +
              (n.name.empty() ? "" : " '" + n.name + "'") + ": " + why);
}

// An Input that CacheAppend writes into: a persistent cache, passed through, never staged.
bool is_cache_input(const Graph& g, NodeId id) {
  for (const Node& n : g.nodes())
    if (n.op == Op::CacheAppend && n.inputs[0] == id) return true;
  return false;
}

// First-fit allocator over offsets of a virtual arena; the peak is the arena's size.
class OffsetAllocator {
 public:
  int64_t alloc(size_t bytes) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < bytes) continue;
      const int64_t off = it->first;
      const size_t left = it->second - bytes;
      free_.erase(it);
      if (left) free_[off + int64_t(bytes)] = left;
      return off;
    }
    // Grow: extend a free block that ends at the top, if there is one.
    int64_t off = int64_t(top_);
    if (!free_.empty()) {
      auto last = std::prev(free_.end());
      if (size_t(last->first) + last->second == top_) {
        off = last->first;
        free_.erase(last);
      }
    }
    top_ = size_t(off) + bytes;
    return off;
  }
  void release(int64_t off, size_t bytes) {
    auto [it, ok] = free_.emplace(off, bytes);
    auto next = std::next(it);
    if (next != free_.end() && it->first + int64_t(it->second) == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + int64_t(prev->second) == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  size_t peak() const { return top_; }

 private:
  std::map<int64_t, size_t> free_;
  size_t top_ = 0;
};

// A MatMul a rule gave to Marlin, with a weight whose shape its tiles take (others keep the
// GGUF-block kernels).
// Float weights (MoE routers, DeepSeek's kv_b) keep their precision: 4 bits would move the
// router's choices.
bool uses_marlin(const Graph& g, const Node& n) {
  if (n.op != Op::MatMul || n.variant != tensor::OpVariant::Marlin) return false;
  const Tensor& w = g.node(n.inputs[0]).weight;
  return tensor::type_traits(w.dtype()).is_quantized && marlin_supported(w.ne(0), w.ne(1), 128);
}

void host_function(void* user) {
  auto* s = static_cast<Segment*>(user);
  s->program->run_segment(*s);
}

}  // namespace

Program::Program(HybridExecutor& exec, const Graph& g, const std::map<NodeId, Tensor>& inputs,
                 std::span<const NodeId> outputs, uint64_t sig, bool keep_on_device)
    : signature(sig),
      exec_(exec),
      g_(&g),
      outputs_(outputs.begin(), outputs.end()),
      keep_on_device_(keep_on_device) {
  compile(inputs);
}

Program::~Program() {
  if (graph_exec) cudaGraphExecDestroy(graph_exec);
  for (auto& s : segments_)
    for (cudaEvent_t e : {s->fork, s->done, s->wait_begin, s->wait_end})
      if (e) cudaEventDestroy(e);
  for (auto& [a, b] : node_events_) {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  for (auto& [a, b] : copy_events_) {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
}

void Program::compile(const std::map<NodeId, Tensor>& inputs) {
  const Graph& g = *g_;
  const size_t N = g.size();
  const int dev = exec_.opt_.device;
  where_.assign(N, Where::Host);
  dval_.assign(N, Tensor());
  hval_.assign(N, Tensor());
  arena_off_.assign(N, -1);
  operands_.assign(N, {});
  segment_of_.assign(N, -1);

  // 1. Where every value lives, and the CPU segments.
  for (size_t i = 0; i < N; ++i) {
    const NodeId id = NodeId(i);
    const Node& n = g.node(id);
    if (n.op == Op::Input) {
      auto it = inputs.find(id);
      if (it == inputs.end()) fail(n, id, "no value supplied for this input");
      const Tensor& t = it->second;
      if (t.dtype() != n.dtype || t.numel() != tensor::numel(n.shape) || !t.is_contiguous())
        fail(n, id,
             "supplied " + t.str() + ", expected contiguous " + tensor::dtype_name(n.dtype) + " " +
                 tensor::shape_str(n.shape));
      if (t.device().is_cuda()) {
        where_[i] = Where::Device;
        dval_[i] = t;
      } else if (is_cache_input(g, id)) {
        hval_[i] = t;  // a CPU-placed layer's cache: used in place
      } else {
        host_inputs_.push_back(id);
        hval_[i] = pinned_empty(n.dtype, n.shape);
      }
      continue;
    }
    if (n.op == Op::Weight) continue;  // host tensor; device forms come from the WeightStore
    if (n.device.is_cuda()) {
      if (n.device.index != dev)
        fail(n, id,
             "placed on " + n.device.str() + " but this executor drives cuda:" +
                 std::to_string(dev) + " (several GPUs need issue 9's executor)");
      where_[i] = Where::Device;
      continue;
    }
    // A CPU node joins the segment of the CPU nodes before it (Inputs and Weights between
    // them do not break it), or opens one.
    bool extend = !segments_.empty();
    if (extend)
      for (NodeId j = segments_.back()->nodes.back() + 1; j < id; ++j)
        if (g.node(j).op != Op::Input && g.node(j).op != Op::Weight) extend = false;
    if (!extend) {
      segments_.push_back(std::make_unique<Segment>());
      segments_.back()->first = id;
      segments_.back()->program = this;
    }
    segments_.back()->nodes.push_back(id);
    segment_of_[i] = int(segments_.size()) - 1;
  }

  // 2. Segment boundaries: what each reads from outside, what GPU nodes read from it.
  std::set<NodeId> requested(outputs_.begin(), outputs_.end());
  for (size_t si = 0; si < segments_.size(); ++si) {
    Segment& s = *segments_[si];
    std::set<NodeId> ext, out;
    for (NodeId id : s.nodes)
      for (NodeId in : g.node(id).inputs)
        if (segment_of_[size_t(in)] != int(si) && g.node(in).op != Op::Weight) ext.insert(in);
    s.ext.assign(ext.begin(), ext.end());
    for (size_t i = 0; i < N; ++i) {
      if (where_[i] != Where::Device || g.node(NodeId(i)).op == Op::Input) continue;
      for (NodeId in : g.node(NodeId(i)).inputs)
        if (segment_of_[size_t(in)] == int(si)) {
          out.insert(in);
          if (s.join < 0) s.join = NodeId(i);
        }
    }
    s.to_device.assign(out.begin(), out.end());
    for (NodeId e : s.ext)  // device values the CPU reads: staged in pinned memory
      if (where_[size_t(e)] == Where::Device && hval_[size_t(e)].data() == nullptr)
        hval_[size_t(e)] = pinned_empty(g.node(e).dtype, g.node(e).shape);
    for (NodeId o : s.to_device) hval_[size_t(o)] = pinned_empty(g.node(o).dtype, g.node(o).shape);
    for (cudaEvent_t* e : {&s.fork, &s.done, &s.wait_begin, &s.wait_end})
      check(cudaEventCreate(e), "cudaEventCreate");
  }
  // Host inputs that GPU nodes read get a device copy, refreshed at the start of every step.
  for (NodeId id : host_inputs_) {
    bool gpu_reader = false;
    for (size_t i = 0; i < N; ++i)
      if (where_[i] == Where::Device && g.node(NodeId(i)).op != Op::Input)
        for (NodeId in : g.node(NodeId(i)).inputs) gpu_reader |= in == id;
    if (gpu_reader) {
      inputs_to_device_.push_back(id);
      dval_[size_t(id)] = device_empty(g.node(id).dtype, g.node(id).shape, dev, "step inputs");
    }
  }

  // 3. The device arena (sizes and offsets), then the views into it.
  plan_arena();

  // 4. Operands of GPU nodes, the scratch they need, the actions of a step.
  cudaStream_t stream = exec_.main_;
  size_t ws = 0;
  size_t staging_bytes = 0;
  streamed_.assign(N, {});
  for (size_t i = 0; i < N; ++i) {
    const Node& n = g.node(NodeId(i));
    if (where_[i] != Where::Device || !n.stream_weights) continue;
    size_t bytes = 0;
    for (NodeId in : n.inputs)
      if (g.node(in).op == Op::Weight)
        bytes += (g.node(in).weight.nbytes() + kAlign - 1) / kAlign * kAlign;
    staging_bytes = std::max(staging_bytes, bytes);
  }
  if (staging_bytes)
    staging_ = device_alloc(staging_bytes, dev, "streamed weights of a prefill step");
  for (size_t i = 0; i < N; ++i) {
    const NodeId id = NodeId(i);
    const Node& n = g.node(id);
    if (where_[i] != Where::Device || n.op == Op::Input) continue;
    std::vector<Tensor>& ops = operands_[i];
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const Node& src = g.node(n.inputs[j]);
      if (src.op == Op::Weight && n.stream_weights && weight_form(n, j) == WeightForm::Raw) {
        size_t off = 0;
        for (const StreamedCopy& c : streamed_[i]) off += (c.bytes + kAlign - 1) / kAlign * kAlign;
        const Tensor& w = src.weight;
        if (!w.is_contiguous()) fail(n, id, "a streamed weight must be contiguous");
        streamed_[i].push_back({w.data(), w.nbytes()});
        ops.push_back(Tensor::wrap(
            w.dtype(), tensor::Shape(w.shape().begin(), w.shape().begin() + w.n_dims()),
            static_cast<char*>(staging_.get()) + off, tensor::Device::cuda(dev), staging_));
      } else if (src.op == Op::Weight) {
        if (j == 0 && uses_marlin(g, n)) {
          ops.push_back(src.weight);  // not read: the Marlin form is fetched at launch
          exec_.weights_.marlin(src.weight, src.name, stream);
        } else {
          ops.push_back(exec_.weights_.get(src.weight, weight_form(n, j), src.name, stream));
        }
      } else {
        const Tensor& v = dval_[size_t(n.inputs[j])];
        if (!v.defined() || v.data() == nullptr)
          fail(n, id, "operand %" + std::to_string(n.inputs[j]) + " has no device value");
        ops.push_back(v);
      }
    }
    if (launches_kernel(n.op)) {
      const MarlinWeight* mw = nullptr;
      if (uses_marlin(g, n))
        mw = &exec_.weights_.marlin(g.node(n.inputs[0]).weight, g.node(n.inputs[0]).name, stream);
      ws = std::max(ws, node_workspace_bytes(n, ops, mw));
    }
  }
  workspace_need = ws;
  {
    std::vector<std::pair<const void*, size_t>> ranges;
    for (const auto& copies : streamed_)
      for (const StreamedCopy& c : copies) ranges.emplace_back(c.src, c.bytes);
    // Page-locking a memory-mapped file stalled the first prefill for minutes on the GPU
    // machine (8.5 GB of file pages); it stays opt-in until that is understood.
    static const bool pin = std::getenv("KT_PIN_STREAMED") != nullptr;
    if (pin && !ranges.empty()) exec_.weights_.pin_host(std::move(ranges));
  }
  for (size_t i = 0; i < N; ++i)
    gpu_experts_ |= where_[i] == Where::Device && g.node(NodeId(i)).op == Op::MatMulExperts;

  std::vector<bool> joined(segments_.size(), false);
  for (size_t i = 0; i < N; ++i) {
    const NodeId id = NodeId(i);
    if (segment_of_[i] >= 0 && segments_[size_t(segment_of_[i])]->first == id)
      actions_.push_back({ActionKind::Fork, segment_of_[i]});
    if (where_[i] != Where::Device || !launches_kernel(g.node(id).op)) continue;
    for (size_t s = 0; s < segments_.size(); ++s)
      if (segments_[s]->join == id && !joined[s]) {
        actions_.push_back({ActionKind::Join, int32_t(s)});
        joined[s] = true;
      }
    actions_.push_back({ActionKind::Launch, id});
  }
  for (size_t s = 0; s < segments_.size(); ++s)
    if (!joined[s]) actions_.push_back({ActionKind::Join, int32_t(s)});

  for (NodeId o : outputs_)
    if (where_[size_t(o)] == Where::Device && !keep_on_device_)
      out_host_.push_back(pinned_empty(g.node(o).dtype, g.node(o).shape));
    else
      out_host_.push_back(Tensor());

  // A single-token step (one position) is captured as a CUDA graph.
  const NodeId pos_in = g.find("positions");
  capturable = pos_in >= 0 && tensor::numel(g.node(pos_in).shape) == 1;
}

void Program::plan_arena() {
  const Graph& g = *g_;
  const size_t N = g.size();
  // The value whose buffer each device value is (views share their base's).
  std::vector<NodeId> root(N, -1);
  std::vector<NodeId> alloc_at(N, -1);
  for (size_t i = 0; i < N; ++i) {
    const Node& n = g.node(NodeId(i));
    if (where_[i] != Where::Device || n.op == Op::Input) continue;
    if (n.op == Op::Reshape || n.op == Op::Copy) {
      root[i] = root[size_t(n.inputs[0])];
    } else if (n.op != Op::CacheAppend) {
      root[i] = NodeId(i);
      alloc_at[i] = NodeId(i);
    }
  }
  for (auto& s : segments_)
    for (NodeId o : s->to_device) {
      root[size_t(o)] = o;
      alloc_at[size_t(o)] = s->first;
    }
  // Last reader of every buffer; values the CPU reads stay until the segment's join, values
  // asked for stay to the end.
  const NodeId end = NodeId(N);
  std::vector<NodeId> last(N, -1);
  for (size_t i = 0; i < N; ++i)
    for (NodeId in : g.node(NodeId(i)).inputs)
      if (root[size_t(in)] >= 0)
        last[size_t(root[size_t(in)])] = std::max(last[size_t(root[size_t(in)])], NodeId(i));
  for (auto& s : segments_)
    for (NodeId e : s->ext)
      if (root[size_t(e)] >= 0)
        last[size_t(root[size_t(e)])] =
            std::max(last[size_t(root[size_t(e)])], s->join >= 0 ? s->join : end);
  for (NodeId o : outputs_)
    if (root[size_t(o)] >= 0) last[size_t(root[size_t(o)])] = end;
  for (size_t i = 0; i < N; ++i)
    if (alloc_at[i] >= 0) last[i] = std::max(last[i], alloc_at[i]);

  std::vector<std::vector<NodeId>> allocs(N), frees(N);
  for (size_t i = 0; i < N; ++i) {
    if (alloc_at[i] < 0) continue;
    allocs[size_t(alloc_at[i])].push_back(NodeId(i));
    if (last[i] < end) frees[size_t(last[i])].push_back(NodeId(i));
  }
  OffsetAllocator a;
  for (size_t t = 0; t < N; ++t) {
    for (NodeId id : allocs[t]) arena_off_[size_t(id)] = a.alloc(value_bytes(g.node(id)));
    for (NodeId id : frees[t]) a.release(arena_off_[size_t(id)], value_bytes(g.node(id)));
  }
  arena_bytes = a.peak();
  arena_ = device_alloc(arena_bytes, exec_.opt_.device, "activations of a step");
  const tensor::Device d = tensor::Device::cuda(exec_.opt_.device);
  for (size_t i = 0; i < N; ++i) {
    const Node& n = g.node(NodeId(i));
    if (arena_off_[i] >= 0) {
      dval_[i] = Tensor::wrap(n.dtype, n.shape, static_cast<char*>(arena_.get()) + arena_off_[i], d,
                              arena_);
    } else if (where_[i] == Where::Device && (n.op == Op::Reshape || n.op == Op::Copy)) {
      const Tensor& base = dval_[size_t(n.inputs[0])];
      if (base.data() == nullptr) fail(n, NodeId(i), "its operand has no device value");
      dval_[i] = n.op == Op::Copy ? base : base.reshape(n.shape);
    } else if (where_[i] == Where::Device && n.op == Op::CacheAppend) {
      // The whole cache: attention reads *d_pos + T rows of it.
      const Tensor& cache = dval_[size_t(n.inputs[0])];
      if (cache.data() == nullptr)
        fail(n, NodeId(i), "its cache is not on the GPU (the Session allocates it there)");
      const int64_t row = n.shape[0] * n.shape[1];
      dval_[i] = cache.reshape({n.shape[0], n.shape[1], cache.numel() / row});
    }
  }
}

void Program::build_sub(Segment& s) {
  const Graph& g = *g_;
  s.sub = Graph();
  s.sub_id.clear();
  for (NodeId e : s.ext) {
    const Node& n = g.node(e);
    s.sub_id[e] = s.sub.input(n.name.empty() ? "%" + std::to_string(e) : n.name, n.dtype, n.shape);
  }
  std::vector<tensor::Node> nodes;
  for (NodeId id : s.nodes) {
    Node n = g.node(id);
    for (NodeId& in : n.inputs) {
      auto it = s.sub_id.find(in);
      if (it == s.sub_id.end()) {  // a weight
        const Node& w = g.node(in);
        const NodeId wid = s.sub.weight(w.name, w.weight);
        s.sub_id[in] = wid;
        in = wid;
      } else {
        in = it->second;
      }
    }
    n.device = tensor::Device::cpu();
    // Appended as is: the builders' checks passed when the step graph was built.
    s.sub_id[id] = NodeId(s.sub.size());
    s.sub.append(std::move(n));
  }
}

void Program::bind(const Graph& g, const std::map<NodeId, Tensor>& inputs) {
  g_ = &g;
  for (NodeId id : host_inputs_) {
    const Tensor& t = inputs.at(id);
    std::memcpy(hval_[size_t(id)].data(), t.data(), t.nbytes());
  }
  for (auto& s : segments_) build_sub(*s);
  pos = 0;
  for (const Node& n : g.nodes())
    if (n.op == Op::CacheAppend) {
      pos = int32_t(n.pos_offset);
      break;
    }
  *exec_.h_pos_ = pos;
}

void Program::run_segment(Segment& s) {
  const auto t0 = std::chrono::steady_clock::now();
  static const bool trace = std::getenv("KT_EXEC_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "kt exec: CPU segment at %%%d (%zu nodes) starts\n", s.first,
                 s.nodes.size());
  try {
    std::map<NodeId, Tensor> in;
    for (NodeId e : s.ext) {
      const int seg = segment_of_[size_t(e)];
      if (seg >= 0) {
        const Segment& from = *segments_[size_t(seg)];
        in[s.sub_id.at(e)] = from.values[size_t(from.sub_id.at(e))];
      } else {
        in[s.sub_id.at(e)] = hval_[size_t(e)];
      }
    }
    s.values = cpu::GraphExecutor(*exec_.pool_).run(s.sub, in);
    for (NodeId o : s.to_device) {
      const Tensor& v = s.values[size_t(s.sub_id.at(o))];
      std::memcpy(hval_[size_t(o)].data(), v.data(), v.nbytes());
    }
  } catch (const std::exception& e) {
    s.error = e.what();
    for (NodeId o : s.to_device) std::memset(hval_[size_t(o)].data(), 0, hval_[size_t(o)].nbytes());
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (trace)
    std::fprintf(stderr, "kt exec: CPU segment at %%%d done in %.3f ms%s%s\n", s.first,
                 1e3 * s.seconds, s.error.empty() ? "" : ": ", s.error.c_str());
}

void Program::launch(NodeId id, bool profile) {
  const Node& n = g_->node(id);
  LaunchContext ctx;
  ctx.stream = exec_.main_;
  ctx.cublas = exec_.cublas_;
  ctx.d_pos = static_cast<const int32_t*>(exec_.d_pos_.get());
  ctx.workspace = exec_.workspace_.get();
  ctx.workspace_bytes = exec_.workspace_bytes_;
  const MarlinWeight* mw = nullptr;
  if (uses_marlin(*g_, n))
    mw = &exec_.weights_.marlin(g_->node(n.inputs[0]).weight, g_->node(n.inputs[0]).name,
                                exec_.main_);
  std::pair<cudaEvent_t, cudaEvent_t> ev{};
  if (profile) {
    if (timed_nodes_.size() == node_events_.size()) {
      node_events_.emplace_back();
      check(cudaEventCreate(&node_events_.back().first), "cudaEventCreate");
      check(cudaEventCreate(&node_events_.back().second), "cudaEventCreate");
    }
    ev = node_events_[timed_nodes_.size()];
    timed_nodes_.push_back(id);
    cudaEventRecord(ev.first, exec_.main_);
  }
  {
    size_t off = 0;
    for (const StreamedCopy& c : streamed_[size_t(id)]) {
      exec_.stream_to_device(static_cast<char*>(staging_.get()) + off, c.src, c.bytes);
      off += (c.bytes + kAlign - 1) / kAlign * kAlign;
    }
  }
  try {
    launch_node(n, operands_[size_t(id)], dval_[size_t(id)], ctx, mw);
  } catch (const Error& e) {
    fail(n, id, e.what());
  }
  if (profile) cudaEventRecord(ev.second, exec_.main_);
}

void Program::enqueue(bool profile) {
  cudaStream_t main = exec_.main_, side = exec_.side_;
  timed_nodes_.clear();
  copy_events_used_ = 0;
  auto copy = [&](void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t st) {
    std::pair<cudaEvent_t, cudaEvent_t> ev{};
    if (profile) {
      if (copy_events_used_ == copy_events_.size()) {
        copy_events_.emplace_back();
        check(cudaEventCreate(&copy_events_.back().first), "cudaEventCreate");
        check(cudaEventCreate(&copy_events_.back().second), "cudaEventCreate");
      }
      ev = copy_events_[copy_events_used_++];
      cudaEventRecord(ev.first, st);
    }
    check(cudaMemcpyAsync(dst, src, bytes, kind, st), "cudaMemcpyAsync");
    if (profile) cudaEventRecord(ev.second, st);
  };
  copy(exec_.d_pos_.get(), exec_.h_pos_, sizeof(int32_t), cudaMemcpyHostToDevice, main);
  for (NodeId id : inputs_to_device_)
    copy(dval_[size_t(id)].data(), hval_[size_t(id)].data(), hval_[size_t(id)].nbytes(),
         cudaMemcpyHostToDevice, main);
  for (const Action& a : actions_) {
    switch (a.kind) {
      case ActionKind::Launch:
        launch(a.index, profile);
        break;
      case ActionKind::Fork: {
        Segment& s = *segments_[size_t(a.index)];
        check(cudaEventRecord(s.fork, main), "cudaEventRecord");
        check(cudaStreamWaitEvent(side, s.fork, 0), "cudaStreamWaitEvent");
        for (NodeId e : s.ext)
          if (where_[size_t(e)] == Where::Device)
            copy(hval_[size_t(e)].data(), dval_[size_t(e)].data(), hval_[size_t(e)].nbytes(),
                 cudaMemcpyDeviceToHost, side);
        check(cudaLaunchHostFunc(side, host_function, &s), "cudaLaunchHostFunc");
        for (NodeId o : s.to_device)
          copy(dval_[size_t(o)].data(), hval_[size_t(o)].data(), hval_[size_t(o)].nbytes(),
               cudaMemcpyHostToDevice, side);
        check(cudaEventRecord(s.done, side), "cudaEventRecord");
        break;
      }
      case ActionKind::Join: {
        Segment& s = *segments_[size_t(a.index)];
        if (profile) cudaEventRecord(s.wait_begin, main);
        check(cudaStreamWaitEvent(main, s.done, 0), "cudaStreamWaitEvent");
        if (profile) cudaEventRecord(s.wait_end, main);
        break;
      }
    }
  }
  for (size_t i = 0; i < outputs_.size(); ++i)
    if (out_host_[i].data())
      copy(out_host_[i].data(), dval_[size_t(outputs_[i])].data(), out_host_[i].nbytes(),
           cudaMemcpyDeviceToHost, main);
}

void Program::finish(StepProfile& prof, bool profile) {
  if (gpu_experts_ && take_expert_error(exec_.main_))
    throw Error("an MoE router chose an expert id outside the expert stack (rows left zero)");
  prof.cpu = 0;
  for (auto& s : segments_) {
    prof.cpu += s->seconds;
    if (!s->error.empty()) {
      std::string e = std::move(s->error);
      s->error.clear();
      throw Error("CPU part of the step: " + e);
    }
  }
  if (!profile) return;
  auto elapsed = [](const std::pair<cudaEvent_t, cudaEvent_t>& ev) {
    float ms = 0;
    cudaEventElapsedTime(&ms, ev.first, ev.second);
    return double(ms) / 1e3;
  };
  prof.by_op.clear();
  prof.gpu_kernels = 0;
  for (size_t i = 0; i < timed_nodes_.size(); ++i) {
    const Node& n = g_->node(timed_nodes_[i]);
    std::string key = tensor::op_name(n.op);
    if ((n.op == Op::MatMul || n.op == Op::MatMulExperts || n.op == Op::MatMulHeads) &&
        !n.inputs.empty())
      key += std::string(" ") + tensor::dtype_name(g_->node(n.inputs[0]).weight.dtype()) +
             (uses_marlin(*g_, n) ? " marlin" : "");
    const double t = elapsed(node_events_[i]);
    prof.by_op[key] += t;
    prof.gpu_kernels += t;
  }
  prof.transfers = 0;
  for (size_t i = 0; i < copy_events_used_; ++i) prof.transfers += elapsed(copy_events_[i]);
  prof.gpu_wait = 0;
  for (auto& s : segments_) {
    float ms = 0;
    if (cudaEventElapsedTime(&ms, s->wait_begin, s->wait_end) == cudaSuccess)
      prof.gpu_wait += ms / 1e3;
  }
}

std::vector<Tensor> Program::outputs() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const NodeId o = outputs_[i];
    const Node& n = g_->node(o);
    if (keep_on_device_ && where_[size_t(o)] == Where::Device) {
      out.push_back(dval_[size_t(o)]);
      continue;
    }
    Tensor t = Tensor::zeros(n.dtype, n.shape);
    const int seg = segment_of_[size_t(o)];
    const Tensor& src =
        out_host_[i].data()
            ? out_host_[i]
            : segments_[size_t(seg)]->values[size_t(segments_[size_t(seg)]->sub_id.at(o))];
    std::memcpy(t.data(), src.data(), t.nbytes());
    out.push_back(t);
  }
  return out;
}

}  // namespace kt::cuda
