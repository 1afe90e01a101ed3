#pragma once
// Data types and their traits: the one table of block sizes, byte sizes and conversion
// routines for every ggml/GGUF tensor type. Ids are the ggml type ids stored in GGUF files.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kt::tensor {

enum class DType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
  NVFP4 = 40,
  Q1_0 = 41,
  Q2_0 = 42,
};

// Converts n elements (a multiple of the block size) of a row.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
// Quantizes n elements (a multiple of the block size); returns bytes written.
using QuantizeRowFn = size_t (*)(const float* src, void* dst, int64_t n);

struct TypeTraits {
  DType type;
  const char* name;
  int64_t block_size;      // elements per block
  size_t type_size;        // bytes per block
  bool is_quantized;       // block-quantized (as opposed to plain scalars)
  DequantizeRowFn to_f32;  // nullptr: kt cannot read this type yet
  QuantizeRowFn from_f32;  // nullptr: kt cannot write this type
  DType vec_dot_type;      // activation format the CPU dot product pairs with this weight
};

// Traits of a type id read from a file; nullptr when the id is not a ggml type (or removed).
const TypeTraits* find_type_traits(int32_t id);
const TypeTraits& type_traits(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive, "q4_k"
inline const char* dtype_name(DType t) {
  return type_traits(t).name;
}

// Bytes of a row of ne0 elements; ne0 must be a multiple of the block size.
inline size_t row_size(DType t, int64_t ne0) {
  const TypeTraits& tr = type_traits(t);
  return size_t(ne0 / tr.block_size) * tr.type_size;
}

// Table-driven row conversions; throw kt::Error when the type lacks the routine or
// n is not a multiple of the block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
size_t quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace kt::tensor
