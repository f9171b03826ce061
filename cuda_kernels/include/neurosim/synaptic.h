// Synaptic (current-based, second-order) LIF: snnTorch's `Synaptic` with reset_delay=True, NIR's
// CubaLIF. The scan policy (scan.h) for the generic kernels and their CPU twin.
//
//   r_t   = H(mem_{t-1} - thr)                      reset from the previous membrane
//   syn_t = alpha syn_{t-1} + x_t
//   b_t   = beta mem_{t-1} + syn_t
//   subtract: mem_t = b_t - r_t thr
//   zero:     mem_t = b_t - b_t r_t                  (the synaptic current is not reset)
//   none:     mem_t = b_t
//   s_t   = H(mem_t - thr)
//
// Term by term snnTorch's expressions and operation order (no FMA contraction in the build), so
// spikes, syn and mem agree with snnTorch bit for bit.
#pragma once

#include "neurosim/lif.h"  // Reset, spike_of, dispatch_spiking

namespace neurosim {

template <Reset R, bool kResetGrad, typename A, typename SG>
struct SynapticModel {
  // params (alpha, beta, thr); state and recorded (syn, mem); locals (syn, mem before; syn, mem after)
  static constexpr int kParams = 3, kLane = 3, kState = 2, kRecorded = 2, kLocal = 4;
  static constexpr bool kLocalNeedsNext = true, kCacheLocals = false;
  SG sg;

  NEUROSIM_HD void prepare(const A* p, A* lane) const { lane[0] = p[0]; lane[1] = p[1]; lane[2] = p[2]; }

  NEUROSIM_HD A step(const A* lane, A* s, A x, A* rec) const {
    const A alpha = lane[0], beta = lane[1], thr = lane[2];
    const A r = spike_of(s[1], thr);
    const A syn = alpha * s[0] + x;
    const A base = beta * s[1] + syn;
    A mem = base;
    if (R == Reset::Subtract) mem = base - r * thr;
    if (R == Reset::Zero) mem = base - base * r;
    s[0] = syn;
    s[1] = mem;
    rec[0] = syn;
    rec[1] = mem;
    return spike_of(mem, thr);
  }

  NEUROSIM_HD void local(const A*, const A* prev, const A* next, A, A* loc) const {
    loc[0] = prev[0]; loc[1] = prev[1]; loc[2] = next[0]; loc[3] = next[1];
  }
  NEUROSIM_HD void next_state(const A* loc, A* s) const { s[0] = loc[2]; s[1] = loc[3]; }

  static constexpr bool kSpiking = true;
  NEUROSIM_HD A emit(const A* lane, const A* s) const { return spike_of(s[1], lane[2]); }
  NEUROSIM_HD void emit_backward(const A* lane, const A* s, A grad_out, A* g_state, A* dpar) const {
    const A ds = grad_out * sg(s[1] - lane[2]);
    g_state[1] += ds;
    dpar[2] -= ds;
  }

  NEUROSIM_HD A step_backward(const A* lane, const A* loc, A grad_out, const A* grad_rec, A* carry, A* dpar) const {
    const A alpha = lane[0], beta = lane[1], thr = lane[2];
    const A syn_prev = loc[0], mem_prev = loc[1], syn = loc[2], mem = loc[3];
    const A sg_now = sg(mem - thr);
    const A g_mem = grad_out * sg_now + grad_rec[1] + carry[1];  // dL/dmem_t
    dpar[2] -= grad_out * sg_now;
    const A shift_prev = mem_prev - thr;
    const A r = shift_prev > A(0) ? A(1) : A(0);
    const A sg_prev = kResetGrad ? sg(shift_prev) : A(0);  // d r_t / d mem_{t-1}
    A g_base = g_mem;        // dL/db_t
    A carry_mem = A(0);      // reset path into mem_{t-1}
    if (R == Reset::Subtract) {
      carry_mem = -(g_mem * thr * sg_prev);
      dpar[2] += g_mem * (thr * sg_prev - r);
    } else if (R == Reset::Zero) {
      const A base = beta * mem_prev + syn;
      g_base = g_mem * (A(1) - r);
      carry_mem = -(g_mem * base * sg_prev);
      dpar[2] += g_mem * base * sg_prev;
    }
    const A g_syn = grad_rec[0] + carry[0] + g_base;  // dL/dsyn_t
    carry[0] = alpha * g_syn;
    carry[1] = beta * g_base + carry_mem;
    dpar[0] += g_syn * syn_prev;
    dpar[1] += g_base * mem_prev;
    return g_syn;
  }
};

struct SynapticFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options& o, Backward backward, Fn&& fn) {
    dispatch_spiking<SynapticModel, A>(o, backward, fn);
  }
};

}  // namespace neurosim
