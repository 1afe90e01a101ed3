// Scale searches of ggml's reference quantizers (ggml-quants.c), without importance matrix.
// The order of operations follows ggml so that kt's choices match llama-quantize's closely.
#include "tensor/quant_search.h"

#include <algorithm>
#include <cassert>

#include "tensor/quant_blocks.h"

namespace kt::tensor {
namespace {

// The element of largest magnitude, with its sign: the scales are anchored on it.
float signed_absmax(int n, const float* x, float* amax) {
  float max = 0.0f;
  *amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > *amax) {
      *amax = ax;
      max = x[i];
    }
  }
  return max;
}

int clamp_code(int l, int lo, int hi) {
  return std::max(lo, std::min(hi, l));
}

// Weighted least-squares fit of x ~ scale * l for the codes of inverse scale iscale (weights
// x^2): sumlx / suml2 is the best scale for these codes and sumlx^2 / suml2 its quality.
struct SymmetricFit {
  float sumlx = 0.0f, suml2 = 0.0f;
};

SymmetricFit fit_symmetric(int n, int nmax, const float* x, float iscale) {
  SymmetricFit f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_code(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    const float w = x[i] * x[i];
    f.sumlx += w * x[i] * l;
    f.suml2 += w * l * l;
  }
  return f;
}

void write_symmetric(int n, int nmax, const float* x, float iscale, int8_t* L) {
  for (int i = 0; i < n; ++i) {
    L[i] = int8_t(nmax + clamp_code(nearest_int(iscale * x[i]), -nmax, nmax - 1));
  }
}

}  // namespace

float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t(0));
    return 0.0f;
  }
  // Mapping the extreme element to -nmax uses the full range [-nmax, nmax-1] on its side.
  float iscale = -nmax / max;
  SymmetricFit f = fit_symmetric(n, nmax, x, iscale);
  write_symmetric(n, nmax, x, iscale, L);
  float scale = f.suml2 != 0.0f ? f.sumlx / f.suml2 : 0.0f;
  float best = scale * f.sumlx;
  // Slightly smaller or larger ranges often round the bulk of the group better.
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    f = fit_symmetric(n, nmax, x, iscale);
    if (f.suml2 > 0 && f.sumlx * f.sumlx > best * f.suml2) {
      write_symmetric(n, nmax, x, iscale, L);
      scale = f.sumlx / f.suml2;
      best = scale * f.sumlx;
    }
  }
  return scale;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t(0));
    return 0.0f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0.0f, suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_code(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = int8_t(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  // Coordinate descent: re-round each code against the best scale of the others and keep
  // the change when the fit quality sumlx^2 / suml2 rises.
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx <= 0) continue;
      float sl2 = suml2 - w * L[i] * L[i];
      const int new_l = clamp_code(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      slx += w * x[i] * new_l;
      sl2 += w * new_l * new_l;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = int8_t(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++n_changed;
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, const AffineSearch& search) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  // The format subtracts a non-negative min, so the offset never goes above zero.
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t(0));
    *the_min = -min;
    return 0.0f;
  }
  auto error_of = [&](float scale, float offset, const uint8_t* codes) {
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * codes[i] + offset - x[i];
      err += weights[i] * (search.use_mad ? std::fabs(diff) : diff * diff);
    }
    return err;
  };
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(clamp_code(nearest_int(iscale * (x[i] - min)), 0, nmax));
  }
  if (search.nstep < 1) {
    *the_min = -min;
    return scale;
  }
  float best_error = error_of(scale, min, L);
  assert(n <= 32);
  uint8_t Laux[32];  // groups are at most 32 elements (Q4_K, Q5_K)
  for (int is = 0; is <= search.nstep; ++is) {
    iscale = (search.rmin + search.rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_code(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = uint8_t(l);
      sum_l += weights[i] * l;
      sum_l2 += weights[i] * l * l;
      sum_xl += weights[i] * l * x[i];
    }
    // Closed-form weighted least squares for (scale, offset) given these codes.
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    const float cur_error = error_of(this_scale, this_min, Laux);
    if (cur_error < best_error) {
      std::copy(Laux, Laux + n, L);
      best_error = cur_error;
      scale = this_scale;
      min = this_min;
    }
  }
  *the_min = -min;
  return scale;
}

int iq4nl_index(float v) {
  // The book is sorted: v takes level i once it reaches the midpoint of levels i-1 and i.
  // Comparing 2v with the sum of neighbours keeps the midpoints exact.
  const float v2 = v + v;
  int idx = 0;
  for (int i = 1; i < 16; ++i) idx += v2 >= float(kIQ4NLValues[i - 1] + kIQ4NLValues[i]);
  return idx;
}

float iq4_search_scale(int n, const float* x, int ntry) {
  float amax;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) return 0.0f;
  // Quality of the codes chosen with inverse scale id: the x^2-weighted least squares scale
  // is sumqx / sumq2 and the error it leaves falls as sumqx^2 / sumq2 rises.
  auto fit = [&](float id, float* sumqx, float* sumq2) {
    *sumqx = *sumq2 = 0.0f;
    for (int j = 0; j < n; ++j) {
      const float q = kIQ4NLValues[iq4nl_index(id * x[j])];
      const float w = x[j] * x[j];
      *sumqx += w * q * x[j];
      *sumq2 += w * q * q;
    }
  };
  float sumqx, sumq2;
  fit(-float(kIQ4NLValues[0]) / max, &sumqx, &sumq2);
  float d = sumqx / sumq2;
  float best = d * sumqx;
  // The book is asymmetric (-127..113): also try mapping the extreme element onto the
  // negative end, with small perturbations of the range.
  for (int itry = -ntry; itry <= ntry; ++itry) {
    fit((itry + kIQ4NLValues[0]) / max, &sumqx, &sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

}  // namespace kt::tensor
