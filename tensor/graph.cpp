#include "tensor/graph.h"

#include <algorithm>
#include <utility>

#include "tensor/error.h"

namespace kt::tensor {

const char* op_name(Op op) {
  switch (op) {
    case Op::Input:
      return "Input";
    case Op::Weight:
      return "Weight";
    case Op::GetRows:
      return "GetRows";
    case Op::MatMul:
      return "MatMul";
    case Op::MatMulExperts:
      return "MatMulExperts";
    case Op::MatMulHeads:
      return "MatMulHeads";
    case Op::Add:
      return "Add";
    case Op::Mul:
      return "Mul";
    case Op::Scale:
      return "Scale";
    case Op::RMSNorm:
      return "RMSNorm";
    case Op::RoPE:
      return "RoPE";
    case Op::Softmax:
      return "Softmax";
    case Op::Sigmoid:
      return "Sigmoid";
    case Op::SiLU:
      return "SiLU";
    case Op::SwiGLU:
      return "SwiGLU";
    case Op::GELU:
      return "GELU";
    case Op::TopK:
      return "TopK";
    case Op::Gather:
      return "Gather";
    case Op::WeightedSum:
      return "WeightedSum";
    case Op::Attention:
      return "Attention";
    case Op::Copy:
      return "Copy";
    case Op::Reshape:
      return "Reshape";
    case Op::CacheAppend:
      return "CacheAppend";
    case Op::Slice:
      return "Slice";
    case Op::Concat:
      return "Concat";
    case Op::MoeSelect:
      return "MoeSelect";
    case Op::MoeWeights:
      return "MoeWeights";
  }
  return "?";
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "{";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "}";
}

namespace {

int64_t dim(const std::vector<int64_t>& s, size_t i) {
  return i < s.size() ? s[i] : 1;
}

// Rows of a shape: everything but the innermost dimension.
int64_t rows_of(const std::vector<int64_t>& s) {
  return numel(s) / (s.empty() ? 1 : s[0]);
}

Node make_node(Op op, const std::string& name, DType dtype, std::vector<int64_t> shape,
               std::vector<NodeId> inputs) {
  Node n;
  n.op = op;
  n.name = name;
  n.dtype = dtype;
  n.shape = std::move(shape);
  n.inputs = std::move(inputs);
  return n;
}

[[noreturn]] void fail(const std::string& op, const std::string& name, const std::string& why) {
  throw Error(op + (name.empty() ? "" : " '" + name + "'") + ": " + why);
}

}  // namespace

NodeId Graph::push(Node n) {
  nodes_.push_back(std::move(n));
  return NodeId(nodes_.size() - 1);
}

const Node& Graph::arg(NodeId id, const char* op) const {
  if (id < 0 || size_t(id) >= nodes_.size())
    throw Error(std::string(op) + ": operand %" + std::to_string(id) + " does not exist");
  return nodes_[size_t(id)];
}

NodeId Graph::find(const std::string& name) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].name == name) return NodeId(i);
  return -1;
}

NodeId Graph::input(const std::string& name, DType dtype, const std::vector<int64_t>& shape) {
  if (shape.empty() || shape.size() > size_t(kMaxDims))
    fail("Input", name, "shape must have 1 to 4 dimensions");
  Node n = make_node(Op::Input, name, dtype, shape, {});
  return push(std::move(n));
}

NodeId Graph::weight(const std::string& name, const Tensor& t) {
  Node n = make_node(Op::Weight, name, t.dtype(), {}, {});
  for (int i = 0; i < t.n_dims(); ++i) n.shape.push_back(t.ne(i));
  n.weight = t;
  n.device = t.device();
  return push(std::move(n));
}

NodeId Graph::get_rows(NodeId table, NodeId ids, const std::string& name) {
  const Node &t = arg(table, "GetRows"), &i = arg(ids, "GetRows");
  if (i.dtype != DType::I32) fail("GetRows", name, "ids must be I32");
  if (t.shape.size() != 2) fail("GetRows", name, "table must be 2-D, got " + shape_str(t.shape));
  Node n = make_node(Op::GetRows, name, DType::F32, {t.shape[0], numel(i.shape)}, {table, ids});
  return push(std::move(n));
}

NodeId Graph::matmul(NodeId w, NodeId x, const std::string& name) {
  const Node &W = arg(w, "MatMul"), &X = arg(x, "MatMul");
  if (W.shape.size() != 2) fail("MatMul", name, "weight must be 2-D, got " + shape_str(W.shape));
  if (X.dtype != DType::F32) fail("MatMul", name, "activations must be F32");
  if (X.shape[0] != W.shape[0])
    fail("MatMul", name,
         "inner dimensions differ: weight " + shape_str(W.shape) + ", input " + shape_str(X.shape));
  std::vector<int64_t> out = X.shape;
  out[0] = W.shape[1];
  Node n = make_node(Op::MatMul, name, DType::F32, out, {w, x});
  return push(std::move(n));
}

NodeId Graph::matmul_experts(NodeId w, NodeId x, NodeId ids, const std::string& name) {
  const Node &W = arg(w, "MatMulExperts"), &X = arg(x, "MatMulExperts"),
             &I = arg(ids, "MatMulExperts");
  if (W.shape.size() != 3)
    fail("MatMulExperts", name, "expert weights must be 3-D {K, N, E}, got " + shape_str(W.shape));
  if (I.dtype != DType::I32 || I.shape.size() != 2)
    fail("MatMulExperts", name, "ids must be I32 {k, T}");
  if (X.shape[0] != W.shape[0])
    fail("MatMulExperts", name,
         "inner dimensions differ: " + shape_str(W.shape) + " vs " + shape_str(X.shape));
  if (rows_of(X.shape) != I.shape[1] && rows_of(X.shape) != I.shape[0] * I.shape[1])
    fail("MatMulExperts", name, "token count of input and ids differ");
  Node n = make_node(Op::MatMulExperts, name, DType::F32, {W.shape[1], I.shape[0], I.shape[1]},
                     {w, x, ids});
  return push(std::move(n));
}

NodeId Graph::matmul_heads(NodeId w, NodeId x, const std::string& name) {
  const Node &W = arg(w, "MatMulHeads"), &X = arg(x, "MatMulHeads");
  if (W.shape.size() != 3)
    fail("MatMulHeads", name, "weights must be 3-D {K, N, H}, got " + shape_str(W.shape));
  if (X.dtype != DType::F32) fail("MatMulHeads", name, "input must be F32");
  const int64_t K = W.shape[0], H = W.shape[2];
  if (X.shape[0] != K || numel(X.shape) % (K * H) != 0)
    fail("MatMulHeads", name,
         "input " + shape_str(X.shape) + " is not rows of " + std::to_string(K) + " for " +
             std::to_string(H) + " heads");
  Node n = make_node(Op::MatMulHeads, name, DType::F32, {W.shape[1], H, numel(X.shape) / (K * H)},
                     {w, x});
  return push(std::move(n));
}

static bool broadcastable(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const bool row = numel(b) == dim(a, 0) && dim(b, 0) == dim(a, 0);
  const bool per_row = dim(b, 0) == 1 && numel(b) == rows_of(a);
  return a == b || row || per_row;
}

NodeId Graph::add(NodeId a, NodeId b, const std::string& name) {
  const Node &A = arg(a, "Add"), &B = arg(b, "Add");
  if (!broadcastable(A.shape, B.shape))
    fail("Add", name, "shapes " + shape_str(A.shape) + " and " + shape_str(B.shape) + " differ");
  Node n = make_node(Op::Add, name, DType::F32, A.shape, {a, b});
  return push(std::move(n));
}

NodeId Graph::mul(NodeId a, NodeId b, const std::string& name) {
  const Node &A = arg(a, "Mul"), &B = arg(b, "Mul");
  if (!broadcastable(A.shape, B.shape))
    fail("Mul", name, "shapes " + shape_str(A.shape) + " and " + shape_str(B.shape) + " differ");
  Node n = make_node(Op::Mul, name, DType::F32, A.shape, {a, b});
  return push(std::move(n));
}

NodeId Graph::scale(NodeId x, float s, const std::string& name) {
  Node n = make_node(Op::Scale, name, DType::F32, arg(x, "Scale").shape, {x});
  n.scalar = s;
  return push(std::move(n));
}

NodeId Graph::rms_norm(NodeId x, NodeId w, float eps, const std::string& name) {
  const Node& X = arg(x, "RMSNorm");
  Node n = make_node(Op::RMSNorm, name, DType::F32, X.shape, {x});
  if (w >= 0) {
    const Node& W = arg(w, "RMSNorm");
    if (numel(W.shape) != X.shape[0])
      fail("RMSNorm", name,
           "weight " + shape_str(W.shape) + " does not match rows of " + shape_str(X.shape));
    n.inputs.push_back(w);
  }
  n.eps = eps;
  return push(std::move(n));
}

NodeId Graph::rope(NodeId x, NodeId positions, const RopeParams& p, const std::string& name) {
  const Node &X = arg(x, "RoPE"), &P = arg(positions, "RoPE");
  if (X.shape.size() < 2) fail("RoPE", name, "input must be {head_dim, heads, tokens}");
  if (P.dtype != DType::I32 || numel(P.shape) != dim(X.shape, 2))
    fail("RoPE", name, "positions must be I32 with one entry per token");
  if (p.n_rot <= 0 || p.n_rot % 2 || p.n_rot > X.shape[0])
    fail(
        "RoPE", name,
        "n_rot " + std::to_string(p.n_rot) + " invalid for head_dim " + std::to_string(X.shape[0]));
  Node n = make_node(Op::RoPE, name, DType::F32, X.shape, {x, positions});
  n.rope = p;
  return push(std::move(n));
}

NodeId Graph::softmax(NodeId x, const std::string& name) {
  Node n = make_node(Op::Softmax, name, DType::F32, arg(x, "Softmax").shape, {x});
  return push(std::move(n));
}

NodeId Graph::sigmoid(NodeId x, const std::string& name) {
  Node n = make_node(Op::Sigmoid, name, DType::F32, arg(x, "Sigmoid").shape, {x});
  return push(std::move(n));
}

NodeId Graph::silu(NodeId x, const std::string& name) {
  Node n = make_node(Op::SiLU, name, DType::F32, arg(x, "SiLU").shape, {x});
  return push(std::move(n));
}

NodeId Graph::swiglu(NodeId gate, NodeId up, const std::string& name) {
  const Node &G = arg(gate, "SwiGLU"), &U = arg(up, "SwiGLU");
  if (G.shape != U.shape)
    fail("SwiGLU", name,
         "gate " + shape_str(G.shape) + " and up " + shape_str(U.shape) + " differ");
  Node n = make_node(Op::SwiGLU, name, DType::F32, G.shape, {gate, up});
  return push(std::move(n));
}

NodeId Graph::gelu(NodeId x, const std::string& name) {
  Node n = make_node(Op::GELU, name, DType::F32, arg(x, "GELU").shape, {x});
  return push(std::move(n));
}

NodeId Graph::top_k(NodeId x, int k, const std::string& name) {
  const Node& X = arg(x, "TopK");
  if (k <= 0 || k > X.shape[0])
    fail("TopK", name,
         "k=" + std::to_string(k) + " outside [1, " + std::to_string(X.shape[0]) + "]");
  Node n = make_node(Op::TopK, name, DType::I32, {k, rows_of(X.shape)}, {x});
  n.k = k;
  return push(std::move(n));
}

NodeId Graph::gather(NodeId x, NodeId ids, const std::string& name) {
  const Node &X = arg(x, "Gather"), &I = arg(ids, "Gather");
  if (I.dtype != DType::I32 || I.shape.size() != 2 || I.shape[1] != rows_of(X.shape))
    fail("Gather", name, "ids must be I32 {k, T} with T = rows of " + shape_str(X.shape));
  Node n = make_node(Op::Gather, name, DType::F32, I.shape, {x, ids});
  return push(std::move(n));
}

NodeId Graph::weighted_sum(NodeId x, NodeId w, const std::string& name) {
  const Node &X = arg(x, "WeightedSum"), &W = arg(w, "WeightedSum");
  if (W.dtype != DType::F32) fail("WeightedSum", name, "weights must be F32");
  if (X.shape.size() != 3 || W.shape.size() != 2 || W.shape[0] != X.shape[1] ||
      W.shape[1] != X.shape[2])
    fail("WeightedSum", name,
         "expects x {N, k, T} and w {k, T}, got " + shape_str(X.shape) + " and " +
             shape_str(W.shape));
  Node n = make_node(Op::WeightedSum, name, DType::F32, {X.shape[0], X.shape[2]}, {x, w});
  return push(std::move(n));
}

NodeId Graph::attention(NodeId q, NodeId k, NodeId v, float scale, int64_t pos_offset,
                        const std::string& name) {
  return attention(q, k, v, scale, pos_offset, 0, name);
}

NodeId Graph::attention(NodeId q, NodeId k, NodeId v, float scale, int64_t pos_offset,
                        int64_t window, const std::string& name) {
  const Node &Q = arg(q, "Attention"), &K = arg(k, "Attention"), &V = arg(v, "Attention");
  if (Q.shape.size() != 3 || K.shape.size() != 3 || V.shape.size() != 3)
    fail("Attention", name, "q, k, v must be 3-D {dim, heads, tokens}");
  if (Q.shape[0] != K.shape[0]) fail("Attention", name, "q and k head dims differ");
  if (K.shape[1] != V.shape[1] || K.shape[2] != V.shape[2])
    fail("Attention", name, "k and v must have the same heads and length");
  if (K.shape[1] == 0 || Q.shape[1] % K.shape[1] != 0)
    fail("Attention", name, "query heads must be a multiple of key/value heads");
  if (pos_offset < 0 || pos_offset + Q.shape[2] > K.shape[2])
    fail("Attention", name, "queries extend past the key sequence");
  if (window < 0) fail("Attention", name, "negative window " + std::to_string(window));
  Node n =
      make_node(Op::Attention, name, DType::F32, {V.shape[0], Q.shape[1], Q.shape[2]}, {q, k, v});
  n.scalar = scale;
  n.pos_offset = pos_offset;
  n.window = window;
  return push(std::move(n));
}

NodeId Graph::attention_shared_kv(NodeId q, NodeId kv, int64_t v_dim, float scale,
                                  int64_t pos_offset, const std::string& name) {
  const Node &Q = arg(q, "Attention"), &K = arg(kv, "Attention");
  if (Q.shape.size() != 3 || K.shape.size() != 3)
    fail("Attention", name, "q and kv must be 3-D {dim, heads, tokens}");
  if (Q.shape[0] != K.shape[0]) fail("Attention", name, "q and k head dims differ");
  if (v_dim <= 0 || v_dim > K.shape[0])
    fail("Attention", name,
         "value size " + std::to_string(v_dim) + " outside the key rows of " +
             std::to_string(K.shape[0]));
  if (K.shape[1] == 0 || Q.shape[1] % K.shape[1] != 0)
    fail("Attention", name, "query heads must be a multiple of key/value heads");
  if (pos_offset < 0 || pos_offset + Q.shape[2] > K.shape[2])
    fail("Attention", name, "queries extend past the key sequence");
  Node n = make_node(Op::Attention, name, DType::F32, {v_dim, Q.shape[1], Q.shape[2]}, {q, kv});
  n.scalar = scale;
  n.pos_offset = pos_offset;
  n.v_dim = v_dim;
  return push(std::move(n));
}

NodeId Graph::copy_to(NodeId x, Device d, const std::string& name) {
  const Node& X = arg(x, "Copy");
  Node n = make_node(Op::Copy, name, X.dtype, X.shape, {x});
  n.device = d;
  return push(std::move(n));
}

NodeId Graph::reshape(NodeId x, const std::vector<int64_t>& shape, const std::string& name) {
  const Node& X = arg(x, "Reshape");
  if (numel(shape) != numel(X.shape) || shape.empty() || shape.size() > size_t(kMaxDims))
    fail("Reshape", name,
         shape_str(X.shape) + " -> " + shape_str(shape) + " changes the element count");
  Node n = make_node(Op::Reshape, name, X.dtype, shape, {x});
  return push(std::move(n));
}

NodeId Graph::cache_append(NodeId cache, NodeId x, int64_t pos, const std::string& name) {
  const Node &C = arg(cache, "CacheAppend"), &X = arg(x, "CacheAppend");
  if (C.op != Op::Input) fail("CacheAppend", name, "the cache must be an Input node");
  if (C.shape.size() != 3 || X.shape.size() != 3 || C.shape[0] != X.shape[0] ||
      C.shape[1] != X.shape[1])
    fail("CacheAppend", name,
         "cache " + shape_str(C.shape) + " and rows " + shape_str(X.shape) +
             " must be {D, H, *} alike");
  if (C.dtype != DType::F32) fail("CacheAppend", name, "the cache must be F32");
  if (pos < 0 || pos + X.shape[2] > C.shape[2])
    fail("CacheAppend", name,
         "positions [" + std::to_string(pos) + ", " + std::to_string(pos + X.shape[2]) +
             ") exceed the cache of " + std::to_string(C.shape[2]));
  Node n = make_node(Op::CacheAppend, name, DType::F32, {C.shape[0], C.shape[1], pos + X.shape[2]},
                     {cache, x});
  n.pos_offset = pos;
  return push(std::move(n));
}

NodeId Graph::slice(NodeId x, int64_t begin, int64_t end, const std::string& name) {
  const Node& X = arg(x, "Slice");
  if (begin < 0 || end <= begin || end > X.shape[0])
    fail("Slice", name,
         "range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside rows of " +
             shape_str(X.shape));
  if (X.dtype != DType::F32) fail("Slice", name, "input must be F32");
  std::vector<int64_t> out = X.shape;
  out[0] = end - begin;
  Node n = make_node(Op::Slice, name, DType::F32, out, {x});
  n.offset = begin;
  return push(std::move(n));
}

NodeId Graph::concat(NodeId a, NodeId b, const std::string& name) {
  const Node &A = arg(a, "Concat"), &B = arg(b, "Concat");
  if (A.dtype != DType::F32 || B.dtype != DType::F32) fail("Concat", name, "inputs must be F32");
  const size_t nd = std::max(A.shape.size(), B.shape.size());
  std::vector<int64_t> out(nd);
  out[0] = dim(A.shape, 0) + dim(B.shape, 0);
  bool ok = true;
  for (size_t i = 1; i < nd; ++i) {
    const int64_t da = dim(A.shape, i), db = dim(B.shape, i);
    out[i] = std::max(da, db);
    ok = ok && (da == db || (i == 1 && (da == 1 || db == 1)));
  }
  if (!ok)
    fail("Concat", name,
         shape_str(A.shape) + " and " + shape_str(B.shape) +
             " differ beyond dim 0 (only a one-entry dim 1 broadcasts)");
  Node n = make_node(Op::Concat, name, DType::F32, out, {a, b});
  return push(std::move(n));
}

static void check_routing(const Node& L, const MoeRouting& r, const char* op,
                          const std::string& name) {
  const int64_t X = L.shape[0];
  if (L.dtype != DType::F32 || L.shape.size() > 2)
    fail(op, name, "logits must be F32 {experts, tokens}, got " + shape_str(L.shape));
  if (r.k <= 0 || r.k > X)
    fail(op, name, "k=" + std::to_string(r.k) + " outside [1, " + std::to_string(X) + "]");
  if (r.n_group < 1 || X % r.n_group != 0)
    fail(op, name,
         std::to_string(r.n_group) + " groups do not divide " + std::to_string(X) + " experts");
  if (r.n_group > 1) {
    const int64_t per_group = X / r.n_group;
    if (r.n_group_used < 1 || r.n_group_used > r.n_group)
      fail(op, name,
           "groups used " + std::to_string(r.n_group_used) + " outside [1, " +
               std::to_string(r.n_group) + "]");
    if (r.k > r.n_group_used * per_group)
      fail(op, name, "k exceeds the experts of the groups kept");
    if (r.group_score == MoeGroupScore::Top2Sum && per_group < 2)
      fail(op, name, "top-2 group scores need at least two experts per group");
  }
}

NodeId Graph::moe_select(NodeId logits, NodeId bias, const MoeRouting& r, const std::string& name) {
  const Node& L = arg(logits, "MoeSelect");
  check_routing(L, r, "MoeSelect", name);
  Node n = make_node(Op::MoeSelect, name, DType::I32, {r.k, dim(L.shape, 1)}, {logits});
  if (bias >= 0) {
    const Node& B = arg(bias, "MoeSelect");
    if (numel(B.shape) != L.shape[0])
      fail("MoeSelect", name,
           "bias " + shape_str(B.shape) + " does not match " + std::to_string(L.shape[0]) +
               " experts");
    n.inputs.push_back(bias);
  }
  n.routing = r;
  return push(std::move(n));
}

NodeId Graph::moe_weights(NodeId logits, NodeId ids, const MoeRouting& r, const std::string& name) {
  const Node &L = arg(logits, "MoeWeights"), &I = arg(ids, "MoeWeights");
  check_routing(L, r, "MoeWeights", name);
  if (I.dtype != DType::I32 || I.shape.size() != 2 || I.shape[0] != r.k ||
      I.shape[1] != dim(L.shape, 1))
    fail("MoeWeights", name,
         "ids must be I32 {" + std::to_string(r.k) + ", " + std::to_string(dim(L.shape, 1)) +
             "}, got " + shape_str(I.shape));
  Node n = make_node(Op::MoeWeights, name, DType::F32, I.shape, {logits, ids});
  n.routing = r;
  return push(std::move(n));
}

std::string Graph::dump() const {
  std::string out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
    out.append("%").append(std::to_string(i)).append(" = ").append(op_name(n.op)).append("(");
    for (size_t j = 0; j < n.inputs.size(); ++j)
      out.append(j ? ", %" : "%").append(std::to_string(n.inputs[j]));
    out +=
        ") " + std::string(dtype_name(n.dtype)) + " " + shape_str(n.shape) + " " + n.device.str();
    if (!n.name.empty()) out += "  " + n.name;
    out += "\n";
  }
  return out;
}

}  // namespace kt::tensor
