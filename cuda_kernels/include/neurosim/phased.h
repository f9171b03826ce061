// Phased spiking neurons: the Phased LSTM time gate (Neil, Pfeiffer & Liu, NIPS 2016) fused into
// the generic scan (scan.h) as a wrapper policy around any model with an emission (LIF, Synaptic,
// ALIF, LI). Per lane, tau > 0, shift, r_on in (0, 1] and the closed-phase leak alpha; per step
// and batch element, the timestamp t:
//
//   phi   = ((t - shift) mod tau) / tau        floor modulus, in [0, 1) also for t < shift
//   open  = phi < r_on
//   k     = open ? 1 - |2 phi / r_on - 1| : alpha phi
//   cand  = M.step(state_{t-1}, x_t)            the plain neuron's update
//   state_t = k cand + (1 - k) state_{t-1}      every state variable (the reference's formula:
//                                               exact at k = 0 and k = 1)
//   out_t = M.emit(state_t) (x open for a spiking model); recorded values: state_t
//
// A step whose timestamp is NaN lies outside its sequence (padding past `lengths`, set by
// neurosim.functional.phased_scan): its gate is shut, k = 0 and closed, so the state is kept
// exactly, nothing is emitted and no gradient reaches the gate's parameters from it.
//
// Operation for operation the PyTorch reference (neurosim/functional/phased.py: _phase,
// gate_from_phase; neurosim/core/phased_reference.py), so with float32 timestamps the gate is
// bit-identical to neurosim.functional.time_gate (up to double rounding in the floor modulus, see
// floor_mod), and with the gate always open (k = 1: e.g. integer timestamps, tau = 1, shift = 0.5,
// r_on = 1, so phi = 0.5 at every step) every step is the plain model's, bit for bit.
//
// Backward: with G = dL/dstate_t (carry + recorded + emission gradient),
//   dL/dcand = k G (through M.step_backward with no output gradient), dL/dstate_{t-1} += (1 - k) G,
//   dL/dk = sum_j G_j (cand_j - prev_j), then through the gate:
//   open:   dk/dphi = -sgn(z) 2 / r_on, dk/dr_on = sgn(z) 2 phi / r_on^2 with z = 2 phi / r_on - 1
//   closed: dk/dphi = alpha, dk/dalpha = phi
//   dphi/dtau = -(t - shift) / tau^2, dphi/dshift = -1 / tau (torch.remainder's gradients).
#pragma once

#include <cmath>
#include <type_traits>

#include "neurosim/common.h"
#include "neurosim/scan.h"  // IsTimed

namespace neurosim {

// a mod b in [0, b) for b > 0, exactly as torch.remainder computes it for float: the exact
// fmod, then + b for a negative remainder, rounded once; that is, a - q b rounded once with
// q = floor(a / b). Two forms, both checked bit for bit against torch's formula
// (tests/cpp/floor_mod_check.cpp, with and without an FMA instruction):
//
// floor_mod_near, in float, for |a / b| < 2^22: q0 = floor(fl(a / b)) is q or q + 1 (the rounding
// is monotone and q, q + 1 are floats), so fma(-q0, b, a) is the answer when it is >= 0, and
// otherwise fma(-(q0 - 1), b, a) is. Returns false where |a / b| is too large for it (NaN passes,
// as NaN). Without an FMA instruction (baseline x86-64) q0 b is exact in double and so is the
// difference, except for tiny negative a, where it can round twice.
NEUROSIM_HD bool floor_mod_near(float a, float b, float& r) {
  const float q0 = floorf(a / b);
#if defined(__CUDA_ARCH__) || defined(__FMA__)
  const float r0 = fmaf(-q0, b, a);
  r = r0 < 0.0f ? fmaf(1.0f - q0, b, a) : r0;
#else
  const double r0 = static_cast<double>(a) - static_cast<double>(q0) * static_cast<double>(b);
  r = static_cast<float>(r0 < 0.0 ? r0 + static_cast<double>(b) : r0);
#endif
  return !(fabsf(q0) >= 4194304.0f);  // 2^22
}

// floor_mod_wide, for any quotient, worked in double: with q = floor(a / b), a - q b is a
// multiple of b's float ulp with fewer than 2^53 of them while |a / b| < 2^80, so one fma gives
// it exactly; q is off by at most |a / b| 2^-52, so a second such step leaves it off by at most
// one, and one step of b corrects that (exactly). The single rounding to float is then torch's.
// (In float, q loses integers beyond |a / b| = 2^24: the gate left [0, 1] for timestamps far
// from the shift.) Without an FMA instruction q is split in two so that each product with b is
// exact. Double vectors are half as wide and the divisions slow: the CPU blocks take this form
// only when a lane needs it (PhasedModel::time_values_block).
NEUROSIM_HD float floor_mod_wide(float a, float b) {
  const double bd = b;
  double r = a;
  for (int pass = 0; pass < 2; ++pass) {
    const double q = floor(r / bd);
#if defined(__CUDA_ARCH__) || defined(__FMA__)
    r = fma(-q, bd, r);
#else
    // Veltkamp's split of q into 26 + 27 bits: each product with b (24 bits) is then exact
    const double split = q * 134217729.0, q_hi = split - (split - q), q_lo = q - q_hi;
    r = (r - q_hi * bd) - q_lo * bd;
#endif
  }
  r = r < 0.0 ? r + bd : r;
  r = r >= bd ? r - bd : r;
  return static_cast<float>(r);
}

NEUROSIM_HD float floor_mod(float a, float b) {
  float r;
  return floor_mod_near(a, b, r) ? r : floor_mod_wide(a, b);
}
// double: fmod itself.
NEUROSIM_HD double floor_mod(double a, double b) {
  double m = fmod(a, b);
  if (m != 0 && ((b < 0) != (m < 0))) m += b;
  return m;
}

// The gate of one lane at one step, from a = t - shift and r = a mod tau.
template <typename A> struct GateValue {
  A a;     // t - shift
  A phi;   // phase in [0, 1)
  A k;     // gate
  A open;  // 1 in the open phase, else 0
  A z;     // 2 phi / r_on - 1: its sign is the triangle's slope
};

template <typename A>
NEUROSIM_HD GateValue<A> time_gate_from(A a, A r, A tau, A r_on, A alpha) {
  GateValue<A> g;
  g.a = a;
  g.phi = r / tau;  // NaN for a padding step: comparisons with it are false
  const bool open = g.phi < r_on;
  const A z = A(2) * g.phi / r_on - A(1);
  const A triangle = A(1) - (z < A(0) ? -z : z);
  // closed: alpha phi, and 0 for a padding step (phi > 0 is false for NaN; phi >= 0 otherwise,
  // so valid steps are unchanged); one select, no branch, so the lane loops stay vectorised
  g.k = open ? triangle : alpha * (g.phi > A(0) ? g.phi : A(0));
  g.open = open ? A(1) : A(0);
  g.z = z;
  return g;
}

template <class M, typename A>
struct PhasedModel {
  static constexpr int P0 = M::kParams, L0 = M::kLane, S = M::kState, ML = M::kLocal;
  static constexpr int R0 = M::kRecorded > 0 ? M::kRecorded : 1;
  static_assert(M::kRecorded == 0 || M::kRecorded == M::kState, "the phased wrapper records the blended state");
  // parameters: M's, then tau, shift, r_on, alpha; lane constants: the same, then 1/tau and 1/r_on
  // (the backward's derivatives; the forward divides as the reference does)
  static constexpr int kParams = P0 + 4, kLane = L0 + 6, kState = S, kRecorded = M::kRecorded;
  // locals: M's locals of the step, prev state, candidate state, t - shift, phi, k, dk/dphi, open
  static constexpr int kLocal = ML + 2 * S + 5;
  static constexpr bool kLocalNeedsNext = false, kCacheLocals = false, kTimed = true;
  static constexpr int kTimeValues = 2;  // a = t - shift and r = a mod tau (the phase is r / tau)
  M m;

  NEUROSIM_HD void prepare(const A* p, A* lane) const {
    m.prepare(p, lane);
    for (int j = 0; j < 4; ++j) lane[L0 + j] = p[P0 + j];
    lane[L0 + 4] = A(1) / p[P0];
    lane[L0 + 5] = A(1) / p[P0 + 2];
  }

  NEUROSIM_HD void time_values(const A* lane, A t, A* tv) const {
    tv[0] = t - lane[L0 + 1];
    tv[1] = floor_mod(tv[0], lane[L0]);
  }

  // A CPU block's time values: float's near form for every lane, then, only if some lane's
  // quotient is too large for it (timestamps far from the shift), the wide form for the block;
  // so that the lane loops stay float vectors of full width.
  template <int W>
  NEUROSIM_HD void time_values_block(const A (&lane)[kLane][W], A (&tv)[kTimeValues][W], int lanes) const {
    if constexpr (std::is_same_v<A, float>) {
      int wide = 0;
      for (int l = 0; l < lanes; ++l) {
        const A a = tv[0][l] - lane[L0 + 1][l];
        A r;
        wide |= floor_mod_near(a, lane[L0][l], r) ? 0 : 1;
        tv[0][l] = a;
        tv[1][l] = r;
      }
      if (wide)
        for (int l = 0; l < lanes; ++l) tv[1][l] = floor_mod_wide(tv[0][l], lane[L0][l]);
    } else {
      for (int l = 0; l < lanes; ++l) {
        tv[0][l] = tv[0][l] - lane[L0 + 1][l];
        tv[1][l] = floor_mod(tv[0][l], lane[L0][l]);
      }
    }
  }

  NEUROSIM_HD GateValue<A> gate(const A* lane, const A* tv) const {
    return time_gate_from(tv[0], tv[1], lane[L0], lane[L0 + 2], lane[L0 + 3]);
  }

  NEUROSIM_HD A step(const A* lane, A* s, A x, const A* tv, A* rec) const {
    const GateValue<A> g = gate(lane, tv);
    A cand[S], mrec[R0];
    for (int j = 0; j < S; ++j) cand[j] = s[j];
    m.step(lane, cand, x, mrec);
    for (int j = 0; j < S; ++j) s[j] = g.k * cand[j] + (A(1) - g.k) * s[j];
    for (int j = 0; j < kRecorded; ++j) rec[j] = s[j];
    const A out = m.emit(lane, s);
    return M::kSpiking ? out * g.open : out;
  }

  NEUROSIM_HD void local(const A* lane, const A* prev, const A*, A x, const A* tv, A* loc) const {
    const GateValue<A> g = gate(lane, tv);
    A cand[S], mrec[R0];
    for (int j = 0; j < S; ++j) cand[j] = prev[j];
    m.step(lane, cand, x, mrec);
    m.local(lane, prev, cand, x, loc);
    for (int j = 0; j < S; ++j) {
      loc[ML + j] = prev[j];
      loc[ML + S + j] = cand[j];
    }
    // a padding step (NaN timestamp) keeps no NaN: a = phi = 0, and dk/dphi = 0 so that nothing
    // reaches the gate's parameters from it
    const bool inside = g.a == g.a;
    loc[ML + 2 * S] = inside ? g.a : A(0);
    loc[ML + 2 * S + 1] = inside ? g.phi : A(0);
    loc[ML + 2 * S + 2] = g.k;
    // dk/dphi (torch's conventions: abs'(0) = 0, the unselected branch gets nothing)
    const A sgn = g.z > A(0) ? A(1) : (g.z < A(0) ? A(-1) : A(0));
    loc[ML + 2 * S + 3] = g.open > A(0) ? -(sgn * A(2) * lane[L0 + 5]) : (inside ? lane[L0 + 3] : A(0));
    loc[ML + 2 * S + 4] = g.open;
  }

  // Not cached on the CPU either: the locals are 2S + 4 rows more per step than the replay keeps,
  // and the extra chunk traffic cost more than recomputing the gate (measured).
  NEUROSIM_HD void next_state(const A* loc, A* s) const {
    const A k = loc[ML + 2 * S + 2];
    for (int j = 0; j < S; ++j) s[j] = k * loc[ML + S + j] + (A(1) - k) * loc[ML + j];
  }

  NEUROSIM_HD A step_backward(const A* lane, const A* loc, A grad_out, const A* grad_rec, A* carry, A* dpar) const {
    const A* prev = loc + ML;
    const A* cand = loc + ML + S;
    const A a = loc[ML + 2 * S], phi = loc[ML + 2 * S + 1], k = loc[ML + 2 * S + 2], slope = loc[ML + 2 * S + 3];
    const A inv_tau = lane[L0 + 4], inv_r_on = lane[L0 + 5];
    const bool is_open = loc[ML + 2 * S + 4] > A(0);
    A s[S], g[S];  // the blended state (as the forward computed it) and dL/dstate_t
    for (int j = 0; j < S; ++j) {
      s[j] = k * cand[j] + (A(1) - k) * prev[j];
      g[j] = carry[j] + (j < kRecorded ? grad_rec[j] : A(0));
    }
    m.emit_backward(lane, s, M::kSpiking ? (is_open ? grad_out : A(0)) : grad_out, g, dpar);
    A g_k = A(0), g_cand[S], no_rec[R0];
    for (int j = 0; j < S; ++j) {
      g_k += g[j] * (cand[j] - prev[j]);
      g_cand[j] = k * g[j];
    }
    for (int j = 0; j < R0; ++j) no_rec[j] = A(0);
    const A dx = m.step_backward(lane, loc, A(0), no_rec, g_cand, dpar);  // g_cand -> dL/dprev via cand
    for (int j = 0; j < S; ++j) carry[j] = g_cand[j] + (A(1) - k) * g[j];
    // through the gate (torch's conventions: abs'(0) = 0, the unselected branch gets nothing)
    const A g_phi = g_k * slope;
    const A g_phi_inv_tau = g_phi * inv_tau;
    dpar[P0] -= g_phi_inv_tau * a * inv_tau;
    dpar[P0 + 1] -= g_phi_inv_tau;
    dpar[P0 + 2] += is_open ? -g_k * (slope * phi * inv_r_on) : A(0);
    dpar[P0 + 3] += is_open ? A(0) : g_k * phi;  // padding: phi = 0
    return dx;
  }
};

// The family of a phased model: the inner family's dispatch (reset, surrogate, detached reset),
// each model wrapped.
template <class Family>
struct PhasedFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options& o, Backward backward, Fn&& fn) {
    Family::template dispatch<A>(o, backward, [&](const auto& inner) {
      using Inner = std::decay_t<decltype(inner)>;
      fn(PhasedModel<Inner, A>{inner});
    });
  }
};

}  // namespace neurosim
