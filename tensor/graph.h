#pragma once
// Graph IR: the forward pass of a model as a list of operations in execution order. Models
// build it, the placement plan annotates each node with a device, and backends execute it.
// Shapes follow ggml order (innermost first); every builder checks its operands' shapes and
// types and throws kt::Error naming the node on a mismatch, so bad model files or
// architecture bugs surface at build time rather than as wrong numbers.
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/moe_routing.h"
#include "tensor/rope_params.h"
#include "tensor/tensor.h"

namespace kt::tensor {

enum class Op {
  Input,          // runtime data fed per step (hidden state, token ids, positions)
  Weight,         // a model parameter (bound to a Tensor)
  GetRows,        // embedding lookup: table {D, V}, ids I32 {T} -> {D, T}
  MatMul,         // w {K, N}, x {K, T} -> {N, T}   (y = x . w^T, any weight type)
  MatMulExperts,  // w {K, N, E}, x {K, T}, ids I32 {k, T} -> {N, k, T}: expert ids[j,t] on x[t]
  MatMulHeads,    // w {K, N, H}, x {K, H, T} -> {N, H, T}: head h of each token by matrix h
  Add,            // a + b; b may be one row {n} broadcast over a's rows, or one value per
                  // row {1, rows...} broadcast along each row
  Mul,            // a * b; same broadcasting as Add
  Scale,          // x * scalar
  RMSNorm,        // per row; optional weight {n}
  RoPE,           // x {D, H, T}, positions I32 {T}
  Softmax,        // per row
  Sigmoid,
  SiLU,
  SwiGLU,       // silu(gate) * up
  GELU,         // tanh approximation (PyTorch's gelu(approximate="tanh"), ggml_gelu)
  TopK,         // x {N, T} -> indices I32 {k, T}, descending
  Gather,       // x {N, T}, ids I32 {k, T} -> {k, T}: x[ids[j,t], t]
  WeightedSum,  // x {N, k, T}, w {k, T} -> {N, T}: the MoE combine sum_j w[j,t] x[:, j, t]
  Attention,    // q {Dk, Hq, T}, k {Dk, Hkv, S}, v {Dv, Hkv, S} -> {Dv, Hq, T}, causal; with a
                // window W > 0 a query at position p sees only the keys (p - W, p]. Without a
                // v input (v_dim > 0), v is the first v_dim values of each k row.
  Copy,         // to another device
  Reshape,
  CacheAppend,  // cache {D, H, S_max} (an Input), x {D, H, T}: writes x at rows [pos, pos+T)
                // of the cache and yields the view {D, H, pos+T}: the KV cache of a step
  Slice,        // x {D, ...} -> {end - begin, ...}: elements [begin, end) of every row
  Concat,       // a {Da, ...}, b {Db, ...} -> {Da + Db, ...}: rows joined; an operand with one
                // entry in dim 1 (one head) is broadcast over the other's dim 1
  MoeSelect,    // logits {X, T} (+ bias {X}) -> ids I32 {k, T}: the router's choice
  MoeWeights,   // logits {X, T}, ids I32 {k, T} -> F32 {k, T}: the chosen experts' weights
};

const char* op_name(Op op);

using NodeId = int32_t;

// Which implementation of its op a node asks for, set by lowering from the placement Plan
// (inject/). Auto lets the backend choose; the others name an operator variant a rule picked
// (KTransformers' KExpertsCPU = Fused, KExpertsTorch = Reference for MatMulExperts).
enum class OpVariant : uint8_t {
  Auto,
  Reference,  // the plain per-expert / per-row path every optimised kernel is tested against
  Fused,      // the backend's fused kernel (MatMulExperts: one dispatch for all experts)
  Marlin,     // MatMul on the GPU through the int4 Marlin GEMM (weights repacked at load)
};

struct Node {
  Op op = Op::Input;
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // innermost first
  std::vector<NodeId> inputs;
  Device device;  // where it runs; set by the placement plan (defaults to CPU)
  OpVariant variant = OpVariant::Auto;  // set by the placement plan
  // A GPU node whose weights live in CPU memory (the plan keeps them there for decode): they
  // are copied over PCIe for each step instead of being kept on the device (prefill experts).
  bool stream_weights = false;
  // Operation parameters (only the ones the op uses are meaningful).
  float eps = 0.0f;        // RMSNorm
  float scalar = 1.0f;     // Scale; Attention softmax scale
  int k = 0;               // TopK
  int64_t pos_offset = 0;  // Attention: position of the first query in the key sequence
  int64_t window = 0;      // Attention: sliding window in positions (0: all earlier keys)
  int64_t v_dim = 0;       // Attention with inputs {q, k}: v = k[0, v_dim) of every row
  int64_t offset = 0;      // Slice: first element of each row kept
  RopeParams rope;         // RoPE
  MoeRouting routing;      // MoeSelect, MoeWeights
  Tensor weight;           // Weight
};

class Graph {
 public:
  NodeId input(const std::string& name, DType dtype, const std::vector<int64_t>& shape);
  NodeId weight(const std::string& name, const Tensor& t);

  NodeId get_rows(NodeId table, NodeId ids, const std::string& name = "");
  NodeId matmul(NodeId w, NodeId x, const std::string& name = "");
  NodeId matmul_experts(NodeId w, NodeId x, NodeId ids, const std::string& name = "");
  // Per-head products: w {K, N, H}, x {K, H, T} (or any shape of K·H·T) -> {N, H, T}.
  NodeId matmul_heads(NodeId w, NodeId x, const std::string& name = "");
  NodeId add(NodeId a, NodeId b, const std::string& name = "");
  NodeId mul(NodeId a, NodeId b, const std::string& name = "");
  NodeId scale(NodeId x, float s, const std::string& name = "");
  NodeId rms_norm(NodeId x, NodeId w, float eps, const std::string& name = "");  // w may be -1
  NodeId rope(NodeId x, NodeId positions, const RopeParams& p, const std::string& name = "");
  NodeId softmax(NodeId x, const std::string& name = "");
  NodeId sigmoid(NodeId x, const std::string& name = "");
  NodeId silu(NodeId x, const std::string& name = "");
  NodeId swiglu(NodeId gate, NodeId up, const std::string& name = "");
  NodeId gelu(NodeId x, const std::string& name = "");
  NodeId top_k(NodeId x, int k, const std::string& name = "");
  NodeId gather(NodeId x, NodeId ids, const std::string& name = "");
  NodeId weighted_sum(NodeId x, NodeId w, const std::string& name = "");
  NodeId attention(NodeId q, NodeId k, NodeId v, float scale, int64_t pos_offset,
                   const std::string& name = "");
  // Sliding-window attention (Gemma 2/3, Mistral): window > 0 keys per query, itself included.
  NodeId attention(NodeId q, NodeId k, NodeId v, float scale, int64_t pos_offset, int64_t window,
                   const std::string& name);
  // Attention whose values are the first v_dim entries of each key row (DeepSeek MLA: the
  // latent part of the cached [latent, rope key] rows), read in place rather than copied.
  NodeId attention_shared_kv(NodeId q, NodeId kv, int64_t v_dim, float scale, int64_t pos_offset,
                             const std::string& name = "");
  NodeId copy_to(NodeId x, Device d, const std::string& name = "");
  NodeId reshape(NodeId x, const std::vector<int64_t>& shape, const std::string& name = "");
  // pos = how many positions the cache already holds.
  NodeId cache_append(NodeId cache, NodeId x, int64_t pos, const std::string& name = "");
  // Elements [begin, end) of every row (dim 0).
  NodeId slice(NodeId x, int64_t begin, int64_t end, const std::string& name = "");
  // Rows of a followed by rows of b (dim 0); a one-entry dim 1 broadcasts.
  NodeId concat(NodeId a, NodeId b, const std::string& name = "");
  // MoE router over logits {X, T}: the selected expert ids, and their weights. bias (a {X}
  // vector added to the scores for selection only) may be -1.
  NodeId moe_select(NodeId logits, NodeId bias, const MoeRouting& r, const std::string& name = "");
  NodeId moe_weights(NodeId logits, NodeId ids, const MoeRouting& r, const std::string& name = "");

  // Appends a node as it is, unchecked: for backends that copy parts of a graph whose builders
  // already checked every node (the CPU segments of a hybrid step).
  NodeId append(Node n) { return push(std::move(n)); }

  const Node& node(NodeId id) const { return nodes_.at(size_t(id)); }
  Node& node(NodeId id) { return nodes_.at(size_t(id)); }
  const std::vector<Node>& nodes() const { return nodes_; }
  size_t size() const { return nodes_.size(); }
  NodeId find(const std::string& name) const;  // -1 when absent

  // One line per node: "%3 = MatMul(%1, %2) F32 {4096, 7} cpu  blk.0.attn_q".
  std::string dump() const;

 private:
  NodeId push(Node n);
  const Node& arg(NodeId id, const char* op) const;

  std::vector<Node> nodes_;
};

int64_t numel(const std::vector<int64_t>& shape);
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace kt::tensor
