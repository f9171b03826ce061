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

}  // namespace

void ultradlif_forward_cpu(const UltraDlifForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    const auto args = typed_args<T>(launch);
    dispatch_ring_form(launch.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      at::parallel_for(0, args.batch, rows_per_task(args.steps, args.features), [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          for (int64_t t = 0; t < args.steps; ++t) {
            for (int64_t i = 0; i < args.features; ++i) ultradlif_forward_phase_a<F>(args, b, t, i);
            for (int64_t i = 0; i < args.features; ++i) ultradlif_forward_phase_b<F>(args, b, t, i);
          }
        }
      });
    });
  });
}

void ultradlif_backward_cpu(const UltraDlifBackwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    const auto args = typed_args<T>(launch);
    dispatch_ring_form(launch.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      at::parallel_for(0, args.batch, rows_per_task(args.steps, args.features), [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
          for (int64_t t = args.steps - 1; t >= 0; --t) {
            for (int64_t i = 0; i < args.features; ++i) ultradlif_backward_phase_a<F>(args, b, t, i);
            for (int64_t j = 0; j < args.features; ++j) ultradlif_backward_phase_b<F>(args, b, t, j);
          }
        }
      });
    });
  });
}

}  // namespace neurosim
