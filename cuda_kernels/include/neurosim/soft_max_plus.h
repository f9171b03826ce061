// Soft max-plus arithmetic of the Ultra* neurons (log-sum-exp with temperature eps), shared by
// the CUDA kernels and the CPU twin.
//
//   LSE_eps(a_1..a_n) = m + eps * log sum_k exp((a_k - m) / eps),  m = max_k a_k
//
// Its gradient is the softmax p_k = exp((a_k - LSE) / eps), and dLSE/deps is the entropy
// H(p) = -sum_k p_k log p_k, because LSE = sum_k p_k a_k + eps H(p).
//
// Every exponent below is <= 0, so nothing overflows for any eps > 0 and any finite input.
// The float versions of exp and log1p are short polynomials written here rather than libm
// calls: the CPU loops run them 16 lanes at a time (libm's scalar calls do not vectorise without
// -ffast-math) and they give the same results in every build. double and CUDA use the libm /
// CUDA math functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "neurosim/common.h"

namespace neurosim {

#if !defined(__CUDA_ARCH__)
// Horner steps with a fused multiply-add: the build turns off FMA contraction globally (LIF must
// match snnTorch bit for bit), so the polynomials ask for it explicitly.
// Without hardware FMA (a portable -march) fmaf would be a scalar libm call, so use a*x + c.
#if defined(__FMA__)
NEUROSIM_HD float horner_step(float acc, float x, float c) { return __builtin_fmaf(acc, x, c); }
#else
NEUROSIM_HD float horner_step(float acc, float x, float c) { return acc * x + c; }
#endif
#endif

// exp(x) for x <= 0 (the only use here); exactly 0 below the float range.
NEUROSIM_HD float exp_nonpositive(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  const bool underflow = x < -87.0f;
  const float xc = underflow ? -87.0f : x;
  // x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), e^x = 2^n e^r.
  // Round to nearest by adding and removing 1.5 * 2^23 (exact for |n| < 2^22; vectorises).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  // Taylor polynomial of degree 7: truncation error below 3e-9 relative on |r| <= 0.347.
  float p = 1.98412698e-4f;
  p = horner_step(p, r, 1.38888889e-3f);
  p = horner_step(p, r, 8.33333333e-3f);
  p = horner_step(p, r, 4.16666667e-2f);
  p = horner_step(p, r, 1.66666667e-1f);
  p = horner_step(p, r, 0.5f);
  p = horner_step(p, r, 1.0f);
  p = horner_step(p, r, 1.0f);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return underflow ? 0.0f : p * scale;
#endif
}

NEUROSIM_HD double exp_nonpositive(double x) { return exp(x); }

// log(1 + y) for 0 <= y <= 2 (1 + y is a sum of at most three softmax terms, the largest 1).
// With t = y / (2 + y) <= 1/2, log(1 + y) = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...); computing t
// from y keeps full relative precision for tiny y, where 1 + y would round to 1.
NEUROSIM_HD float log1p_upto2(float y) {
#if defined(__CUDA_ARCH__)
  return log1pf(y);
#else
  const float t = y / (2.0f + y);
  const float t2 = t * t;
  // Odd series up to t^25: the remainder is below 1.1e-9 at t = 1/2.
  float s = 1.0f / 25.0f;
  s = horner_step(s, t2, 1.0f / 23.0f);
  s = horner_step(s, t2, 1.0f / 21.0f);
  s = horner_step(s, t2, 1.0f / 19.0f);
  s = horner_step(s, t2, 1.0f / 17.0f);
  s = horner_step(s, t2, 1.0f / 15.0f);
  s = horner_step(s, t2, 1.0f / 13.0f);
  s = horner_step(s, t2, 1.0f / 11.0f);
  s = horner_step(s, t2, 1.0f / 9.0f);
  s = horner_step(s, t2, 1.0f / 7.0f);
  s = horner_step(s, t2, 1.0f / 5.0f);
  s = horner_step(s, t2, 1.0f / 3.0f);
  s = horner_step(s, t2, 1.0f);
  return 2.0f * t * s;
#endif
}

NEUROSIM_HD double log1p_upto2(double y) { return log1p(y); }

// log(1 + y) for 0 <= y <= 1 (1 + y is a two-term softmax sum): y q(y) with q a degree-9
// polynomial fitted to log1p(y)/y on [0, 1] (Chebyshev least squares); relative error below
// 2e-7 in float32, and no division, which matters on the forward pass's critical path.
NEUROSIM_HD float log1p_upto1(float y) {
#if defined(__CUDA_ARCH__)
  return log1pf(y);
#else
  float q = -0.0032140363473445177f;
  q = horner_step(q, y, 0.019649166613817215f);
  q = horner_step(q, y, -0.056435029953718185f);
  q = horner_step(q, y, 0.10533228516578674f);
  q = horner_step(q, y, -0.1525145173072815f);
  q = horner_step(q, y, 0.19651491940021515f);
  q = horner_step(q, y, -0.24947808682918549f);
  q = horner_step(q, y, 0.3332909941673279f);
  q = horner_step(q, y, -0.4999985098838806f);
  q = horner_step(q, y, 1.0f);
  return y * q;
#endif
}

NEUROSIM_HD double log1p_upto1(double y) { return log1p(y); }

// The logistic sigmoid at u and at -u (= 1 - sigmoid(u), computed without cancellation).
template <typename A> struct SigmoidPair {
  A pos;  // sigmoid(u)
  A neg;  // sigmoid(-u)
};

template <typename A>
NEUROSIM_HD SigmoidPair<A> sigmoid_pair(A u) {
  const A e = exp_nonpositive(-(u < A(0) ? -u : u));
  const A big = A(1) / (A(1) + e);
  const A small = e * big;
  return u >= A(0) ? SigmoidPair<A>{big, small} : SigmoidPair<A>{small, big};
}

// Two-term soft max: value, the weight of the first argument (dLSE/da = sigmoid((a - b)/eps),
// so dLSE/db = 1 - weight_a) and the entropy (= dLSE/deps).
template <typename A> struct SoftMax2 {
  A value;
  A weight_a;
  A weight_b;
  A entropy;
};

// inv_eps = 1 / eps, computed once per neuron by the caller (a multiply is cheaper than a divide).
template <typename A>
NEUROSIM_HD SoftMax2<A> soft_max2(A a, A b, A eps, A inv_eps) {
  const A d = a - b;
  const A z = (d < A(0) ? -d : d) * inv_eps;
  const A e = exp_nonpositive(-z);
  const A l = log1p_upto1(e);
  const A big = A(1) / (A(1) + e);
  const A small = e * big;
  SoftMax2<A> r;
  // an infinite peak is the value itself (its shifted terms would be inf - inf), as in the
  // reference; a NaN term still makes the value NaN
  const A peak = d >= A(0) ? a : b;
  const bool infinite_peak = !(peak - peak == A(0)) && a == a && b == b;
  r.value = infinite_peak ? peak : peak + eps * l;
  r.weight_a = d >= A(0) ? big : small;
  r.weight_b = d >= A(0) ? small : big;
  r.entropy = l + z * small;  // -p log p - q log q with -log p = l, -log q = l + z
  return r;
}

// Three-term soft max of (a, b, c): its value, the peak m and 1/S with S = sum_k exp((a_k - m)/eps)
// (so that a weight is exp((a_k - m)/eps) / S, normalised exactly even where the value has lost
// its eps log S part to rounding), and the entropy (= dLSE/deps).
template <typename A> struct SoftMax3 {
  A value;
  A peak;
  A inv_sum;
  A entropy;
};

template <typename A>
NEUROSIM_HD SoftMax3<A> soft_max3_full(A a, A b, A c, A eps) {
  // Sum the two terms that are not the (first) maximum; the maximum contributes exactly 1.
  const bool a_max = a >= b && a >= c;
  const bool b_max = !a_max && b >= c;
  const bool c_max = !a_max && !b_max;
  const A m = a_max ? a : (b_max ? b : c);
  const A za = (a - m) / eps, zb = (b - m) / eps, zc = (c - m) / eps;  // <= 0
  const A ea = a_max ? A(0) : exp_nonpositive(za);
  const A eb = b_max ? A(0) : exp_nonpositive(zb);
  const A ec = c_max ? A(0) : exp_nonpositive(zc);
  const A l = log1p_upto2(ea + eb + ec);
  SoftMax3<A> r;
  const bool infinite_peak = !(m - m == A(0)) && a == a && b == b && c == c;  // as in soft_max2
  r.value = infinite_peak ? m : m + eps * l;
  r.peak = m;
  r.inv_sum = A(1) / (A(1) + ea + eb + ec);
  // H = log S - sum_k p_k z_k (the maximum's z is 0)
  r.entropy = l - r.inv_sum * (ea * za + eb * zb + ec * zc);
  return r;
}

template <typename A>
NEUROSIM_HD A soft_max3(A a, A b, A c, A eps) {
  return soft_max3_full(a, b, c, eps).value;
}

// The softmax weight of argument `a` in a three-term soft max with the given peak and 1/S.
template <typename A>
NEUROSIM_HD A soft_weight(A a, A peak, A inv_sum, A eps) {
  const A z = (a - peak) / eps;
  return exp_nonpositive(z < A(0) ? z : A(0)) * inv_sum;
}

}  // namespace neurosim
