// CPU twin of cuda/ultradlif.cu: one batch row per task; each time step runs phase A over the
// row's features, then phase B (the loop order is the barrier the CUDA block needs).
#include "cpu_loops.h"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {
namespace {

// Small problems run on the calling thread: waking the pool costs more than they do.
int64_t rows_per_task(int64_t steps, int64_t features) {
  const int64_t work = steps * features;
  return work >= cpu::kSerialWork ? 1 : (cpu::kSerialWork + work - 1) / (work > 0 ? work : 1);
}

enum class Phase { ForwardA, ForwardB, BackwardA, BackwardB };

template <RingForm F, Phase P, bool kInterior, typename Args>
inline __attribute__((always_inline)) void run_phase(const Args& args, int64_t b, int64_t t, int64_t i) {
  if constexpr (P == Phase::ForwardA) ultradlif_forward_phase_a<F, kInterior>(args, b, t, i);
  else if constexpr (P == Phase::ForwardB) ultradlif_forward_phase_b<F, kInterior>(args, b, t, i);
  else if constexpr (P == Phase::BackwardA) ultradlif_backward_phase_a<F, kInterior>(args, b, t, i);
  else ultradlif_backward_phase_b<F, kInterior>(args, b, t, i);
}

// One pass of a phase over the features of a row: the two wrap-around ends, then the interior
// with plain neighbour indices, so that its loop vectorises.
template <RingForm F, Phase P, typename Args>
void row_pass(const Args& args, int64_t b, int64_t t) {
  const int64_t n = args.features;
  run_phase<F, P, false>(args, b, t, 0);
#pragma omp simd
  for (int64_t i = 1; i < n - 1; ++i) run_phase<F, P, true>(args, b, t, i);
  run_phase<F, P, false>(args, b, t, n - 1);
}

// Runs phase A then phase B of every step over every row, steps in order (forward) or reversed
// (backward); rows are spread over threads.
template <RingForm F, Phase First, Phase Second, bool kReverse, typename Args>
void run_rows(const Args& args) {
  at::parallel_for(0, args.batch, rows_per_task(args.steps, args.features), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t k = 0; k < args.steps; ++k) {
        const int64_t t = kReverse ? args.steps - 1 - k : k;
        row_pass<F, First>(args, b, t);
        row_pass<F, Second>(args, b, t);
      }
    }
  });
}

}  // namespace

void ultradlif_forward_cpu(const UltraDlifForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(launch);
    dispatch_ring_form(launch.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      run_rows<F, Phase::ForwardA, Phase::ForwardB, false>(args);
    });
  });
}

void ultradlif_backward_cpu(const UltraDlifBackwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(launch);
    dispatch_ring_form(launch.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      run_rows<F, Phase::BackwardA, Phase::BackwardB, true>(args);
    });
  });
}

}  // namespace neurosim
