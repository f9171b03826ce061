// Adaptive-threshold LIF (ALIF; Bellec et al. 2018 LSNN, 2020 e-prop), the scan policy (scan.h).
//
//   B_t   = thr + gamma a_t                          adaptive threshold
//   r_t   = H(u_{t-1} - B_{t-1})                     the previous step's spike
//   subtract: u_t = (beta u_{t-1} + x_t) - r_t thr
//   zero:     u_t = beta ((1 - r_t) u_{t-1}) + x_t
//   none:     u_t = beta u_{t-1} + x_t
//   a_t   = rho a_{t-1} + r_t
//   s_t   = H(u_t - B_t)
//
// With gamma = 0, B_t is thr exactly and every step is LIF's (lif.h) operation for operation, so
// ALIF(gamma=0) equals LIF bit for bit. The reset and adaptation share r_t; a detached reset
// (the default) cuts the gradient through r_t in both.
#pragma once

#include "neurosim/lif.h"  // Reset, dispatch_spiking

namespace neurosim {

template <Reset R, bool kResetGrad, typename A, typename SG>
struct AlifModel {
  // params (beta, rho, gamma, thr); state and recorded (u, a); locals (u, a before; u, a after)
  static constexpr int kParams = 4, kLane = 4, kState = 2, kRecorded = 2, kLocal = 4;
  static constexpr bool kLocalNeedsNext = true, kCacheLocals = false;
  SG sg;

  NEUROSIM_HD void prepare(const A* p, A* lane) const { lane[0] = p[0]; lane[1] = p[1]; lane[2] = p[2]; lane[3] = p[3]; }

  NEUROSIM_HD A step(const A* lane, A* s, A x, A* rec) const {
    const A beta = lane[0], rho = lane[1], gamma = lane[2], thr = lane[3];
    const A u_prev = s[0], a_prev = s[1];
    const A r = (u_prev - (thr + gamma * a_prev) > A(0)) ? A(1) : A(0);
    A u;
    if (R == Reset::Subtract) u = (beta * u_prev + x) - r * thr;
    else if (R == Reset::Zero) u = beta * ((A(1) - r) * u_prev) + x;
    else u = beta * u_prev + x;
    const A a = rho * a_prev + r;
    s[0] = u;
    s[1] = a;
    rec[0] = u;
    rec[1] = a;
    return (u - (thr + gamma * a) > A(0)) ? A(1) : A(0);
  }

  NEUROSIM_HD void local(const A*, const A* prev, const A* next, A, A* loc) const {
    loc[0] = prev[0]; loc[1] = prev[1]; loc[2] = next[0]; loc[3] = next[1];
  }
  NEUROSIM_HD void next_state(const A* loc, A* s) const { s[0] = loc[2]; s[1] = loc[3]; }

  static constexpr bool kSpiking = true;
  NEUROSIM_HD A emit(const A* lane, const A* s) const {
    return (s[0] - (lane[3] + lane[2] * s[1]) > A(0)) ? A(1) : A(0);
  }
  NEUROSIM_HD void emit_backward(const A* lane, const A* s, A grad_out, A* g_state, A* dpar) const {
    const A gamma = lane[2], thr = lane[3];
    const A ds = grad_out * sg(s[0] - (thr + gamma * s[1]));
    g_state[0] += ds;
    g_state[1] -= gamma * ds;
    dpar[3] -= ds;
    dpar[2] -= ds * s[1];
  }

  NEUROSIM_HD A step_backward(const A* lane, const A* loc, A grad_out, const A* grad_rec, A* carry, A* dpar) const {
    const A beta = lane[0], rho = lane[1], gamma = lane[2], thr = lane[3];
    const A u_prev = loc[0], a_prev = loc[1], u = loc[2], a = loc[3];
    const A ds = grad_out * sg(u - (thr + gamma * a));  // dL/d(u_t - B_t) through the spike
    const A g_u = ds + grad_rec[0] + carry[0];
    const A g_a = -(gamma * ds) + grad_rec[1] + carry[1];
    dpar[3] -= ds;
    dpar[2] -= ds * a;
    const A z_prev = u_prev - (thr + gamma * a_prev);
    const A r = z_prev > A(0) ? A(1) : A(0);
    A carry_u, g_r;
    if (R == Reset::Subtract) {
      carry_u = g_u * beta;
      dpar[0] += g_u * u_prev;
      dpar[3] -= g_u * r;
      g_r = -(g_u * thr);
    } else if (R == Reset::Zero) {
      carry_u = g_u * (beta * (A(1) - r));
      dpar[0] += g_u * ((A(1) - r) * u_prev);
      g_r = -(g_u * beta * u_prev);
    } else {
      carry_u = g_u * beta;
      dpar[0] += g_u * u_prev;
      g_r = A(0);
    }
    A carry_a = g_a * rho;
    dpar[1] += g_a * a_prev;
    g_r += g_a;
    if (kResetGrad) {  // r_t = H(z_{t-1}) with the surrogate derivative
      const A g_z = g_r * sg(z_prev);
      carry_u += g_z;
      carry_a -= gamma * g_z;
      dpar[3] -= g_z;
      dpar[2] -= g_z * a_prev;
    }
    carry[0] = carry_u;
    carry[1] = carry_a;
    return g_u;
  }
};

struct AlifFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options& o, Backward backward, Fn&& fn) {
    dispatch_spiking<AlifModel, A>(o, backward, fn);
  }
};

}  // namespace neurosim
