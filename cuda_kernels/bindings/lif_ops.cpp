// torch-facing side of the LIF op: schema registration, output allocation, and the CPU/CUDA
// implementations that hand raw pointers to the launchers. Argument checking for users happens in
// Python (neurosim/core/validation.py); the checks here only guard the native code's memory.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "binding_utils.h"
#include "neurosim/launch.h"
#include "neurosim/lif.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

using binding::acc_type;
using binding::check_cuda;
using binding::check_param;
using binding::column_view;
using binding::reduce_param_grad;
using binding::storage_code;

void check_x_and_params(const at::Tensor& x, const at::Tensor& beta, const at::Tensor& thr,
                        int64_t reset) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "neurosim: x must be a contiguous [T, B, F] tensor");
  storage_code(x);
  check_param(beta, x, "beta");
  check_param(thr, x, "threshold");
  TORCH_CHECK(reset >= 0 && reset <= 2, "neurosim: unknown reset code ", reset);
}

void check_forward(const at::Tensor& x, const at::Tensor& u0, const at::Tensor& beta,
                   const at::Tensor& thr, int64_t reset) {
  check_x_and_params(x, beta, thr, reset);
  binding::check_state(u0, x, "state");
}

LifForwardLaunch forward_launch(const at::Tensor& x, const at::Tensor& u0, const at::Tensor& beta,
                                const at::Tensor& thr, int64_t reset, at::Tensor& spikes,
                                at::Tensor& u_final, at::Tensor& checkpoints, at::Tensor& membrane,
                                bool record_membrane) {
  return LifForwardLaunch{x.data_ptr(), u0.data_ptr(), beta.data_ptr(), thr.data_ptr(),
                          spikes.data_ptr(), u_final.data_ptr(), checkpoints.data_ptr(),
                          record_membrane ? membrane.data_ptr() : nullptr,
                          x.size(0), x.size(1) * x.size(2), x.size(2),
                          beta.size(0) > 1, thr.size(0) > 1, static_cast<int>(reset), storage_code(x)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> allocate_forward(
    const at::Tensor& x, bool record_membrane) {
  const auto acc = x.options().dtype(acc_type(x.scalar_type()));
  auto spikes = at::empty_like(x);
  auto u_final = at::empty({x.size(1), x.size(2)}, acc);
  auto checkpoints = at::empty({num_checkpoints(x.size(0)), x.size(1), x.size(2)}, acc);
  auto membrane = record_membrane ? at::empty_like(x) : at::empty({0}, x.options());
  return {spikes, u_final, checkpoints, membrane};
}

struct BackwardBuffers {
  at::Tensor gs, gu, gm, grad_x, grad_u0, gbeta_cols, gthr_cols;
  int64_t gs_t_stride, gs_c_stride;
};

BackwardBuffers prepare_backward(const at::Tensor& grad_spikes,
                                 const c10::optional<at::Tensor>& grad_u_final,
                                 const c10::optional<at::Tensor>& grad_membrane, const at::Tensor& x,
                                 const at::Tensor& checkpoints, const at::Tensor& beta,
                                 const at::Tensor& thr, int64_t reset, int64_t surrogate) {
  check_x_and_params(x, beta, thr, reset);
  TORCH_CHECK(surrogate >= 0 && surrogate <= 5, "neurosim: unknown surrogate code ", surrogate);
  TORCH_CHECK(grad_spikes.sizes() == x.sizes() && grad_spikes.scalar_type() == x.scalar_type() &&
                  grad_spikes.device() == x.device(), "neurosim: grad_spikes must match x");
  binding::check_checkpoints(checkpoints, x, num_checkpoints(x.size(0)));
  BackwardBuffers b;
  b.gs = column_view(grad_spikes, b.gs_t_stride, b.gs_c_stride);
  b.gu = binding::optional_grad(grad_u_final, x, x.sizes().slice(1), acc_type(x.scalar_type()), "the final state");
  b.gm = binding::optional_grad(grad_membrane, x, x.sizes(), x.scalar_type(), "the membrane trace");
  const auto acc = x.options().dtype(acc_type(x.scalar_type()));
  b.grad_x = at::empty_like(x);
  b.grad_u0 = at::empty({x.size(1), x.size(2)}, acc);
  b.gbeta_cols = at::empty({x.size(1), x.size(2)}, acc);
  b.gthr_cols = at::empty({x.size(1), x.size(2)}, acc);
  return b;
}

LifBackwardLaunch backward_launch(const BackwardBuffers& b, const at::Tensor& x,
                                  const at::Tensor& checkpoints, const at::Tensor& beta,
                                  const at::Tensor& thr, int64_t reset, int64_t surrogate,
                                  double surrogate_param, bool detach_reset) {
  return LifBackwardLaunch{b.gs.data_ptr(), b.gs_t_stride, b.gs_c_stride,
                           b.gu.defined() ? b.gu.data_ptr() : nullptr,
                           b.gm.defined() ? b.gm.data_ptr() : nullptr,
                           x.data_ptr(), checkpoints.data_ptr(), beta.data_ptr(), thr.data_ptr(),
                           b.grad_x.data_ptr(), b.grad_u0.data_ptr(), b.gbeta_cols.data_ptr(),
                           b.gthr_cols.data_ptr(), x.size(0), x.size(1) * x.size(2), x.size(2),
                           beta.size(0) > 1, thr.size(0) > 1, static_cast<int>(reset),
                           static_cast<int>(surrogate), surrogate_param, detach_reset, storage_code(x)};
}

using ForwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using BackwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

ForwardResult lif_forward_cpu_impl(const at::Tensor& x, const at::Tensor& u0, const at::Tensor& beta,
                                   const at::Tensor& thr, int64_t reset, int64_t, double, bool,
                                   bool record_membrane) {
  check_forward(x, u0, beta, thr, reset);
  auto [spikes, u_final, checkpoints, membrane] = allocate_forward(x, record_membrane);
  lif_forward_cpu(forward_launch(x, u0, beta, thr, reset, spikes, u_final, checkpoints, membrane,
                                 record_membrane));
  return {spikes, u_final, checkpoints, membrane};
}

BackwardResult lif_backward_cpu_impl(const at::Tensor& grad_spikes,
                                     const c10::optional<at::Tensor>& grad_u_final,
                                     const c10::optional<at::Tensor>& grad_membrane,
                                     const at::Tensor& x, const at::Tensor& checkpoints,
                                     const at::Tensor& beta, const at::Tensor& thr, int64_t reset,
                                     int64_t surrogate, double surrogate_param, bool detach_reset) {
  auto b = prepare_backward(grad_spikes, grad_u_final, grad_membrane, x, checkpoints, beta, thr,
                            reset, surrogate);
  lif_backward_cpu(backward_launch(b, x, checkpoints, beta, thr, reset, surrogate, surrogate_param,
                                   detach_reset));
  return {b.grad_x, b.grad_u0, reduce_param_grad(b.gbeta_cols, beta),
          reduce_param_grad(b.gthr_cols, thr)};
}

#ifdef NEUROSIM_WITH_CUDA
ForwardResult lif_forward_cuda_impl(const at::Tensor& x, const at::Tensor& u0, const at::Tensor& beta,
                                    const at::Tensor& thr, int64_t reset, int64_t, double, bool,
                                    bool record_membrane) {
  check_forward(x, u0, beta, thr, reset);
  const c10::cuda::CUDAGuard guard(x.device());
  auto [spikes, u_final, checkpoints, membrane] = allocate_forward(x, record_membrane);
  check_cuda(lif_forward_cuda(forward_launch(x, u0, beta, thr, reset, spikes, u_final, checkpoints,
                                             membrane, record_membrane),
                              at::cuda::getCurrentCUDAStream().stream()),
             "lif_forward");
  return {spikes, u_final, checkpoints, membrane};
}

BackwardResult lif_backward_cuda_impl(const at::Tensor& grad_spikes,
                                      const c10::optional<at::Tensor>& grad_u_final,
                                      const c10::optional<at::Tensor>& grad_membrane,
                                      const at::Tensor& x, const at::Tensor& checkpoints,
                                      const at::Tensor& beta, const at::Tensor& thr, int64_t reset,
                                      int64_t surrogate, double surrogate_param, bool detach_reset) {
  const c10::cuda::CUDAGuard guard(x.device());
  auto b = prepare_backward(grad_spikes, grad_u_final, grad_membrane, x, checkpoints, beta, thr,
                            reset, surrogate);
  check_cuda(lif_backward_cuda(backward_launch(b, x, checkpoints, beta, thr, reset, surrogate,
                                               surrogate_param, detach_reset),
                               at::cuda::getCurrentCUDAStream().stream()),
             "lif_backward");
  return {b.grad_x, b.grad_u0, reduce_param_grad(b.gbeta_cols, beta),
          reduce_param_grad(b.gthr_cols, thr)};
}
#endif

}  // namespace

TORCH_LIBRARY(neurosim, m) {
  m.def("lif_forward(Tensor x, Tensor u0, Tensor beta, Tensor threshold, int reset, int surrogate, "
        "float surrogate_param, bool detach_reset, bool record_membrane) "
        "-> (Tensor spikes, Tensor u_final, Tensor checkpoints, Tensor membrane)");
  m.def("lif_backward(Tensor grad_spikes, Tensor? grad_u_final, Tensor? grad_membrane, Tensor x, "
        "Tensor checkpoints, Tensor beta, Tensor threshold, int reset, int surrogate, "
        "float surrogate_param, bool detach_reset) "
        "-> (Tensor grad_x, Tensor grad_u0, Tensor grad_beta, Tensor grad_threshold)");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("lif_forward", &lif_forward_cpu_impl);
  m.impl("lif_backward", &lif_backward_cpu_impl);
}

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) {
  m.impl("lif_forward", &lif_forward_cuda_impl);
  m.impl("lif_backward", &lif_backward_cuda_impl);
}
#endif

}  // namespace neurosim
