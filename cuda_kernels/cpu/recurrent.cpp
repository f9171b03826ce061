// CPU twin of cuda/recurrent.cu: the cell policies of recurrent.h (the same step math the CUDA
// kernel runs) over the batch rows, step by step. A dense layer calls the forward once per step
// after torch's GEMM (the same addmm as nn.Linear, for snnTorch's values bit for bit), on a few
// thousand elements: that runs on the calling thread, since waking the pool would cost more than
// the step. The dense backward runs all steps here in one call (see backward_dense below).
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu_loops.h"
#include "neurosim/recurrent.h"

namespace neurosim {
namespace {

// The CPU walks time outside and the neurons of a batch row inside: every step sweeps contiguous
// rows (x_t, the state, the trace row of step t), which the simd loop vectorises and the
// prefetcher streams; a per-neuron time loop would stride by B*n elements per step instead.

// fn(0), ..., fn(N-1) written out: the simd loops below then have no inner loop left, which
// GCC needs to vectorise them. Those loops say `#pragma GCC ivdep` (their rows never overlap),
// not `omp simd`: GCC turns the small per-element arrays of an omp simd loop into lane arrays
// it then cannot vectorise (the loop ran scalar, branching on every spike), and without either
// pragma the many output pointers need more run-time alias checks than it emits.
template <int N, typename Fn, int... I>
inline __attribute__((always_inline)) void unrolled_impl(const Fn& fn, std::integer_sequence<int, I...>) {
  (fn(I), ...);
}
template <int N, typename Fn>
inline __attribute__((always_inline)) void unrolled(const Fn& fn) {
  unrolled_impl<N>(fn, std::make_integer_sequence<int, N>{});
}

// The widest vector this copy of the file is compiled for (setup.py builds it once per x86 level).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

// GCC vector extensions: one source for every ISA level, registers of the level's width.
template <typename A>
struct Simd {
  typedef A V __attribute__((vector_size(kVecBytes)));
  static constexpr int kLanes = kVecBytes / static_cast<int>(sizeof(A));
  static inline __attribute__((always_inline)) V load(const A* p) {
    V v;
    std::memcpy(&v, p, sizeof(V));
    return v;
  }
  static inline __attribute__((always_inline)) void store(A* p, const V& v) { std::memcpy(p, &v, sizeof(V)); }
  static inline __attribute__((always_inline)) V splat(A x) { return V{} + x; }
};

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
#pragma GCC ivdep
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
inline void backward_row(const RecurrentBackwardArgs<A>& a, const SG& sg, const A* gs_step, int64_t t, int64_t b) {
  constexpr int P = Cell::kParams, K = Cell::kVars;
  const int64_t M = a.M, n = a.n, row = b * n;
  const A* const gst = gs_step + row;  // dL/ds_t of this row, contiguous
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
#pragma GCC ivdep
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
    const A gs = gst[i] + grec[i];
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

// dL/ds_t of step t as a contiguous [M] row: the incoming gradient is often an expanded scalar
// (stride 0) or a strided view; a copy of one step's row keeps the row loop a plain simd loop.
template <typename A>
const A* grad_spikes_step(const RecurrentBackwardArgs<A>& a, int64_t t, std::vector<A>& scratch) {
  const A* src = a.grad_spikes + t * a.gs_t_stride;
  if (a.gs_e_stride == 1) return src;
  const int64_t stride = a.gs_e_stride;
  for (int64_t e = 0; e < a.M; ++e) scratch[e] = src[e * stride];
  return scratch.data();
}

// c[B, n] = g[B, n] W[n, n] (row-major W[o][k]): dL/ds_{t-1} = g_t W of rec_t = s_{t-1} W^T + b.
// An own loop rather than at::mm because MKL repacks the whole weight at every call (about a
// third of its time at B = 16), while W's rows already are the panels this loop streams: a tile
// of RB rows x CV vectors of c stays in registers over all n products. Every element is the
// plain sum over o in order (no FMA contraction), so every ISA level gives the same values;
// they differ from MKL's rounding, which a gradient has no reason to match.
template <typename A, int RB, int CV>
inline __attribute__((always_inline)) void gemm_tile(const A* g, const A* w, A* c, int64_t n, int64_t k0) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = S::kLanes;
  V acc[RB][CV];
  unrolled<RB>([&](int r) { unrolled<CV>([&](int v) { acc[r][v] = V{}; }); });
  for (int64_t o = 0; o < n; ++o) {
    const A* wrow = w + o * n + k0;
    V wv[CV];
    unrolled<CV>([&](int v) { wv[v] = S::load(wrow + v * L); });
    unrolled<RB>([&](int r) {
      const V gr = S::splat(g[r * n + o]);
      unrolled<CV>([&](int v) { acc[r][v] += gr * wv[v]; });
    });
  }
  unrolled<RB>([&](int r) { unrolled<CV>([&](int v) { S::store(c + r * n + k0 + v * L, acc[r][v]); }); });
}

template <typename A, int CV>
inline void gemm_columns(const A* g, const A* w, A* c, int64_t B, int64_t n, int64_t k0) {
  constexpr int RB = kVecBytes == 64 ? 4 : 2;  // RB*CV accumulators + CV weights fit the registers
  int64_t b = 0;
  for (; b + RB <= B; b += RB) gemm_tile<A, RB, CV>(g + b * n, w, c + b * n, n, k0);
  for (; b < B; ++b) gemm_tile<A, 1, CV>(g + b * n, w, c + b * n, n, k0);
}

template <typename A>
void grad_through_recurrence(const A* g, const A* w, A* c, int64_t B, int64_t n) {
  constexpr int L = Simd<A>::kLanes, CV = 4, kBlock = CV * L;
  const int64_t blocks = n / kBlock;
  // column blocks are independent; worth the pool only when a step is big
  const int64_t grain = B * n * n < cpu::kSerialWork * 64 ? std::max<int64_t>(blocks, 1) : 1;
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) gemm_columns<A, CV>(g, w, c, B, n, blk * kBlock);
  });
  int64_t k0 = blocks * kBlock;
  for (; k0 + L <= n; k0 += L) gemm_columns<A, 1>(g, w, c, B, n, k0);
  for (; k0 < n; ++k0)
    for (int64_t b = 0; b < B; ++b) {
      A sum = A(0);
      for (int64_t o = 0; o < n; ++o) sum += g[b * n + o] * w[o * n + k0];
      c[b * n + k0] = sum;
    }
}

template <typename A>
void backward_typed(const RecurrentBackwardLaunch& launch) {
  const auto args = typed_recurrent_backward<A>(launch);
  const A* const weight = static_cast<const A*>(launch.weight);
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    auto with_grad = [&](auto grad_tag) {
      constexpr bool G = decltype(grad_tag)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                         [&](auto sg) {
        auto run = [&](auto one_tag, auto gtr_tag) {
          constexpr bool O = decltype(one_tag)::value, GT = decltype(gtr_tag)::value;
          std::vector<A> gs_scratch(args.gs_e_stride == 1 ? 0 : args.M);
          // the dense recurrence in one call: dL/d(x + rec) of the step into `drive`, then the
          // step's GEMM turns it into dL/ds_{t-1} (grec) for the step before
          std::vector<A> drive(weight != nullptr ? args.M : 0);
          RecurrentBackwardArgs<A> step_args = args;
          if (weight != nullptr) step_args.grad_drive = drive.data();
          for (int64_t t = launch.t_end - 1; t >= launch.t_begin; --t) {
            const A* gs = grad_spikes_step(args, t, gs_scratch);
            for_each_row(launch.batch, launch.features,
                         [&](int64_t b) { backward_row<Cell, R, G, O, GT>(step_args, sg, gs, t, b); });
            if (weight != nullptr)
              grad_through_recurrence(drive.data(), weight, args.grec, launch.batch, launch.features);
          }
        };
        const bool one = launch.grad_drive == nullptr && weight == nullptr;
        const bool gtr = launch.grad_trace != nullptr;
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

// grad_wt[j, o] = sum over rows r = (t, b) of s_{t-1}[b, j] g_t[b, o], in two passes: the
// nonzero spikes of every row as a compact (j, value) list (about the spike rate of n entries),
// then, per block of output columns o, each row's block of g in registers, added to grad_wt[j]
// for every listed j. Checking every s value inside the accumulation instead branches on random
// spikes (one mispredict in ~10); this work is about (spike rate) of a dense GEMM's.
template <typename A>
void weight_grad_typed(const RecurrentWeightGradLaunch& launch) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = S::kLanes, CV = 8, kBlock = CV * L;
  const A* g = static_cast<const A*>(launch.grad_drive);
  const A* spikes = static_cast<const A*>(launch.spikes);
  const A* spikes0 = static_cast<const A*>(launch.spikes0);
  A* out = static_cast<A*>(launch.grad_wt);
  const int64_t T = launch.steps, B = launch.batch, n = launch.features, rows = T * B;
  std::vector<int64_t> row_start(rows + 1, 0);
  std::vector<int32_t> index;
  std::vector<A> value;
  index.reserve(static_cast<size_t>(rows * n / 8 + 16));
  value.reserve(index.capacity());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = r / B, b = r % B;
    const A* s = t == 0 ? spikes0 + b * n : spikes + ((t - 1) * B + b) * n;
    for (int64_t j = 0; j < n; ++j)
      if (s[j] != A(0)) {
        index.push_back(static_cast<int32_t>(j));
        value.push_back(s[j]);
      }
    row_start[r + 1] = static_cast<int64_t>(index.size());
  }
  // one block of output columns [o0, o0 + width): grad_wt[j, block] += v * g[r, block]
  auto block = [&](int64_t o0, auto width_tag) {
    constexpr int CW = decltype(width_tag)::value;  // vectors per block
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t first = row_start[r], last = row_start[r + 1];
      if (first == last) continue;
      V gv[CW];
      unrolled<CW>([&](int v) { gv[v] = S::load(g + r * n + o0 + v * L); });
      for (int64_t q = first; q < last; ++q) {
        A* dst = out + static_cast<int64_t>(index[q]) * n + o0;
        const V sv = S::splat(value[q]);
        unrolled<CW>([&](int v) { S::store(dst + v * L, S::load(dst + v * L) + sv * gv[v]); });
      }
    }
  };
  const int64_t blocks = n / kBlock;
  const int64_t work = row_start[rows] * n;  // multiply-adds
  const int64_t grain = work < cpu::kSerialWork * 64 ? std::max<int64_t>(blocks, 1) : 1;
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) block(blk * kBlock, std::integral_constant<int, CV>{});
  });
  int64_t o0 = blocks * kBlock;
  for (; o0 + L <= n; o0 += L) block(o0, std::integral_constant<int, 1>{});
  for (; o0 < n; ++o0)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = row_start[r]; q < row_start[r + 1]; ++q)
        out[static_cast<int64_t>(index[q]) * n + o0] += value[q] * g[r * n + o0];
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
