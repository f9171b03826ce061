// UltraDLIF step math (Minoza 2026): neurons of a layer sit on a ring along the feature axis and
// their membranes are coupled through a three-term soft max with the two neighbours (periodic).
// Written once for the CUDA kernels and the CPU twin.
//
// Library form (the authors' library, used for their tables), W is the linear membrane:
//   W_i   = tau V_i + I_i
//   Vt_i  = LSE_eps(W_{i-1}, W_i, W_{i+1})
//   s_i   = sigmoid((Vt_i - theta) / eps)
//   V_i  <- W_i (1 - s_i)
// Ablation form (the authors' eps-ablation script and README formula):
//   W_i   = LSE_eps(V_{i-1}, c V_i, V_{i+1}) + I_i      (c = tau for UltraDPLIF, 1 for UltraDLIF)
//   s_i   = sigmoid((W_i - theta) / eps)
//   V_i  <- W_i (1 - s_i)
//
// Unlike LIF and UltraLIF a step couples neighbouring columns, so each step is two passes over
// the features of a row (phase A, then phase B) with a barrier between them: the CPU twin runs
// the passes as loops, a CUDA block (one per batch row) runs them with __syncthreads(). The
// forward pass stores W for every step (the membrane trace); the backward pass reads it instead
// of replaying the ring. Parameters with one value per neuron use the value of the centre
// neuron i for everything that step i computes.
#pragma once

#include "neurosim/common.h"
#include "neurosim/soft_max_plus.h"

namespace neurosim {

enum class RingForm : int { Library = 0, Ablation = 1 };

template <typename T, typename A> struct UltraDlifForwardArgs {
  const T* x;        // [T, B, F]
  const A* tau;      // [1] or [F]
  const A* eps;
  const A* theta;
  T* spikes;         // [T, B, F]
  A* state;          // [B, F]: holds V_0 on entry and V_T on return
  A* membrane;       // [T, B, F]: W_t
  int64_t steps, batch, features;
  bool tau_per_feature, eps_per_feature, theta_per_feature;
};

template <typename T, typename A> struct UltraDlifBackwardArgs {
  const T* grad_spikes;    // [T, B, F] contiguous
  const A* grad_membrane;  // [T, B, F] or nullptr
  const T* x;
  const A* v0;             // [B, F]
  const A* membrane;       // [T, B, F] from the forward pass
  const A* tau;
  const A* eps;
  const A* theta;
  T* grad_x;
  A* carry;                // [B, F]: dL/dV_T on entry, dL/dV_0 on return
  A* step_grad;            // [B, F] scratch: the gradient each centre neuron sends to its soft max
  A* step_peak;            // [B, F] scratch: that soft max's peak ...
  A* step_inv_sum;         // [B, F] scratch: ... and 1 / its sum of exponentials
  A* grad_tau_elems;       // [B, F] per-element partial sums, reduced by the caller
  A* grad_eps_elems;
  A* grad_theta_elems;
  int64_t steps, batch, features;
  bool tau_per_feature, eps_per_feature, theta_per_feature;
};

// Neighbours on the ring. kInterior promises 0 < i < n - 1, so no wrap-around is needed: the
// CPU twin runs its interior elements that way, which lets their loop vectorise.
template <bool kInterior = false>
NEUROSIM_HD int64_t ring_left(int64_t i, int64_t n) { return kInterior ? i - 1 : (i == 0 ? n - 1 : i - 1); }
template <bool kInterior = false>
NEUROSIM_HD int64_t ring_right(int64_t i, int64_t n) { return kInterior ? i + 1 : (i + 1 == n ? 0 : i + 1); }

template <typename Args, typename A>
NEUROSIM_HD void ring_params(const Args& p, int64_t i, A& tau, A& eps, A& theta) {
  tau = param_at(p.tau, p.tau_per_feature, i);
  eps = param_at(p.eps, p.eps_per_feature, i);
  theta = param_at(p.theta, p.theta_per_feature, i);
}

// The soft max Vt_i of the library form over the row `w` (length F).
template <bool kInterior, typename A>
NEUROSIM_HD A ring_soft_max(const A* w, int64_t i, int64_t n, A eps) {
  return soft_max3(w[ring_left<kInterior>(i, n)], w[i], w[ring_right<kInterior>(i, n)], eps);
}

// ---- forward ----------------------------------------------------------------------------------

template <RingForm F, bool kInterior, typename T, typename A>
NEUROSIM_HD void ultradlif_forward_phase_a(const UltraDlifForwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  A tau, eps, theta;
  ring_params(p, i, tau, eps, theta);
  const int64_t n = p.features;
  const A* v = p.state + b * n;
  const A current = convert<A>(p.x[(t * p.batch + b) * n + i]);
  A w;
  if (F == RingForm::Library) {
    w = tau * v[i] + current;
  } else {
    w = soft_max3(v[ring_left<kInterior>(i, n)], tau * v[i], v[ring_right<kInterior>(i, n)], eps) + current;
  }
  p.membrane[(t * p.batch + b) * n + i] = w;
}

template <RingForm F, bool kInterior, typename T, typename A>
NEUROSIM_HD void ultradlif_forward_phase_b(const UltraDlifForwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  A tau, eps, theta;
  ring_params(p, i, tau, eps, theta);
  const int64_t n = p.features;
  const A* w = p.membrane + (t * p.batch + b) * n;
  const A read = F == RingForm::Library ? ring_soft_max<kInterior>(w, i, n, eps) : w[i];
  const SigmoidPair<A> s = sigmoid_pair((read - theta) / eps);
  p.spikes[(t * p.batch + b) * n + i] = convert<T>(s.pos);
  p.state[b * n + i] = w[i] * s.neg;
}

// ---- backward ---------------------------------------------------------------------------------

// V_{t-1} of element j (the state after the reset of step t - 1), recomputed from the trace.
template <RingForm F, bool kInterior, typename T, typename A>
NEUROSIM_HD A ring_state_before(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t j) {
  const int64_t n = p.features;
  if (t == 0) return p.v0[b * n + j];
  A tau, eps, theta;
  ring_params(p, j, tau, eps, theta);
  const A* w = p.membrane + ((t - 1) * p.batch + b) * n;
  const A read = F == RingForm::Library ? ring_soft_max<kInterior>(w, j, n, eps) : w[j];
  return w[j] * sigmoid_pair((read - theta) / eps).neg;
}

// Phase A of reverse step t for centre neuron i: everything that depends on i alone, plus the
// gradient i sends back through its soft max (kept in step_grad / step_peak / step_inv_sum for phase B).
template <RingForm F, bool kInterior, typename T, typename A>
NEUROSIM_HD void ultradlif_backward_phase_a(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  A tau, eps, theta;
  ring_params(p, i, tau, eps, theta);
  const int64_t n = p.features, e = b * n + i, te = (t * p.batch + b) * n + i;
  const A* w = p.membrane + (t * p.batch + b) * n;
  const A grad_spike = convert<A>(p.grad_spikes[te]);
  const A grad_mem = p.grad_membrane != nullptr ? p.grad_membrane[te] : A(0);
  const A grad_state = p.carry[e];  // dL/dV_t
  if (F == RingForm::Library) {
    const A wl = w[ring_left<kInterior>(i, n)], wc = w[i], wr = w[ring_right<kInterior>(i, n)];
    const SoftMax3<A> lse = soft_max3_full(wl, wc, wr, eps);
    const A u = (lse.value - theta) / eps;
    const SigmoidPair<A> s = sigmoid_pair(u);
    const A k = (grad_spike - grad_state * wc) * s.pos * s.neg / eps;  // dL/dVt_i
    p.grad_theta_elems[e] -= k;
    p.grad_eps_elems[e] += k * (lse.entropy - u);
    p.step_grad[e] = k;
    p.step_peak[e] = lse.peak;
    p.step_inv_sum[e] = lse.inv_sum;
    p.carry[e] = grad_state * s.neg + grad_mem;  // the direct part of dL/dW_i
  } else {
    const A wc = w[i];
    const A u = (wc - theta) / eps;
    const SigmoidPair<A> s = sigmoid_pair(u);
    const A k = (grad_spike - grad_state * wc) * s.pos * s.neg / eps;
    const A grad_w = k + grad_state * s.neg + grad_mem;  // dL/dW_i
    p.grad_x[te] = convert<T>(grad_w);
    p.grad_theta_elems[e] -= k;
    const A al = ring_state_before<F, false>(p, b, t, ring_left<kInterior>(i, n));
    const A ac = tau * ring_state_before<F, kInterior>(p, b, t, i);
    const A ar = ring_state_before<F, false>(p, b, t, ring_right<kInterior>(i, n));
    const SoftMax3<A> lse = soft_max3_full(al, ac, ar, eps);
    p.grad_eps_elems[e] += grad_w * lse.entropy - k * u;
    p.step_grad[e] = grad_w;
    p.step_peak[e] = lse.peak;
    p.step_inv_sum[e] = lse.inv_sum;
  }
}

// Phase B of reverse step t for element j: gathers what its own and its neighbours' soft maxes
// send to it and moves the carry to dL/dV_{t-1}.
template <RingForm F, bool kInterior, typename T, typename A>
NEUROSIM_HD void ultradlif_backward_phase_b(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t j) {
  A tau, eps, theta;
  ring_params(p, j, tau, eps, theta);
  const int64_t n = p.features, e = b * n + j, te = (t * p.batch + b) * n + j;
  const int64_t jl = ring_left<kInterior>(j, n), jr = ring_right<kInterior>(j, n);
  const A* g = p.step_grad + b * n;
  const A* peak = p.step_peak + b * n;
  const A* inv_sum = p.step_inv_sum + b * n;
  const A eps_l = param_at(p.eps, p.eps_per_feature, jl);
  const A eps_r = param_at(p.eps, p.eps_per_feature, jr);
  const A v_prev = ring_state_before<F, kInterior>(p, b, t, j);
  if (F == RingForm::Library) {
    const A wj = p.membrane[te];
    const A grad_w = p.carry[e] + g[j] * soft_weight(wj, peak[j], inv_sum[j], eps) +
                     g[jl] * soft_weight(wj, peak[jl], inv_sum[jl], eps_l) + g[jr] * soft_weight(wj, peak[jr], inv_sum[jr], eps_r);
    p.grad_x[te] = convert<T>(grad_w);
    p.grad_tau_elems[e] += grad_w * v_prev;
    p.carry[e] = tau * grad_w;
  } else {
    const A centre = g[j] * soft_weight(tau * v_prev, peak[j], inv_sum[j], eps);
    p.grad_tau_elems[e] += centre * v_prev;
    p.carry[e] = tau * centre + g[jl] * soft_weight(v_prev, peak[jl], inv_sum[jl], eps_l) +
                 g[jr] * soft_weight(v_prev, peak[jr], inv_sum[jr], eps_r);
  }
}

}  // namespace neurosim
