#include "backends/cuda/exec_pipeline.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cstring>
#include <set>

#include "backends/cuda/device.h"
#include "backends/cuda/memory.h"
#include "tensor/error.h"

namespace kt::cuda {

using tensor::Graph;
using tensor::Node;
using tensor::NodeId;
using tensor::Op;
using tensor::Tensor;

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string(what) + ": " + cudaGetErrorString(e));
}

bool is_leaf(const Node& n) {
  return n.op == Op::Input || n.op == Op::Weight;
}

tensor::Shape shape_of(const Tensor& t) {
  return tensor::Shape(t.shape().begin(), t.shape().begin() + t.n_dims());
}

}  // namespace

std::vector<Stage> cut_into_stages(const Graph& g, std::span<const NodeId> wanted,
                                   const std::vector<int>& device_map) {
  const size_t N = g.size();
  auto physical = [&](const Node& n) {
    if (n.device.index < 0 || size_t(n.device.index) >= device_map.size())
      throw Error("node '" + n.name + "' is placed on " + n.device.str() + ", but only " +
                  std::to_string(device_map.size()) + " GPU(s) are in use");
    return device_map[size_t(n.device.index)];
  };
  // 1. The stage of every computing node: a new stage where a GPU node's device differs from
  // the current stage's. The stage records the logical device (GPU nodes keep their identity
  // across stages even when two logical devices share one physical GPU).
  std::vector<int> stage_of(N, -1);
  std::vector<int> logical;         // per stage
  std::vector<NodeId> pending_cpu;  // CPU nodes before the first GPU node
  for (size_t i = 0; i < N; ++i) {
    const Node& n = g.node(NodeId(i));
    if (is_leaf(n)) continue;
    if (n.device.is_cuda()) {
      physical(n);  // checks the index
      if (logical.empty() || logical.back() != n.device.index) logical.push_back(n.device.index);
      stage_of[i] = int(logical.size()) - 1;
      for (NodeId p : pending_cpu) stage_of[size_t(p)] = 0;
      pending_cpu.clear();
    } else if (logical.empty()) {
      pending_cpu.push_back(NodeId(i));
    } else {
      stage_of[i] = int(logical.size()) - 1;
    }
  }
  if (logical.empty()) throw Error("the step graph has no GPU node: nothing to run on a GPU");

  // 2. What each stage must hand out: values read by later stages, and the caller's outputs.
  std::vector<std::set<NodeId>> out_of(logical.size());
  for (size_t i = 0; i < N; ++i) {
    if (stage_of[i] < 0) continue;
    for (NodeId in : g.node(NodeId(i)).inputs)
      if (stage_of[size_t(in)] >= 0 && stage_of[size_t(in)] != stage_of[i])
        out_of[size_t(stage_of[size_t(in)])].insert(in);
  }
  for (NodeId w : wanted) {
    if (w < 0 || size_t(w) >= N) throw Error("output %" + std::to_string(w) + " does not exist");
    if (stage_of[size_t(w)] < 0)
      throw Error("output '" + g.node(w).name + "' is an input or a weight, not computed");
    out_of[size_t(stage_of[size_t(w)])].insert(w);
  }

  // 3. The sub-graphs, in graph order within each stage.
  std::vector<Stage> stages(logical.size());
  std::vector<std::map<NodeId, NodeId>> local(logical.size());  // original -> sub-graph id
  for (size_t s = 0; s < stages.size(); ++s) stages[s].device = device_map[size_t(logical[s])];
  for (size_t i = 0; i < N; ++i) {
    if (stage_of[i] < 0) continue;
    const size_t s = size_t(stage_of[i]);
    Stage& st = stages[s];
    Node n = g.node(NodeId(i));
    for (NodeId& in : n.inputs) {
      auto found = local[s].find(in);
      if (found != local[s].end()) {
        in = found->second;
        continue;
      }
      const Node& src = g.node(in);
      NodeId id;
      if (src.op == Op::Weight) {
        id = st.graph.append(src);
      } else {
        // An original input, or a value of an earlier stage: an Input of this stage. Inputs
        // keep their names ("positions" marks a capturable decode step).
        Node leaf;
        leaf.op = Op::Input;
        leaf.name = src.op == Op::Input ? src.name : "handoff." + src.name;
        leaf.dtype = src.dtype;
        leaf.shape = src.shape;
        id = st.graph.append(leaf);
        st.from_original[id] = in;
      }
      local[s][in] = id;
      in = id;
    }
    if (n.device.is_cuda()) n.device = tensor::Device::cuda(stages[s].device);
    local[s][NodeId(i)] = st.graph.append(std::move(n));
  }
  for (size_t s = 0; s < stages.size(); ++s)
    for (NodeId o : out_of[s]) {
      stages[s].outputs.push_back(local[s].at(o));
      stages[s].outputs_original.push_back(o);
    }
  return stages;
}

PipelineExecutor::PipelineExecutor(std::vector<int> device_map, ExecOptions base)
    : map_(std::move(device_map)), base_(base) {
  if (map_.empty()) throw Error("PipelineExecutor: no GPU in the device map");
  const int present = device_count();
  for (int d : map_)
    if (d < 0 || d >= present)
      throw Error("the device map names GPU " + std::to_string(d) + ", but this machine has " +
                  std::to_string(present));
  // Peer access between every pair of distinct devices in use, where the hardware allows it
  // (otherwise cudaMemcpyPeer still works, staged by the driver).
  std::set<int> devs(map_.begin(), map_.end());
  for (int a : devs)
    for (int b : devs) {
      if (a == b) continue;
      int can = 0;
      cudaDeviceCanAccessPeer(&can, a, b);
      if (!can) continue;
      check(cudaSetDevice(a), "cudaSetDevice");
      const cudaError_t e = cudaDeviceEnablePeerAccess(b, 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled)
        cudaGetLastError();
      else
        check(e, "cudaDeviceEnablePeerAccess");
    }
}

int PipelineExecutor::physical(int logical) const {
  if (logical < 0 || size_t(logical) >= map_.size())
    throw Error("cuda:" + std::to_string(logical) + " is not in use (" +
                std::to_string(map_.size()) + " GPU(s))");
  return map_[size_t(logical)];
}

HybridExecutor& PipelineExecutor::executor(int physical_device) {
  auto it = execs_.find(physical_device);
  if (it == execs_.end()) {
    ExecOptions o = base_;
    o.device = physical_device;
    it = execs_.emplace(physical_device, std::make_unique<HybridExecutor>(o)).first;
  }
  return *it->second;
}

std::vector<int> PipelineExecutor::physical_devices() const {
  std::vector<int> out;
  for (const auto& [d, e] : execs_) out.push_back(d);
  return out;
}

void PipelineExecutor::set_options(const ExecOptions& opt) {
  base_ = opt;
  for (auto& [d, e] : execs_) {
    ExecOptions o = opt;
    o.device = d;
    e->set_options(o);
  }
}

size_t PipelineExecutor::device_bytes() const {
  size_t b = 0;
  for (const auto& [d, e] : execs_)
    b += e->weights().bytes() + e->arena_bytes() + e->workspace_bytes();
  for (const auto& [k, t] : handoff_) b += t.nbytes();
  return b;
}

void PipelineExecutor::upload_weights(const Graph& g, const Progress& progress) {
  const std::vector<Stage> stages = cut_into_stages(g, {}, map_);
  for (const Stage& st : stages) executor(st.device).upload_weights(st.graph, progress);
}

std::vector<Tensor> PipelineExecutor::run(const Graph& g, const std::map<NodeId, Tensor>& inputs,
                                          std::span<const NodeId> outputs, cpu::ThreadPool& pool) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Stage> stages = cut_into_stages(g, outputs, map_);
  last_stages_ = int(stages.size());
  handoff_bytes_ = 0;
  StepProfile total;
  // Values produced so far (original id -> tensor: device views of a stage's arena, or host).
  std::map<NodeId, Tensor> produced;
  for (size_t s = 0; s < stages.size(); ++s) {
    const Stage& st = stages[s];
    std::map<NodeId, Tensor> in;
    for (const auto& [sub, orig] : st.from_original) {
      auto given = inputs.find(orig);
      if (given != inputs.end()) {
        in[sub] = given->second;
        continue;
      }
      const Tensor& v = produced.at(orig);
      if (v.device().is_cpu()) {
        in[sub] = v;  // a CPU node's value: the stage's executor stages it as a host input
        continue;
      }
      // Device to device, into a buffer of the receiving GPU kept for later steps.
      Tensor& buf = handoff_[{s, sub}];
      if (!buf.data() || buf.nbytes() != v.nbytes() || buf.device().index != st.device)
        buf = device_empty(v.dtype(), shape_of(v), st.device, "hand-over of " + g.node(orig).name);
      check(cudaMemcpyPeer(buf.data(), st.device, v.data(), v.device().index, v.nbytes()),
            "cudaMemcpyPeer (hand-over between GPUs)");
      handoff_bytes_ += v.nbytes();
      in[sub] = buf;
    }
    HybridExecutor& ex = executor(st.device);
    std::vector<Tensor> out = ex.run_keep_on_device(st.graph, in, st.outputs, pool);
    for (size_t i = 0; i < out.size(); ++i) produced[st.outputs_original[i]] = out[i];
    const StepProfile& p = ex.last_profile();
    total.cpu += p.cpu;
    total.gpu_wait += p.gpu_wait;
    total.transfers += p.transfers;
    total.gpu_kernels += p.gpu_kernels;
    for (const auto& [op, t] : p.by_op) total.by_op[op] += t;
    total.graph_replay = s == 0 ? p.graph_replay : total.graph_replay && p.graph_replay;
  }
  // The caller's outputs as host tensors.
  std::vector<Tensor> result;
  for (NodeId o : outputs) {
    const Tensor& v = produced.at(o);
    Tensor h = Tensor::zeros(v.dtype(), shape_of(v));
    if (v.device().is_cpu()) {
      std::memcpy(h.data(), v.data(), v.nbytes());
      result.push_back(h);
      continue;
    }
    check(cudaSetDevice(v.device().index), "cudaSetDevice");
    check(cudaMemcpy(h.data(), v.data(), v.nbytes(), cudaMemcpyDeviceToHost),
          "cudaMemcpy (step output)");
    result.push_back(h);
  }
  total.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  profile_ = total;
  return result;
}

}  // namespace kt::cuda
