#pragma once
// Scale searches shared by the quantizers: given a small group of floats, find the scale (and
// min) and the integer codes that reproduce the group best. These are ggml's reference
// searches (ggml-quants.c) in their form without an importance matrix, so kt writes blocks of
// the same quality as llama-quantize does without --imatrix.
#include <cmath>
#include <cstdint>

namespace kt::tensor {

// Groups whose largest |x| is below this are treated as all zero (ggml GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even: the rounding of ggml's nearest_int().
inline int nearest_int(float v) {
  return int(std::lrintf(v));
}

// Symmetric codes L[i] in [0, 2*nmax) with x[i] ~ scale * (L[i] - nmax). Starts from the
// scale that maps the largest |x| to -nmax and tries 18 nearby scales, keeping the one of
// least x^2-weighted squared error. Returns the scale (0 for an all-zero group). Q6_K.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L);

// Same code range as make_qx_quants, refined by moving single codes while that lowers the
// x^2-weighted error (up to 5 passes). Q3_K.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

// Parameters of make_qkx2_quants' search over inverse scales (nmax + rmin + rdelta*i)/range.
struct AffineSearch {
  float rmin;
  float rdelta;
  int nstep;
  bool use_mad;  // minimize weighted |error| instead of weighted error^2
};

// Affine codes L[i] in [0, nmax] with x[i] ~ scale * L[i] - *the_min, the_min >= 0. For each
// trial scale the codes are rounded and (scale, min) refit by weighted least squares; the fit
// of least weighted error wins. Returns the scale. Q2_K, Q4_K, Q5_K.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, const AffineSearch& search);

// Index of the IQ4_NL code book value nearest to v (ties go to the larger value).
int iq4nl_index(float v);

// Scale d of one group coded as d * kIQ4NLValues[L[i]]: starts from the scale that maps the
// largest |x| onto the book's end and tries 2*ntry+1 more, keeping the x^2-weighted least
// squares fit of highest quality. Returns 0 for an all-zero group. IQ4_NL, IQ4_XS.
float iq4_search_scale(int n, const float* x, int ntry);

}  // namespace kt::tensor
