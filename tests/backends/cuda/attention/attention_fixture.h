#pragma once
// One attention problem on the GPU and its CPU reference: random q, KV caches with a capacity
// beyond the keys (the unused rows hold NaN, so a kernel that reads past the keys fails), rows
// optionally padded (strided views), an output pre-filled with NaN (so every element must be
// written), and the device position. Shared by the attention test programs.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/attention.h"
#include "backends/cpu/thread_pool.h"
#include "backends/cuda/attention.h"
#include "backends/cuda/device.h"
#include "backends/cuda/memory.h"
#include "tensor/graph.h"

namespace kt::cuda::test {

struct Case {
  std::string name;
  int64_t dk = 64, dv = 64, hq = 8, hkv = 2;
  int64_t n_q = 1, pos = 0, n_ctx = 0;  // keys = pos + n_q; n_ctx 0: keys + 17
  int64_t window = 0;
  bool shared_kv = false;  // MLA: v is the first dv floats of each k row
  int64_t pad = 0;         // extra floats after each cached row (strided view)
  float scale = 0.0f;      // 0: 1/sqrt(dk)
  int64_t valid = 0;       // cached rows holding keys, NaN after; 0: pos + n_q
};

inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

inline tensor::Tensor host_tensor(const std::vector<float>& v, const tensor::Shape& shape) {
  tensor::Tensor t = tensor::Tensor::zeros(tensor::DType::F32, shape);
  std::copy(v.begin(), v.end(), t.data_as<float>());
  return t;
}

class Problem {
 public:
  explicit Problem(const Case& c, uint32_t seed = 7) : c_(c) {
    if (c_.n_ctx == 0) c_.n_ctx = c_.pos + c_.n_q + 17;
    if (c_.scale == 0.0f) c_.scale = 1.0f / std::sqrt(float(c_.dk));
    const int64_t kw = c_.dk + c_.pad, vw = c_.dv + c_.pad;
    q_ = random_floats(size_t(c_.dk * c_.hq * c_.n_q), seed);
    k_ = random_floats(size_t(kw * c_.hkv * c_.n_ctx), seed + 1);
    if (!c_.shared_kv) v_ = random_floats(size_t(vw * c_.hkv * c_.n_ctx), seed + 2);
    poison_rows_from(c_.valid > 0 ? c_.valid : keys());
    node_.op = tensor::Op::Attention;
    node_.name = "blk.0.attn_" + c_.name;
    node_.shape = {c_.dv, c_.hq, c_.n_q};
    node_.scalar = c_.scale;
    node_.window = c_.window;
    node_.v_dim = c_.shared_kv ? c_.dv : 0;
    node_.inputs =
        c_.shared_kv ? std::vector<tensor::NodeId>{0, 1} : std::vector<tensor::NodeId>{0, 1, 2};
    dq_ = upload(host_tensor(q_, {c_.dk, c_.hq, c_.n_q}));
    dk_full_ = upload(host_tensor(k_, {kw, c_.hkv, c_.n_ctx}));
    dk_ = dk_full_.slice(0, 0, c_.dk);
    if (!c_.shared_kv) {
      dv_full_ = upload(host_tensor(v_, {vw, c_.hkv, c_.n_ctx}));
      dv_ = dv_full_.slice(0, 0, c_.dv);
    }
    dout_ = device_empty(tensor::DType::F32, {c_.dv, c_.hq, c_.n_q});
    dpos_ = device_alloc(sizeof(int32_t));
    ws_bytes_ = attention_workspace_bytes(node_, dq_, c_.n_ctx);
    if (ws_bytes_ > 0) ws_ = device_alloc(ws_bytes_);
    check(cudaStreamCreate(&stream_), "cudaStreamCreate");
    set_pos(c_.pos);
  }
  ~Problem() { cudaStreamDestroy(stream_); }

  const Case& c() const { return c_; }
  int64_t keys() const { return c_.pos + c_.n_q; }
  size_t workspace_bytes() const { return ws_bytes_; }
  const tensor::Node& node() const { return node_; }
  cudaStream_t stream() const { return stream_; }

  // A new position for the same shapes (the graph replay case); the host reference follows.
  void set_pos(int64_t pos) {
    c_.pos = pos;
    const int32_t p = int32_t(pos);
    check(cudaMemcpy(dpos_.get(), &p, sizeof p, cudaMemcpyHostToDevice), "cudaMemcpy pos");
  }
  // NaN in every cached row at or past `from` (on the device too), so that reading past the
  // keys shows in the output.
  void poison_rows_from(int64_t from) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int64_t kw = c_.dk + c_.pad, vw = c_.dv + c_.pad;
    std::fill(k_.begin() + from * kw * c_.hkv, k_.end(), nan);
    if (!c_.shared_kv) std::fill(v_.begin() + from * vw * c_.hkv, v_.end(), nan);
  }
  void poison_output() {
    check(cudaMemset(dout_.data(), 0xff, size_t(c_.dv * c_.hq * c_.n_q) * sizeof(float)),
          "cudaMemset");
  }

  LaunchContext context(size_t ws_bytes) const {
    LaunchContext ctx;
    ctx.stream = stream_;
    ctx.d_pos = static_cast<const int32_t*>(dpos_.get());
    ctx.workspace = ws_.get();
    ctx.workspace_bytes = ws_ ? std::min(ws_bytes, ws_bytes_) : 0;
    return ctx;
  }
  LaunchContext context() const { return context(ws_bytes_); }

  void launch(const LaunchContext& ctx) const {
    launch_attention(node_, dq_, dk_, c_.shared_kv ? nullptr : &dv_, dout_, ctx);
  }

  std::vector<float> gpu_output() const {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    tensor::Tensor h = download(dout_, stream_);
    return {h.data_as<float>(), h.data_as<float>() + h.numel()};
  }

  std::vector<float> cpu_reference() const {
    static cpu::ThreadPool pool(8);
    const int64_t kw = c_.dk + c_.pad, vw = c_.dv + c_.pad;
    std::vector<float> out(size_t(c_.dv * c_.hq * c_.n_q));
    cpu::AttentionParams p;
    p.dk = c_.dk, p.dv = c_.dv, p.hq = c_.hq, p.hkv = c_.hkv;
    p.n_q = c_.n_q, p.n_kv = keys(), p.pos_offset = c_.pos, p.window = c_.window;
    p.scale = c_.scale;
    p.q = q_.data(), p.q_h = c_.dk, p.q_t = c_.dk * c_.hq;
    p.k = k_.data(), p.k_h = kw, p.k_s = kw * c_.hkv;
    if (c_.shared_kv) {
      p.v = k_.data(), p.v_h = kw, p.v_s = kw * c_.hkv;
    } else {
      p.v = v_.data(), p.v_h = vw, p.v_s = vw * c_.hkv;
    }
    p.o = out.data(), p.o_h = c_.dv, p.o_t = c_.dv * c_.hq;
    cpu::attention_ref(p, pool);
    return out;
  }

  // Max |gpu - cpu| relative to max |cpu|, printed with where it is; NaN counts as failing.
  double compare(const std::string& label) const {
    const std::vector<float> got = gpu_output(), want = cpu_reference();
    double err = 0, ref = 0;
    size_t at = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ref = std::max(ref, double(std::fabs(want[i])));
      const double e = std::isfinite(got[i]) ? std::fabs(double(got[i]) - want[i]) : INFINITY;
      if (e > err || (std::isinf(e) && !std::isinf(err))) err = e, at = i;
    }
    const double rel = err / std::max(ref, 1e-30);
    const int64_t d = int64_t(at) % c_.dv, h = int64_t(at) / c_.dv % c_.hq,
                  t = int64_t(at) / (c_.dv * c_.hq);
    std::printf(
        "[attention] %-28s %-10s T=%-5lld pos=%-5lld keys=%-5lld ws=%-9zu max_abs=%.3g "
        "ref_max=%.3g rel=%.3g at (d=%lld h=%lld t=%lld) gpu=%g cpu=%g\n",
        c_.name.c_str(), label.c_str(), (long long)c_.n_q, (long long)c_.pos, (long long)keys(),
        ws_bytes_, err, ref, rel, (long long)d, (long long)h, (long long)t, double(got[at]),
        double(want[at]));
    return rel;
  }

 private:
  Case c_;
  tensor::Node node_;
  std::vector<float> q_, k_, v_;
  tensor::Tensor dq_, dk_full_, dk_, dv_full_, dv_, dout_;
  std::shared_ptr<void> dpos_, ws_;
  size_t ws_bytes_ = 0;
  cudaStream_t stream_ = nullptr;
};

constexpr double kTolerance = 1e-4;  // max abs error relative to the output's scale

}  // namespace kt::cuda::test
