// Raw-pointer entry points of the Ultra* kernels (see launch.h for the conventions): `dtype`
// names the storage type of x, spikes and their gradients; every other buffer is in the
// accumulation type (double for Float64, float otherwise).
#pragma once

#include <cstdint>

#include "neurosim/common.h"

namespace neurosim {

struct UltraLifForwardLaunch {
  const void* x; const void* v0; const void* log_tau; const void* eps; const void* theta;
  void* spikes; void* v_final; void* checkpoints; void* membrane;
  int64_t steps, columns, features;
  bool log_tau_per_feature, eps_per_feature, theta_per_feature;
  DType dtype;
};

struct UltraLifBackwardLaunch {
  const void* grad_spikes; int64_t gs_t_stride, gs_c_stride;
  const void* grad_v_final; const void* grad_membrane;
  const void* x; const void* checkpoints; const void* log_tau; const void* eps; const void* theta;
  void* grad_x; void* grad_v0; void* grad_log_tau_cols; void* grad_eps_cols; void* grad_theta_cols;
  int64_t steps, columns, features;
  bool log_tau_per_feature, eps_per_feature, theta_per_feature;
  DType dtype;
};

struct UltraDlifForwardLaunch {
  const void* x; const void* tau; const void* eps; const void* theta;
  void* spikes; void* state; void* membrane;
  int64_t steps, batch, features;
  bool tau_per_feature, eps_per_feature, theta_per_feature;
  int form;  // RingForm
  DType dtype;
};

struct UltraDlifBackwardLaunch {
  const void* grad_spikes; const void* grad_membrane;
  const void* x; const void* v0; const void* membrane;
  const void* tau; const void* eps; const void* theta;
  void* grad_x; void* carry; void* step_grad; void* step_peak; void* step_inv_sum;
  void* grad_tau_elems; void* grad_eps_elems; void* grad_theta_elems;
  int64_t steps, batch, features;
  bool tau_per_feature, eps_per_feature, theta_per_feature;
  int form;  // RingForm
  DType dtype;
};

void ultralif_forward_cpu(const UltraLifForwardLaunch& a);
void ultralif_backward_cpu(const UltraLifBackwardLaunch& a);
void ultradlif_forward_cpu(const UltraDlifForwardLaunch& a);
void ultradlif_backward_cpu(const UltraDlifBackwardLaunch& a);

// `stream` is a cudaStream_t; the return value is a cudaError_t (0 on success).
int ultralif_forward_cuda(const UltraLifForwardLaunch& a, void* stream);
int ultralif_backward_cuda(const UltraLifBackwardLaunch& a, void* stream);
int ultradlif_forward_cuda(const UltraDlifForwardLaunch& a, void* stream);
int ultradlif_backward_cuda(const UltraDlifBackwardLaunch& a, void* stream);

}  // namespace neurosim
