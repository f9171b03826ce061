// Exponential trace math, written once for the CUDA kernel and the CPU twin. A trace follows one
// neuron of one batch element (a "column") through all T steps:
//
//   forward:  z_t = decay * z_{t-1} + x_t      (t = 0 .. T-1, z_{-1} = z0)
//   reverse:  z_t = decay * z_{t+1} + x_t      (t = T-1 .. 0, z_T  = z0)
//
// The forward form gives STDP's presynaptic and postsynaptic traces. The reverse form gives the
// backward pass of the forward form, and it turns a reward-modulated eligibility trace into a trace
// of the modulator: sum_t r_t e_t with e_t = decay e_{t-1} + D_t equals sum_t D_t R_t with
// R_t = decay R_{t+1} + r_t, so three-factor learning never stores a per-synapse trace.
#pragma once

#include "neurosim/common.h"

namespace neurosim {

// Raw-pointer entry of the trace op (what the torch binding fills in). `dtype` is the storage type
// of x and trace; z0, decay and z_final are in the accumulation type.
struct TraceLaunch {
  const void* x; const void* z0; const void* decay;
  void* trace; void* z_final;
  int64_t steps, columns, features;
  bool decay_per_feature, reverse;
  DType dtype;
};

template <typename T, typename A> struct TraceArgs {
  const T* x;       // [T, M], column index = b * F + f
  const A* z0;      // [M]
  const A* decay;   // [1] or [F]
  T* trace;         // [T, M]
  A* z_final;       // [M]
  int64_t steps, columns, features;
  bool decay_per_feature;
};

template <typename A>
NEUROSIM_HD A trace_step(A z_prev, A x, A decay) {
  return decay * z_prev + x;
}

// `width` adjacent columns from col0 through all T steps, time outer and columns inner (the
// inner loop vectorises and streams one contiguous piece of each time row). `z` and `decay` are
// caller-provided scratch of `width` entries: registers on the GPU (width 1), a per-thread buffer
// on the CPU (one long run of columns per thread).
template <bool kReverse, typename T, typename A>
NEUROSIM_HD void trace_columns(const TraceArgs<T, A>& p, int64_t col0, int64_t width, A* z, A* decay) {
  for (int64_t l = 0; l < width; ++l) {
    z[l] = p.z0[col0 + l];
    decay[l] = param_at(p.decay, p.decay_per_feature, (col0 + l) % p.features);
  }
  for (int64_t k = 0; k < p.steps; ++k) {
    const int64_t t = kReverse ? p.steps - 1 - k : k;
    const T* xr = p.x + t * p.columns + col0;
    T* zr = p.trace + t * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
    for (int64_t l = 0; l < width; ++l) {
      z[l] = trace_step(z[l], convert<A>(xr[l]), decay[l]);
      zr[l] = convert<T>(z[l]);
    }
  }
  for (int64_t l = 0; l < width; ++l) p.z_final[col0 + l] = z[l];
}

// The presynaptic-spike rows of additive STDP, rows_t = R_t - ratio * y_t, where y is the forward
// trace of the post spikes (decay_minus: pairs with pre spikes for LTD) and R their reverse-time
// trace (decay_plus: the LTP term seen from the pre spike). One forward pass writes -ratio * y, one
// reverse pass adds R, so neither trace is stored on its own.
struct StdpRowsLaunch {
  const void* post; void* rows;
  int64_t steps, columns;
  double decay_plus, decay_minus, ratio;
  DType dtype;
};

template <typename T, typename A> struct StdpRowsArgs {
  const T* post;  // [T, M]
  T* rows;        // [T, M]
  int64_t steps, columns;
  A decay_plus, decay_minus, ratio;
};

template <typename T, typename A>
NEUROSIM_HD void stdp_rows_columns(const StdpRowsArgs<T, A>& p, int64_t col0, int64_t width, A* z) {
  for (int64_t l = 0; l < width; ++l) z[l] = A(0);
  for (int64_t t = 0; t < p.steps; ++t) {
    const T* xr = p.post + t * p.columns + col0;
    T* out = p.rows + t * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
    for (int64_t l = 0; l < width; ++l) {
      z[l] = trace_step(z[l], convert<A>(xr[l]), p.decay_minus);
      out[l] = convert<T>(-p.ratio * z[l]);
    }
  }
  for (int64_t l = 0; l < width; ++l) z[l] = A(0);
  for (int64_t t = p.steps - 1; t >= 0; --t) {
    const T* xr = p.post + t * p.columns + col0;
    T* out = p.rows + t * p.columns + col0;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
    for (int64_t l = 0; l < width; ++l) {
      z[l] = trace_step(z[l], convert<A>(xr[l]), p.decay_plus);
      out[l] = convert<T>(convert<A>(out[l]) + z[l]);
    }
  }
}

template <typename T>
StdpRowsArgs<T, typename AccType<T>::type> typed_stdp_rows_args(const StdpRowsLaunch& a) {
  using A = typename AccType<T>::type;
  return StdpRowsArgs<T, A>{static_cast<const T*>(a.post), static_cast<T*>(a.rows), a.steps, a.columns,
                            static_cast<A>(a.decay_plus), static_cast<A>(a.decay_minus), static_cast<A>(a.ratio)};
}

void stdp_rows_cpu(const StdpRowsLaunch& a);
int stdp_rows_cuda(const StdpRowsLaunch& a, void* stream);

template <typename T>
TraceArgs<T, typename AccType<T>::type> typed_trace_args(const TraceLaunch& a) {
  using A = typename AccType<T>::type;
  return TraceArgs<T, A>{static_cast<const T*>(a.x), static_cast<const A*>(a.z0),
                         static_cast<const A*>(a.decay), static_cast<T*>(a.trace),
                         static_cast<A*>(a.z_final), a.steps, a.columns, a.features,
                         a.decay_per_feature};
}

void trace_cpu(const TraceLaunch& a);

// `stream` is a cudaStream_t; returns a cudaError_t (0 on success).
int trace_cuda(const TraceLaunch& a, void* stream);

}  // namespace neurosim
