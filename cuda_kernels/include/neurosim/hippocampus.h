// Step math of the theta-gated three-compartment neuron (George et al., NeurIPS 2023), written
// once for the CUDA kernels and the CPU twin. One call of the op advances one pyramidal layer of
// S independent simulations by one time step:
//
//   xi_c   <- keep_c * xi_c + kick_c * n_c                       OU dendritic noise, c in {B, A}
//   r_c     = f_c(V_c) + gain_c * xi_c                           dendritic rates (f linear or retanh)
//   soma    = (1 - a) r_B + a r_A                                a = apical fraction of the gate
//   err_c   = (soma - r_c) f_c'(V_c)                             dendritic prediction error
//   PI_c   <- (1 - k) PI_c + k err_c x_c^T                       plasticity-induction low-pass
//   W_c    <- W_c + eta_c (PI_c - l2_c W_c - l1_c sign(W_c))     (only where eta_c != 0)
//
// keep = 1 - dt/tau_noise, kick = sd * sqrt(2 dt / tau_noise), k = dt / tau_PI. A weight matrix
// may carry one extra trailing column: a bias, whose presynaptic "rate" is the constant 1.
#pragma once

#include <cmath>

#include "neurosim/common.h"

namespace neurosim {

enum class Dendrite : int { Linear = 0, ReTanh = 1 };

// Per-compartment constants, in the order of the op's float[] arguments.
enum HippocampusParam : int {
  kNoiseKeep = 0, kNoiseKick = 1, kNoiseGain = 2, kEta = 3, kL1 = 4, kL2 = 5, kNumHippocampusParams = 6
};

template <typename A> struct CompartmentConsts {
  A noise_keep, noise_kick, noise_gain, eta, l1, l2;
  int dendrite;  // Dendrite
};

template <typename A>
NEUROSIM_HD A tanh_of(A v) {
#if defined(__CUDA_ARCH__)
  return ::tanh(v);  // CUDA overloads tanh for float and double
#else
  return std::tanh(v);
#endif
}

template <typename A>
NEUROSIM_HD A dendrite_rate(A v, int dendrite) {
  if (dendrite == static_cast<int>(Dendrite::ReTanh)) return v > A(0) ? tanh_of(v) : A(0);
  return v;
}

template <typename A>
NEUROSIM_HD A dendrite_slope(A v, int dendrite) {
  if (dendrite == static_cast<int>(Dendrite::ReTanh)) {
    if (v <= A(0)) return A(0);
    const A t = tanh_of(v);
    return A(1) - t * t;
  }
  return A(1);
}

template <typename A>
NEUROSIM_HD A sign_of(A w) {
  return w > A(0) ? A(1) : (w < A(0) ? A(-1) : A(0));
}

// Raw pointers of one layer step. Rows are (simulation s, neuron i), row index = s * N + i.
// Compartment-major layouts keep each compartment's [S, N] block contiguous (the soma block feeds
// the next matrix product directly): rates [3, S, N] (basal, apical, soma); noise, draws and
// errors [2, S, N] (basal, apical);
// w_c / trace_c: [S, N, cols_c]; x_c: [S, inputs_c]; cols_c is inputs_c or inputs_c + 1 (bias).
template <typename A> struct HippocampusStepArgs {
  const A* v_basal;
  const A* v_apical;
  A* noise;
  const A* draws;
  A* rates;
  A* errors;
  A* w_basal; A* trace_basal; const A* x_basal;
  A* w_apical; A* trace_apical; const A* x_apical;
  int64_t sims, neurons;
  int64_t inputs_basal, cols_basal, inputs_apical, cols_apical;
  A apical_fraction, pi_rate;
  CompartmentConsts<A> basal, apical;
};

// Dendrites and soma of one neuron of one simulation; writes its rates and both errors.
template <typename A>
NEUROSIM_HD void hippocampus_neuron(const HippocampusStepArgs<A>& p, int64_t row) {
  const int64_t block = p.sims * p.neurons;
  const int64_t nb = row, na = block + row;
  const A vb = p.v_basal[row], va = p.v_apical[row];
  const A xi_b = p.basal.noise_keep * p.noise[nb] + p.basal.noise_kick * p.draws[nb];
  const A xi_a = p.apical.noise_keep * p.noise[na] + p.apical.noise_kick * p.draws[na];
  p.noise[nb] = xi_b;
  p.noise[na] = xi_a;
  const A rb = dendrite_rate(vb, p.basal.dendrite) + p.basal.noise_gain * xi_b;
  const A ra = dendrite_rate(va, p.apical.dendrite) + p.apical.noise_gain * xi_a;
  const A soma = (A(1) - p.apical_fraction) * rb + p.apical_fraction * ra;
  p.rates[row] = rb;
  p.rates[block + row] = ra;
  p.rates[2 * block + row] = soma;
  p.errors[nb] = (soma - rb) * dendrite_slope(vb, p.basal.dendrite);
  p.errors[na] = (soma - ra) * dendrite_slope(va, p.apical.dendrite);
}

// The update of one synapse (pre = its presynaptic rate; 1 for a bias).
template <typename A>
NEUROSIM_HD void synapse_update(A& w, A& trace, A err, A pre, A pi_rate, const CompartmentConsts<A>& c) {
  const A tr = (A(1) - pi_rate) * trace + pi_rate * (err * pre);
  trace = tr;
  w = w + c.eta * (tr - c.l2 * w - c.l1 * sign_of(w));
}

template <typename A> struct CompartmentView {
  A* w; A* trace; const A* x; int64_t inputs, cols; int which;  // which: 0 basal, 1 apical
  CompartmentConsts<A> consts;
};

template <typename A>
NEUROSIM_HD CompartmentView<A> compartment_view(const HippocampusStepArgs<A>& p, int which) {
  if (which == 0) return {p.w_basal, p.trace_basal, p.x_basal, p.inputs_basal, p.cols_basal, 0, p.basal};
  return {p.w_apical, p.trace_apical, p.x_apical, p.inputs_apical, p.cols_apical, 1, p.apical};
}

template <typename A>
NEUROSIM_HD A error_of_row(const HippocampusStepArgs<A>& p, int which, int64_t row) {
  return p.errors[which * p.sims * p.neurons + row];
}

// One weight element (row * cols + col) of one compartment: the CUDA kernels' per-thread body.
template <typename A>
NEUROSIM_HD void hippocampus_synapse(const HippocampusStepArgs<A>& p, const CompartmentView<A>& v,
                                     int64_t element) {
  const int64_t row = element / v.cols, col = element % v.cols;
  const A pre = col < v.inputs ? v.x[(row / p.neurons) * v.inputs + col] : A(1);
  synapse_update(v.w[element], v.trace[element], error_of_row(p, v.which, row), pre, p.pi_rate,
                 v.consts);
}

// All synapses of one row (neuron of one simulation) of one compartment: the CPU twin's body.
template <typename A>
NEUROSIM_HD void hippocampus_synapse_row(const HippocampusStepArgs<A>& p, const CompartmentView<A>& v,
                                         int64_t row) {
  const A err = error_of_row(p, v.which, row);
  const A* x = v.x + (row / p.neurons) * v.inputs;
  A* w = v.w + row * v.cols;
  A* trace = v.trace + row * v.cols;
  const CompartmentConsts<A> c = v.consts;
#if !defined(__CUDA_ARCH__)
#pragma omp simd
#endif
  for (int64_t col = 0; col < v.inputs; ++col) synapse_update(w[col], trace[col], err, x[col], p.pi_rate, c);
  for (int64_t col = v.inputs; col < v.cols; ++col) synapse_update(w[col], trace[col], err, A(1), p.pi_rate, c);
}

// Raw-pointer entry points: pointers are void, `dtype` names the one floating type of every tensor
// (Float32 or Float64); `params_*` follow HippocampusParam.
struct HippocampusStepLaunch {
  const void* v_basal; const void* v_apical; void* noise; const void* draws; void* rates; void* errors;
  void* w_basal; void* trace_basal; const void* x_basal;
  void* w_apical; void* trace_apical; const void* x_apical;
  int64_t sims, neurons, inputs_basal, cols_basal, inputs_apical, cols_apical;
  double apical_fraction, pi_rate;
  double params_basal[kNumHippocampusParams];
  double params_apical[kNumHippocampusParams];
  int dendrite_basal, dendrite_apical;
  DType dtype;
};

template <typename A>
HippocampusStepArgs<A> typed_hippocampus_args(const HippocampusStepLaunch& l) {
  auto consts = [](const double* q, int dendrite) {
    return CompartmentConsts<A>{static_cast<A>(q[kNoiseKeep]), static_cast<A>(q[kNoiseKick]),
                                static_cast<A>(q[kNoiseGain]), static_cast<A>(q[kEta]),
                                static_cast<A>(q[kL1]), static_cast<A>(q[kL2]), dendrite};
  };
  return HippocampusStepArgs<A>{
      static_cast<const A*>(l.v_basal), static_cast<const A*>(l.v_apical), static_cast<A*>(l.noise),
      static_cast<const A*>(l.draws), static_cast<A*>(l.rates), static_cast<A*>(l.errors),
      static_cast<A*>(l.w_basal), static_cast<A*>(l.trace_basal), static_cast<const A*>(l.x_basal),
      static_cast<A*>(l.w_apical), static_cast<A*>(l.trace_apical), static_cast<const A*>(l.x_apical),
      l.sims, l.neurons, l.inputs_basal, l.cols_basal, l.inputs_apical, l.cols_apical,
      static_cast<A>(l.apical_fraction), static_cast<A>(l.pi_rate),
      consts(l.params_basal, l.dendrite_basal), consts(l.params_apical, l.dendrite_apical)};
}

void hippocampus_step_cpu(const HippocampusStepLaunch& launch);
// `stream` is a cudaStream_t; returns a cudaError_t (0 on success).
int hippocampus_step_cuda(const HippocampusStepLaunch& launch, void* stream);

}  // namespace neurosim
