#pragma once
// Per-type reference conversions between f32 and the GGUF block formats. Dequantization is
// exact (matches ggml's dequantize_row_*); quantizers follow ggml's reference algorithms,
// including the scale/min search of the K-quants. n is always a multiple of the block size.
#include <cstddef>
#include <cstdint>

namespace kt::tensor {

void dequantize_row_f32(const void* src, float* dst, int64_t n);
void dequantize_row_f16(const void* src, float* dst, int64_t n);
void dequantize_row_bf16(const void* src, float* dst, int64_t n);
void dequantize_row_q4_0(const void* src, float* dst, int64_t n);
void dequantize_row_q4_1(const void* src, float* dst, int64_t n);
void dequantize_row_q5_0(const void* src, float* dst, int64_t n);
void dequantize_row_q5_1(const void* src, float* dst, int64_t n);
void dequantize_row_q8_0(const void* src, float* dst, int64_t n);
void dequantize_row_q8_1(const void* src, float* dst, int64_t n);
void dequantize_row_q2_K(const void* src, float* dst, int64_t n);
void dequantize_row_q3_K(const void* src, float* dst, int64_t n);
void dequantize_row_q4_K(const void* src, float* dst, int64_t n);
void dequantize_row_q5_K(const void* src, float* dst, int64_t n);
void dequantize_row_q6_K(const void* src, float* dst, int64_t n);
void dequantize_row_q8_K(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_nl(const void* src, float* dst, int64_t n);
void dequantize_row_iq4_xs(const void* src, float* dst, int64_t n);

size_t quantize_row_f32(const float* src, void* dst, int64_t n);
size_t quantize_row_f16(const float* src, void* dst, int64_t n);
size_t quantize_row_bf16(const float* src, void* dst, int64_t n);
size_t quantize_row_q4_0(const float* src, void* dst, int64_t n);
size_t quantize_row_q4_1(const float* src, void* dst, int64_t n);
size_t quantize_row_q5_0(const float* src, void* dst, int64_t n);
size_t quantize_row_q5_1(const float* src, void* dst, int64_t n);
size_t quantize_row_q8_0(const float* src, void* dst, int64_t n);
size_t quantize_row_q8_1(const float* src, void* dst, int64_t n);
size_t quantize_row_q2_K(const float* src, void* dst, int64_t n);
size_t quantize_row_q3_K(const float* src, void* dst, int64_t n);
size_t quantize_row_q4_K(const float* src, void* dst, int64_t n);
size_t quantize_row_q5_K(const float* src, void* dst, int64_t n);
size_t quantize_row_q6_K(const float* src, void* dst, int64_t n);
size_t quantize_row_q8_K(const float* src, void* dst, int64_t n);
size_t quantize_row_iq4_nl(const float* src, void* dst, int64_t n);
size_t quantize_row_iq4_xs(const float* src, void* dst, int64_t n);

}  // namespace kt::tensor
