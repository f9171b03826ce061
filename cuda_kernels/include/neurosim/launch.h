// Raw-pointer entry points of the native kernels: what the torch binding calls. Pointers are
// typed void so that the binding does not need the CUDA half types; `dtype` names the storage
// type of x, spikes, membrane and gradients w.r.t. them; every other buffer is the accumulation
// type (double for Float64, float otherwise).
#pragma once

#include <cstdint>

#include "neurosim/common.h"

namespace neurosim {

struct LifForwardLaunch {
  const void* x; const void* u0; const void* beta; const void* thr;
  void* spikes; void* u_final; void* checkpoints; void* membrane;
  int64_t steps, columns, features;
  bool beta_per_feature, thr_per_feature;
  int reset;  // Reset
  DType dtype;
};

struct LifBackwardLaunch {
  const void* grad_spikes; int64_t gs_t_stride, gs_c_stride;
  const void* grad_u_final; const void* grad_membrane;
  const void* x; const void* checkpoints; const void* beta; const void* thr;
  void* grad_x; void* grad_u0; void* grad_beta_cols; void* grad_thr_cols;
  int64_t steps, columns, features;
  bool beta_per_feature, thr_per_feature;
  int reset;      // Reset
  int surrogate;  // SurrogateKind
  double surrogate_param;
  bool detach_reset;
  DType dtype;
};

void lif_forward_cpu(const LifForwardLaunch& a);
void lif_backward_cpu(const LifBackwardLaunch& a);

// `stream` is a cudaStream_t; the return value is a cudaError_t (0 on success).
int lif_forward_cuda(const LifForwardLaunch& a, void* stream);
int lif_backward_cuda(const LifBackwardLaunch& a, void* stream);

}  // namespace neurosim
