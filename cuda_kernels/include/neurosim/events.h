// Event-driven outer-product sums for plasticity: out = scale * events^T dense over S samples,
// visiting only the nonzero entries of `events` (spikes), so the cost scales with the number of
// spikes instead of S * n_events * n_dense. One event (s, a, v) adds v * dense[s, :] to out[a, :].
//
// The CPU twin compresses each sample's events once, then splits the rows of `out` between threads;
// each thread walks the samples in order, so every dense row is read once per thread while the
// rows it adds into stay in cache. On CUDA the rules use cuBLAS instead (dense GEMMs are what a GPU
// does best at these sizes), so this op has no CUDA launcher.
#pragma once

#include "neurosim/common.h"

namespace neurosim {

struct EventMatmulLaunch {
  const void* events;  // [S, n_events], storage dtype
  const void* dense;   // [S, n_dense], storage dtype
  void* out;           // [n_events, n_dense], accumulation dtype, zero-filled by the caller
  int64_t samples, n_events, n_dense;
  double scale;
  DType dtype;
};

// out_row[j] += v * dense_row[j] for j in [0, n): the whole work of one event.
template <typename T, typename A>
NEUROSIM_HD void add_scaled_row(A* out_row, const T* dense_row, A v, int64_t n) {
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
  for (int64_t j = 0; j < n; ++j) out_row[j] += v * static_cast<A>(dense_row[j]);
}

void event_matmul_cpu(const EventMatmulLaunch& a);

}  // namespace neurosim
