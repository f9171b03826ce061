// UltraLIF step math (Minoza 2026; the authors' library form), written once for the CUDA kernel
// and the CPU twin, and the UltraLIF policy of the generic scan (scan.h).
//
//   V'_t = LSE_eps(V_{t-1} + log tau, I_t)        soft max-plus membrane update
//   s_t  = sigmoid((V'_t - theta) / eps)          soft spike in (0, 1), forward and backward
//   V_t  = V'_t (1 - s_t)                         soft multiplicative reset
//
// UltraPLIF is the same op with a learned log tau. 1 - s_t is evaluated as sigmoid(-u), which
// keeps its precision when s_t rounds to 1.
#pragma once

#include "neurosim/common.h"
#include "neurosim/soft_max_plus.h"

namespace neurosim {

template <typename A> struct UltraStep {
  A membrane;  // V'_t
  A spike;     // s_t
  A state;     // V_t
};

template <typename A>
NEUROSIM_HD UltraStep<A> ultralif_step(A v_prev, A current, A log_tau, A eps, A inv_eps, A theta) {
  const A v_new = soft_max2(v_prev + log_tau, current, eps, inv_eps).value;
  const SigmoidPair<A> s = sigmoid_pair((v_new - theta) * inv_eps);
  return UltraStep<A>{v_new, s.pos, v_new * s.neg};
}

template <typename A> struct UltraGradState {
  A carry;  // dL/dV_t arriving from step t+1 (and from the final state)
  A dlog_tau;
  A deps;
  A dtheta;
};

// Everything one reverse step needs from its forward step.
template <typename A> struct UltraLocal {
  A membrane;  // V'_t
  A weight_a;  // dV'/dV_{t-1}
  A weight_b;  // dV'/dI_t
  A entropy;   // dV'/deps
  A u;         // (V'_t - theta) / eps
  A slope;     // ds/dV'
  A keep;      // 1 - s_t
};

template <typename A>
NEUROSIM_HD UltraLocal<A> ultralif_local(A v_prev, A current, A log_tau, A eps, A inv_eps, A theta) {
  const SoftMax2<A> lse = soft_max2(v_prev + log_tau, current, eps, inv_eps);
  const A u = (lse.value - theta) * inv_eps;
  const SigmoidPair<A> s = sigmoid_pair(u);
  return UltraLocal<A>{lse.value, lse.weight_a, lse.weight_b, lse.entropy, u, s.pos * s.neg * inv_eps, s.neg};
}

// One reverse step; returns dL/dI_t and moves the carry to dL/dV_{t-1}.
template <typename A>
NEUROSIM_HD A ultralif_step_backward(const UltraLocal<A>& c, A grad_spike, A grad_membrane, UltraGradState<A>& g) {
  const A k = (grad_spike - g.carry * c.membrane) * c.slope;  // both paths through s
  const A grad_v_new = k + g.carry * c.keep + grad_membrane;  // dL/dV'_t
  g.dtheta -= k;
  g.deps += grad_v_new * c.entropy - k * c.u;
  const A grad_a = grad_v_new * c.weight_a;
  g.dlog_tau += grad_a;
  g.carry = grad_a;
  return grad_v_new * c.weight_b;
}

// The scan policy: parameters (log tau, eps, theta), state (V), recorded (V'), output s_t. Its
// locals hold the soft max's weights, so the CPU backward caches them instead of recomputing
// the transcendental functions; the GPU rebuilds them from the replayed states.
template <typename A>
struct UltraLifModel {
  static constexpr int kParams = 3, kLane = 4, kState = 1, kRecorded = 1, kLocal = 7;
  static constexpr bool kLocalNeedsNext = false, kCacheLocals = true;
  static constexpr int kTimeTile = 1;  // the CPU forward's time tiles (scan.h) measured slower here
  enum { kMembrane, kWeightA, kWeightB, kEntropy, kU, kSlope, kKeep };

  NEUROSIM_HD void prepare(const A* p, A* lane) const {
    lane[0] = p[0];          // log tau
    lane[1] = p[1];          // eps
    lane[2] = A(1) / p[1];   // 1 / eps
    lane[3] = p[2];          // theta
  }
  NEUROSIM_HD A step(const A* lane, A* s, A x, A* rec) const {
    const UltraStep<A> r = ultralif_step(s[0], x, lane[0], lane[1], lane[2], lane[3]);
    s[0] = r.state;
    rec[0] = r.membrane;
    return r.spike;
  }
  NEUROSIM_HD void local(const A* lane, const A* prev, const A*, A x, A* loc) const {
    const UltraLocal<A> c = ultralif_local(prev[0], x, lane[0], lane[1], lane[2], lane[3]);
    loc[kMembrane] = c.membrane; loc[kWeightA] = c.weight_a; loc[kWeightB] = c.weight_b;
    loc[kEntropy] = c.entropy; loc[kU] = c.u; loc[kSlope] = c.slope; loc[kKeep] = c.keep;
  }
  NEUROSIM_HD void next_state(const A* loc, A* s) const { s[0] = loc[kMembrane] * loc[kKeep]; }
  NEUROSIM_HD A step_backward(const A*, const A* loc, A grad_out, const A* grad_rec, A* carry, A* dpar) const {
    const UltraLocal<A> c{loc[kMembrane], loc[kWeightA], loc[kWeightB], loc[kEntropy], loc[kU], loc[kSlope], loc[kKeep]};
    UltraGradState<A> g{carry[0], dpar[0], dpar[1], dpar[2]};
    const A dx = ultralif_step_backward(c, grad_out, grad_rec[0], g);
    carry[0] = g.carry;
    dpar[0] = g.dlog_tau;
    dpar[1] = g.deps;
    dpar[2] = g.dtheta;
    return dx;
  }
};

struct UltraLifFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options&, Backward, Fn&& fn) { fn(UltraLifModel<A>{}); }
};

}  // namespace neurosim
