// UltraLIF step math (Minoza 2026; the authors' library form), written once for the CUDA kernels
// and the CPU twin. A column is one neuron of one batch element followed through all T steps.
//
//   V'_t = LSE_eps(V_{t-1} + log tau, I_t)        soft max-plus membrane update
//   s_t  = sigmoid((V'_t - theta) / eps)          soft spike in (0, 1), forward and backward
//   V_t  = V'_t (1 - s_t)                         soft multiplicative reset
//
// UltraPLIF is the same op with a learned log tau. 1 - s_t is evaluated as sigmoid(-u), which
// keeps its precision when s_t rounds to 1.
#pragma once

#include "neurosim/common.h"
#include "neurosim/lif.h"  // kCheckpointEvery, num_checkpoints
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

// Tensors are [T, M] with M = B * F columns, column = b * F + f; parameters are indexed by f.
template <typename T, typename A> struct UltraLifForwardArgs {
  const T* x;
  const A* v0;
  const A* log_tau;
  const A* eps;
  const A* theta;
  T* spikes;
  A* v_final;
  A* checkpoints;  // [num_checkpoints(T), M]: V before steps 0, K, 2K, ...
  T* membrane;     // [T, M] (V'_t) or nullptr
  int64_t steps, columns, features;
  bool log_tau_per_feature, eps_per_feature, theta_per_feature;
};

template <typename T, typename A> struct UltraLifBackwardArgs {
  const T* grad_spikes;  // element (t, c) at t * gs_t_stride + c * gs_c_stride (strides may be 0)
  int64_t gs_t_stride, gs_c_stride;
  const A* grad_v_final;   // [M] or nullptr
  const T* grad_membrane;  // [T, M] or nullptr
  const T* x;
  const A* checkpoints;
  const A* log_tau;
  const A* eps;
  const A* theta;
  T* grad_x;
  A* grad_v0;
  A* grad_log_tau_cols;  // [M] per-column partial sums, reduced by the caller
  A* grad_eps_cols;
  A* grad_theta_cols;
  int64_t steps, columns, features;
  bool log_tau_per_feature, eps_per_feature, theta_per_feature;
};

template <int W, typename T, typename A>
NEUROSIM_HD void ultralif_forward_columns(const UltraLifForwardArgs<T, A>& p, int64_t col0) {
  A v[W], log_tau[W], eps[W], inv_eps[W], theta[W];
  for (int l = 0; l < W; ++l) {
    const int64_t f = (col0 + l) % p.features;
    v[l] = p.v0[col0 + l];
    log_tau[l] = param_at(p.log_tau, p.log_tau_per_feature, f);
    eps[l] = param_at(p.eps, p.eps_per_feature, f);
    inv_eps[l] = A(1) / eps[l];
    theta[l] = param_at(p.theta, p.theta_per_feature, f);
  }
  for (int64_t t = 0; t < p.steps; ++t) {
    const int64_t row = t * p.columns + col0;
    if (t % kCheckpointEvery == 0) {
      A* ck = p.checkpoints + (t / kCheckpointEvery) * p.columns + col0;
      for (int l = 0; l < W; ++l) ck[l] = v[l];
    }
    const T* xr = p.x + row;
    T* sr = p.spikes + row;
    A v_new[W];
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
    for (int l = 0; l < W; ++l) {
      const UltraStep<A> step = ultralif_step(v[l], static_cast<A>(xr[l]), log_tau[l], eps[l], inv_eps[l], theta[l]);
      v[l] = step.state;
      v_new[l] = step.membrane;
      sr[l] = static_cast<T>(step.spike);
    }
    if (p.membrane != nullptr) {
      for (int l = 0; l < W; ++l) p.membrane[row + l] = static_cast<T>(v_new[l]);
    }
  }
  for (int l = 0; l < W; ++l) p.v_final[col0 + l] = v[l];
}

// The per-step quantities of one chunk, structure of arrays so that lanes stay contiguous.
template <int W, typename A> struct UltraChunk {
  A membrane[kCheckpointEvery][W], weight_a[kCheckpointEvery][W], weight_b[kCheckpointEvery][W];
  A entropy[kCheckpointEvery][W], u[kCheckpointEvery][W], slope[kCheckpointEvery][W], keep[kCheckpointEvery][W];

  NEUROSIM_HD void store(int k, int l, const UltraLocal<A>& c) {
    membrane[k][l] = c.membrane; weight_a[k][l] = c.weight_a; weight_b[k][l] = c.weight_b;
    entropy[k][l] = c.entropy; u[k][l] = c.u; slope[k][l] = c.slope; keep[k][l] = c.keep;
  }
  NEUROSIM_HD UltraLocal<A> load(int k, int l) const {
    return UltraLocal<A>{membrane[k][l], weight_a[k][l], weight_b[k][l], entropy[k][l], u[k][l], slope[k][l], keep[k][l]};
  }
};

// Chunks of kCheckpointEvery steps in reverse order, each replayed forward from its checkpoint
// (bit-identical to the forward pass) and then reversed. With kCacheSteps the replay keeps every
// step's local quantities (7 values) so the reverse pass does no transcendental work again (the
// CPU twin, where they stay in L2); without it the reverse pass recomputes them from the saved
// membranes (the CUDA kernel, where per-thread arrays would spill).
template <int W, bool kCacheSteps, typename T, typename A>
NEUROSIM_HD void ultralif_backward_columns(const UltraLifBackwardArgs<T, A>& p, UltraChunk<W, A>* cache,
                                           int64_t col0) {
  constexpr int K = kCheckpointEvery;
  A log_tau[W], eps[W], inv_eps[W], theta[W];
  UltraGradState<A> g[W];
  A v[kCacheSteps ? 1 : K][W];  // V_{t-1} of the chunk's steps (only the running one when caching)
  for (int l = 0; l < W; ++l) {
    const int64_t f = (col0 + l) % p.features;
    log_tau[l] = param_at(p.log_tau, p.log_tau_per_feature, f);
    eps[l] = param_at(p.eps, p.eps_per_feature, f);
    inv_eps[l] = A(1) / eps[l];
    theta[l] = param_at(p.theta, p.theta_per_feature, f);
    g[l].carry = p.grad_v_final != nullptr ? p.grad_v_final[col0 + l] : A(0);
    g[l].dlog_tau = A(0);
    g[l].deps = A(0);
    g[l].dtheta = A(0);
  }
  for (int64_t chunk = num_checkpoints(p.steps) - 1; chunk >= 0; --chunk) {
    const int64_t t0 = chunk * K;
    const int len = static_cast<int>((p.steps - t0) < K ? (p.steps - t0) : K);
    for (int l = 0; l < W; ++l) v[0][l] = p.checkpoints[chunk * p.columns + col0 + l];
    for (int k = 0; k < (kCacheSteps ? len : len - 1); ++k) {
      const T* xr = p.x + (t0 + k) * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
      for (int l = 0; l < W; ++l) {
        if (kCacheSteps) {
          const UltraLocal<A> c = ultralif_local(v[0][l], static_cast<A>(xr[l]), log_tau[l], eps[l], inv_eps[l], theta[l]);
          cache->store(k, l, c);
          v[0][l] = c.membrane * c.keep;
        } else {
          v[kCacheSteps ? 0 : k + 1][l] =
              ultralif_step(v[kCacheSteps ? 0 : k][l], static_cast<A>(xr[l]), log_tau[l], eps[l], inv_eps[l], theta[l]).state;
        }
      }
    }
    for (int k = len - 1; k >= 0; --k) {
      const int64_t t = t0 + k;
      A grad_spike[W], grad_mem[W];
      load_step_grads<W>(p.grad_spikes, p.gs_t_stride, p.gs_c_stride, p.grad_membrane, p.columns, t, col0,
                         grad_spike, grad_mem);
      const T* xr = p.x + t * p.columns + col0;
      T* dx = p.grad_x + t * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
      for (int l = 0; l < W; ++l) {
        const UltraLocal<A> c = kCacheSteps ? cache->load(k, l)
                                            : ultralif_local(v[kCacheSteps ? 0 : k][l], static_cast<A>(xr[l]),
                                                             log_tau[l], eps[l], inv_eps[l], theta[l]);
        dx[l] = static_cast<T>(ultralif_step_backward(c, grad_spike[l], grad_mem[l], g[l]));
      }
    }
  }
  for (int l = 0; l < W; ++l) {
    p.grad_v0[col0 + l] = g[l].carry;
    p.grad_log_tau_cols[col0 + l] = g[l].dlog_tau;
    p.grad_eps_cols[col0 + l] = g[l].deps;
    p.grad_theta_cols[col0 + l] = g[l].dtheta;
  }
}

}  // namespace neurosim
