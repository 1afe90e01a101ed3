#include "engine/session.h"

#include <algorithm>
#include <map>
#include <string>

#include "engine/placement.h"
#include "tensor/error.h"

namespace kt::engine {

using tensor::DType;
using tensor::Tensor;

namespace {

// The device of the node that writes each cache of a step graph (its attention's device).
std::vector<tensor::Device> cache_devices(const models::StepGraph& s) {
  std::vector<tensor::Device> out;
  for (tensor::NodeId c : s.caches) {
    tensor::Device d = tensor::Device::cpu();
    for (const tensor::Node& n : s.graph.nodes())
      if (n.op == tensor::Op::CacheAppend && n.inputs[0] == c) {
        d = n.device;
        break;
      }
    out.push_back(d);
  }
  return out;
}

}  // namespace

Session::Session(const models::Architecture& arch, cpu::ThreadPool& pool, int64_t n_ctx)
    : arch_(arch), pool_(pool), n_ctx_(n_ctx) {
  if (n_ctx < 1) throw Error("context size must be positive, got " + std::to_string(n_ctx));
  const auto* planned = dynamic_cast<const PlannedArchitecture*>(&arch);
  const bool gpu = planned && planned->uses_gpu();
  exec_ = planned ? planned->executor() : make_cpu_executor();
  std::vector<tensor::Device> devices;
  if (gpu) devices = cache_devices(arch.build_step(1, 0, n_ctx, 1));
  const std::vector<models::CacheSpec> specs = arch.cache_specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    tensor::Shape shape = specs[i].row_shape;
    shape.push_back(n_ctx);
    const tensor::Device d = i < devices.size() ? devices[i] : tensor::Device::cpu();
    caches_.push_back(exec_->make_cache(DType::F32, shape, d, "KV cache " + specs[i].name));
  }
}

std::vector<float> Session::eval(std::span<const int32_t> tokens, int64_t chunk_size) {
  return run(tokens, chunk_size, false);
}

std::vector<float> Session::eval_all(std::span<const int32_t> tokens, int64_t chunk_size) {
  return run(tokens, chunk_size, true);
}

std::vector<float> Session::run(std::span<const int32_t> tokens, int64_t chunk_size,
                                bool all_logits) {
  if (tokens.empty()) throw Error("eval: no tokens");
  if (n_past_ + int64_t(tokens.size()) > n_ctx_)
    throw Error("context full: " + std::to_string(n_past_) + " + " + std::to_string(tokens.size()) +
                " tokens exceed the context of " + std::to_string(n_ctx_));
  const int64_t n_vocab = arch_.hparams().n_vocab;
  for (int32_t t : tokens)
    if (t < 0 || t >= n_vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " +
                  std::to_string(n_vocab));
  chunk_size = std::max<int64_t>(1, chunk_size);
  std::vector<float> logits;
  for (size_t begin = 0; begin < tokens.size(); begin += size_t(chunk_size)) {
    const int64_t T = std::min<int64_t>(chunk_size, int64_t(tokens.size() - begin));
    const bool last_chunk = begin + size_t(T) == tokens.size();
    const int64_t n_out = all_logits ? T : 1;
    models::StepGraph step = arch_.build_step(T, n_past_, n_ctx_, n_out);
    Tensor ids = Tensor::zeros(DType::I32, {T});
    Tensor pos = Tensor::zeros(DType::I32, {T});
    for (int64_t i = 0; i < T; ++i) {
      ids.data_as<int32_t>()[i] = tokens[begin + size_t(i)];
      pos.data_as<int32_t>()[i] = int32_t(n_past_ + i);
    }
    Tensor out = Tensor::zeros(DType::I32, {n_out});
    for (int64_t i = 0; i < n_out; ++i) out.data_as<int32_t>()[i] = int32_t(T - n_out + i);
    std::map<tensor::NodeId, Tensor> inputs = {
        {step.tokens, ids}, {step.positions, pos}, {step.out_rows, out}};
    for (size_t c = 0; c < caches_.size(); ++c) inputs[step.caches[c]] = caches_[c];
    const tensor::NodeId want[] = {step.logits};
    std::vector<Tensor> values = exec_->run(step.graph, inputs, want, pool_);
    n_past_ += T;
    const Tensor& l = values[0];
    if (all_logits)
      logits.insert(logits.end(), l.data_as<float>(), l.data_as<float>() + n_out * n_vocab);
    else if (last_chunk)
      logits.assign(l.data_as<float>(), l.data_as<float>() + n_vocab);
  }
  return logits;
}

}  // namespace kt::engine
