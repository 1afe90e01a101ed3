#include "tensor/dtype.h"

#include <array>
#include <cctype>
#include <string>

#include "tensor/error.h"
#include "tensor/quants.h"

namespace kt::tensor {
namespace {

constexpr int kMaxTypeId = 43;  // GGML_TYPE_COUNT

// One row per ggml type. Types kt cannot convert yet still carry their sizes so that files
// holding them can be listed (kt gguf) and their extents checked.
constexpr TypeTraits kTraits[] = {
    {DType::F32, "F32", 1, 4, false, dequantize_row_f32, quantize_row_f32, DType::F32},
    {DType::F16, "F16", 1, 2, false, dequantize_row_f16, quantize_row_f16, DType::F32},
    {DType::BF16, "BF16", 1, 2, false, dequantize_row_bf16, quantize_row_bf16, DType::F32},
    {DType::Q4_0, "Q4_0", 32, 18, true, dequantize_row_q4_0, quantize_row_q4_0, DType::Q8_0},
    {DType::Q4_1, "Q4_1", 32, 20, true, dequantize_row_q4_1, quantize_row_q4_1, DType::Q8_1},
    {DType::Q5_0, "Q5_0", 32, 22, true, dequantize_row_q5_0, quantize_row_q5_0, DType::Q8_0},
    {DType::Q5_1, "Q5_1", 32, 24, true, dequantize_row_q5_1, quantize_row_q5_1, DType::Q8_1},
    {DType::Q8_0, "Q8_0", 32, 34, true, dequantize_row_q8_0, quantize_row_q8_0, DType::Q8_0},
    {DType::Q8_1, "Q8_1", 32, 36, true, dequantize_row_q8_1, quantize_row_q8_1, DType::Q8_1},
    {DType::Q2_K, "Q2_K", 256, 84, true, dequantize_row_q2_K, quantize_row_q2_K, DType::Q8_K},
    {DType::Q3_K, "Q3_K", 256, 110, true, dequantize_row_q3_K, quantize_row_q3_K, DType::Q8_K},
    {DType::Q4_K, "Q4_K", 256, 144, true, dequantize_row_q4_K, quantize_row_q4_K, DType::Q8_K},
    {DType::Q5_K, "Q5_K", 256, 176, true, dequantize_row_q5_K, quantize_row_q5_K, DType::Q8_K},
    {DType::Q6_K, "Q6_K", 256, 210, true, dequantize_row_q6_K, quantize_row_q6_K, DType::Q8_K},
    {DType::Q8_K, "Q8_K", 256, 292, true, dequantize_row_q8_K, quantize_row_q8_K, DType::Q8_K},
    {DType::IQ4_NL, "IQ4_NL", 32, 18, true, dequantize_row_iq4_nl, quantize_row_iq4_nl,
     DType::Q8_0},
    {DType::IQ4_XS, "IQ4_XS", 256, 136, true, dequantize_row_iq4_xs, quantize_row_iq4_xs,
     DType::Q8_K},
    // Known to the file format, not yet computable by kt.
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ2_XS, "IQ2_XS", 256, 74, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ3_XXS, "IQ3_XXS", 256, 98, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ1_S, "IQ1_S", 256, 50, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ3_S, "IQ3_S", 256, 110, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ2_S, "IQ2_S", 256, 82, true, nullptr, nullptr, DType::Q8_K},
    {DType::IQ1_M, "IQ1_M", 256, 56, true, nullptr, nullptr, DType::Q8_K},
    {DType::TQ1_0, "TQ1_0", 256, 54, true, nullptr, nullptr, DType::Q8_K},
    {DType::TQ2_0, "TQ2_0", 256, 66, true, nullptr, nullptr, DType::Q8_K},
    {DType::MXFP4, "MXFP4", 32, 17, true, nullptr, nullptr, DType::Q8_0},
    {DType::NVFP4, "NVFP4", 64, 36, true, nullptr, nullptr, DType::Q8_0},
    {DType::Q1_0, "Q1_0", 128, 18, true, nullptr, nullptr, DType::Q8_0},
    {DType::Q2_0, "Q2_0", 64, 18, true, nullptr, nullptr, DType::Q8_0},
    {DType::I8, "I8", 1, 1, false, nullptr, nullptr, DType::I8},
    {DType::I16, "I16", 1, 2, false, nullptr, nullptr, DType::I16},
    {DType::I32, "I32", 1, 4, false, nullptr, nullptr, DType::I32},
    {DType::I64, "I64", 1, 8, false, nullptr, nullptr, DType::I64},
    {DType::F64, "F64", 1, 8, false, nullptr, nullptr, DType::F64},
};

constexpr std::array<int, kMaxTypeId> build_index() {
  std::array<int, kMaxTypeId> idx{};
  for (int& i : idx) i = -1;
  for (int i = 0; i < int(std::size(kTraits)); ++i) idx[int(kTraits[i].type)] = i;
  return idx;
}
constexpr std::array<int, kMaxTypeId> kIndex = build_index();

}  // namespace

const TypeTraits* find_type_traits(int32_t id) {
  if (id < 0 || id >= kMaxTypeId || kIndex[id] < 0) return nullptr;
  return &kTraits[kIndex[id]];
}

const TypeTraits& type_traits(DType t) {
  const TypeTraits* tr = find_type_traits(int32_t(t));
  if (!tr) throw Error("unknown tensor type id " + std::to_string(int32_t(t)));
  return *tr;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const TypeTraits& tr : kTraits) {
    std::string_view n = tr.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; ++i)
      eq = std::toupper(static_cast<unsigned char>(name[i])) == n[i];
    if (eq) return tr.type;
  }
  return std::nullopt;
}

static void check_multiple(const TypeTraits& tr, int64_t n) {
  if (n < 0 || n % tr.block_size != 0)
    throw Error(std::string("row of ") + std::to_string(n) + " elements is not a multiple of the " +
                tr.name + " block size " + std::to_string(tr.block_size));
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const TypeTraits& tr = type_traits(t);
  if (!tr.to_f32) throw Error(std::string("cannot dequantize tensor type ") + tr.name);
  check_multiple(tr, n);
  tr.to_f32(src, dst, n);
}

size_t quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const TypeTraits& tr = type_traits(t);
  if (!tr.from_f32) throw Error(std::string("cannot quantize to tensor type ") + tr.name);
  check_multiple(tr, n);
  return tr.from_f32(src, dst, n);
}

}  // namespace kt::tensor
