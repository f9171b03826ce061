// Raw-pointer entry points of the generic time scan (scan.h): what the torch binding calls, for
// every per-neuron model. Pointers are typed void so that the binding needs no CUDA half types;
// `dtype` names the storage type of x, the output, the trace and the gradients w.r.t. them;
// every other buffer is in the accumulation type (double for Float64, float otherwise).
// Fill these structs field by field, by name.
#pragma once

#include <cstdint>

#include "neurosim/common.h"

namespace neurosim {

constexpr int kMaxLaunchParams = 8;  // == kMaxScanParams

// Model options; each model reads the ones it has (reset mode, surrogate, detached reset).
struct ScanOptions {
  int model;               // ScanModel code (scan_models.h)
  int reset;               // Reset
  int surrogate;           // SurrogateKind
  double surrogate_param;
  bool detach_reset;
};

struct ScanForwardLaunch {
  ScanOptions options;
  DType dtype;
  const void* x;                         // [T, M]
  const void* state0;                    // [S, M]
  const void* params[kMaxLaunchParams];  // each [1] or [F]
  bool per_feature[kMaxLaunchParams];
  void* out;                             // [T, M]
  void* state_final;                     // [S, M]
  void* checkpoints;                     // [num_checkpoints(T), S, M]
  void* trace;                           // [R, T, M] or nullptr
  const void* times;                     // timed models: [T, B] in the accumulation type, or nullptr
  int64_t times_t_stride, times_b_stride;
  int64_t steps, columns, features;
  bool gpu_path;                         // as in ScanBackwardLaunch
};

struct ScanBackwardLaunch {
  ScanOptions options;
  DType dtype;
  const void* grad_out; int64_t go_t_stride, go_c_stride;
  const void* grad_state_final;          // [S, M] or nullptr
  const void* grad_trace;                // [R, T, M] or nullptr
  const void* x;
  const void* checkpoints;
  const void* params[kMaxLaunchParams];
  bool per_feature[kMaxLaunchParams];
  void* grad_x;                          // [T, M] or nullptr
  void* grad_state0;                     // [S, M] or nullptr
  void* grad_param_cols[kMaxLaunchParams];  // each [M] or nullptr
  const void* times;                     // as in ScanForwardLaunch
  int64_t times_t_stride, times_b_stride;
  int64_t steps, columns, features;
  // Take the CUDA kernel's code path on the CPU as well, so that the tests run every branch the
  // GPU takes: the thread body (one column per thread, two for 16-bit storage; register prefetch,
  // states replayed, no step cache), in the baseline copy, for float32 and float16 storage (other
  // dtypes: the CPU's blocks without the step cache).
  bool gpu_path;
};

void scan_forward_cpu(const ScanForwardLaunch& a);
void scan_backward_cpu(const ScanBackwardLaunch& a);

// `stream` is a cudaStream_t; the return value is a cudaError_t (0 on success).
int scan_forward_cuda(const ScanForwardLaunch& a, void* stream);
int scan_backward_cuda(const ScanBackwardLaunch& a, void* stream);

}  // namespace neurosim
