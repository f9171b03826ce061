// The generic time scan: everything a per-neuron model repeats, written once for every model.
//
// A model is a small policy type M (see lif.h, ultralif.h, synaptic.h, alif.h, li.h) with
//
//   kParams    parameters per lane (each one per layer or one per feature), loaded once
//   kLane      per-lane constants derived from them by prepare() (e.g. 1/eps)
//   kState     state variables per neuron (streamed in and out, checkpointed)
//   kRecorded  values recorded per step when the caller asks for a trace
//   kLocal     values one reverse step needs from its forward step
//   kLocalNeedsNext  whether local() reads the state after the step (else it recomputes)
//   kCacheLocals     whether the CPU backward keeps local() of every step of a chunk (worth it
//                    when local() is expensive, e.g. transcendental)
//   prepare(params, lane)                  lane constants from the parameters
//   step(lane, state, x, rec) -> output    one forward step; updates state in place
//   local(lane, prev, next, x, loc)        what the reverse step needs
//   next_state(loc, state)                 the state after the step, from loc (cache path)
//   step_backward(lane, loc, grad_out, grad_rec, carry, dparam) -> dL/dx
//                                          moves carry from dL/dstate_t to dL/dstate_{t-1} and
//                                          accumulates dL/dparam
//
// The column functions below are the whole per-thread body of the CUDA kernel (W = 1, or 2 for
// 16-bit storage) and the inner body of the CPU twin (W adjacent columns as lanes, so the lane
// loops vectorise; no `omp simd` on them: its privatised per-lane arrays keep GCC from
// vectorising). Tensors
// are [T, M] with M = B * F columns, column index = b * F + f; parameters are indexed by f.
#pragma once

#include "neurosim/common.h"

#include <type_traits>
#include <utility>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace neurosim {

constexpr int kMaxScanParams = 8;  // ALIF's 4 + the time gate's 4 (phased.h)

// A timed model (kTimed = true, e.g. the phased neurons of phased.h) also reads the timestamp of
// each step and batch element, which it first turns into kTimeValues values per lane (phased.h:
// t - shift and its remainder modulo tau): time_values(lane, t, tv) for one lane (the GPU's
// thread body), time_values_block(lane, tv, lanes) for a CPU block, with the block's timestamps in
// tv[0] on entry (a pass of its own before the lane loop, so that the model can choose a path for
// the whole block). Then step(lane, state, x, tv, rec) and local(lane, prev, next, x, tv, loc)
// read them. The others keep their signatures; these adapters call either.
template <class M, class = void> struct IsTimed { static constexpr bool value = false; };
template <class M> struct IsTimed<M, decltype(void(M::kTimed))> { static constexpr bool value = M::kTimed; };
template <class M, bool = IsTimed<M>::value> struct TimeValuesOf { static constexpr int value = 1; };
template <class M> struct TimeValuesOf<M, true> { static constexpr int value = M::kTimeValues; };

template <class M, typename A>
NEUROSIM_HD A model_step(const M& m, const A* lane, A* s, A x, const A* time_values, A* rec) {
  if constexpr (IsTimed<M>::value) return m.step(lane, s, x, time_values, rec);
  else return m.step(lane, s, x, rec);
}
template <class M, typename A>
NEUROSIM_HD void model_local(const M& m, const A* lane, const A* prev, const A* next, A x, const A* time_values,
                             A* loc) {
  if constexpr (IsTimed<M>::value) m.local(lane, prev, next, x, time_values, loc);
  else m.local(lane, prev, next, x, loc);
}
// The time values of one lane from its timestamp (the GPU's thread body).
template <class M, typename A>
NEUROSIM_HD void lane_time_values(const M& m, const A* lane, A t, A* time_values) {
  if constexpr (IsTimed<M>::value) m.time_values(lane, t, time_values);
}

// Conversions between the storage type T and the accumulation type A. The CUDA 16-bit types
// convert through their intrinsics, so the code compiles under torch's -D__CUDA_NO_HALF_CONVERSIONS__.
template <typename T> struct Storage {
  template <typename A> NEUROSIM_HD static A load(T v) { return static_cast<A>(v); }
  template <typename A> NEUROSIM_HD static T store(A v) { return static_cast<T>(v); }
};
#if defined(__CUDACC__)
template <> struct Storage<__half> {
  template <typename A> NEUROSIM_HD static A load(__half v) { return static_cast<A>(__half2float(v)); }
  template <typename A> NEUROSIM_HD static __half store(A v) { return __float2half_rn(static_cast<float>(v)); }
};
template <> struct Storage<__nv_bfloat16> {
  template <typename A> NEUROSIM_HD static A load(__nv_bfloat16 v) { return static_cast<A>(__bfloat162float(v)); }
  template <typename A> NEUROSIM_HD static __nv_bfloat16 store(A v) { return __float2bfloat16_rn(static_cast<float>(v)); }
};
#endif

template <typename A, typename T>
NEUROSIM_HD A load_acc(T v) { return Storage<T>::template load<A>(v); }
template <typename T, typename A>
NEUROSIM_HD T store_as(A v) { return Storage<T>::template store<A>(v); }

// Raw pointers and sizes of one forward call, typed.
template <typename T, typename A> struct ScanForwardArgs {
  const T* x;                          // [T, M]
  const A* state0;                     // [S, M]
  const A* params[kMaxScanParams];     // each [1] or [F]
  bool per_feature[kMaxScanParams];
  T* out;                              // [T, M]
  A* state_final;                      // [S, M]
  A* checkpoints;                      // [num_checkpoints(T), S, M]: state before steps 0, K, 2K, ...
  T* trace;                            // [R, T, M] or nullptr
  const A* times;                      // timed models: element (t, b) at t * times_t_stride + b * times_b_stride
  int64_t times_t_stride, times_b_stride;
  int64_t steps, columns, features;
};

template <typename T, typename A> struct ScanBackwardArgs {
  const T* grad_out;                   // element (t, c) at t * go_t_stride + c * go_c_stride (strides may be 0)
  int64_t go_t_stride, go_c_stride;
  const A* grad_state_final;           // [S, M] or nullptr (zeros)
  const T* grad_trace;                 // [R, T, M] or nullptr (zeros)
  const T* x;
  const A* checkpoints;
  const A* params[kMaxScanParams];
  bool per_feature[kMaxScanParams];
  T* grad_x;                           // [T, M] or nullptr (not wanted)
  A* grad_state0;                      // [S, M] or nullptr
  A* grad_param_cols[kMaxScanParams];  // each [M] per-column partial sums (reduced by the caller) or nullptr
  const A* times;                      // as in ScanForwardArgs
  int64_t times_t_stride, times_b_stride;
  int64_t steps, columns, features;
};

// Per-step storage of one backward chunk: `row` selects (step, variable), then the lane.
// On the CPU it is a heap block per column block (stride W, lanes innermost); on the GPU, shared
// memory laid out by thread (base already offset by threadIdx.x, row stride = threads x lanes,
// lane stride = threads, so that a warp's accesses fall in distinct banks), so that no
// per-thread array is indexed at run time. The strides are compile-time constants: the CPU
// vectoriser needs them to see the lane accesses as contiguous.
template <typename A, int Stride, int LaneStride = 1> struct ChunkView {
  A* base;
  NEUROSIM_HD A& at(int row, int lane) const { return base[row * Stride + lane * LaneStride]; }
};

// The row stride of a CPU block's chunk storage: W lanes and one cache line more. With rows a
// multiple of 4 KB apart, a step's loads from one row waited on the stores to another (x86 first
// matches a load with earlier stores by address bits 0-11: "4K aliasing"); the padding took
// 7-20 % off the backward (benchmarks/scan_kernel_gap.py, LIF, Synaptic, ALIF).
template <typename A, int W> constexpr int kChunkRowStride = W + 64 / static_cast<int>(sizeof(A));

// Rows of the chunk storage a model needs: its locals of every step (cache path) or its state
// before every step plus the one after the last (replay path).
template <class M, bool kCache> struct ChunkRows {
  static constexpr int value = kCheckpointEvery * (kCache ? M::kLocal : M::kState) + (kCache ? 0 : M::kState);
};

template <int N> struct AtLeastOne { static constexpr int value = N > 0 ? N : 1; };

// The timestamps of step t for `lanes` adjacent columns from col0: the batch element of column c
// is c / F, so the block is a few runs of F equal values, each filled with one broadcast (a fill
// the compiler vectorises; a per-lane gather through an offset table stays scalar). A separate
// small loop, so that the model's lane loop reads them contiguously and stays vectorisable.
template <typename A>
NEUROSIM_HD void gather_times(const A* times, int64_t t_stride, int64_t b_stride, int64_t t, int64_t col0,
                              int64_t features, int lanes, A* out) {
  const A* row = times + t * t_stride;
  int64_t b = col0 / features;
  for (int l = 0; l < lanes; ++b) {
    const int64_t run_end = (b + 1) * features - col0;
    const int end = run_end < lanes ? static_cast<int>(run_end) : lanes;
    const A value = row[b * b_stride];
    for (; l < end; ++l) out[l] = value;
  }
}

// The time values of step t for a CPU block's lanes (a timed model; see IsTimed).
template <class M, int L, int W, int TV, class Args, typename A>
NEUROSIM_HD void block_time_values(const M& m, const A (&lane)[L][W], const Args& p, int64_t t, int64_t col0,
                                   int lanes, A (&time_values)[TV][W]) {
  gather_times(p.times, p.times_t_stride, p.times_b_stride, t, col0, p.features, lanes, time_values[0]);
  m.time_values_block(lane, time_values, lanes);
}

// The GPU's thread body: W = 1 or 2 adjacent columns per thread (2 for 16-bit storage, so that
// one 32-bit load or store serves both: kGpuThreadLanes). Its lane loops run over all W lanes
// (unrolled: no per-thread array is indexed at run time); a lane past the last column computes on
// zeros and touches no memory. The CPU's blocks (W >= 8) take `width` lanes at run time.
template <int W> constexpr bool kThreadBody = W <= 2;
template <typename T> constexpr int kGpuThreadLanes = sizeof(T) == 2 ? 2 : 1;

template <int W>
NEUROSIM_HD bool lane_is_live(int lane, int width) { return W == 1 || !kThreadBody<W> || lane < width; }

// The values of V adjacent lanes, aligned so that a pair of 16-bit values moves as one 32-bit word.
template <typename T, int V> struct alignas(sizeof(T) * V) LaneVec {
  T v[V];
};

// Stores the first `lanes` values of v at `at`: one vector store when both lanes are there and
// `at` is aligned for it (an even column count keeps every row aligned), else lane by lane.
template <typename T, int V>
NEUROSIM_HD void store_lanes(T* at, const LaneVec<T, V>& v, int lanes) {
  if constexpr (V == 1) {
    at[0] = v.v[0];
  } else {
    if (lanes == V && reinterpret_cast<uintptr_t>(at) % sizeof(LaneVec<T, V>) == 0) {
      *reinterpret_cast<LaneVec<T, V>*>(at) = v;
    } else {
      for (int l = 0; l < V; ++l)
        if (l < lanes) at[l] = v.v[l];
    }
  }
}

// Register prefetch for the GPU's thread body: the values of step t + D are requested while step t
// computes, so D loads per thread are in flight instead of one (a step's arithmetic is short, and
// without this each step waits a full memory latency). The buffer is a shift register, so every
// index is a compile-time constant and it stays in registers. Requests run from `first` towards
// `stop` (exclusive) in steps of `direction` (+1 forward in time, -1 in reverse); past the end
// they return zeros and touch no memory. Each request reads V lanes: lane l at l * lane_offset
// from lane 0 (1 for adjacent columns, the column stride of a strided gradient, the batch stride
// of timestamps), as one vector load when the lanes are adjacent and aligned. Blocks of W > 2
// lanes (the CPU) read their rows directly: the hardware prefetcher follows those.
constexpr int kLoadsAhead = 4;

// Steps per time tile of the CPU's blocks (the forward and the backward's chunk replay); a
// checkpoint falls on a tile's start. 4 measured best (2: about half the gain; 8: slower, the
// tile's rows compete).
constexpr int kTimeTile = 4;

// A model may set kTimeTile itself (1: no tiles; UltraLIF's transcendental step runs out of
// registers with four steps in flight and measured slower).
template <class M, class = void> struct TimeTileOf { static constexpr int value = kTimeTile; };
template <class M> struct TimeTileOf<M, decltype(void(M::kTimeTile))> { static constexpr int value = M::kTimeTile; };

// Calls fn(std::integral_constant<int, k>{}) for k = 0 .. N-1 as straight-line code (a counted
// loop inside the lane loop keeps GCC from vectorising the lane loop).
template <int... K, typename Fn>
NEUROSIM_HD void unrolled_in(std::integer_sequence<int, K...>, Fn&& fn) {
  (fn(std::integral_constant<int, K>{}), ...);
}
template <int N, typename Fn>
NEUROSIM_HD void unrolled(Fn&& fn) {
  unrolled_in(std::make_integer_sequence<int, N>{}, fn);
}

#if defined(__CUDACC__) || !defined(__GNUC__)
#define NEUROSIM_IVDEP
#elif defined(__clang__)
#define NEUROSIM_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#else
#define NEUROSIM_IVDEP _Pragma("GCC ivdep")
#endif

template <int D, typename T, int V = 1> struct AheadLoads {
  static_assert(V == 1 || V == 2, "one or two lanes per thread");
  using Vec = LaneVec<T, V>;
  Vec buf[D];
  const T* base;  // lane 0 of step t at base[t * stride]
  int64_t stride, next, stop, direction, lane_offset;
  int lanes;
  bool vector;  // one aligned vector load per request

  NEUROSIM_HD void start(const T* column, int64_t stride_, int64_t first, int64_t stop_, int64_t direction_,
                         int lanes_ = 1, int64_t lane_offset_ = 1) {
    base = column;
    stride = stride_;
    next = first;
    stop = stop_;
    direction = direction_;
    lanes = lanes_;
    lane_offset = lane_offset_;
    vector = V > 1 && lanes == V && lane_offset == 1 && stride % V == 0 &&
             reinterpret_cast<uintptr_t>(column) % sizeof(Vec) == 0;
    for (int i = 0; i < D; ++i) buf[i] = request();
  }
  NEUROSIM_HD Vec request() {
    Vec v{};
    if (next == stop) return v;
    const T* at = base + next * stride;
    next += direction;
    if constexpr (V == 1) {
      v.v[0] = at[0];
    } else {
      if (vector) {
        v = *reinterpret_cast<const Vec*>(at);
      } else {
        v.v[0] = at[0];
        if (lanes > 1) v.v[1] = at[lane_offset];
      }
    }
    return v;
  }
  NEUROSIM_HD Vec take() {
    const Vec v = buf[0];
    for (int i = 0; i + 1 < D; ++i) buf[i] = buf[i + 1];
    buf[D - 1] = request();
    return v;
  }
};

// The next step's values of a stream, one per lane, in the accumulation type.
template <typename A, int D, typename T, int V>
NEUROSIM_HD void take_lanes(AheadLoads<D, T, V>& loads, A* out) {
  const LaneVec<T, V> v = loads.take();
  for (int l = 0; l < V; ++l) out[l] = load_acc<A>(v.v[l]);
}

// Offset of the timestamps of column col0 + 1 from those of col0 (another batch element or not).
NEUROSIM_HD int64_t next_column_time_offset(int64_t col0, int64_t features, int64_t b_stride) {
  return ((col0 + 1) / features - col0 / features) * b_stride;
}

// The state of a block's live lanes as the checkpoint before step t (a multiple of kCheckpointEvery).
template <int W, int S, typename T, typename A>
NEUROSIM_HD void store_checkpoint(const ScanForwardArgs<T, A>& p, const A (&s)[S][W], int64_t t, int64_t col0,
                                  int lanes, int width) {
  A* ck = p.checkpoints + (t / kCheckpointEvery) * S * p.columns + col0;
  for (int j = 0; j < S; ++j)
    for (int l = 0; l < lanes; ++l)
      if (lane_is_live<W>(l, width)) ck[j * p.columns + l] = s[j][l];
}

// Forward of `width` <= W adjacent columns starting at col0 over all T steps. W sizes the lane
// arrays; one instantiation serves every block width on the CPU (W <= 2: the CUDA thread).
template <int W, bool kRecord, class M, typename T, typename A>
NEUROSIM_HD void scan_forward_columns(const M& m, const ScanForwardArgs<T, A>& p, int64_t col0, int width = W) {
  constexpr int S = M::kState, L = M::kLane, R = AtLeastOne<M::kRecorded>::value;
  constexpr bool kThread = kThreadBody<W>;
  constexpr int V = kThread ? W : 1;  // lanes per streamed load
  const int lanes = kThread ? W : width;
  const int64_t cols = p.columns;
  const T* __restrict__ x = p.x;
  T* __restrict__ out = p.out;
  constexpr bool kTimed = IsTimed<M>::value;
  constexpr int TV = TimeValuesOf<M>::value;
  A lane[L][W], s[S][W];
  A time_now[kTimed ? W : 1];              // the thread body's timestamps
  A time_values[TV][kTimed ? W : 1];       // a CPU block's time values of step t
  AheadLoads<kLoadsAhead, T, V> x_ahead;  // the thread body only
  AheadLoads<kLoadsAhead, A, V> time_ahead;
  if constexpr (kThread) {
    x_ahead.start(x + col0, cols, 0, p.steps, 1, width);
    if constexpr (kTimed)
      time_ahead.start(p.times + (col0 / p.features) * p.times_b_stride, p.times_t_stride, 0, p.steps, 1, width,
                       next_column_time_offset(col0, p.features, p.times_b_stride));
  }
  for (int l = 0; l < lanes; ++l) {
    const int64_t c = col0 + l, f = c % p.features;
    A par[M::kParams], lp[L];
    for (int j = 0; j < M::kParams; ++j) par[j] = param_at(p.params[j], p.per_feature[j], f);
    m.prepare(par, lp);
    for (int j = 0; j < L; ++j) lane[j][l] = lp[j];
    for (int j = 0; j < S; ++j) s[j][l] = lane_is_live<W>(l, width) ? p.state0[j * cols + c] : A(0);
  }
  int64_t t_begin = 0;
  constexpr int kTile = TimeTileOf<M>::value;
  static_assert(kCheckpointEvery % kTile == 0, "checkpoints must fall on tile starts");
  if constexpr (!kThread && kTile > 1) {
    // The CPU's blocks run time in tiles: each vector of lanes takes kTile steps with its state
    // in registers before the next (the state is loaded and stored once per tile, and the tile's
    // rows stream side by side); per lane the steps and their arithmetic are the same as one at a
    // time, so the results are too. A tile starts at every checkpoint.
    A time_tile[kTimed ? kTile : 1][TV][kTimed ? W : 1];
    for (; t_begin + kTile <= p.steps; t_begin += kTile) {
      const int64_t t = t_begin;
      if (t % kCheckpointEvery == 0) store_checkpoint<W>(p, s, t, col0, lanes, width);
      if constexpr (kTimed)
        for (int k = 0; k < kTile; ++k)
          block_time_values(m, lane, p, t + k, col0, lanes, time_tile[k]);
      const T* __restrict__ x_tile = x + t * cols + col0;
      T* __restrict__ out_tile = out + t * cols + col0;
      // lanes are independent (each touches only its own column of every row): without the
      // pragma GCC does not vectorise this loop once the tile is unrolled into it
      NEUROSIM_IVDEP
      for (int l = 0; l < lanes; ++l) {
        A st[S], lp[L];
        for (int j = 0; j < S; ++j) st[j] = s[j][l];
        for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
        unrolled<kTile>([&](auto k_const) {
          constexpr int k = decltype(k_const)::value;
          A rc[R], tv[TV] = {};
          if constexpr (kTimed)
            for (int j = 0; j < TV; ++j) tv[j] = time_tile[kTimed ? k : 0][j][kTimed ? l : 0];
          out_tile[k * cols + l] = store_as<T>(model_step(m, lp, st, load_acc<A>(x_tile[k * cols + l]), tv, rc));
          if (kRecord) {
            for (int j = 0; j < M::kRecorded; ++j)
              p.trace[j * p.steps * cols + (t + k) * cols + col0 + l] = store_as<T>(rc[j]);
          }
        });
        for (int j = 0; j < S; ++j) s[j][l] = st[j];
      }
    }
  }
  for (int64_t t = t_begin; t < p.steps; ++t) {  // the thread body, and the last steps of a block
    if (t % kCheckpointEvery == 0) store_checkpoint<W>(p, s, t, col0, lanes, width);
    const int64_t row = t * cols + col0;
    const T* xr = x + row;
    T* outr = out + row;
    A rec[R][W];
    A x_in[V] = {};
    LaneVec<T, V> out_v{};
    if constexpr (kThread) {
      take_lanes(x_ahead, x_in);
      if constexpr (kTimed) take_lanes(time_ahead, time_now);
    } else if constexpr (kTimed) {
      block_time_values(m, lane, p, t, col0, lanes, time_values);
    }
    for (int l = 0; l < lanes; ++l) {
      A st[S], lp[L], rc[R], tv[TV] = {};
      for (int j = 0; j < S; ++j) st[j] = s[j][l];
      for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
      const A xv = kThread ? x_in[kThread ? l : 0] : load_acc<A>(xr[l]);
      if constexpr (kThread) {
        lane_time_values(m, lp, time_now[kTimed ? l : 0], tv);
      } else {
        if constexpr (kTimed)
          for (int j = 0; j < TV; ++j) tv[j] = time_values[j][kTimed ? l : 0];
      }
      const T o = store_as<T>(model_step(m, lp, st, xv, tv, rc));
      if constexpr (kThread) out_v.v[kThread ? l : 0] = o;
      else outr[l] = o;
      for (int j = 0; j < S; ++j) s[j][l] = st[j];
      if (kRecord) {
        for (int j = 0; j < R; ++j) rec[j][l] = rc[j];
      }
    }
    if constexpr (kThread) store_lanes(outr, out_v, width);
    if (kRecord) {
      for (int j = 0; j < M::kRecorded; ++j) {
        T* tr = p.trace + j * p.steps * cols + row;
        for (int l = 0; l < lanes; ++l)
          if (lane_is_live<W>(l, width)) tr[l] = store_as<T>(rec[j][l]);
      }
    }
  }
  for (int j = 0; j < S; ++j)
    for (int l = 0; l < lanes; ++l)
      if (lane_is_live<W>(l, width)) p.state_final[j * cols + col0 + l] = s[j][l];
}

// The reverse pass of a CPU block in time tiles of kTile steps, from step k_rest - 1 of the chunk
// down while a whole tile remains; returns the steps left. Each vector of lanes takes a tile's
// steps with its carry and parameter gradients in registers, and reads the upstream gradients and
// writes dL/dx straight from and to their rows. (The step-by-step loop of scan_backward_columns
// keeps those in arrays of the block's width, which live in L2: that traffic was about half of
// the backward's time.) Per lane the arithmetic is that loop's, so the results are the same bit
// for bit. For A = T (float32 storage). One lane loop serves every case (the build's time):
// upstream gradients with a column stride other than 1, absent recorded-value gradients and an
// unwanted dL/dx go through small rows filled or discarded here.
template <int kTile, int W, class M, typename T, typename A, int Stride, int LaneStride, int L, int S, int P>
NEUROSIM_HD int reverse_tiles(const M& m, const ScanBackwardArgs<T, A>& p, ChunkView<A, Stride, LaneStride> chunk,
                              const A (&lane)[L][W], A (&carry)[S][W], A (&dpar)[P][W], int64_t t0, int k_rest,
                              int64_t col0, int lanes) {
  static_assert(std::is_same<T, A>::value, "storage read as it is");
  constexpr int C = M::kLocal, R = AtLeastOne<M::kRecorded>::value;
  constexpr bool kTimed = IsTimed<M>::value;
  constexpr int TV = TimeValuesOf<M>::value;
  if (k_rest < kTile) return k_rest;
  const int64_t cols = p.columns;
  const bool traced = M::kRecorded > 0 && p.grad_trace != nullptr;
  // upstream gradients: their own rows (column stride 1); one value per step (stride 0, read into
  // go_shared and selected in the lane loop, the row read then being a row of zeros); or, for
  // any other stride, rows copied here
  const bool go_direct = p.go_c_stride == 1, go_one = p.go_c_stride == 0, gx_direct = p.grad_x != nullptr;
  A zero_row[W], go_rows[kTile][W], gx_rows[kTile][W], go_shared[kTile] = {};
  if (!traced || go_one)
    for (int l = 0; l < lanes; ++l) zero_row[l] = A(0);
  const int64_t rec_j = traced ? p.steps * cols : 0, rec_t = traced ? cols : 0;  // row strides
  const int64_t go_t = go_direct ? p.go_t_stride : go_one ? 0 : W, gx_t = gx_direct ? cols : W;
  A time_tile[kTimed ? kTile : 1][TV][kTimed ? W : 1];
  for (; k_rest >= kTile; k_rest -= kTile) {
    const int k_lo = k_rest - kTile;
    const int64_t t_lo = t0 + k_lo;
    if constexpr (kTimed)
      for (int k = 0; k < kTile; ++k) block_time_values(m, lane, p, t_lo + k, col0, lanes, time_tile[k]);
    for (int k = 0; k < kTile; ++k) {
      const A* go = p.grad_out + (t_lo + k) * p.go_t_stride + col0 * p.go_c_stride;
      if (go_one) {
        go_shared[k] = go[0];
      } else if (!go_direct) {
        for (int l = 0; l < lanes; ++l) go_rows[k][l] = go[l * p.go_c_stride];
      }
    }
    const A* __restrict__ x_tile = p.x + t_lo * cols + col0;
    const A* __restrict__ go_tile = go_direct ? p.grad_out + t_lo * go_t + col0 : go_one ? zero_row : go_rows[0];
    const A* __restrict__ rec_tile = traced ? p.grad_trace + t_lo * cols + col0 : zero_row;
    A* __restrict__ gx_tile = gx_direct ? p.grad_x + t_lo * cols + col0 : gx_rows[0];
    NEUROSIM_IVDEP
    for (int l = 0; l < lanes; ++l) {
      A lp[L], cr[S], dp[P], next[S];
      for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
      for (int j = 0; j < S; ++j) cr[j] = carry[j][l];
      for (int j = 0; j < P; ++j) dp[j] = dpar[j][l];
      for (int j = 0; j < S; ++j) next[j] = M::kLocalNeedsNext ? chunk.at((k_lo + kTile) * S + j, l) : A(0);
      unrolled<kTile>([&](auto kk) {
        constexpr int k = kTile - 1 - decltype(kk)::value;  // the tile's steps from the top
        A prev[S], loc[C], gr[R], tv[TV] = {};
        for (int j = 0; j < S; ++j) prev[j] = chunk.at((k_lo + k) * S + j, l);
        if constexpr (kTimed)
          for (int j = 0; j < TV; ++j) tv[j] = time_tile[kTimed ? k : 0][j][kTimed ? l : 0];
        model_local(m, lp, prev, M::kLocalNeedsNext ? next : prev, x_tile[k * cols + l], tv, loc);
        for (int j = 0; j < R; ++j) gr[j] = rec_tile[j * rec_j + k * rec_t + l];
        const A go_row = go_tile[k * go_t + l];  // read in every case, so that the select vectorises
        gx_tile[k * gx_t + l] = m.step_backward(lp, loc, go_one ? go_shared[k] : go_row, gr, cr, dp);
        for (int j = 0; j < S; ++j) next[j] = prev[j];
      });
      for (int j = 0; j < S; ++j) carry[j][l] = cr[j];
      for (int j = 0; j < P; ++j) dpar[j][l] = dp[j];
    }
  }
  return k_rest;
}

// Backward of `width` <= W adjacent columns: chunks of kCheckpointEvery steps in reverse order, each first
// replayed forward from its checkpoint (bit-identical to the forward pass), then reversed. With
// kCache the replay keeps every step's locals, so the reverse pass does no model work again;
// without it the replay keeps the states and the reverse pass rebuilds the locals from them.
template <int W, bool kCache, class M, typename T, typename A, int Stride, int LaneStride>
NEUROSIM_HD void scan_backward_columns(const M& m, const ScanBackwardArgs<T, A>& p,
                                       ChunkView<A, Stride, LaneStride> chunk, int64_t col0, int width = W) {
  constexpr bool kThread = kThreadBody<W>;
  constexpr int V = kThread ? W : 1;  // lanes per streamed load
  const int lanes = kThread ? W : width;
  static_assert(!kCache || !M::kLocalNeedsNext, "a cached model must build its locals from the previous state");
  constexpr int K = kCheckpointEvery, S = M::kState, L = M::kLane, P = M::kParams, C = M::kLocal;
  constexpr int R = AtLeastOne<M::kRecorded>::value;
  const int64_t cols = p.columns, steps = p.steps;
  const T* __restrict__ x = p.x;
  constexpr bool kTimed = IsTimed<M>::value;
  A lane[L][W], carry[S][W], dpar[P][W];
  A s[S][W];  // the running state of the cached replay
  constexpr int TV = TimeValuesOf<M>::value;
  A time_now[kTimed ? W : 1];         // the thread body's timestamps
  A time_values[TV][kTimed ? W : 1];  // a CPU block's time values of one step
  static_assert(!kThread || !kCache, "the GPU's threads replay states");
  // The CPU blocks with float32 storage reverse in time tiles (reverse_tiles); the step-by-step
  // reverse loop below is then not compiled for them. (Other storage types keep that loop: one
  // copy of the lane loop per type and model costs build time, and float32 is what trains.)
  constexpr bool kTiledReverse = !kThread && !kCache && TimeTileOf<M>::value > 1 && std::is_same<T, float>::value &&
                                 std::is_same<A, float>::value;
  // the thread body: the replay's inputs (restarted per chunk) and the reverse pass's (all steps, backwards)
  const A* const time_column = kTimed ? p.times + (col0 / p.features) * p.times_b_stride : nullptr;
  const int64_t time_offset = kTimed ? next_column_time_offset(col0, p.features, p.times_b_stride) : 0;
  AheadLoads<kLoadsAhead, T, V> replay_x, reverse_x, reverse_go, reverse_rec[R];
  AheadLoads<kLoadsAhead, A, V> replay_time, reverse_time;
  const bool has_grad_trace = M::kRecorded > 0 && p.grad_trace != nullptr;
  if constexpr (kThread) {
    reverse_x.start(x + col0, cols, steps - 1, -1, -1, width);
    reverse_go.start(p.grad_out + col0 * p.go_c_stride, p.go_t_stride, steps - 1, -1, -1, width, p.go_c_stride);
    if (has_grad_trace)
      for (int j = 0; j < R; ++j)
        reverse_rec[j].start(p.grad_trace + j * steps * cols + col0, cols, steps - 1, -1, -1, width);
    if constexpr (kTimed) reverse_time.start(time_column, p.times_t_stride, steps - 1, -1, -1, width, time_offset);
  }
  for (int l = 0; l < lanes; ++l) {
    const int64_t c = col0 + l, f = c % p.features;
    A par[P], lp[L];
    for (int j = 0; j < P; ++j) par[j] = param_at(p.params[j], p.per_feature[j], f);
    m.prepare(par, lp);
    for (int j = 0; j < L; ++j) lane[j][l] = lp[j];
    for (int j = 0; j < S; ++j)
      carry[j][l] = p.grad_state_final != nullptr && lane_is_live<W>(l, width) ? p.grad_state_final[j * cols + c] : A(0);
    for (int j = 0; j < P; ++j) dpar[j][l] = A(0);
  }
  for (int64_t ci = num_checkpoints(steps) - 1; ci >= 0; --ci) {
    const int64_t t0 = ci * K;
    const int len = static_cast<int>((steps - t0) < K ? (steps - t0) : K);
    const A* ck = p.checkpoints + ci * S * cols + col0;
    if (kCache) {
      for (int j = 0; j < S; ++j)
        for (int l = 0; l < lanes; ++l) s[j][l] = ck[j * cols + l];
      for (int k = 0; k < len; ++k) {
        const T* xr = x + (t0 + k) * cols + col0;
        if constexpr (kTimed) block_time_values(m, lane, p, t0 + k, col0, lanes, time_values);
        for (int l = 0; l < lanes; ++l) {
          A st[S], lp[L], loc[C], tv[TV] = {};
          for (int j = 0; j < S; ++j) st[j] = s[j][l];
          for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
          if constexpr (kTimed)
            for (int j = 0; j < TV; ++j) tv[j] = time_values[j][kTimed ? l : 0];
          model_local(m, lp, st, st, load_acc<A>(xr[l]), tv, loc);
          for (int j = 0; j < C; ++j) chunk.at(k * C + j, l) = loc[j];
          m.next_state(loc, st);
          for (int j = 0; j < S; ++j) s[j][l] = st[j];
        }
      }
    } else {
      for (int j = 0; j < S; ++j)
        for (int l = 0; l < lanes; ++l) chunk.at(j, l) = lane_is_live<W>(l, width) ? ck[j * cols + l] : A(0);
      const int replay = M::kLocalNeedsNext ? len : len - 1;  // the state after the last step only if read
      if constexpr (kThread) {
        replay_x.start(x + col0, cols, t0, t0 + replay, 1, width);
        if constexpr (kTimed) replay_time.start(time_column, p.times_t_stride, t0, t0 + replay, 1, width, time_offset);
      }
      int k_begin = 0;
      constexpr int kTile = TimeTileOf<M>::value;
      if constexpr (!kThread && kTile > 1) {
        // in time tiles, as the forward: each lane's state stays in registers through a tile
        A time_tile[kTimed ? kTile : 1][TV][kTimed ? W : 1];
        for (; k_begin + kTile <= replay; k_begin += kTile) {
          if constexpr (kTimed)
            for (int k = 0; k < kTile; ++k)
              block_time_values(m, lane, p, t0 + k_begin + k, col0, lanes, time_tile[k]);
          const T* __restrict__ x_tile = x + (t0 + k_begin) * cols + col0;
          NEUROSIM_IVDEP
          for (int l = 0; l < lanes; ++l) {
            A st[S], lp[L];
            for (int j = 0; j < S; ++j) st[j] = chunk.at(k_begin * S + j, l);
            for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
            unrolled<kTile>([&](auto k_const) {
              constexpr int k = decltype(k_const)::value;
              A rc[R], tv[TV] = {};
              if constexpr (kTimed)
                for (int j = 0; j < TV; ++j) tv[j] = time_tile[kTimed ? k : 0][j][kTimed ? l : 0];
              model_step(m, lp, st, load_acc<A>(x_tile[k * cols + l]), tv, rc);
              for (int j = 0; j < S; ++j) chunk.at((k_begin + k + 1) * S + j, l) = st[j];
            });
          }
        }
      }
      for (int k = k_begin; k < replay; ++k) {
        const T* xr = x + (t0 + k) * cols + col0;
        A x_in[V] = {};
        if constexpr (kThread) {
          take_lanes(replay_x, x_in);
          if constexpr (kTimed) take_lanes(replay_time, time_now);
        } else if constexpr (kTimed) {
          block_time_values(m, lane, p, t0 + k, col0, lanes, time_values);
        }
        for (int l = 0; l < lanes; ++l) {
          A st[S], lp[L], rc[R], tv[TV] = {};
          for (int j = 0; j < S; ++j) st[j] = chunk.at(k * S + j, l);
          for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
          const A xv = kThread ? x_in[kThread ? l : 0] : load_acc<A>(xr[l]);
          if constexpr (kThread) {
            lane_time_values(m, lp, time_now[kTimed ? l : 0], tv);
          } else {
            if constexpr (kTimed)
              for (int j = 0; j < TV; ++j) tv[j] = time_values[j][kTimed ? l : 0];
          }
          model_step(m, lp, st, xv, tv, rc);
          for (int j = 0; j < S; ++j) chunk.at((k + 1) * S + j, l) = st[j];
        }
      }
    }
    if constexpr (kTiledReverse) {
      // in time tiles, then the last few steps one at a time in the same lane loop
      const int k_rest = reverse_tiles<TimeTileOf<M>::value, W>(m, p, chunk, lane, carry, dpar, t0, len, col0, lanes);
      reverse_tiles<1, W>(m, p, chunk, lane, carry, dpar, t0, k_rest, col0, lanes);
    } else for (int k = len - 1; k >= 0; --k) {
      const int64_t t = t0 + k;
      const int64_t row = t * cols + col0;
      // upstream gradients of step t, gathered first so that the lane loop is branch-free
      A g_out[W], g_rec[R][W], dx[W];
      const T* go = p.grad_out + t * p.go_t_stride + col0 * p.go_c_stride;
      if constexpr (kThread) {
        take_lanes(reverse_go, g_out);
      } else {
        for (int l = 0; l < lanes; ++l) g_out[l] = load_acc<A>(go[p.go_c_stride == 0 ? 0 : l]);
      }
      for (int j = 0; j < R; ++j) {
        if (has_grad_trace) {
          const T* gr = p.grad_trace + j * steps * cols + row;
          if constexpr (kThread) {
            take_lanes(reverse_rec[j], g_rec[j]);
          } else {
            for (int l = 0; l < lanes; ++l) g_rec[j][l] = load_acc<A>(gr[l]);
          }
        } else {
          for (int l = 0; l < lanes; ++l) g_rec[j][l] = A(0);
        }
      }
      const T* xr = x + row;
      A x_now[kThread ? W : 1] = {};  // the thread body: the inputs of step t (the replay path rebuilds the locals from them)
      if constexpr (!kCache) {
        if constexpr (kThread) {
          take_lanes(reverse_x, x_now);
          if constexpr (kTimed) take_lanes(reverse_time, time_now);
        } else if constexpr (kTimed) {
          block_time_values(m, lane, p, t, col0, lanes, time_values);
        }
      }
      for (int l = 0; l < lanes; ++l) {
        A lp[L], loc[C], cr[S], dp[P], gr[R];
        for (int j = 0; j < L; ++j) lp[j] = lane[j][l];
        if (kCache) {
          for (int j = 0; j < C; ++j) loc[j] = chunk.at(k * C + j, l);
        } else {
          A prev[S], next[S], tv[TV] = {};
          if constexpr (kThread) {
            lane_time_values(m, lp, time_now[kTimed ? l : 0], tv);
          } else {
            if constexpr (kTimed)
              for (int j = 0; j < TV; ++j) tv[j] = time_values[j][kTimed ? l : 0];
          }
          for (int j = 0; j < S; ++j) prev[j] = chunk.at(k * S + j, l);
          if (M::kLocalNeedsNext) {
            for (int j = 0; j < S; ++j) next[j] = chunk.at((k + 1) * S + j, l);
          } else {
            for (int j = 0; j < S; ++j) next[j] = prev[j];
          }
          model_local(m, lp, prev, next, kThread ? x_now[kThread ? l : 0] : load_acc<A>(xr[l]), tv, loc);
        }
        for (int j = 0; j < S; ++j) cr[j] = carry[j][l];
        for (int j = 0; j < P; ++j) dp[j] = dpar[j][l];
        for (int j = 0; j < R; ++j) gr[j] = g_rec[j][l];
        dx[l] = m.step_backward(lp, loc, g_out[l], gr, cr, dp);
        for (int j = 0; j < S; ++j) carry[j][l] = cr[j];
        for (int j = 0; j < P; ++j) dpar[j][l] = dp[j];
      }
      if (p.grad_x != nullptr) {
        T* gx = p.grad_x + row;
        if constexpr (kThread) {
          LaneVec<T, V> dx_v;
          for (int l = 0; l < W; ++l) dx_v.v[kThread ? l : 0] = store_as<T>(dx[l]);
          store_lanes(gx, dx_v, width);
        } else {
          for (int l = 0; l < lanes; ++l) gx[l] = store_as<T>(dx[l]);
        }
      }
    }
  }
  if (p.grad_state0 != nullptr) {
    for (int j = 0; j < S; ++j)
      for (int l = 0; l < lanes; ++l)
        if (lane_is_live<W>(l, width)) p.grad_state0[j * cols + col0 + l] = carry[j][l];
  }
  for (int j = 0; j < P; ++j) {
    if (p.grad_param_cols[j] == nullptr) continue;
    for (int l = 0; l < lanes; ++l)
      if (lane_is_live<W>(l, width)) p.grad_param_cols[j][col0 + l] = dpar[j][l];
  }
}

}  // namespace neurosim
