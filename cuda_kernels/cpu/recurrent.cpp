// CPU twin of cuda/recurrent.cu: the lane functions of recurrent.h over blocks of adjacent
// neurons of one batch row (the lanes vectorise), blocks spread over threads. A dense layer calls
// this once per step between two GEMMs, on a few thousand elements: that runs on the calling
// thread, since waking the pool would cost more than the step.
#include <algorithm>

#include "cpu_loops.h"
#include "neurosim/recurrent.h"

namespace neurosim {
namespace {

template <typename A> constexpr int lanes() { return 64 / static_cast<int>(sizeof(A)); }

// Calls run(e0, i0, width) for every block of one row: full blocks of Wide lanes, then singles.
template <int Wide, typename Fn>
void for_each_lane_block(int64_t batch, int64_t n, int64_t steps, const Fn& run) {
  const int64_t full = n / Wide, rest = n - full * Wide, per_row = full + rest;
  const int64_t total = batch * per_row;
  const int64_t work = batch * n * (steps > 0 ? steps : 1);
  const int64_t grain = work < cpu::kSerialWork ? (total > 0 ? total : 1) : 1;
  at::parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t b = k / per_row, j = k - b * per_row;
      const int64_t i0 = j < full ? j * Wide : full * Wide + (j - full);
      run(b * n + i0, i0, j < full ? Wide : 1);
    }
  });
}

template <typename A>
void forward_typed(const RecurrentForwardLaunch& launch) {
  const auto args = typed_recurrent_forward<A>(launch);
  constexpr int Wide = lanes<A>();
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    for_each_lane_block<Wide>(launch.batch, launch.features, launch.t_end - launch.t_begin,
                              [&](int64_t e0, int64_t i0, int width) {
      if (width == Wide) recurrent_forward_lanes<Cell, R, Wide>(args, e0, i0);
      else recurrent_forward_lanes<Cell, R, 1>(args, e0, i0);
    });
  });
}

template <typename A>
void backward_typed(const RecurrentBackwardLaunch& launch) {
  const auto args = typed_recurrent_backward<A>(launch);
  constexpr int Wide = lanes<A>();
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    auto with_grad = [&](auto grad_tag) {
      constexpr bool G = decltype(grad_tag)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                         [&](auto sg) {
        for_each_lane_block<Wide>(launch.batch, launch.features, launch.t_end - launch.t_begin,
                                  [&](int64_t e0, int64_t i0, int width) {
          if (width == Wide) recurrent_backward_lanes<Cell, R, G, Wide>(args, sg, e0, i0);
          else recurrent_backward_lanes<Cell, R, G, 1>(args, sg, e0, i0);
        });
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
