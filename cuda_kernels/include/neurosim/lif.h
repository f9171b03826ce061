// LIF step math (snnTorch `Leaky`, reset_delay=True), written once for the CUDA kernels and the
// CPU twin. A "column" is one neuron of one batch element followed through all T steps; the
// column functions below are the whole per-thread body of the CUDA kernels (W = 1) and the inner
// body of the CPU loop (W lanes side by side, so the lane loop vectorises).
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

namespace neurosim {

enum class Reset : int { Subtract = 0, Zero = 1, None = 2 };

// Backward recomputes the membrane from x between checkpoints saved every kCheckpointEvery
// steps, so training keeps no [T, B, N] tensor besides the input it already holds.
constexpr int kCheckpointEvery = 32;

NEUROSIM_HD int64_t num_checkpoints(int64_t steps) {
  return (steps + kCheckpointEvery - 1) / kCheckpointEvery;
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

// Raw pointers and sizes of one forward call. Tensors are [T, M] with M = B * F columns,
// column index = b * F + f; parameters are indexed by f.
template <typename T, typename A> struct LifForwardArgs {
  const T* x;
  const A* u0;
  const A* beta;
  const A* thr;
  T* spikes;
  A* u_final;
  A* checkpoints;  // [num_checkpoints(T), M]: u before steps 0, K, 2K, ...
  T* membrane;     // [T, M] or nullptr
  int64_t steps, columns, features;
  bool beta_per_feature, thr_per_feature;
};

template <typename T, typename A> struct LifBackwardArgs {
  const T* grad_spikes;      // element (t, c) at t * gs_t_stride + c * gs_c_stride (strides may be 0)
  int64_t gs_t_stride, gs_c_stride;
  const A* grad_u_final;     // [M] or nullptr
  const T* grad_membrane;    // [T, M] or nullptr
  const T* x;
  const A* checkpoints;
  const A* beta;
  const A* thr;
  T* grad_x;
  A* grad_u0;
  A* grad_beta_cols;  // [M] per-column partial sums, reduced by the caller
  A* grad_thr_cols;
  int64_t steps, columns, features;
  bool beta_per_feature, thr_per_feature;
};

// Forward of W adjacent columns starting at col0 over all T steps.
template <int W, Reset R, typename T, typename A>
NEUROSIM_HD void lif_forward_columns(const LifForwardArgs<T, A>& p, int64_t col0) {
  A u[W], beta[W], thr[W];
  for (int l = 0; l < W; ++l) {
    const int64_t f = (col0 + l) % p.features;
    u[l] = p.u0[col0 + l];
    beta[l] = param_at(p.beta, p.beta_per_feature, f);
    thr[l] = param_at(p.thr, p.thr_per_feature, f);
  }
  for (int64_t t = 0; t < p.steps; ++t) {
    const int64_t row = t * p.columns + col0;
    if (t % kCheckpointEvery == 0) {
      A* ck = p.checkpoints + (t / kCheckpointEvery) * p.columns + col0;
      for (int l = 0; l < W; ++l) ck[l] = u[l];
    }
    const T* xr = p.x + row;
    T* sr = p.spikes + row;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
    for (int l = 0; l < W; ++l) {
      u[l] = lif_step<R>(u[l], static_cast<A>(xr[l]), beta[l], thr[l]);
      sr[l] = static_cast<T>(spike_of(u[l], thr[l]));
    }
    if (p.membrane != nullptr) {
      for (int l = 0; l < W; ++l) p.membrane[row + l] = static_cast<T>(u[l]);
    }
  }
  for (int l = 0; l < W; ++l) p.u_final[col0 + l] = u[l];
}

// Backward of W adjacent columns: chunks of kCheckpointEvery steps in reverse order, each first
// replayed forward from its checkpoint (bit-identical to the forward pass), then reversed.
template <int W, Reset R, bool kResetGrad, typename T, typename A, typename SG>
NEUROSIM_HD void lif_backward_columns(const LifBackwardArgs<T, A>& p, const SG& sg, int64_t col0) {
  constexpr int K = kCheckpointEvery;
  A beta[W], thr[W];
  LifGradState<A> g[W];
  A u[K + 1][W];
  for (int l = 0; l < W; ++l) {
    const int64_t f = (col0 + l) % p.features;
    beta[l] = param_at(p.beta, p.beta_per_feature, f);
    thr[l] = param_at(p.thr, p.thr_per_feature, f);
    g[l].carry = p.grad_u_final != nullptr ? p.grad_u_final[col0 + l] : A(0);
    g[l].dbeta = A(0);
    g[l].dthr = A(0);
  }
  for (int64_t chunk = num_checkpoints(p.steps) - 1; chunk >= 0; --chunk) {
    const int64_t t0 = chunk * K;
    const int len = static_cast<int>((p.steps - t0) < K ? (p.steps - t0) : K);
    for (int l = 0; l < W; ++l) u[0][l] = p.checkpoints[chunk * p.columns + col0 + l];
    for (int k = 0; k < len; ++k) {
      const T* xr = p.x + (t0 + k) * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
      for (int l = 0; l < W; ++l) u[k + 1][l] = lif_step<R>(u[k][l], static_cast<A>(xr[l]), beta[l], thr[l]);
    }
    for (int k = len - 1; k >= 0; --k) {
      const int64_t t = t0 + k;
      A grad_spike[W], grad_mem[W];
      load_step_grads<W>(p.grad_spikes, p.gs_t_stride, p.gs_c_stride, p.grad_membrane, p.columns, t, col0,
                         grad_spike, grad_mem);
      T* dx = p.grad_x + t * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
      for (int l = 0; l < W; ++l) {
        dx[l] = static_cast<T>(lif_step_backward<R, kResetGrad>(u[k][l], u[k + 1][l], grad_spike[l],
                                                                grad_mem[l], beta[l], thr[l], sg, g[l]));
      }
    }
  }
  for (int l = 0; l < W; ++l) {
    p.grad_u0[col0 + l] = g[l].carry;
    p.grad_beta_cols[col0 + l] = g[l].dbeta;
    p.grad_thr_cols[col0 + l] = g[l].dthr;
  }
}

}  // namespace neurosim
