// CPU twin of cuda/recurrent.cu: the cell policies of recurrent.h (the same step math the CUDA
// kernel runs) over the batch rows, step by step. A dense layer calls the forward once per step
// after torch's GEMM (the same addmm as nn.Linear, for snnTorch's values bit for bit), on a few
// thousand elements: that runs on the calling thread, since waking the pool would cost more than
// the step. The dense backward runs all steps here in one call (see backward_dense below).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
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
  // x - 0 is x for every x (-0 too), so this is a plain broadcast; `V{} + x` would cost an add
  // per call (0 + -0 is +0), on the adder the products' sums need
  static inline __attribute__((always_inline)) V splat(A x) { return x - V{}; }
};

// The first 64-byte boundary at or after p (buffers are allocated 64 bytes longer): vector loads
// that straddle two cache lines cost two.
template <typename A>
inline A* align64(A* p) {
  return reinterpret_cast<A*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
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
  if (a.gs_e_stride == 0) {  // one value for the whole step (the gradient of a sum): a plain fill
    std::fill(scratch.begin(), scratch.end(), *src);
    return scratch.data();
  }
  const int64_t stride = a.gs_e_stride;
  for (int64_t e = 0; e < a.M; ++e) scratch[e] = src[e * stride];
  return scratch.data();
}

// c[B, n] = g[B, n] W[n, n] (row-major W[o][k]): dL/ds_{t-1} = g_t W of rec_t = s_{t-1} W^T + b.
// An own loop rather than at::mm because MKL repacks the whole weight at every call (about a
// third of its time at B = 16); here W is packed once per backward (PackedWeight) and every step
// streams it. A tile of RB batch rows x CV vectors of c stays in registers over all n products,
// so each W vector loaded serves RB rows (all 16 of a B = 16 batch with AVX-512's 32 registers).
// Every element is the plain sum over o in order (no FMA contraction), so every ISA level and
// tile shape gives the same values; they differ from MKL's rounding, which a gradient has no
// reason to match.
template <typename A>
struct GemmShape {
  static constexpr int kLanes = Simd<A>::kLanes;
  // accumulators (RB * CV) + CV weight vectors + one broadcast fit the register file
  static constexpr int RB = kVecBytes == 64 ? 16 : 4;
  static constexpr int CV = kVecBytes == 64 ? 1 : 2;
  static constexpr int kBlock = CV * kLanes;
};

// W's columns in blocks: the block at column k0 of width w (kBlock, then kLanes for what is left)
// is n rows of w contiguous elements at data + k0 * n, so a tile's stream of W is one contiguous
// run that the prefetcher follows and no two of its rows compete for an L1 set (rows of W itself
// are n elements apart, a power of two for the usual sizes). The last n % kLanes columns are
// read from W directly.
template <typename A>
struct PackedWeight {
  std::unique_ptr<A[]> storage;  // uninitialised: every element is written before it is read
  A* data = nullptr;
  int64_t wide_end = 0, narrow_end = 0;  // columns in kBlock-wide blocks; then kLanes-wide ones

  PackedWeight(const A* w, int64_t n) {
    constexpr int L = GemmShape<A>::kLanes, kBlock = GemmShape<A>::kBlock;
    wide_end = n / kBlock * kBlock;
    narrow_end = wide_end + (n - wide_end) / L * L;
    storage.reset(new A[static_cast<size_t>(narrow_end * n + 64 / sizeof(A))]);
    data = align64(storage.get());
    auto pack = [&](int64_t k0, int64_t width) {
      A* dst = data + k0 * n;
      for (int64_t o = 0; o < n; ++o) std::memcpy(dst + o * width, w + o * n + k0, width * sizeof(A));
    };
    for (int64_t k0 = 0; k0 < wide_end; k0 += kBlock) pack(k0, kBlock);
    for (int64_t k0 = wide_end; k0 < narrow_end; k0 += L) pack(k0, L);
  }
};

template <typename A, int RB, int CV>
inline __attribute__((always_inline)) void gemm_tile(const A* g, const A* wp, A* c, int64_t n) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = S::kLanes, W = CV * L;
  V acc[RB][CV];
  unrolled<RB>([&](int r) { unrolled<CV>([&](int v) { acc[r][v] = V{}; }); });
  for (int64_t o = 0; o < n; ++o) {
    V wv[CV];
    unrolled<CV>([&](int v) { wv[v] = S::load(wp + o * W + v * L); });
    unrolled<RB>([&](int r) {
      const V gr = S::splat(g[r * n + o]);
      unrolled<CV>([&](int v) { acc[r][v] += gr * wv[v]; });
    });
  }
  unrolled<RB>([&](int r) { unrolled<CV>([&](int v) { S::store(c + r * n + v * L, acc[r][v]); }); });
}

// All B rows of one column block: tiles of RB rows, then the rest in halving tiles.
template <typename A, int RB, int CV>
inline void gemm_block(const A* g, const A* wp, A* c, int64_t B, int64_t n) {
  int64_t b = 0;
  for (; b + RB <= B; b += RB) gemm_tile<A, RB, CV>(g + b * n, wp, c + b * n, n);
  if constexpr (RB > 1) {
    constexpr int H = RB / 2;
    if (b + H <= B) {
      gemm_tile<A, H, CV>(g + b * n, wp, c + b * n, n);
      b += H;
    }
    if (b < B) gemm_block<A, (H > 0 ? H : 1), CV>(g + b * n, wp, c + b * n, B - b, n);
  }
}

template <typename A>
void grad_through_recurrence(const A* g, const PackedWeight<A>& w, const A* weight, A* c, int64_t B, int64_t n) {
  using Shape = GemmShape<A>;
  constexpr int L = Shape::kLanes, kBlock = Shape::kBlock;
  const int64_t blocks = w.wide_end / kBlock;
  // column blocks are independent; worth the pool only when a step is big
  const int64_t grain = B * n * n < cpu::kSerialWork * 64 ? std::max<int64_t>(blocks, 1) : 1;
  at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t k0 = blk * kBlock;
      gemm_block<A, Shape::RB, Shape::CV>(g, w.data + k0 * n, c + k0, B, n);
    }
  });
  for (int64_t k0 = w.wide_end; k0 < w.narrow_end; k0 += L) gemm_block<A, Shape::RB, 1>(g, w.data + k0 * n, c + k0, B, n);
  for (int64_t k0 = w.narrow_end; k0 < n; ++k0)
    for (int64_t b = 0; b < B; ++b) {
      A sum = A(0);
      for (int64_t o = 0; o < n; ++o) sum += g[b * n + o] * weight[o * n + k0];
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
          const PackedWeight<A> packed(weight, weight != nullptr ? launch.features : 0);
          RecurrentBackwardArgs<A> step_args = args;
          if (weight != nullptr) step_args.grad_drive = drive.data();
          for (int64_t t = launch.t_end - 1; t >= launch.t_begin; --t) {
            const A* gs = grad_spikes_step(args, t, gs_scratch);
            for_each_row(launch.batch, launch.features,
                         [&](int64_t b) { backward_row<Cell, R, G, O, GT>(step_args, sg, gs, t, b); });
            if (weight != nullptr)
              grad_through_recurrence(drive.data(), packed, weight, args.grec, launch.batch, launch.features);
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

// grad_wt[j, o] = sum over rows r = (t, b) of s_{t-1}[b, j] g_t[b, o]: about (spike rate) of a
// dense GEMM's work. Per chunk of kChunk rows:
//  1. a bit per (row, j) for s != 0, whole vectors of j at a time (branch-free);
//  2. for each presynaptic j in turn, its rows in order with their values (a column list read off
//     the bits), so every j's spikes sit together without scattered writes;
//  3. the chunk's g copied into column blocks of kBlock (each block's rows contiguous, a few
//     ten KB: it stays in L1 while every j reads it; g's own rows are n elements apart and
//     would share a few L1 sets);
//  4. per block and j, the sum over j's rows of value * g[row, block] in registers, added to
//     grad_wt[j, block] once.
// Adding each row's g block into the grad_wt rows its spikes name instead loads and stores a row
// block of grad_wt per spike; building the lists with a test per element mispredicts on random
// spikes. Every element is a sum over rows in order (no FMA contraction).
template <typename A>
struct MaskWord;
template <>
struct MaskWord<float> {
  using type = uint32_t;
};
template <>
struct MaskWord<double> {
  using type = uint64_t;
};

template <typename A>
struct SpikeEntry {
  int32_t row;  // within the chunk
  A value;
};

template <typename A>
void weight_grad_typed(const RecurrentWeightGradLaunch& launch) {
  using S = Simd<A>;
  using V = typename S::V;
  using M = typename MaskWord<A>::type;  // one bit per row, as wide as A: a vector of them per V
  typedef M VM __attribute__((vector_size(kVecBytes)));
  constexpr int L = S::kLanes, CV = 4, kBlock = CV * L, kBits = 8 * sizeof(M);
  constexpr int64_t kChunk = 128;  // rows; a multiple of 64
  constexpr int kWordsPer64 = 64 / kBits;
  const A* g = static_cast<const A*>(launch.grad_drive);
  const A* spikes = static_cast<const A*>(launch.spikes);
  const A* spikes0 = static_cast<const A*>(launch.spikes0);
  A* out = static_cast<A*>(launch.grad_wt);
  const int64_t B = launch.batch, n = launch.features, rows = launch.steps * B;
  if (rows == 0 || n == 0) return;
  // s_{t-1} of row r = (t, b): the initial spikes for t = 0, else row r - B of the spikes
  auto spike_row = [&](int64_t r) { return r < B ? spikes0 + r * n : spikes + (r - B) * n; };
  const int64_t wide_end = n / kBlock * kBlock, narrow_end = wide_end + (n - wide_end) / L * L;

  // sum over the listed rows of value * src[row * stride + (0 .. CW*L)] into dst
  auto accumulate = [](auto width_tag, A* dst, const SpikeEntry<A>* e, const SpikeEntry<A>* last, const A* src,
                       int64_t stride) {
    constexpr int CW = decltype(width_tag)::value;
    V acc[CW];
    unrolled<CW>([&](int v) { acc[v] = S::load(dst + v * L); });
    for (; e != last; ++e) {
      const A* row = src + static_cast<int64_t>(e->row) * stride;
      const V sv = S::splat(e->value);
      unrolled<CW>([&](int v) { acc[v] += sv * S::load(row + v * L); });
    }
    unrolled<CW>([&](int v) { S::store(dst + v * L, acc[v]); });
  };

  // threads take ranges of j (rows of grad_wt); each reads the whole g
  const int64_t grain = rows * n < cpu::kSerialWork * 64 ? n : std::max<int64_t>(kBlock, (n + 15) / 16);
  at::parallel_for(0, n, grain, [&](int64_t j0, int64_t j1) {
    const int64_t width = j1 - j0, words = kChunk / kBits;
    std::vector<M> bits(static_cast<size_t>(words * width));
    std::vector<int64_t> start(static_cast<size_t>(width + 1));
    // uninitialised: each chunk writes what it then reads
    std::unique_ptr<SpikeEntry<A>[]> entries(new SpikeEntry<A>[static_cast<size_t>(kChunk * width)]);
    std::unique_ptr<A[]> pack_storage(new A[static_cast<size_t>(kChunk * wide_end + 64 / sizeof(A))]);
    A* const pack = align64(pack_storage.get());
    for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
      const int64_t r1 = std::min(rows, r0 + kChunk), chunk = r1 - r0;
      // 1. bits[w * width + j]: bit k set where s[r0 + w * kBits + k, j0 + j] != 0
      std::fill(bits.begin(), bits.end(), M(0));
      for (int64_t r = r0; r < r1; ++r) {
        const A* s = spike_row(r) + j0;
        M* const word = bits.data() + (r - r0) / kBits * width;
        const M bit = M(1) << ((r - r0) % kBits);
        int64_t j = 0;
        for (; j + L <= width; j += L) {
          VM w;
          std::memcpy(&w, word + j, sizeof(VM));
          w |= (VM)(S::load(s + j) != V{}) & bit;  // a true lane is all ones
          std::memcpy(word + j, &w, sizeof(VM));
        }
        for (; j < width; ++j) word[j] |= s[j] != A(0) ? bit : M(0);
      }
      // 2. each j's rows, in order, and their values
      SpikeEntry<A>* const list = entries.get();
      int64_t count = 0;
      for (int64_t j = 0; j < width; ++j) {
        start[j] = count;
        for (int64_t w = 0; w < words; w += kWordsPer64) {  // 64 rows at a time: one loop exit each
          unsigned long long m = 0;
          unrolled<kWordsPer64>([&](int q) { m |= static_cast<unsigned long long>(bits[(w + q) * width + j]) << (q * kBits); });
          for (; m != 0; m &= m - 1) {
            const int64_t row = w * kBits + __builtin_ctzll(m);
            list[count++] = SpikeEntry<A>{static_cast<int32_t>(row), spike_row(r0 + row)[j0 + j]};
          }
        }
      }
      start[width] = count;
      // 3. the chunk's g in column blocks: block k0 holds its rows at pack + k0 * chunk
      const A* const g_chunk = g + r0 * n;
      for (int64_t r = 0; r < chunk; ++r)
        for (int64_t k0 = 0; k0 < wide_end; k0 += kBlock)
          std::memcpy(pack + k0 * chunk + r * kBlock, g_chunk + r * n + k0, kBlock * sizeof(A));
      // 4. the sums
      for (int64_t k0 = 0; k0 < wide_end; k0 += kBlock)
        for (int64_t j = 0; j < width; ++j)
          accumulate(std::integral_constant<int, CV>{}, out + (j0 + j) * n + k0, list + start[j], list + start[j + 1],
                     pack + k0 * chunk, kBlock);
      for (int64_t k0 = wide_end; k0 < narrow_end; k0 += L)
        for (int64_t j = 0; j < width; ++j)
          accumulate(std::integral_constant<int, 1>{}, out + (j0 + j) * n + k0, list + start[j], list + start[j + 1],
                     g_chunk + k0, n);
      for (int64_t k = narrow_end; k < n; ++k)
        for (int64_t j = 0; j < width; ++j) {
          A sum = out[(j0 + j) * n + k];
          for (const SpikeEntry<A>* e = list + start[j]; e != list + start[j + 1]; ++e)
            sum += e->value * g_chunk[static_cast<int64_t>(e->row) * n + k];
          out[(j0 + j) * n + k] = sum;
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
