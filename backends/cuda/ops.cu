// launch_op: checks a node's operands on the host, then hands it to its family's launcher
// (ops_norm.cu, ops_rope.cu, ops_moe.cu, ops_rows.cu). The element-wise ops live here.
// Nothing in this path synchronises, allocates or copies from the host, so a decode step
// made of these launches can be captured into a CUDA graph.
#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/ops.h"
#include "backends/cuda/ops_internal.cuh"
#include "tensor/error.h"

namespace kt::cuda {

namespace ops_detail {

void fail(const Node& n, const std::string& why) {
  throw Error(std::string(tensor::op_name(n.op)) + (n.name.empty() ? "" : " '" + n.name + "'") +
              ": " + why);
}

void check_launch(const Node& n) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) fail(n, std::string("kernel launch failed: ") + cudaGetErrorString(err));
}

namespace {

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct ScaleOp {
  float s;
  __device__ float operator()(float x) const { return x * s; }
};
struct SigmoidOp {
  __device__ float operator()(float x) const { return 1.0f / (1.0f + expf(-x)); }
};
struct SiluOp {
  __device__ float operator()(float x) const { return x / (1.0f + expf(-x)); }
};
struct SwigluOp {
  __device__ float operator()(float gate, float up) const {
    return gate / (1.0f + expf(-gate)) * up;
  }
};
struct GeluOp {
  __device__ float operator()(float x) const {
    constexpr float kSqrt2OverPi = 0.7978845608028654f;
    return 0.5f * x * (1.0f + tanhf(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
  }
};

// How b lines up with a in a binary op (graph.h Add): element for element, one row {row}
// repeated for every row of a, or one value per row of a.
enum class Bcast { Same, Row, PerRow };

__device__ __forceinline__ int64_t b_index(Bcast m, int64_t i, int64_t row) {
  return m == Bcast::Same ? i : (m == Bcast::Row ? i % row : i / row);
}

template <class F>
__global__ void unary_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += step) y[i] = f(x[i]);
}

// Four floats per thread through 16-byte loads: n % 4 == 0 and aligned pointers.
template <class F>
__global__ void unary_kernel4(const float4* __restrict__ x, float4* __restrict__ y, int64_t n4,
                              F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += step) {
    const float4 v = x[i];
    y[i] = make_float4(f(v.x), f(v.y), f(v.z), f(v.w));
  }
}

template <class F>
__global__ void binary_kernel(const float* __restrict__ a, const float* __restrict__ b,
                              float* __restrict__ y, int64_t n, int64_t row, Bcast m, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += step)
    y[i] = f(a[i], b[b_index(m, i, row)]);
}

// Groups of four with row % 4 == 0, so that a group never straddles two rows (PerRow) and a
// group of b is four consecutive floats (Same, Row). Indices count groups.
template <class F>
__global__ void binary_kernel4(const float4* __restrict__ a, const float* __restrict__ b,
                               float4* __restrict__ y, int64_t n4, int64_t row, Bcast m, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4; i += step) {
    const float4 va = a[i];
    float4 vb;
    if (m == Bcast::PerRow) {
      const float s = b[(4 * i) / row];
      vb = make_float4(s, s, s, s);
    } else {
      vb = reinterpret_cast<const float4*>(b)[b_index(m, 4 * i, row) / 4];
    }
    y[i] = make_float4(f(va.x, vb.x), f(va.y, vb.y), f(va.z, vb.z), f(va.w, vb.w));
  }
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <class F>
void run_unary(const Node& n, const Tensor& x, const Tensor& out, cudaStream_t s, F f) {
  const int64_t count = out.numel();
  if (count % 4 == 0 && aligned16(x.data()) && aligned16(out.data()))
    unary_kernel4<<<grid_for(count / 4), kThreads, 0, s>>>(x.data_as<const float4>(),
                                                           out.data_as<float4>(), count / 4, f);
  else
    unary_kernel<<<grid_for(count), kThreads, 0, s>>>(x.data_as<const float>(),
                                                      out.data_as<float>(), count, f);
  check_launch(n);
}

template <class F>
void run_binary(const Node& n, const Tensor& a, const Tensor& b, const Tensor& out, cudaStream_t s,
                F f) {
  const int64_t count = out.numel(), row = out.ne(0);
  // The CPU executor's rule: same element count first, then one row, else one per row.
  const Bcast m =
      b.numel() == a.numel() ? Bcast::Same : (b.numel() == row ? Bcast::Row : Bcast::PerRow);
  if (m == Bcast::PerRow && b.numel() != count / row)
    fail(n, "operand b " + b.str() + " does not broadcast over " + a.str());
  if (row % 4 == 0 && aligned16(a.data()) && aligned16(b.data()) && aligned16(out.data()))
    binary_kernel4<<<grid_for(count / 4), kThreads, 0, s>>>(
        a.data_as<const float4>(), b.data_as<const float>(), out.data_as<float4>(), count / 4, row,
        m, f);
  else
    binary_kernel<<<grid_for(count), kThreads, 0, s>>>(
        a.data_as<const float>(), b.data_as<const float>(), out.data_as<float>(), count, row, m, f);
  check_launch(n);
}

}  // namespace

void launch_elementwise(const Node& n, std::span<const Tensor> in, const Tensor& out,
                        cudaStream_t s) {
  using tensor::Op;
  if (in[0].numel() != out.numel())
    fail(n, "operand " + in[0].str() + " does not match the output " + out.str());
  for (const Tensor& t : in)
    if (t.numel() > out.numel()) fail(n, "operand " + t.str() + " is larger than the output");
  if (out.numel() == 0) return;
  switch (n.op) {
    case Op::Add:
      return run_binary(n, in[0], in[1], out, s, AddOp{});
    case Op::Mul:
      return run_binary(n, in[0], in[1], out, s, MulOp{});
    case Op::SwiGLU:
      if (in[1].numel() != in[0].numel()) fail(n, "gate and up differ in size");
      return run_binary(n, in[0], in[1], out, s, SwigluOp{});
    case Op::Scale:
      return run_unary(n, in[0], out, s, ScaleOp{n.scalar});
    case Op::Sigmoid:
      return run_unary(n, in[0], out, s, SigmoidOp{});
    case Op::SiLU:
      return run_unary(n, in[0], out, s, SiluOp{});
    case Op::GELU:
      return run_unary(n, in[0], out, s, GeluOp{});
    default:
      fail(n, "not an element-wise op");
  }
}

}  // namespace ops_detail

namespace {

using tensor::DType;
using tensor::Node;
using tensor::Op;
using tensor::Tensor;

// Operand types op by op; empty when the op is not one of ours. '?' marks an optional last
// operand (RMSNorm's weight, MoeSelect's bias); 'T' GetRows' table of any readable type.
const char* signature(Op op) {
  switch (op) {
    case Op::GetRows:
      return "TI";
    case Op::Add:
    case Op::Mul:
    case Op::SwiGLU:
    case Op::WeightedSum:
    case Op::Concat:
    case Op::CacheAppend:
      return "FF";
    case Op::Scale:
    case Op::Softmax:
    case Op::Sigmoid:
    case Op::SiLU:
    case Op::GELU:
    case Op::TopK:
    case Op::Slice:
      return "F";
    case Op::RMSNorm:
    case Op::MoeSelect:
      return "F?";
    case Op::RoPE:
    case Op::Gather:
    case Op::MoeWeights:
      return "FI";
    default:
      return "";
  }
}

// Empty when the operands fit the op's signature, else what is wrong.
std::string operand_problem(const Node& n, std::span<const Tensor> in) {
  const std::string sig = signature(n.op);
  if (sig.empty()) return "no CUDA kernel for this op";
  const bool optional = sig.back() == '?';
  const size_t required = optional ? sig.size() - 1 : sig.size();
  if (in.size() < required || in.size() > sig.size())
    return "expects " + std::to_string(required) +
           (optional ? " or " + std::to_string(sig.size()) : "") + " operands, got " +
           std::to_string(in.size());
  for (size_t j = 0; j < in.size(); ++j) {
    const char c = sig[j] == '?' ? 'F' : sig[j];
    const DType t = in[j].dtype();
    const bool ok = c == 'F'   ? t == DType::F32
                    : c == 'I' ? t == DType::I32
                               : ops_detail::get_rows_readable(t);
    if (!ok)
      return "operand " + std::to_string(j) + " has type " + tensor::dtype_name(t) +
             (c == 'T'   ? ", which GetRows cannot read on the GPU"
              : c == 'I' ? ", expected I32"
                         : ", expected F32");
  }
  return "";
}

}  // namespace

bool op_supported(const Node& n, std::span<const Tensor> in) {
  return operand_problem(n, in).empty();
}

void launch_op(const Node& n, std::span<const Tensor> in, const Tensor& out,
               const LaunchContext& ctx) {
  using namespace ops_detail;
  const std::string problem = operand_problem(n, in);
  if (!problem.empty()) fail(n, problem);
  for (size_t j = 0; j < in.size(); ++j) {
    if (!in[j].device().is_cuda()) fail(n, "operand " + in[j].str() + " is not on a CUDA device");
    if (!in[j].is_contiguous()) fail(n, "operand " + in[j].str() + " is not contiguous");
  }
  if (n.op != Op::CacheAppend) {
    const DType want = n.op == Op::TopK || n.op == Op::MoeSelect ? DType::I32 : DType::F32;
    if (out.dtype() != want || !out.device().is_cuda() || !out.is_contiguous() ||
        out.numel() != tensor::numel(n.shape))
      fail(n, "output " + out.str() + " is not a contiguous device " + tensor::dtype_name(want) +
                  " " + tensor::shape_str(n.shape));
  }
  cudaStream_t s = ctx.stream;
  switch (n.op) {
    case Op::Add:
    case Op::Mul:
    case Op::Scale:
    case Op::Sigmoid:
    case Op::SiLU:
    case Op::SwiGLU:
    case Op::GELU:
      return launch_elementwise(n, in, out, s);
    case Op::RMSNorm:
      return launch_rms_norm(n, in, out, s);
    case Op::Softmax:
      return launch_softmax(n, in, out, s);
    case Op::RoPE:
      return launch_rope(n, in, out, s);
    case Op::TopK:
      return launch_top_k(n, in, out, s);
    case Op::MoeSelect:
      return launch_moe_select(n, in, out, s);
    case Op::MoeWeights:
      return launch_moe_weights(n, in, out, s);
    case Op::GetRows:
      return launch_get_rows(n, in, out, s);
    case Op::Gather:
      return launch_gather(n, in, out, s);
    case Op::WeightedSum:
      return launch_weighted_sum(n, in, out, s);
    case Op::Slice:
      return launch_slice(n, in, out, s);
    case Op::Concat:
      return launch_concat(n, in, out, s);
    case Op::CacheAppend:
      return launch_cache_append(n, in, ctx);
    default:
      fail(n, "no CUDA kernel for this op");
  }
}

}  // namespace kt::cuda
