// CPU twin of cuda/recurrent.cu: the cell policies of recurrent.h (the same step math the CUDA
// kernel runs) over the batch rows, step by step. A dense layer calls this once per step between
// two GEMMs, on a few thousand elements: that runs on the calling thread, since waking the pool
// would cost more than the step.
#include <algorithm>
#include <utility>

#include "cpu_loops.h"
#include "neurosim/recurrent.h"

namespace neurosim {
namespace {

// The CPU walks time outside and the neurons of a batch row inside: every step sweeps contiguous
// rows (x_t, the state, the trace row of step t), which the simd loop vectorises and the
// prefetcher streams; a per-neuron time loop would stride by B*n elements per step instead.

// fn(0), ..., fn(N-1) written out: the simd loops below then have no inner loop left, which
// GCC needs to vectorise them.
template <int N, typename Fn, int... I>
inline __attribute__((always_inline)) void unrolled_impl(const Fn& fn, std::integer_sequence<int, I...>) {
  (fn(I), ...);
}
template <int N, typename Fn>
inline __attribute__((always_inline)) void unrolled(const Fn& fn) {
  unrolled_impl<N>(fn, std::make_integer_sequence<int, N>{});
}

// Rows of the batch are spread over threads when a step has enough elements to pay for it.
template <typename Fn>
void for_each_row(int64_t batch, int64_t n, const Fn& run_row) {
  const int64_t grain = batch * n < cpu::kSerialWork ? (batch > 0 ? batch : 1) : 1;
  at::parallel_for(0, batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) run_row(b);
  });
}

// Dense / one-to-one and the optional inputs are template flags, so each simd loop body is
// branch-free and reads no pointer it may not.
template <class Cell, RecurrentReset R, bool kDense, bool kTrace, typename A>
inline void forward_row(const RecurrentForwardArgs<A>& a, int64_t t, int64_t b) {
  constexpr int P = Cell::kParams, K = Cell::kVars;
  const int64_t M = a.M, n = a.n, row = b * n;
  // Every pointer and stride the loop uses is a local scalar: a pointer loaded inside the loop
  // (a struct member, an array of pointers) keeps GCC from vectorising it.
  const A* const xt = a.x + t * M + row;
  A* const st = a.spikes + t * M + row;
  A* const state = a.state + row;                   // variable k at state[k * M + i]
  const A* const rec = kDense ? a.rec + row : a.v;  // one-to-one: the weights V
  const A* const params = a.params;                 // parameter k at params[k * n + i]
  A* const trace = kTrace ? a.trace + t * M + row : nullptr;  // variable k at trace[k * tstride + i]
  const int64_t tstride = a.steps * M;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    A p[P], v[K];
    unrolled<P>([&](int k) { p[k] = params[k * n + i]; });
    unrolled<K>([&](int k) { v[k] = state[(k + 1) * M + i]; });
    // snnTorch's RecurrentOneToOne computes spk * V
    const A r = kDense ? rec[i] : state[i] * rec[i];
    const A spike = Cell::template forward<R>(p, v, xt[i], r);
    state[i] = spike;
    st[i] = spike;
    unrolled<K>([&](int k) {
      state[(k + 1) * M + i] = v[k];
      if (kTrace) trace[k * tstride + i] = v[k];
    });
  }
}

template <class Cell, RecurrentReset R, bool G, bool kOneToOne, bool kGradTrace, typename A, typename SG>
inline void backward_row(const RecurrentBackwardArgs<A>& a, const SG& sg, int64_t t, int64_t b) {
  constexpr int P = Cell::kParams, K = Cell::kVars;
  const int64_t M = a.M, n = a.n, row = b * n;
  const A* const gst = a.grad_spikes + t * a.gs_t_stride + row * a.gs_e_stride;
  const int64_t ge = a.gs_e_stride;
  const A* const s_prev = t > 0 ? a.spikes + (t - 1) * M + row : a.state0 + row;
  A* const gx = a.grad_x + t * M + row;
  A* const grec = a.grec + row;
  A* const out = kOneToOne ? a.grad_v + row : a.grad_drive + row;
  const A* const v_w = a.v;
  const A* const params = a.params;       // k * n + i
  A* const dparams = a.grad_params + row;  // k * M + i
  A* const carry_all = a.carry + row;      // k * M + i
  const int64_t tstride = a.steps * M;
  const A* const now_all = a.trace + t * M + row;  // k * tstride + i
  const A* const prev_all = t > 0 ? a.trace + (t - 1) * M + row : a.state0 + M + row;
  const int64_t prev_stride = t > 0 ? tstride : M;
  const A* const gtr_all = kGradTrace ? a.grad_trace + t * M + row : nullptr;  // k * tstride + i
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    A p[P], prev[K], now[K], gtr[K], carry[K], dpar[P];
    unrolled<P>([&](int k) {
      p[k] = params[k * n + i];
      dpar[k] = A(0);
    });
    unrolled<K>([&](int k) {
      now[k] = now_all[k * tstride + i];
      prev[k] = prev_all[k * prev_stride + i];
      gtr[k] = kGradTrace ? gtr_all[k * tstride + i] : A(0);
      carry[k] = carry_all[k * M + i];
    });
    const A gs = gst[i * ge] + grec[i];
    const A gd = Cell::template backward<R, G>(p, prev, now, gs, gtr, carry, dpar, sg);
    unrolled<K>([&](int k) { carry_all[k * M + i] = carry[k]; });
    unrolled<P>([&](int k) { dparams[k * M + i] += dpar[k]; });
    gx[i] = gd;
    if (kOneToOne) {
      grec[i] = gd * v_w[i];
      out[i] += gd * s_prev[i];
    } else {
      out[i] = gd;
    }
  }
}

template <typename A>
void forward_typed(const RecurrentForwardLaunch& launch) {
  const auto args = typed_recurrent_forward<A>(launch);
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    auto run = [&](auto dense_tag, auto trace_tag) {
      constexpr bool D = decltype(dense_tag)::value, TR = decltype(trace_tag)::value;
      for (int64_t t = launch.t_begin; t < launch.t_end; ++t)
        for_each_row(launch.batch, launch.features, [&](int64_t b) { forward_row<Cell, R, D, TR>(args, t, b); });
    };
    const bool dense = launch.rec != nullptr, trace = launch.trace != nullptr;
    if (dense && trace) run(RecurrentBool<true>{}, RecurrentBool<true>{});
    else if (dense) run(RecurrentBool<true>{}, RecurrentBool<false>{});
    else if (trace) run(RecurrentBool<false>{}, RecurrentBool<true>{});
    else run(RecurrentBool<false>{}, RecurrentBool<false>{});
  });
}

template <typename A>
void backward_typed(const RecurrentBackwardLaunch& launch) {
  const auto args = typed_recurrent_backward<A>(launch);
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    auto with_grad = [&](auto grad_tag) {
      constexpr bool G = decltype(grad_tag)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                         [&](auto sg) {
        auto run = [&](auto one_tag, auto gtr_tag) {
          constexpr bool O = decltype(one_tag)::value, GT = decltype(gtr_tag)::value;
          for (int64_t t = launch.t_end - 1; t >= launch.t_begin; --t)
            for_each_row(launch.batch, launch.features,
                         [&](int64_t b) { backward_row<Cell, R, G, O, GT>(args, sg, t, b); });
        };
        const bool one = launch.grad_drive == nullptr, gtr = launch.grad_trace != nullptr;
        if (one && gtr) run(RecurrentBool<true>{}, RecurrentBool<true>{});
        else if (one) run(RecurrentBool<true>{}, RecurrentBool<false>{});
        else if (gtr) run(RecurrentBool<false>{}, RecurrentBool<true>{});
        else run(RecurrentBool<false>{}, RecurrentBool<false>{});
      });
    };
    if (launch.detach_reset) with_grad(RecurrentBool<false>{});
    else with_grad(RecurrentBool<true>{});
  });
}

template <typename A>
void weight_grad_typed(const RecurrentWeightGradLaunch& launch) {
  const A* g = static_cast<const A*>(launch.grad_drive);
  const A* spikes = static_cast<const A*>(launch.spikes);
  const A* spikes0 = static_cast<const A*>(launch.spikes0);
  A* out = static_cast<A*>(launch.grad_wt);
  const int64_t T = launch.steps, B = launch.batch, n = launch.features;
  // Each task owns a range of input neurons j (rows of grad_wt): no two tasks write one row.
  constexpr int64_t kRowsPerTask = 32;
  const int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  const int64_t grain = T * B * n * n < cpu::kSerialWork * 64 ? tasks : 1;
  at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
    const int64_t j0 = begin * kRowsPerTask, j1 = std::min(n, end * kRowsPerTask);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t b = 0; b < B; ++b) {
        const A* s = t == 0 ? spikes0 + b * n : spikes + ((t - 1) * B + b) * n;
        const A* gr = g + (t * B + b) * n;
        for (int64_t j = j0; j < j1; ++j) {
          const A v = s[j];
          if (v == A(0)) continue;
          A* row = out + j * n;
          if (v == A(1)) {
#pragma omp simd
            for (int64_t o = 0; o < n; ++o) row[o] += gr[o];
          } else {
#pragma omp simd
            for (int64_t o = 0; o < n; ++o) row[o] += v * gr[o];
          }
        }
      }
    }
  });
}

}  // namespace

void recurrent_weight_grad_cpu(const RecurrentWeightGradLaunch& a) {
  if (a.dtype == DType::Float64) weight_grad_typed<double>(a);
  else weight_grad_typed<float>(a);
}

void recurrent_forward_cpu(const RecurrentForwardLaunch& a) {
  if (a.dtype == DType::Float64) forward_typed<double>(a);
  else forward_typed<float>(a);
}

void recurrent_backward_cpu(const RecurrentBackwardLaunch& a) {
  if (a.dtype == DType::Float64) backward_typed<double>(a);
  else backward_typed<float>(a);
}

}  // namespace neurosim
