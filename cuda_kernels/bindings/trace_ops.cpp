// torch-facing side of the exponential-trace op: schema (a fragment of the `neurosim` library
// owned by lif_ops.cpp), output allocation, and the CPU/CUDA implementations that hand raw
// pointers to the launchers. User-facing argument checks live in Python; the checks here only
// guard the native code's memory.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "binding_utils.h"
#include "neurosim/traces.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

using binding::acc_type;
using binding::storage_code;

void check_trace_args(const at::Tensor& x, const at::Tensor& z0, const at::Tensor& decay) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "neurosim: x must be a contiguous [T, B, F] tensor");
  const auto acc = acc_type(x.scalar_type());
  storage_code(x);
  TORCH_CHECK(z0.sizes() == x.sizes().slice(1) && z0.is_contiguous() && z0.scalar_type() == acc &&
                  z0.device() == x.device(),
              "neurosim: z0 must be a contiguous [B, F] tensor of the accumulation dtype");
  TORCH_CHECK(decay.dim() == 1 && (decay.size(0) == 1 || decay.size(0) == x.size(2)) &&
                  decay.is_contiguous() && decay.scalar_type() == acc && decay.device() == x.device(),
              "neurosim: decay must be a contiguous [1] or [F] tensor of the accumulation dtype");
}

std::tuple<at::Tensor, at::Tensor, TraceLaunch> prepare_trace(const at::Tensor& x, const at::Tensor& z0,
                                                              const at::Tensor& decay, bool reverse) {
  check_trace_args(x, z0, decay);
  auto trace = at::empty_like(x);
  auto z_final = at::empty_like(z0);
  TraceLaunch launch{x.data_ptr(), z0.data_ptr(), decay.data_ptr(), trace.data_ptr(),
                     z_final.data_ptr(), x.size(0), x.size(1) * x.size(2), x.size(2),
                     decay.size(0) > 1, reverse, storage_code(x)};
  return {trace, z_final, launch};
}

std::tuple<at::Tensor, at::Tensor> trace_cpu_impl(const at::Tensor& x, const at::Tensor& z0,
                                                  const at::Tensor& decay, bool reverse) {
  auto [trace, z_final, launch] = prepare_trace(x, z0, decay, reverse);
  trace_cpu(launch);
  return {trace, z_final};
}

#ifdef NEUROSIM_WITH_CUDA
std::tuple<at::Tensor, at::Tensor> trace_cuda_impl(const at::Tensor& x, const at::Tensor& z0,
                                                   const at::Tensor& decay, bool reverse) {
  const c10::cuda::CUDAGuard guard(x.device());
  auto [trace, z_final, launch] = prepare_trace(x, z0, decay, reverse);
  const int err = trace_cuda(launch, at::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == 0, "neurosim: CUDA launch of exp_trace failed with error code ", err);
  return {trace, z_final};
}
#endif

std::tuple<at::Tensor, StdpRowsLaunch> prepare_stdp_rows(const at::Tensor& post, double decay_plus,
                                                         double decay_minus, double ratio) {
  TORCH_CHECK(post.dim() == 3 && post.is_contiguous(), "neurosim: post must be a contiguous [T, B, F] tensor");
  auto rows = at::empty_like(post);
  StdpRowsLaunch launch{post.data_ptr(), rows.data_ptr(), post.size(0), post.size(1) * post.size(2),
                        decay_plus, decay_minus, ratio, storage_code(post)};
  return {rows, launch};
}

at::Tensor stdp_rows_cpu_impl(const at::Tensor& post, double decay_plus, double decay_minus, double ratio) {
  auto [rows, launch] = prepare_stdp_rows(post, decay_plus, decay_minus, ratio);
  stdp_rows_cpu(launch);
  return rows;
}

#ifdef NEUROSIM_WITH_CUDA
at::Tensor stdp_rows_cuda_impl(const at::Tensor& post, double decay_plus, double decay_minus, double ratio) {
  const c10::cuda::CUDAGuard guard(post.device());
  auto [rows, launch] = prepare_stdp_rows(post, decay_plus, decay_minus, ratio);
  const int err = stdp_rows_cuda(launch, at::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == 0, "neurosim: CUDA launch of stdp_rows failed with error code ", err);
  return rows;
}
#endif

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("exp_trace(Tensor x, Tensor z0, Tensor decay, bool reverse) -> (Tensor trace, Tensor z_final)");
  m.def("stdp_rows(Tensor post, float decay_plus, float decay_minus, float ratio) -> Tensor");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("exp_trace", &trace_cpu_impl);
  m.impl("stdp_rows", &stdp_rows_cpu_impl);
}

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) {
  m.impl("exp_trace", &trace_cuda_impl);
  m.impl("stdp_rows", &stdp_rows_cuda_impl);
}
#endif

}  // namespace neurosim
