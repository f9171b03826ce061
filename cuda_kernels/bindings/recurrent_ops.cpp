// torch-facing side of the recurrent spiking layers (RLIF = snnTorch RLeaky, RSynaptic, recurrent
// ALIF): the whole sequence in one op call, forward and backward.
//
// Why the time loop lives here: each step needs rec_t = W s_{t-1} + b before any neuron can
// update, so the per-neuron scan of the other ops cannot run the sequence alone. Per step this
// calls torch's GEMM exactly as nn.Linear does (addmm(bias, s, W^T)) so the recurrent input, and
// with it every spike and membrane value, equals snnTorch's bit for bit, then one elementwise
// launch (recurrent.h; the CPU twin or the CUDA kernel) for all B*n neurons. The backward walks
// back with one product per step (dL/ds_{t-1} = g_t W): cuBLAS per step on CUDA, and on the CPU
// one call of the twin that runs every step with its own product (MKL would repack W each step).
// The weight gradient is one sparse accumulation over the spikes (CPU) or one GEMM over all
// steps (CUDA). Nothing is allocated per step and no autograd graph is built per step, which is
// where a Python loop over snnTorch's cell spends most of its time.
// Argument checking for users happens in Python (neurosim/core/validation.py); the checks here
// guard the native code's memory.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "binding_utils.h"
#include "neurosim/recurrent.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

using binding::check_cuda;
using binding::column_view;
using binding::storage_code;

struct CellShape {
  int64_t params, vars;
};

CellShape cell_shape(int64_t cell) {
  switch (static_cast<RecurrentCell>(cell)) {
    case RecurrentCell::LIF: return {RLifCell::kParams, RLifCell::kVars};
    case RecurrentCell::Synaptic: return {RSynapticCell::kParams, RSynapticCell::kVars};
    case RecurrentCell::ALIF: return {RAlifCell::kParams, RAlifCell::kVars};
  }
  TORCH_CHECK(false, "neurosim: unknown recurrent cell code ", cell);
}

void check_same(const at::Tensor& t, const at::Tensor& x, at::IntArrayRef shape, const char* name) {
  TORCH_CHECK(t.sizes() == shape && t.scalar_type() == x.scalar_type() && t.device() == x.device(),
              "neurosim: ", name, " must be ", shape, " of x's dtype and device, got ", t.sizes(), " ",
              t.scalar_type());
}

// Shared checks of both directions; returns the cell's shape.
CellShape check_common(const at::Tensor& x, const at::Tensor& state0, const at::Tensor& params,
                       const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& v,
                       int64_t cell, int64_t reset) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "neurosim: x must be a contiguous [T, B, n] tensor");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "neurosim: recurrent layers run in float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(reset >= 0 && reset <= 2, "neurosim: unknown reset code ", reset);
  const CellShape shape = cell_shape(cell);
  const int64_t B = x.size(1), n = x.size(2);
  check_same(state0, x, {shape.vars + 1, B, n}, "state0");
  TORCH_CHECK(state0.is_contiguous(), "neurosim: state0 must be contiguous");
  check_same(params, x, {shape.params, n}, "params");
  TORCH_CHECK(params.is_contiguous(), "neurosim: params must be contiguous");
  const bool dense = weight.has_value() && weight->defined();
  const bool one_to_one = v.has_value() && v->defined();
  TORCH_CHECK(dense != one_to_one, "neurosim: pass exactly one of weight (all-to-all) and v (one-to-one)");
  if (dense) check_same(*weight, x, {n, n}, "weight");
  if (one_to_one) {
    check_same(*v, x, {n}, "v");
    TORCH_CHECK(v->is_contiguous(), "neurosim: v must be contiguous");
  }
  return shape;
}

struct Device {
  bool cuda;
  void forward(const RecurrentForwardLaunch& l) const {
#ifdef NEUROSIM_WITH_CUDA
    if (cuda) {
      check_cuda(recurrent_forward_cuda(l, at::cuda::getCurrentCUDAStream().stream()), "recurrent_forward");
      return;
    }
#endif
    recurrent_forward_cpu(l);
  }
  void backward(const RecurrentBackwardLaunch& l) const {
#ifdef NEUROSIM_WITH_CUDA
    if (cuda) {
      check_cuda(recurrent_backward_cuda(l, at::cuda::getCurrentCUDAStream().stream()), "recurrent_backward");
      return;
    }
#endif
    recurrent_backward_cpu(l);
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> recurrent_forward(
    const at::Tensor& x, const at::Tensor& state0, const at::Tensor& params,
    const c10::optional<at::Tensor>& weight, const c10::optional<at::Tensor>& bias,
    const c10::optional<at::Tensor>& v, int64_t cell, int64_t reset, int64_t, double, bool, bool keep_trace) {
  const CellShape shape = check_common(x, state0, params, weight, v, cell, reset);
  const int64_t T = x.size(0), B = x.size(1), n = x.size(2);
  const bool dense = weight.has_value() && weight->defined();
  const bool with_bias = dense && bias.has_value() && bias->defined();
  if (with_bias) check_same(*bias, x, {n}, "bias");
#ifdef NEUROSIM_WITH_CUDA
  c10::optional<c10::cuda::CUDAGuard> guard;
  if (x.is_cuda()) guard.emplace(x.device());
#endif
  const Device device{x.is_cuda()};
  auto state = state0.clone(at::MemoryFormat::Contiguous);
  auto spikes = at::empty_like(x);
  auto trace = at::empty({shape.vars, keep_trace ? T : 0, B, n}, x.options());
  binding::prefault(spikes);
  binding::prefault(trace);
  RecurrentForwardLaunch launch{x.data_ptr(), nullptr, params.data_ptr(), nullptr, state.data_ptr(),
                                spikes.data_ptr(), keep_trace ? trace.data_ptr() : nullptr,
                                T, 0, T, B, n, static_cast<int>(cell), static_cast<int>(reset),
                                storage_code(x)};
  if (!dense) {
    launch.v = v->data_ptr();
    device.forward(launch);
    return {spikes, state, trace};
  }
  // s_{t-1} lives in state[0]; nn.Linear's addmm(bias, s, W^T) computes the recurrent input.
  const at::Tensor s_prev = state.select(0, 0);
  const at::Tensor weight_t = weight->t();
  auto rec = at::empty({B, n}, x.options());
  launch.rec = rec.data_ptr();
  for (int64_t t = 0; t < T; ++t) {
    if (with_bias) at::addmm_out(rec, *bias, s_prev, weight_t);
    else at::mm_out(rec, s_prev, weight_t);
    launch.t_begin = t;
    launch.t_end = t + 1;
    device.forward(launch);
  }
  return {spikes, state, trace};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> recurrent_backward(
    const at::Tensor& grad_spikes, const c10::optional<at::Tensor>& grad_state,
    const c10::optional<at::Tensor>& grad_trace, const at::Tensor& spikes, const at::Tensor& trace,
    const at::Tensor& state0, const at::Tensor& params, const c10::optional<at::Tensor>& weight,
    const c10::optional<at::Tensor>& v, int64_t cell, int64_t reset, int64_t surrogate,
    double surrogate_param, bool detach_reset, bool weight_grad) {
  const CellShape shape = check_common(spikes, state0, params, weight, v, cell, reset);
  const int64_t T = spikes.size(0), B = spikes.size(1), n = spikes.size(2);
  TORCH_CHECK(surrogate >= 0 && surrogate <= 5, "neurosim: unknown surrogate code ", surrogate);
  TORCH_CHECK(detach_reset || reset != static_cast<int64_t>(RecurrentReset::Zero),
              "neurosim: the zero reset of recurrent layers supports only a detached reset");
  check_same(grad_spikes, spikes, spikes.sizes(), "grad_spikes");
  check_same(trace, spikes, {shape.vars, T, B, n}, "trace (kept by the forward pass)");
  TORCH_CHECK(trace.is_contiguous(), "neurosim: trace must be contiguous");
  const bool dense = weight.has_value() && weight->defined();
  if (spikes.numel() == 0) {
    // an empty batch (B = 0) or layer: every gradient is a sum over nothing (the launch would
    // index rows that do not exist)
    return {at::zeros_like(spikes), at::zeros_like(state0), at::zeros({shape.params, n}, spikes.options()),
            at::zeros({dense ? 0 : n}, spikes.options()),
            dense && weight_grad ? at::zeros({n, n}, spikes.options()) : spikes.new_empty({0})};
  }
#ifdef NEUROSIM_WITH_CUDA
  c10::optional<c10::cuda::CUDAGuard> guard;
  if (spikes.is_cuda()) guard.emplace(spikes.device());
#endif
  const Device device{spikes.is_cuda()};
  int64_t gs_t_stride = 0, gs_e_stride = 0;
  const at::Tensor gs = column_view(grad_spikes, gs_t_stride, gs_e_stride);
  at::Tensor gtr;
  if (grad_trace.has_value() && grad_trace->defined()) {
    check_same(*grad_trace, spikes, trace.sizes(), "grad_trace");
    gtr = grad_trace->contiguous();
  }
  at::Tensor grec, carry;
  if (grad_state.has_value() && grad_state->defined()) {
    check_same(*grad_state, spikes, state0.sizes(), "grad_state");
    grec = grad_state->select(0, 0).clone(at::MemoryFormat::Contiguous);
    carry = grad_state->narrow(0, 1, shape.vars).clone(at::MemoryFormat::Contiguous);
  } else {
    grec = at::zeros({B, n}, spikes.options());
    carry = at::zeros({shape.vars, B, n}, spikes.options());
  }
  auto grad_x = at::empty_like(spikes);
  binding::prefault(grad_x);
  auto grad_params = at::zeros({shape.params, B, n}, spikes.options());
  auto grad_v = at::zeros({dense ? 0 : B, n}, spikes.options());
  auto grad_drive = at::empty({dense && spikes.is_cuda() ? B : 0, n}, spikes.options());
  RecurrentBackwardLaunch launch{gs.data_ptr(), gs_t_stride, gs_e_stride,
                                 gtr.defined() ? gtr.data_ptr() : nullptr, trace.data_ptr(),
                                 state0.data_ptr(), spikes.data_ptr(), params.data_ptr(),
                                 dense ? nullptr : v->data_ptr(), grec.data_ptr(), carry.data_ptr(),
                                 grad_x.data_ptr(), dense ? grad_drive.data_ptr() : nullptr,
                                 grad_params.data_ptr(), dense ? nullptr : grad_v.data_ptr(),
                                 T, 0, T, B, n, static_cast<int>(cell), static_cast<int>(reset),
                                 static_cast<int>(surrogate), surrogate_param, detach_reset,
                                 storage_code(spikes)};
  at::Tensor weight_c;
  if (dense && !spikes.is_cuda()) {
    // the CPU twin runs all steps with its own per-step product (recurrent.cpp, backward_typed)
    weight_c = weight->contiguous();
    launch.weight = weight_c.data_ptr();
    launch.grad_drive = nullptr;
    device.backward(launch);
  } else if (dense) {
    for (int64_t t = T - 1; t >= 0; --t) {
      launch.t_begin = t;
      launch.t_end = t + 1;
      device.backward(launch);
      at::mm_out(grec, grad_drive, *weight);  // dL/ds_{t-1} through rec_t = s_{t-1} W^T + b
    }
  } else {
    device.backward(launch);
  }
  auto grad_state0 = at::cat({grec.unsqueeze(0), carry}, 0);
  // dW = sum_t g_t^T s_{t-1}: on the CPU a sparse accumulation over the spikes; on CUDA one GEMM
  at::Tensor grad_weight = spikes.new_empty({0});
  if (dense && weight_grad) {
    const at::Tensor s0 = state0.select(0, 0);
    if (spikes.is_cuda()) {
      grad_weight = at::mm(grad_x.narrow(0, 1, T - 1).reshape({-1, n}).t(), spikes.narrow(0, 0, T - 1).reshape({-1, n}));
      grad_weight.addmm_(grad_x.select(0, 0).t(), s0);
    } else {
      auto grad_wt = at::zeros({n, n}, spikes.options());
      const at::Tensor s0c = s0.contiguous();
      recurrent_weight_grad_cpu(RecurrentWeightGradLaunch{grad_x.data_ptr(), spikes.data_ptr(), s0c.data_ptr(),
                                                          grad_wt.data_ptr(), T, B, n, storage_code(spikes)});
      grad_weight = grad_wt.t().contiguous();
    }
  }
  return {grad_x, grad_state0, grad_params.sum(1), dense ? grad_v.new_empty({0}) : grad_v.sum(0), grad_weight};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("recurrent_forward(Tensor x, Tensor state0, Tensor params, Tensor? weight, Tensor? bias, Tensor? v, "
        "int cell, int reset, int surrogate, float surrogate_param, bool detach_reset, bool keep_trace) "
        "-> (Tensor spikes, Tensor state, Tensor trace)");
  m.def("recurrent_backward(Tensor grad_spikes, Tensor? grad_state, Tensor? grad_trace, Tensor spikes, "
        "Tensor trace, Tensor state0, Tensor params, Tensor? weight, Tensor? v, int cell, int reset, "
        "int surrogate, float surrogate_param, bool detach_reset, bool weight_grad) "
        "-> (Tensor grad_x, Tensor grad_state0, Tensor grad_params, Tensor grad_v, Tensor grad_weight)");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("recurrent_forward", &recurrent_forward);
  m.impl("recurrent_backward", &recurrent_backward);
}

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) {
  m.impl("recurrent_forward", &recurrent_forward);
  m.impl("recurrent_backward", &recurrent_backward);
}
#endif

}  // namespace neurosim
