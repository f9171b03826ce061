// Recurrent spiking layers (snnTorch's RLeaky and RSynaptic, and a recurrent ALIF / LSNN): the
// per-neuron step math as pluggable cell policies, shared by the CUDA kernels and the CPU twin.
//
// A recurrent layer couples its neurons through the previous step's spikes, rec_t = W s_{t-1} + b,
// a matrix product per step that cannot live inside a per-neuron scan. The time loop therefore
// sits in the op binding (bindings/recurrent_ops.cpp): per step it calls torch's own GEMM (the
// same addmm as nn.Linear, so the recurrent input is bit for bit snnTorch's), then one launch of
// the elementwise step below over all B*n neurons. The backward runs the same loop in reverse,
// with one GEMM per step for dL/ds_{t-1} = g_t W. With one weight per neuron (all_to_all=False,
// rec_t = V s_{t-1}) there is no GEMM and one launch runs all T steps with the state in registers.
//
// Layout: every buffer is [rows, M] with M = B*n elements, element e = b*n + i (neuron i).
// state [S, M] = (s, var_1 .. var_K): the spikes first, then the cell's variables. trace [K, T, M]
// holds each variable after every step (the backward reads it, the modules expose it).
// params [P, n] are per neuron (a per-layer value arrives expanded).
#pragma once

#include <cstdint>

#include "neurosim/common.h"
#include "neurosim/surrogate.h"

namespace neurosim {

// Mirrors neurosim/core/recurrent_op.py (CELLS) and Reset in lif.h (0 subtract, 1 zero, 2 none).
enum class RecurrentCell : int { LIF = 0, Synaptic = 1, ALIF = 2 };
enum class RecurrentReset : int { Subtract = 0, Zero = 1, None = 2 };

// ---------------------------------------------------------------------------------------------
// Cell policies. forward() takes the cell's parameters p, its variables v (updated in place), the
// input x_t and the recurrent input rec_t, and returns the spike s_t. backward() takes the
// variables before (prev) and after (now) the step, dL/ds_t (gs), dL/d(recorded variables) of this
// step (gtr), and carry = dL/d(variables after the step) from later steps; it leaves in carry
// dL/d(variables before the step), adds to the parameter gradients dpar, and returns
// dL/d(x_t + rec_t) (x and rec enter every cell as one sum). kResetGrad: the reset term carries
// the surrogate gradient (detach_reset=False); the binding refuses it with the zero reset, whose
// derivative would need the pre-reset membrane, which is not kept.
// Operation order follows snnTorch (FMA contraction is off), so the values are its bit for bit.
// The Heaviside steps are casts of comparisons, not branches: the CPU loops then vectorise (GCC
// does not if-convert a `c ? 1 : 0` whose operands it has already sunk into two stores).
// ---------------------------------------------------------------------------------------------

// snnTorch RLeaky: r_t = H(u_{t-1} - thr) (detached), base = (beta u_{t-1} + x_t) + rec_t,
// subtract: u_t = base - r_t thr; zero: u_t = base - r_t base; none: u_t = base; s_t = H(u_t - thr).
// params (beta, thr); variables (u).
struct RLifCell {
  static constexpr int kParams = 2, kVars = 1;

  template <RecurrentReset R, typename A>
  static NEUROSIM_HD A forward(const A* p, A* v, A x, A rec) {
    const A beta = p[0], thr = p[1], u_prev = v[0];
    const A r = static_cast<A>(u_prev - thr > A(0));
    const A base = (beta * u_prev + x) + rec;
    A u;
    if (R == RecurrentReset::Subtract) u = base - r * thr;
    else if (R == RecurrentReset::Zero) u = base - r * base;
    else u = base;
    v[0] = u;
    return static_cast<A>(u - thr > A(0));
  }

  template <RecurrentReset R, bool kResetGrad, typename A, typename SG>
  static NEUROSIM_HD A backward(const A* p, const A* prev, const A* now, A gs, const A* gtr, A* carry,
                                A* dpar, const SG& sg) {
    const A beta = p[0], thr = p[1], u_prev = prev[0], u = now[0];
    const A ds = gs * sg(u - thr);
    const A gu = ds + gtr[0] + carry[0];
    dpar[1] -= ds;
    const A z_prev = u_prev - thr;
    const A r = static_cast<A>(z_prev > A(0));
    A gb, g_r = A(0);
    if (R == RecurrentReset::Subtract) {
      gb = gu;
      dpar[1] -= r * gu;
      g_r = -(gu * thr);
    } else if (R == RecurrentReset::Zero) {
      gb = gu * (A(1) - r);
    } else {
      gb = gu;
    }
    A carry_u = gb * beta;
    dpar[0] += gb * u_prev;
    if (kResetGrad) {
      const A gz = g_r * sg(z_prev);
      carry_u += gz;
      dpar[1] -= gz;
    }
    carry[0] = carry_u;
    return gb;
  }
};

// snnTorch RSynaptic: r_t = H(u_{t-1} - thr), syn_t = (alpha syn_{t-1} + x_t) + rec_t,
// m = beta u_{t-1} + syn_t, subtract: u_t = m - r_t thr; zero: u_t = m - r_t m (syn untouched);
// none: u_t = m; s_t = H(u_t - thr). params (alpha, beta, thr); variables (syn, u).
struct RSynapticCell {
  static constexpr int kParams = 3, kVars = 2;

  template <RecurrentReset R, typename A>
  static NEUROSIM_HD A forward(const A* p, A* v, A x, A rec) {
    const A alpha = p[0], beta = p[1], thr = p[2], syn_prev = v[0], u_prev = v[1];
    const A r = static_cast<A>(u_prev - thr > A(0));
    const A syn = (alpha * syn_prev + x) + rec;
    const A m = beta * u_prev + syn;
    A u;
    if (R == RecurrentReset::Subtract) u = m - r * thr;
    else if (R == RecurrentReset::Zero) u = m - r * m;
    else u = m;
    v[0] = syn;
    v[1] = u;
    return static_cast<A>(u - thr > A(0));
  }

  template <RecurrentReset R, bool kResetGrad, typename A, typename SG>
  static NEUROSIM_HD A backward(const A* p, const A* prev, const A* now, A gs, const A* gtr, A* carry,
                                A* dpar, const SG& sg) {
    const A alpha = p[0], beta = p[1], thr = p[2];
    const A syn_prev = prev[0], u_prev = prev[1], u = now[1];
    const A ds = gs * sg(u - thr);
    const A gu = ds + gtr[1] + carry[1];
    dpar[2] -= ds;
    const A z_prev = u_prev - thr;
    const A r = static_cast<A>(z_prev > A(0));
    A gm, g_r = A(0);
    if (R == RecurrentReset::Subtract) {
      gm = gu;
      dpar[2] -= r * gu;
      g_r = -(gu * thr);
    } else if (R == RecurrentReset::Zero) {
      gm = gu * (A(1) - r);
    } else {
      gm = gu;
    }
    A carry_u = gm * beta;
    dpar[1] += gm * u_prev;
    const A gsyn = gm + gtr[0] + carry[0];
    carry[0] = gsyn * alpha;
    dpar[0] += gsyn * syn_prev;
    if (kResetGrad) {
      const A gz = g_r * sg(z_prev);
      carry_u += gz;
      dpar[2] -= gz;
    }
    carry[1] = carry_u;
    return gsyn;
  }
};

// Recurrent adaptive LIF (Bellec et al. 2018, LSNN), in the form of neurosim.ALIF with the
// recurrent input added as RLeaky adds it: B_t = thr + gamma a_t, r_t = H(u_{t-1} - B_{t-1}) (the
// previous spike), base = (beta u_{t-1} + x_t) + rec_t, subtract: u_t = base - r_t thr;
// zero: u_t = base - r_t base; none: u_t = base; a_t = rho a_{t-1} + r_t; s_t = H(u_t - B_t).
// With gamma = 0 every step is RLifCell's, operation for operation.
// params (beta, rho, gamma, thr); variables (u, a).
struct RAlifCell {
  static constexpr int kParams = 4, kVars = 2;

  template <RecurrentReset R, typename A>
  static NEUROSIM_HD A forward(const A* p, A* v, A x, A rec) {
    const A beta = p[0], rho = p[1], gamma = p[2], thr = p[3], u_prev = v[0], a_prev = v[1];
    const A r = static_cast<A>(u_prev - (thr + gamma * a_prev) > A(0));
    const A base = (beta * u_prev + x) + rec;
    A u;
    if (R == RecurrentReset::Subtract) u = base - r * thr;
    else if (R == RecurrentReset::Zero) u = base - r * base;
    else u = base;
    const A a = rho * a_prev + r;
    v[0] = u;
    v[1] = a;
    return static_cast<A>(u - (thr + gamma * a) > A(0));
  }

  template <RecurrentReset R, bool kResetGrad, typename A, typename SG>
  static NEUROSIM_HD A backward(const A* p, const A* prev, const A* now, A gs, const A* gtr, A* carry,
                                A* dpar, const SG& sg) {
    const A beta = p[0], rho = p[1], gamma = p[2], thr = p[3];
    const A u_prev = prev[0], a_prev = prev[1], u = now[0], a = now[1];
    const A ds = gs * sg(u - (thr + gamma * a));
    const A gu = ds + gtr[0] + carry[0];
    const A ga = -(gamma * ds) + gtr[1] + carry[1];
    dpar[3] -= ds;
    dpar[2] -= ds * a;
    const A z_prev = u_prev - (thr + gamma * a_prev);
    const A r = static_cast<A>(z_prev > A(0));
    A gb, g_r = A(0);
    if (R == RecurrentReset::Subtract) {
      gb = gu;
      dpar[3] -= r * gu;
      g_r = -(gu * thr);
    } else if (R == RecurrentReset::Zero) {
      gb = gu * (A(1) - r);
    } else {
      gb = gu;
    }
    A carry_u = gb * beta;
    dpar[0] += gb * u_prev;
    A carry_a = ga * rho;
    dpar[1] += ga * a_prev;
    if (kResetGrad) {
      const A gz = (g_r + ga) * sg(z_prev);
      carry_u += gz;
      carry_a -= gamma * gz;
      dpar[3] -= gz;
      dpar[2] -= gz * a_prev;
    }
    carry[0] = carry_u;
    carry[1] = carry_a;
    return gb;
  }
};

// ---------------------------------------------------------------------------------------------
// Launch structs: raw pointers (void, typed by `dtype`: Float32 or Float64; the Python side casts
// half inputs to float32), runtime enums. One launch runs steps [t_begin, t_end) for every element.
// ---------------------------------------------------------------------------------------------

struct RecurrentForwardLaunch {
  const void* x;       // [T, M]
  const void* rec;     // [M]: W s_{t-1} + b for step t_begin (then t_end = t_begin + 1), or nullptr
  const void* params;  // [P, n]
  const void* v;       // [n] one-to-one weights (rec = s_{t-1} * v) when rec is nullptr, else unused
  void* state;         // [S, M], read and updated in place
  void* spikes;        // [T, M]
  void* trace;         // [K, T, M] or nullptr
  int64_t steps, t_begin, t_end, batch, features;
  int cell;   // RecurrentCell
  int reset;  // RecurrentReset
  DType dtype;
};

struct RecurrentBackwardLaunch {
  const void* grad_spikes;            // [T, M] with strides (t, e); strides may be 0
  int64_t gs_t_stride, gs_e_stride;
  const void* grad_trace;             // [K, T, M] or nullptr
  const void* trace;                  // [K, T, M]
  const void* state0;                 // [S, M]
  const void* spikes;                 // [T, M] (one-to-one: s_{t-1} for dL/dv)
  const void* params;                 // [P, n]
  const void* v;                      // [n] or nullptr (dense: the binding's GEMM makes grec)
  void* grec;                         // [M] dL/ds_{t_end-1} from the recurrence; left: dL/ds_{t_begin-1}
  void* carry;                        // [K, M] dL/d(variables after t_end-1); left: before t_begin
  void* grad_x;                       // [T, M]
  void* grad_drive;                   // [M]: dL/d(x + rec) of step t_begin (dense GEMM input) or nullptr
  void* grad_params;                  // [P, M] accumulated
  void* grad_v;                       // [M] accumulated (one-to-one) or nullptr
  int64_t steps, t_begin, t_end, batch, features;
  int cell, reset, surrogate;
  double surrogate_param;
  bool detach_reset;
  DType dtype;
  // [n, n] all-to-all weight W, or nullptr. When set, the CPU twin runs the whole dense backward
  // itself, steps [t_begin, t_end) in reverse with dL/ds_{t-1} = g_t W per step (grad_drive is
  // then unused: g_t is written to grad_x); the CUDA twin leaves the per-step GEMM to the binding.
  const void* weight = nullptr;
};

// dL/dW^T of the all-to-all recurrence, rec_t = s_{t-1} W^T + b: grad_wt[j, o] = sum over steps t
// and rows b of s_{t-1}[b, j] g_t[b, o]. The spikes are mostly 0, so the CPU adds the row g_t[b]
// into grad_wt[j] for each nonzero s_{t-1}[b, j] only: about (spike rate) of a dense GEMM's work.
struct RecurrentWeightGradLaunch {
  const void* grad_drive;  // [T, B, n]: dL/d(x_t + rec_t)
  const void* spikes;      // [T, B, n]: s_t (row t-1 is s_{t-1})
  const void* spikes0;     // [B, n]: s_{-1}, the initial spikes
  void* grad_wt;           // [n, n], zero-filled: dL/dW transposed
  int64_t steps, batch, features;
  DType dtype;
};

void recurrent_forward_cpu(const RecurrentForwardLaunch& a);
void recurrent_backward_cpu(const RecurrentBackwardLaunch& a);
void recurrent_weight_grad_cpu(const RecurrentWeightGradLaunch& a);

// `stream` is a cudaStream_t; the return value is a cudaError_t (0 on success).
int recurrent_forward_cuda(const RecurrentForwardLaunch& a, void* stream);
int recurrent_backward_cuda(const RecurrentBackwardLaunch& a, void* stream);

// ---------------------------------------------------------------------------------------------
// Per-lane work shared by both twins: W adjacent elements of one batch row (neurons i0..i0+W-1),
// all steps of the launch's range, state in registers (CUDA: W = 1, one thread per element).
// ---------------------------------------------------------------------------------------------

template <typename A>
struct RecurrentForwardArgs {
  const A* x; const A* rec; const A* params; const A* v;
  A* state; A* spikes; A* trace;
  int64_t steps, t_begin, t_end, M, n;
};

template <typename A>
struct RecurrentBackwardArgs {
  const A* grad_spikes; int64_t gs_t_stride, gs_e_stride;
  const A* grad_trace; const A* trace; const A* state0; const A* spikes; const A* params; const A* v;
  A* grec; A* carry; A* grad_x; A* grad_drive; A* grad_params; A* grad_v;
  int64_t steps, t_begin, t_end, M, n;
};

template <typename A>
inline RecurrentForwardArgs<A> typed_recurrent_forward(const RecurrentForwardLaunch& a) {
  return RecurrentForwardArgs<A>{
      static_cast<const A*>(a.x), static_cast<const A*>(a.rec), static_cast<const A*>(a.params),
      static_cast<const A*>(a.v), static_cast<A*>(a.state), static_cast<A*>(a.spikes),
      static_cast<A*>(a.trace), a.steps, a.t_begin, a.t_end, a.batch * a.features, a.features};
}

template <typename A>
inline RecurrentBackwardArgs<A> typed_recurrent_backward(const RecurrentBackwardLaunch& a) {
  return RecurrentBackwardArgs<A>{
      static_cast<const A*>(a.grad_spikes), a.gs_t_stride, a.gs_e_stride,
      static_cast<const A*>(a.grad_trace), static_cast<const A*>(a.trace),
      static_cast<const A*>(a.state0), static_cast<const A*>(a.spikes),
      static_cast<const A*>(a.params), static_cast<const A*>(a.v), static_cast<A*>(a.grec),
      static_cast<A*>(a.carry), static_cast<A*>(a.grad_x), static_cast<A*>(a.grad_drive),
      static_cast<A*>(a.grad_params), static_cast<A*>(a.grad_v), a.steps, a.t_begin, a.t_end,
      a.batch * a.features, a.features};
}

// Forward over [t_begin, t_end) for elements e0..e0+W-1 (neurons i0..i0+W-1 of one row).
template <class Cell, RecurrentReset R, int W, typename A>
NEUROSIM_HD void recurrent_forward_lanes(const RecurrentForwardArgs<A>& a, int64_t e0, int64_t i0) {
  constexpr int P = Cell::kParams, K = Cell::kVars;
  A p[P][W], v[K + 1][W], vw[W];
  for (int k = 0; k < P; ++k)
    for (int l = 0; l < W; ++l) p[k][l] = a.params[k * a.n + i0 + l];
  for (int k = 0; k <= K; ++k)
    for (int l = 0; l < W; ++l) v[k][l] = a.state[k * a.M + e0 + l];
  for (int l = 0; l < W; ++l) vw[l] = a.rec == nullptr ? a.v[i0 + l] : A(0);
  for (int64_t t = a.t_begin; t < a.t_end; ++t) {
    const A* xt = a.x + t * a.M + e0;
    A* st = a.spikes + t * a.M + e0;
    for (int l = 0; l < W; ++l) {
      A pl[P], vl[K];
      for (int k = 0; k < P; ++k) pl[k] = p[k][l];
      for (int k = 0; k < K; ++k) vl[k] = v[k + 1][l];
      // snnTorch's RecurrentOneToOne computes spk * V
      const A rec = a.rec != nullptr ? a.rec[e0 + l] : v[0][l] * vw[l];
      const A s = Cell::template forward<R>(pl, vl, xt[l], rec);
      v[0][l] = s;
      for (int k = 0; k < K; ++k) v[k + 1][l] = vl[k];
      st[l] = s;
    }
    if (a.trace != nullptr)
      for (int k = 0; k < K; ++k)
        for (int l = 0; l < W; ++l) a.trace[(k * a.steps + t) * a.M + e0 + l] = v[k + 1][l];
  }
  for (int k = 0; k <= K; ++k)
    for (int l = 0; l < W; ++l) a.state[k * a.M + e0 + l] = v[k][l];
}

// Backward over [t_begin, t_end), in reverse, for elements e0..e0+W-1.
template <class Cell, RecurrentReset R, bool kResetGrad, int W, typename A, typename SG>
NEUROSIM_HD void recurrent_backward_lanes(const RecurrentBackwardArgs<A>& a, const SG& sg, int64_t e0,
                                          int64_t i0) {
  constexpr int P = Cell::kParams, K = Cell::kVars;
  const bool one_to_one = a.grad_drive == nullptr;
  A p[P][W], carry[K][W], dpar[P][W], grec[W], vw[W], dv[W];
  for (int k = 0; k < P; ++k)
    for (int l = 0; l < W; ++l) {
      p[k][l] = a.params[k * a.n + i0 + l];
      dpar[k][l] = A(0);
    }
  for (int k = 0; k < K; ++k)
    for (int l = 0; l < W; ++l) carry[k][l] = a.carry[k * a.M + e0 + l];
  for (int l = 0; l < W; ++l) {
    grec[l] = a.grec[e0 + l];
    vw[l] = one_to_one ? a.v[i0 + l] : A(0);
    dv[l] = A(0);
  }
  for (int64_t t = a.t_end - 1; t >= a.t_begin; --t) {
    const A* gst = a.grad_spikes + t * a.gs_t_stride;
    for (int l = 0; l < W; ++l) {
      const int64_t e = e0 + l;
      A pl[P], prev[K], now[K], gtr[K], cl[K], dl[P];
      for (int k = 0; k < P; ++k) {
        pl[k] = p[k][l];
        dl[k] = A(0);
      }
      for (int k = 0; k < K; ++k) {
        now[k] = a.trace[(k * a.steps + t) * a.M + e];
        prev[k] = t > 0 ? a.trace[(k * a.steps + t - 1) * a.M + e] : a.state0[(k + 1) * a.M + e];
        gtr[k] = a.grad_trace != nullptr ? a.grad_trace[(k * a.steps + t) * a.M + e] : A(0);
        cl[k] = carry[k][l];
      }
      const A gs = gst[e * a.gs_e_stride] + grec[l];
      const A gd = Cell::template backward<R, kResetGrad>(pl, prev, now, gs, gtr, cl, dl, sg);
      for (int k = 0; k < K; ++k) carry[k][l] = cl[k];
      for (int k = 0; k < P; ++k) dpar[k][l] += dl[k];
      a.grad_x[t * a.M + e] = gd;
      if (one_to_one) {
        const A s_prev = t > 0 ? a.spikes[(t - 1) * a.M + e] : a.state0[e];
        grec[l] = gd * vw[l];
        dv[l] += gd * s_prev;
      } else {
        a.grad_drive[e] = gd;
      }
    }
  }
  for (int k = 0; k < K; ++k)
    for (int l = 0; l < W; ++l) a.carry[k * a.M + e0 + l] = carry[k][l];
  for (int k = 0; k < P; ++k)
    for (int l = 0; l < W; ++l) a.grad_params[k * a.M + e0 + l] += dpar[k][l];
  if (one_to_one)
    for (int l = 0; l < W; ++l) {
      a.grec[e0 + l] = grec[l];
      a.grad_v[e0 + l] += dv[l];
    }
}

// Maps the runtime cell/reset/reset-gradient choices to compile-time ones (both twins).
template <bool B> struct RecurrentBool { static constexpr bool value = B; };
template <RecurrentReset R> struct RecurrentResetTag { static constexpr RecurrentReset value = R; };
template <class C> struct RecurrentCellTag { using type = C; };

template <typename Fn>
inline void dispatch_recurrent(int cell, int reset, Fn&& fn) {
  auto with_reset = [&](auto cell_tag) {
    switch (static_cast<RecurrentReset>(reset)) {
      case RecurrentReset::Zero: fn(cell_tag, RecurrentResetTag<RecurrentReset::Zero>{}); break;
      case RecurrentReset::None: fn(cell_tag, RecurrentResetTag<RecurrentReset::None>{}); break;
      case RecurrentReset::Subtract:
      default: fn(cell_tag, RecurrentResetTag<RecurrentReset::Subtract>{}); break;
    }
  };
  switch (static_cast<RecurrentCell>(cell)) {
    case RecurrentCell::Synaptic: with_reset(RecurrentCellTag<RSynapticCell>{}); break;
    case RecurrentCell::ALIF: with_reset(RecurrentCellTag<RAlifCell>{}); break;
    case RecurrentCell::LIF:
    default: with_reset(RecurrentCellTag<RLifCell>{}); break;
  }
}

}  // namespace neurosim
