// Raw-pointer entry points of the UltraDLIF (ring) kernels (see scan_launch.h for the conventions): `dtype`
// names the storage type of x, spikes and their gradients; every other buffer is in the
// accumulation type (double for Float64, float otherwise).
#pragma once

#include <cstdint>

#include "neurosim/common.h"

namespace neurosim {

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

void ultradlif_forward_cpu(const UltraDlifForwardLaunch& a);
void ultradlif_backward_cpu(const UltraDlifBackwardLaunch& a);

// `stream` is a cudaStream_t; the return value is a cudaError_t (0 on success).
int ultradlif_forward_cuda(const UltraDlifForwardLaunch& a, void* stream);
int ultradlif_backward_cuda(const UltraDlifBackwardLaunch& a, void* stream);

}  // namespace neurosim
