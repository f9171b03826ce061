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
// A step couples neighbouring columns, so each step has one exchange of ring values between
// neighbours: the forward pass exchanges W (library) or V (ablation); the backward pass exchanges
// what each neuron's soft max sends to its two neighbours. Parameters with one value per neuron
// use the value of the centre neuron i for everything that step i computes. The forward pass
// stores W for every step (the membrane trace); the backward pass reads it instead of replaying
// the ring, and carries the soft max of W_{t-1} (computed for V_{t-1}) to the next reverse step.
//
// Layers of this file:
//  1. per-neuron math (ring_membrane, ring_fire, ring_soft3, ring_step_*, ring_backward_*): what one CUDA thread
//     or one CPU lane computes for one neuron; both backends call exactly these.
//  2. the work of one CUDA thread that owns K adjacent neurons of a row (RingForwardThread,
//     RingBackwardThread), split at the exchange: the kernel runs them between barriers, and a CPU
//     test runs them sequentially over emulated threads (tests/cpp/ultradlif_thread_emulation.cpp).
//  3. the two phases per step of the global-memory kernels (ring_global_*), for rows too long to
//     stay on chip; the same test runs them too.
#pragma once

#include <type_traits>

#include "neurosim/common.h"
#include "neurosim/soft_max_plus.h"

// Unrolled loops over a thread's K neurons (their arrays then live in registers).
#if defined(__CUDACC__)
#define NEUROSIM_RING_UNROLL _Pragma("unroll")
#else
#define NEUROSIM_RING_UNROLL _Pragma("GCC unroll 16")
#endif

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

// The three [B, F] scratch buffers hold, between the two phases of a reverse step of the global-
// memory CUDA kernel (rows too long to stay on chip), what each neuron's soft max sends to its
// left neighbour, to itself and to its right neighbour.
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
  A* step_grad;            // [B, F] scratch: sends to the left neighbour
  A* step_peak;            // [B, F] scratch: sends to the neuron itself
  A* step_inv_sum;         // [B, F] scratch: sends to the right neighbour
  A* grad_tau_elems;       // [B, F] per-element partial sums, reduced by the caller
  A* grad_eps_elems;
  A* grad_theta_elems;
  int64_t steps, batch, features;
  bool tau_per_feature, eps_per_feature, theta_per_feature;
};

// ---- 1. per-neuron math -----------------------------------------------------------------------

template <typename A> struct RingParams {
  A tau, eps, theta;
};

template <typename Args>
NEUROSIM_HD auto ring_params(const Args& p, int64_t i) -> RingParams<typename std::remove_const<
    typename std::remove_pointer<decltype(p.tau)>::type>::type> {
  return {param_at(p.tau, p.tau_per_feature, i), param_at(p.eps, p.eps_per_feature, i),
          param_at(p.theta, p.theta_per_feature, i)};
}

// Forward, first half: the membrane W of neuron i. The library form reads its own state only; the
// ablation form reads the neighbours' states too (v_left, v_right; ignored by the library form).
template <RingForm F, typename A>
NEUROSIM_HD A ring_membrane(A v_left, A v, A v_right, A current, A tau, A eps) {
  if (F == RingForm::Library) return tau * v + current;
  return soft_max3(v_left, tau * v, v_right, eps) + current;
}

template <typename A> struct RingFire {
  A spike;  // sigmoid((read - theta) / eps)
  A state;  // V after the soft reset
};

// Forward, second half: the spike and the reset state of neuron i. The library form reads the
// neighbours' membranes (w_left, w_right; ignored by the ablation form).
template <RingForm F, typename A>
NEUROSIM_HD RingFire<A> ring_fire(A w_left, A w, A w_right, A eps, A theta) {
  const A read = F == RingForm::Library ? soft_max3(w_left, w, w_right, eps) : w;
  const SigmoidPair<A> s = sigmoid_pair((read - theta) / eps);
  return {s.pos, w * s.neg};
}

// A three-term soft max with its value, the weight of each term and its entropy (= dLSE/deps);
// the same operations as soft_max3_full, so value and weights agree with it bit for bit.
template <typename A> struct RingSoft {
  A value, left, centre, right, entropy;
};

template <typename A>
NEUROSIM_HD RingSoft<A> ring_soft3(A a, A b, A c, A eps) {
  const bool a_max = a >= b && a >= c;
  const bool b_max = !a_max && b >= c;
  const bool c_max = !a_max && !b_max;
  const A m = a_max ? a : (b_max ? b : c);
  const A za = (a - m) / eps, zb = (b - m) / eps, zc = (c - m) / eps;  // <= 0
  const A ea = a_max ? A(0) : exp_nonpositive(za);
  const A eb = b_max ? A(0) : exp_nonpositive(zb);
  const A ec = c_max ? A(0) : exp_nonpositive(zc);
  const A l = log1p_upto2(ea + eb + ec);
  const A inv_sum = A(1) / (A(1) + ea + eb + ec);
  RingSoft<A> r;
  r.value = m + eps * l;
  r.left = (a_max ? A(1) : ea) * inv_sum;
  r.centre = (b_max ? A(1) : eb) * inv_sum;
  r.right = (c_max ? A(1) : ec) * inv_sum;
  r.entropy = l - inv_sum * (ea * za + eb * zb + ec * zc);
  return r;
}

// What the backward pass needs of step t at neuron i, recomputed from the trace.
template <typename A> struct RingStep {
  A w;     // W_t
  A dsig;  // s (1 - s) / eps, the slope of the spike in the read
  A sneg;  // 1 - s
  A u;     // (read - theta) / eps
  A left, centre, right, entropy;  // the soft max of the step (library: over W_t; ablation: over V_{t-1})
};

// The read of step t (the spike's sigmoid) from the neuron's membrane and the soft max's value.
template <typename A>
NEUROSIM_HD void ring_read(RingStep<A>& s, A w, A read, A eps, A theta) {
  s.w = w;
  s.u = (read - theta) / eps;
  const SigmoidPair<A> sig = sigmoid_pair(s.u);
  s.dsig = sig.pos * sig.neg / eps;
  s.sneg = sig.neg;
}

// Library form: everything of step t at neuron i from the membranes W_t of it and its neighbours.
template <typename A>
NEUROSIM_HD RingStep<A> ring_step_library(A w_left, A w, A w_right, A eps, A theta) {
  const RingSoft<A> soft = ring_soft3(w_left, w, w_right, eps);
  RingStep<A> s;
  ring_read(s, w, soft.value, eps, theta);
  s.left = soft.left;
  s.centre = soft.centre;
  s.right = soft.right;
  s.entropy = soft.entropy;
  return s;
}

// Ablation form: the read of step t (W_t alone) ...
template <typename A>
NEUROSIM_HD RingStep<A> ring_step_ablation_read(A w, A eps, A theta) {
  RingStep<A> s;
  ring_read(s, w, w, eps, theta);
  s.left = s.centre = s.right = s.entropy = A(0);
  return s;
}

// ... and its soft max over the previous states V_{t-1} of the neuron and its neighbours.
template <typename A>
NEUROSIM_HD void ring_step_ablation_soft(RingStep<A>& s, A v_left, A v, A v_right, A tau, A eps) {
  const RingSoft<A> soft = ring_soft3(v_left, tau * v, v_right, eps);
  s.left = soft.left;
  s.centre = soft.centre;
  s.right = soft.right;
  s.entropy = soft.entropy;
}

// The state a step leaves behind: V_t = W_t (1 - s_t).
template <typename A>
NEUROSIM_HD A ring_state_after(const RingStep<A>& s) { return s.w * s.sneg; }

template <typename A> struct RingGradAcc {
  A tau, eps, theta;
};

// What neuron i's soft max sends back to its three terms, and the part that stays with i
// (library: the direct part of dL/dW_i; ablation: dL/dW_i itself = dL/dI_i).
template <typename A> struct RingSend {
  A left, centre, right, own;
};

// Backward, first half of reverse step t at neuron i: grad_state is dL/dV_t (the carry).
template <RingForm F, typename A>
NEUROSIM_HD RingSend<A> ring_backward_local(const RingStep<A>& s, A grad_spike, A grad_mem, A grad_state,
                                            RingGradAcc<A>& acc) {
  const A k = (grad_spike - grad_state * s.w) * s.dsig;  // dL/d(read)
  acc.theta -= k;
  if (F == RingForm::Library) {
    acc.eps += k * (s.entropy - s.u);
    return {k * s.left, k * s.centre, k * s.right, grad_state * s.sneg + grad_mem};
  } else {
    const A grad_w = k + grad_state * s.sneg + grad_mem;  // dL/dW_i
    acc.eps += grad_w * s.entropy - k * s.u;
    return {grad_w * s.left, grad_w * s.centre, grad_w * s.right, grad_w};
  }
}

template <typename A> struct RingGather {
  A grad_x;  // dL/dI_j (library; the ablation form has it from ring_backward_local)
  A carry;   // dL/dV_{t-1}
};

// Backward, second half of reverse step t at neuron j: from_left is what the soft max of j - 1
// sends to its right term, from_right what the soft max of j + 1 sends to its left term.
template <RingForm F, typename A>
NEUROSIM_HD RingGather<A> ring_backward_gather(const RingSend<A>& own, A from_left, A from_right, A v_prev, A tau,
                                               RingGradAcc<A>& acc) {
  if (F == RingForm::Library) {
    const A grad_w = own.own + own.centre + from_left + from_right;  // dL/dW_j
    acc.tau += grad_w * v_prev;
    return {grad_w, tau * grad_w};
  } else {
    acc.tau += own.centre * v_prev;
    return {own.own, tau * own.centre + from_left + from_right};
  }
}

// ---- 2. the work of one CUDA thread: K adjacent neurons [begin, begin + count) of row b ---------
//
// count >= 1 for every thread of a row, so the ring neighbours of a thread's first and last neuron
// belong to the previous and next thread (cyclically). Arrays are indexed by unrolled compile-time
// k only (no local-memory spills); k >= count is masked.

// The neurons of row thread g out of G: a contiguous, near-equal split of n (needs n >= G).
struct RingSlice {
  int64_t begin;
  int count;
};

NEUROSIM_HD RingSlice ring_slice(int64_t n, int64_t g, int64_t threads) {
  const int64_t begin = g * n / threads, end = (g + 1) * n / threads;
  return {begin, static_cast<int>(end - begin)};
}

template <typename A> struct RingEdges {
  A first, last;  // values of the thread's first and last neuron, for its neighbours
};

template <RingForm F, int K, typename T, typename A> struct RingForwardThread {
  int64_t row;  // b * n
  int64_t begin;
  int count;
  A tau[K], eps[K], theta[K];
  A v[K];      // V_{t-1}, then V_t
  A w[K];      // W_t (library)
  A x_now[K];  // I_t
  A x_next[K]; // I_{t+1}, loaded a step ahead

  NEUROSIM_HD void init(const UltraDlifForwardArgs<T, A>& p, int64_t b, RingSlice slice) {
    row = b * p.features;
    begin = slice.begin;
    count = slice.count;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      const int64_t i = begin + (k < count ? k : 0);
      const RingParams<A> q = ring_params(p, i);
      tau[k] = q.tau;
      eps[k] = q.eps;
      theta[k] = q.theta;
      v[k] = p.state[row + i];
      w[k] = A(0);
      x_next[k] = A(0);
    }
    load_current(p, 0);
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) x_now[k] = x_next[k];
  }

  // Loads I_t into x_next (issued before the barrier so that its latency hides behind it).
  NEUROSIM_HD void load_current(const UltraDlifForwardArgs<T, A>& p, int64_t t) {
    if (t >= p.steps) return;
    const T* __restrict__ x = p.x + t * p.batch * p.features + row + begin;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k)
      if (k < count) x_next[k] = convert<A>(x[k]);
  }

  // Before the exchange: the values the neighbours need (library: W_t, computed and recorded here;
  // ablation: V_{t-1}).
  NEUROSIM_HD RingEdges<A> publish(const UltraDlifForwardArgs<T, A>& p, int64_t t) {
    if (F == RingForm::Ablation) return {v[0], last(v)};
    A* __restrict__ m = p.membrane + t * p.batch * p.features + row + begin;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      if (k < count) {
        w[k] = ring_membrane<F>(A(0), v[k], A(0), x_now[k], tau[k], eps[k]);
        m[k] = w[k];
      }
    }
    return {w[0], last(w)};
  }

  // After the exchange: left_in / right_in are the published values of the ring neighbours of the
  // first and last neuron. Writes the spikes (and, ablation, the membrane) of step t.
  NEUROSIM_HD void finish(const UltraDlifForwardArgs<T, A>& p, int64_t t, A left_in, A right_in) {
    const int64_t offset = t * p.batch * p.features + row + begin;
    T* __restrict__ s = p.spikes + offset;
    if (F == RingForm::Library) {
    NEUROSIM_RING_UNROLL
      for (int k = 0; k < K; ++k) {
        if (k < count) {
          const A wl = k == 0 ? left_in : w[k > 0 ? k - 1 : 0];
          const A wr = k + 1 == count ? right_in : w[k + 1 < K ? k + 1 : k];
          const RingFire<A> f = ring_fire<F>(wl, w[k], wr, eps[k], theta[k]);
          s[k] = convert<T>(f.spike);
          v[k] = f.state;
        }
      }
    } else {
      A* __restrict__ m = p.membrane + offset;
      A prev = left_in;  // V_{t-1} of the left neighbour (v[k - 1] is overwritten below)
    NEUROSIM_RING_UNROLL
      for (int k = 0; k < K; ++k) {
        if (k < count) {
          const A vr = k + 1 == count ? right_in : v[k + 1 < K ? k + 1 : k];
          const A wk = ring_membrane<F>(prev, v[k], vr, x_now[k], tau[k], eps[k]);
          m[k] = wk;
          const RingFire<A> f = ring_fire<F>(A(0), wk, A(0), eps[k], theta[k]);
          s[k] = convert<T>(f.spike);
          prev = v[k];
          v[k] = f.state;
        }
      }
    }
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) x_now[k] = x_next[k];
  }

  NEUROSIM_HD void store_state(const UltraDlifForwardArgs<T, A>& p) const {
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k)
      if (k < count) p.state[row + begin + k] = v[k];
  }

  // The value of the thread's last neuron (a select chain: no run-time array index).
  NEUROSIM_HD A last(const A (&a)[K]) const {
    A r = a[0];
    NEUROSIM_RING_UNROLL
    for (int k = 1; k < K; ++k) r = k < count ? a[k] : r;
    return r;
  }
};

// One reverse step of a thread, in the order the kernel and its CPU emulation run it:
//   before_exchange(t) ; <exchange> ; finish(t) ; advance()
template <RingForm F, int K, typename T, typename A> struct RingBackwardThread {
  int64_t row;
  int64_t begin;
  int count;
  A tau[K], eps[K], theta[K];
  A halo_eps[2], halo_theta[2];  // ablation: the parameters of the neighbours outside the thread
  A carry[K];                    // dL/dV_t
  RingGradAcc<A> acc[K];
  RingStep<A> step[K];           // step t (library: complete; ablation: its read)
  RingStep<A> previous[K];       // step t - 1, computed for V_{t-1} and kept for the next reverse step
  RingSend<A> send[K];
  A v_prev[K];                   // V_{t-1}
  A halo_v_prev[2];              // ablation: V_{t-1} of the neighbours outside the thread

  using Args = UltraDlifBackwardArgs<T, A>;

  NEUROSIM_HD int64_t ring_index(int64_t i, int64_t n) const { return i < 0 ? i + n : (i >= n ? i - n : i); }

  NEUROSIM_HD void init(const Args& p, int64_t b, RingSlice slice) {
    const int64_t n = p.features;
    row = b * n;
    begin = slice.begin;
    count = slice.count;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      const int64_t i = begin + (k < count ? k : 0);
      const RingParams<A> q = ring_params(p, i);
      tau[k] = q.tau;
      eps[k] = q.eps;
      theta[k] = q.theta;
      carry[k] = p.carry[row + i];
      acc[k] = RingGradAcc<A>{A(0), A(0), A(0)};
    }
    const int64_t left = ring_index(begin - 1, n), right = ring_index(begin + count, n);
    const RingParams<A> ql = ring_params(p, left), qr = ring_params(p, right);
    halo_eps[0] = ql.eps;
    halo_theta[0] = ql.theta;
    halo_eps[1] = qr.eps;
    halo_theta[1] = qr.theta;
    // Step T - 1 from its trace (later steps arrive carried from the previous reverse step).
    load_step(p, p.steps - 1, step);
  }

  // Step t's read (and, library, its soft max) at the thread's neurons from the trace W_t; for
  // the ablation form also V_t of the halo neighbours (their soft max input at step t + 1).
  NEUROSIM_HD void load_step(const Args& p, int64_t t, RingStep<A> (&out)[K]) {
    const int64_t n = p.features;
    const A* __restrict__ w = p.membrane + t * p.batch * n + row;
    const A w_left = w[ring_index(begin - 1, n)], w_right = w[ring_index(begin + count, n)];
    A wk[K];
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) wk[k] = w[begin + (k < count ? k : 0)];
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      if (F == RingForm::Library) {
        const A wl = k == 0 ? w_left : wk[k > 0 ? k - 1 : 0];
        const A wr = k + 1 == count ? w_right : wk[k + 1 < K ? k + 1 : k];
        out[k] = ring_step_library(wl, wk[k], wr, eps[k], theta[k]);
      } else {
        out[k] = ring_step_ablation_read(wk[k], eps[k], theta[k]);
      }
    }
    if (F == RingForm::Ablation) {
      halo_v_prev[0] = ring_state_after(ring_step_ablation_read(w_left, halo_eps[0], halo_theta[0]));
      halo_v_prev[1] = ring_state_after(ring_step_ablation_read(w_right, halo_eps[1], halo_theta[1]));
    }
  }

  // V_{t-1} at the thread's neurons (and, ablation, at its halo), before reverse step t. For t > 0
  // it is the reset of step t - 1, whose read is kept in `previous` for the next reverse step.
  NEUROSIM_HD void load_previous_state(const Args& p, int64_t t) {
    if (t == 0) {
      const int64_t n = p.features;
      const A* __restrict__ v0 = p.v0 + row;
    NEUROSIM_RING_UNROLL
      for (int k = 0; k < K; ++k) v_prev[k] = v0[begin + (k < count ? k : 0)];
      halo_v_prev[0] = v0[ring_index(begin - 1, n)];
      halo_v_prev[1] = v0[ring_index(begin + count, n)];
      return;
    }
    load_step(p, t - 1, previous);
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) v_prev[k] = ring_state_after(previous[k]);
  }

  // After reverse step t: step t - 1 becomes the current one.
  NEUROSIM_HD void advance() {
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) step[k] = previous[k];
  }

  // Everything of reverse step t before the exchange; returns (the left send of the first neuron,
  // the right send of the last). The ablation form's sends need V_{t-1} (the soft max's input)
  // first; the library form's do not, so it loads step t - 1 after them (fewer live registers).
  NEUROSIM_HD RingEdges<A> before_exchange(const Args& p, int64_t t) {
    if (F == RingForm::Ablation) {
      load_previous_state(p, t);
      return publish(p, t);
    }
    const RingEdges<A> edges = publish(p, t);
    load_previous_state(p, t);
    return edges;
  }

  // The sends of every neuron's soft max at reverse step t.
  NEUROSIM_HD RingEdges<A> publish(const Args& p, int64_t t) {
    const int64_t offset = t * p.batch * p.features + row + begin;
    const T* __restrict__ gs = p.grad_spikes + offset;
    const A* __restrict__ gm = p.grad_membrane != nullptr ? p.grad_membrane + offset : nullptr;
    T* __restrict__ gx = p.grad_x + offset;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      if (k < count) {
        if (F == RingForm::Ablation) {
          const A vl = k == 0 ? halo_v_prev[0] : v_prev[k > 0 ? k - 1 : 0];
          const A vr = k + 1 == count ? halo_v_prev[1] : v_prev[k + 1 < K ? k + 1 : k];
          ring_step_ablation_soft(step[k], vl, v_prev[k], vr, tau[k], eps[k]);
        }
        const A grad_mem = gm != nullptr ? gm[k] : A(0);
        send[k] = ring_backward_local<F>(step[k], convert<A>(gs[k]), grad_mem, carry[k], acc[k]);
        if (F == RingForm::Ablation) gx[k] = convert<T>(send[k].own);
      }
    }
    A last_right = send[0].right;
    NEUROSIM_RING_UNROLL
    for (int k = 1; k < K; ++k) last_right = k < count ? send[k].right : last_right;
    return {send[0].left, last_right};  // to the left neighbour, to the right neighbour
  }

  // After the exchange: from_left is the right send of the left neighbour thread's last neuron,
  // from_right the left send of the right neighbour thread's first neuron.
  NEUROSIM_HD void finish(const Args& p, int64_t t, A from_left, A from_right) {
    T* __restrict__ gx = p.grad_x + t * p.batch * p.features + row + begin;
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      if (k < count) {
        const A fl = k == 0 ? from_left : send[k > 0 ? k - 1 : 0].right;
        const A fr = k + 1 == count ? from_right : send[k + 1 < K ? k + 1 : k].left;
        const RingGather<A> g = ring_backward_gather<F>(send[k], fl, fr, v_prev[k], tau[k], acc[k]);
        if (F == RingForm::Library) gx[k] = convert<T>(g.grad_x);
        carry[k] = g.carry;
      }
    }
  }

  NEUROSIM_HD void store(const Args& p) const {
    NEUROSIM_RING_UNROLL
    for (int k = 0; k < K; ++k) {
      if (k < count) {
        const int64_t e = row + begin + k;
        p.carry[e] = carry[k];
        p.grad_tau_elems[e] += acc[k].tau;
        p.grad_eps_elems[e] += acc[k].eps;
        p.grad_theta_elems[e] += acc[k].theta;
      }
    }
  }
};

// ---- 3. rows too long to stay on chip: state in global memory, one block per row ------------------
//
// Each step is two phases over the row with a block barrier between them; a thread strides over
// the row's neurons. The backward pass keeps what each soft max sends in the three scratch rows
// and the part that stays with a neuron in the carry row.

NEUROSIM_HD int64_t ring_wrap(int64_t i, int64_t n) { return i < 0 ? i + n : (i >= n ? i - n : i); }

template <RingForm F, typename T, typename A>
NEUROSIM_HD void ring_global_forward_phase1(const UltraDlifForwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  const int64_t n = p.features, offset = t * p.batch * n + b * n;
  const RingParams<A> q = ring_params(p, i);
  const A* __restrict__ v = p.state + b * n;
  p.membrane[offset + i] = ring_membrane<F>(v[ring_wrap(i - 1, n)], v[i], v[ring_wrap(i + 1, n)],
                                            convert<A>(p.x[offset + i]), q.tau, q.eps);
}

template <RingForm F, typename T, typename A>
NEUROSIM_HD void ring_global_forward_phase2(const UltraDlifForwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  const int64_t n = p.features, offset = t * p.batch * n + b * n;
  const RingParams<A> q = ring_params(p, i);
  const A* __restrict__ w = p.membrane + offset;
  const RingFire<A> f = ring_fire<F>(w[ring_wrap(i - 1, n)], w[i], w[ring_wrap(i + 1, n)], q.eps, q.theta);
  p.spikes[offset + i] = convert<T>(f.spike);
  p.state[b * n + i] = f.state;
}

// Step t's read at neuron j recomputed from the trace (library: with its soft max over W_t).
template <RingForm F, typename T, typename A>
NEUROSIM_HD RingStep<A> ring_global_step(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t j) {
  const int64_t n = p.features;
  const RingParams<A> q = ring_params(p, j);
  const A* __restrict__ w = p.membrane + t * p.batch * n + b * n;
  if (F == RingForm::Library) return ring_step_library(w[ring_wrap(j - 1, n)], w[j], w[ring_wrap(j + 1, n)], q.eps, q.theta);
  return ring_step_ablation_read(w[j], q.eps, q.theta);
}

template <RingForm F, typename T, typename A>
NEUROSIM_HD A ring_global_state_before(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t j) {
  return t == 0 ? p.v0[b * p.features + j] : ring_state_after(ring_global_step<F>(p, b, t - 1, j));
}

template <RingForm F, typename T, typename A>
NEUROSIM_HD void ring_global_backward_phase1(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t i) {
  const int64_t n = p.features, e = b * n + i, te = t * p.batch * n + e;
  const RingParams<A> q = ring_params(p, i);
  RingStep<A> s = ring_global_step<F>(p, b, t, i);
  if (F == RingForm::Ablation) {
    ring_step_ablation_soft(s, ring_global_state_before<F>(p, b, t, ring_wrap(i - 1, n)),
                            ring_global_state_before<F>(p, b, t, i),
                            ring_global_state_before<F>(p, b, t, ring_wrap(i + 1, n)), q.tau, q.eps);
  }
  RingGradAcc<A> acc{A(0), p.grad_eps_elems[e], p.grad_theta_elems[e]};
  const A grad_mem = p.grad_membrane != nullptr ? p.grad_membrane[te] : A(0);
  const RingSend<A> send = ring_backward_local<F>(s, convert<A>(p.grad_spikes[te]), grad_mem, p.carry[e], acc);
  p.grad_eps_elems[e] = acc.eps;
  p.grad_theta_elems[e] = acc.theta;
  p.step_grad[e] = send.left;
  p.step_peak[e] = send.centre;
  p.step_inv_sum[e] = send.right;
  p.carry[e] = send.own;
  if (F == RingForm::Ablation) p.grad_x[te] = convert<T>(send.own);
}

template <RingForm F, typename T, typename A>
NEUROSIM_HD void ring_global_backward_phase2(const UltraDlifBackwardArgs<T, A>& p, int64_t b, int64_t t, int64_t j) {
  const int64_t n = p.features, row = b * n, e = row + j, te = t * p.batch * n + e;
  const RingParams<A> q = ring_params(p, j);
  RingGradAcc<A> acc{p.grad_tau_elems[e], A(0), A(0)};
  const RingSend<A> mine{A(0), p.step_peak[e], A(0), p.carry[e]};
  const RingGather<A> g = ring_backward_gather<F>(mine, p.step_inv_sum[row + ring_wrap(j - 1, n)],
                                                  p.step_grad[row + ring_wrap(j + 1, n)],
                                                  ring_global_state_before<F>(p, b, t, j), q.tau, acc);
  p.grad_tau_elems[e] = acc.tau;
  if (F == RingForm::Library) p.grad_x[te] = convert<T>(g.grad_x);
  p.carry[e] = g.carry;
}


}  // namespace neurosim
