// Leaky integrator without spikes (the usual readout layer), the scan policy (scan.h):
//
//   u_t = beta u_{t-1} + x_t,   output u_t
//
// snnTorch: Leaky(reset_mechanism="none") read through its membrane; Norse: LIBox (LI with an
// instantaneous current); SpikingJelly: a LIF node with v_threshold=inf.
#pragma once

#include "neurosim/common.h"

namespace neurosim {

template <typename A>
struct LiModel {
  static constexpr int kParams = 1, kLane = 1, kState = 1, kRecorded = 0, kLocal = 1;
  static constexpr bool kLocalNeedsNext = false, kCacheLocals = false;

  NEUROSIM_HD void prepare(const A* p, A* lane) const { lane[0] = p[0]; }
  NEUROSIM_HD A step(const A* lane, A* s, A x, A*) const {
    s[0] = lane[0] * s[0] + x;
    return s[0];
  }
  NEUROSIM_HD void local(const A*, const A* prev, const A*, A, A* loc) const { loc[0] = prev[0]; }
  NEUROSIM_HD void next_state(const A*, A*) const {}  // never cached (kCacheLocals is false)
  static constexpr bool kSpiking = false;  // the output is the membrane itself
  NEUROSIM_HD A emit(const A*, const A* s) const { return s[0]; }
  NEUROSIM_HD void emit_backward(const A*, const A*, A grad_out, A* g_state, A*) const { g_state[0] += grad_out; }
  NEUROSIM_HD A step_backward(const A* lane, const A* loc, A grad_out, const A*, A* carry, A* dpar) const {
    const A g = grad_out + carry[0];  // dL/du_t
    carry[0] = lane[0] * g;
    dpar[0] += g * loc[0];
    return g;
  }
};

struct LiFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options&, Backward, Fn&& fn) { fn(LiModel<A>{}); }
};

}  // namespace neurosim
