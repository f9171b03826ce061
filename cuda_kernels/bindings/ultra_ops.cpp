// torch-facing side of the UltraDLIF (ring) op (UltraLIF runs on the generic scan, scan_ops.cpp): schemas, output
// allocation, and the CPU/CUDA implementations that hand raw pointers to the launchers. User
// argument checking happens in Python (neurosim/functional/ultralif.py); the checks here only
// guard the native code's memory.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "binding_utils.h"
#include "neurosim/ultra_launch.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

using binding::acc_type;
using binding::check_param;
using binding::check_state;
using binding::reduce_param_grad;
using binding::storage_code;

using Forward3 = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using Backward5 = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

void check_inputs(const at::Tensor& x, const at::Tensor& a, const at::Tensor& eps,
                  const at::Tensor& theta, const char* a_name) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "neurosim: x must be a contiguous [T, B, F] tensor");
  storage_code(x);
  check_param(a, x, a_name);
  check_param(eps, x, "eps");
  check_param(theta, x, "theta");
}

// ---- UltraDLIF --------------------------------------------------------------------------------

void check_ring(const at::Tensor& x, const at::Tensor& tau, const at::Tensor& eps, const at::Tensor& theta,
                int64_t form) {
  check_inputs(x, tau, eps, theta, "tau");
  TORCH_CHECK(x.size(2) >= 3, "neurosim: the ring needs at least 3 features, got ", x.size(2));
  TORCH_CHECK(form == 0 || form == 1, "neurosim: unknown ring form code ", form);
}

UltraDlifForwardLaunch ultradlif_launch(const at::Tensor& x, const at::Tensor& tau, const at::Tensor& eps,
                                        const at::Tensor& theta, int64_t form, at::Tensor& spikes,
                                        at::Tensor& state, at::Tensor& membrane) {
  return UltraDlifForwardLaunch{x.data_ptr(), tau.data_ptr(), eps.data_ptr(), theta.data_ptr(),
                                spikes.data_ptr(), state.data_ptr(), membrane.data_ptr(), x.size(0),
                                x.size(1), x.size(2), tau.size(0) > 1, eps.size(0) > 1, theta.size(0) > 1,
                                static_cast<int>(form), storage_code(x)};
}

Forward3 ultradlif_allocate(const at::Tensor& x, const at::Tensor& v0) {
  const auto acc = x.options().dtype(acc_type(x.scalar_type()));
  return {at::empty_like(x), v0.clone(), at::empty(x.sizes(), acc)};
}

struct UltraDlifBackwardBuffers {
  at::Tensor gs, gm, grad_x, carry, step_grad, step_peak, step_inv_sum, gtau, geps, gtheta;
};

UltraDlifBackwardBuffers ultradlif_prepare_backward(const at::Tensor& grad_spikes,
                                                    const c10::optional<at::Tensor>& grad_v_final,
                                                    const c10::optional<at::Tensor>& grad_membrane,
                                                    const at::Tensor& x, const at::Tensor& v0,
                                                    const at::Tensor& membrane, const at::Tensor& tau,
                                                    const at::Tensor& eps, const at::Tensor& theta,
                                                    int64_t form) {
  check_ring(x, tau, eps, theta, form);
  check_state(v0, x, "state");
  TORCH_CHECK(grad_spikes.sizes() == x.sizes() && grad_spikes.device() == x.device(),
              "neurosim: grad_spikes must match x");
  TORCH_CHECK(membrane.sizes() == x.sizes() && membrane.is_contiguous() &&
                  membrane.scalar_type() == acc_type(x.scalar_type()) && membrane.device() == x.device(),
              "neurosim: membrane does not belong to x");
  UltraDlifBackwardBuffers b;
  b.gs = grad_spikes.to(x.scalar_type()).contiguous();
  b.gm = binding::optional_grad(grad_membrane, x, x.sizes(), acc_type(x.scalar_type()), "the membrane trace");
  const auto acc = x.options().dtype(acc_type(x.scalar_type()));
  const auto state_shape = x.sizes().slice(1);
  at::Tensor gv = binding::optional_grad(grad_v_final, x, state_shape, acc_type(x.scalar_type()), "the final state");
  b.carry = gv.defined() ? gv.clone() : at::zeros(state_shape, acc);
  b.grad_x = at::empty_like(x);
  b.step_grad = at::empty(state_shape, acc);
  b.step_peak = at::empty(state_shape, acc);
  b.step_inv_sum = at::empty(state_shape, acc);
  b.gtau = at::zeros(state_shape, acc);
  b.geps = at::zeros(state_shape, acc);
  b.gtheta = at::zeros(state_shape, acc);
  return b;
}

UltraDlifBackwardLaunch ultradlif_backward_launch(const UltraDlifBackwardBuffers& b, const at::Tensor& x,
                                                  const at::Tensor& v0, const at::Tensor& membrane,
                                                  const at::Tensor& tau, const at::Tensor& eps,
                                                  const at::Tensor& theta, int64_t form) {
  return UltraDlifBackwardLaunch{
      b.gs.data_ptr(), b.gm.defined() ? b.gm.data_ptr() : nullptr, x.data_ptr(), v0.data_ptr(),
      membrane.data_ptr(), tau.data_ptr(), eps.data_ptr(), theta.data_ptr(), b.grad_x.data_ptr(),
      b.carry.data_ptr(), b.step_grad.data_ptr(), b.step_peak.data_ptr(), b.step_inv_sum.data_ptr(), b.gtau.data_ptr(),
      b.geps.data_ptr(), b.gtheta.data_ptr(), x.size(0), x.size(1), x.size(2), tau.size(0) > 1,
      eps.size(0) > 1, theta.size(0) > 1, static_cast<int>(form), storage_code(x)};
}

Backward5 ultradlif_backward_result(const UltraDlifBackwardBuffers& b, const at::Tensor& tau,
                                    const at::Tensor& eps, const at::Tensor& theta) {
  return {b.grad_x, b.carry, reduce_param_grad(b.gtau, tau), reduce_param_grad(b.geps, eps),
          reduce_param_grad(b.gtheta, theta)};
}

Forward3 ultradlif_forward_cpu_impl(const at::Tensor& x, const at::Tensor& v0, const at::Tensor& tau,
                                    const at::Tensor& eps, const at::Tensor& theta, int64_t form) {
  check_ring(x, tau, eps, theta, form);
  check_state(v0, x, "state");
  auto [spikes, state, membrane] = ultradlif_allocate(x, v0);
  ultradlif_forward_cpu(ultradlif_launch(x, tau, eps, theta, form, spikes, state, membrane));
  return {spikes, state, membrane};
}

Backward5 ultradlif_backward_cpu_impl(const at::Tensor& grad_spikes, const c10::optional<at::Tensor>& grad_v_final,
                                      const c10::optional<at::Tensor>& grad_membrane, const at::Tensor& x,
                                      const at::Tensor& v0, const at::Tensor& membrane, const at::Tensor& tau,
                                      const at::Tensor& eps, const at::Tensor& theta, int64_t form) {
  auto b = ultradlif_prepare_backward(grad_spikes, grad_v_final, grad_membrane, x, v0, membrane, tau, eps,
                                      theta, form);
  ultradlif_backward_cpu(ultradlif_backward_launch(b, x, v0, membrane, tau, eps, theta, form));
  return ultradlif_backward_result(b, tau, eps, theta);
}

#ifdef NEUROSIM_WITH_CUDA
void* current_stream() { return at::cuda::getCurrentCUDAStream().stream(); }

Forward3 ultradlif_forward_cuda_impl(const at::Tensor& x, const at::Tensor& v0, const at::Tensor& tau,
                                     const at::Tensor& eps, const at::Tensor& theta, int64_t form) {
  check_ring(x, tau, eps, theta, form);
  check_state(v0, x, "state");
  const c10::cuda::CUDAGuard guard(x.device());
  auto [spikes, state, membrane] = ultradlif_allocate(x, v0);
  binding::check_cuda(ultradlif_forward_cuda(ultradlif_launch(x, tau, eps, theta, form, spikes, state, membrane),
                                             current_stream()),
                      "ultradlif_forward");
  return {spikes, state, membrane};
}

Backward5 ultradlif_backward_cuda_impl(const at::Tensor& grad_spikes, const c10::optional<at::Tensor>& grad_v_final,
                                       const c10::optional<at::Tensor>& grad_membrane, const at::Tensor& x,
                                       const at::Tensor& v0, const at::Tensor& membrane, const at::Tensor& tau,
                                       const at::Tensor& eps, const at::Tensor& theta, int64_t form) {
  const c10::cuda::CUDAGuard guard(x.device());
  auto b = ultradlif_prepare_backward(grad_spikes, grad_v_final, grad_membrane, x, v0, membrane, tau, eps,
                                      theta, form);
  binding::check_cuda(ultradlif_backward_cuda(ultradlif_backward_launch(b, x, v0, membrane, tau, eps, theta, form),
                                              current_stream()),
                      "ultradlif_backward");
  return ultradlif_backward_result(b, tau, eps, theta);
}
#endif

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("ultradlif_forward(Tensor x, Tensor v0, Tensor tau, Tensor eps, Tensor theta, int form) "
        "-> (Tensor spikes, Tensor v_final, Tensor membrane)");
  m.def("ultradlif_backward(Tensor grad_spikes, Tensor? grad_v_final, Tensor? grad_membrane, Tensor x, "
        "Tensor v0, Tensor membrane, Tensor tau, Tensor eps, Tensor theta, int form) "
        "-> (Tensor grad_x, Tensor grad_v0, Tensor grad_tau, Tensor grad_eps, Tensor grad_theta)");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("ultradlif_forward", &ultradlif_forward_cpu_impl);
  m.impl("ultradlif_backward", &ultradlif_backward_cpu_impl);
}

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) {
  m.impl("ultradlif_forward", &ultradlif_forward_cuda_impl);
  m.impl("ultradlif_backward", &ultradlif_backward_cuda_impl);
}
#endif

}  // namespace neurosim
