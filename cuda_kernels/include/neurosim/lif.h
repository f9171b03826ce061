// LIF step math (snnTorch `Leaky`, reset_delay=True), written once for the CUDA kernel and the
// CPU twin, and the LIF policy of the generic scan (scan.h).
//
//   r_t = H(u_{t-1} - thr)                           reset from the previous membrane
//   subtract: u_t = (beta u_{t-1} + x_t) - r_t thr
//   zero:     u_t = beta ((1 - r_t) u_{t-1}) + x_t
//   none:     u_t = beta u_{t-1} + x_t
//   s_t = H(u_t - thr)                               H(0) = 0, as in snnTorch
//
// The operation order matches snnTorch's PyTorch expression term by term, and the build turns
// off FMA contraction, so spikes agree bit for bit with snnTorch and between CPU and GPU.
#pragma once

#include "neurosim/common.h"
#include "neurosim/surrogate.h"

namespace neurosim {

enum class Reset : int { Subtract = 0, Zero = 1, None = 2 };

template <Reset R>
struct ResetTag { static constexpr Reset value = R; };

template <typename Fn>
inline auto dispatch_reset(int reset, Fn&& fn) {
  switch (static_cast<Reset>(reset)) {
    case Reset::Zero: return fn(ResetTag<Reset::Zero>{});
    case Reset::None: return fn(ResetTag<Reset::None>{});
    case Reset::Subtract:
    default: return fn(ResetTag<Reset::Subtract>{});
  }
}

// Calls fn(model) with the model for the reset mode, the detached reset and the surrogate of
// `o`. `Backward` is std::true_type or std::false_type: the forward pass needs neither the
// surrogate nor the detached reset, and as a compile-time choice its launcher instantiates one
// model per reset instead of one per reset, detach flag and surrogate (and the backward's none
// of the forward's). CUDA: one instantiation serves every surrogate, chosen at run time.
// Shared by the spiking models with snnTorch's reset conventions (LIF, Synaptic, ALIF).
template <template <Reset, bool, typename, typename> class Model, typename A, typename Options, typename Backward,
          typename Fn>
inline void dispatch_spiking(const Options& o, Backward, Fn&& fn) {
  dispatch_reset(o.reset, [&](auto reset) {
    constexpr Reset R = decltype(reset)::value;
    if constexpr (!Backward::value) {
      fn(Model<R, false, A, StraightThroughGrad<A>>{StraightThroughGrad<A>{A(0)}});
    } else {
      dispatch_bool(!o.detach_reset, [&](auto reset_grad) {
        constexpr bool G = decltype(reset_grad)::value;
#if defined(__CUDACC__)
        // one kernel for every surrogate (see AnySurrogateGrad)
        const AnySurrogateGrad<A> sg{static_cast<SurrogateKind>(o.surrogate), static_cast<A>(o.surrogate_param)};
        fn(Model<R, G, A, AnySurrogateGrad<A>>{sg});
#else
        dispatch_surrogate(static_cast<SurrogateKind>(o.surrogate), static_cast<A>(o.surrogate_param),
                           [&](auto sg) { fn(Model<R, G, A, decltype(sg)>{sg}); });
#endif
      });
    }
  });
}

template <Reset R, typename A>
NEUROSIM_HD A lif_step(A u_prev, A x, A beta, A thr) {
  const A r = (u_prev - thr > A(0)) ? A(1) : A(0);
  if (R == Reset::Subtract) return (beta * u_prev + x) - r * thr;
  if (R == Reset::Zero) return beta * ((A(1) - r) * u_prev) + x;
  return beta * u_prev + x;
}

template <typename A>
NEUROSIM_HD A spike_of(A u, A thr) {
  return (u - thr > A(0)) ? A(1) : A(0);
}

// Gradient accumulators of one neuron over reverse time.
template <typename A> struct LifGradState {
  A carry;   // dL/du_t arriving from step t+1 (and from the final state)
  A dbeta;
  A dthr;
};

// One reverse step. Given u_{t-1}, u_t and the upstream gradients of step t, returns dL/dx_t and
// moves the carry to dL/du_{t-1}. kResetGrad is false when the reset term is detached (snnTorch's
// default): then the surrogate is evaluated once per step instead of twice.
template <Reset R, bool kResetGrad, typename A, typename SG>
NEUROSIM_HD A lif_step_backward(A u_prev, A u, A grad_spike, A grad_mem, A beta, A thr, const SG& sg,
                                LifGradState<A>& g) {
  const A sg_now = sg(u - thr);
  const A a = grad_spike * sg_now + grad_mem + g.carry;  // dL/du_t
  g.dthr -= grad_spike * sg_now;
  const A shift_prev = u_prev - thr;
  const A r = shift_prev > A(0) ? A(1) : A(0);
  const A sg_prev = kResetGrad ? sg(shift_prev) : A(0);  // d r_t / d u_{t-1}
  if (R == Reset::Subtract) {
    g.carry = a * (beta - thr * sg_prev);
    g.dbeta += a * u_prev;
    g.dthr += a * (thr * sg_prev - r);
  } else if (R == Reset::Zero) {
    g.carry = a * (beta * (A(1) - r) - beta * u_prev * sg_prev);
    g.dbeta += a * ((A(1) - r) * u_prev);
    g.dthr += a * (beta * u_prev * sg_prev);
  } else {
    g.carry = a * beta;
    g.dbeta += a * u_prev;
  }
  return a;
}

// The scan policy: parameters (beta, threshold), state (u), recorded (u), output s_t.
template <Reset R, bool kResetGrad, typename A, typename SG>
struct LifModel {
  static constexpr int kParams = 2, kLane = 2, kState = 1, kRecorded = 1, kLocal = 2;
  static constexpr bool kLocalNeedsNext = true, kCacheLocals = false;
  SG sg;

  NEUROSIM_HD void prepare(const A* p, A* lane) const { lane[0] = p[0]; lane[1] = p[1]; }
  NEUROSIM_HD A step(const A* lane, A* s, A x, A* rec) const {
    s[0] = lif_step<R>(s[0], x, lane[0], lane[1]);
    rec[0] = s[0];
    return spike_of(s[0], lane[1]);
  }
  NEUROSIM_HD void local(const A*, const A* prev, const A* next, A, A* loc) const {
    loc[0] = prev[0];
    loc[1] = next[0];
  }
  NEUROSIM_HD void next_state(const A* loc, A* s) const { s[0] = loc[1]; }
  // The output of a state, and its gradient (added to g_state and dpar); the phased wrapper
  // (phased.h) emits from its blended state with these.
  static constexpr bool kSpiking = true;
  NEUROSIM_HD A emit(const A* lane, const A* s) const { return spike_of(s[0], lane[1]); }
  NEUROSIM_HD void emit_backward(const A* lane, const A* s, A grad_out, A* g_state, A* dpar) const {
    const A ds = grad_out * sg(s[0] - lane[1]);
    g_state[0] += ds;
    dpar[1] -= ds;
  }
  NEUROSIM_HD A step_backward(const A* lane, const A* loc, A grad_out, const A* grad_rec, A* carry, A* dpar) const {
    LifGradState<A> g{carry[0], dpar[0], dpar[1]};
    const A dx = lif_step_backward<R, kResetGrad>(loc[0], loc[1], grad_out, grad_rec[0], lane[0], lane[1], sg, g);
    carry[0] = g.carry;
    dpar[0] = g.dbeta;
    dpar[1] = g.dthr;
    return dx;
  }
};

struct LifFamily {
  template <typename A, typename Options, typename Backward, typename Fn>
  static void dispatch(const Options& o, Backward backward, Fn&& fn) {
    dispatch_spiking<LifModel, A>(o, backward, fn);
  }
};

}  // namespace neurosim
