// torch-facing side of the generic scan (scan.h): one pair of ops for every per-neuron model,
//
//   scan_forward(x [T,B,F], state0 [S,B,F], params[P] ([1] or [F] each), model, options..., record, times?)
//       -> (out [T,B,F], state [S,B,F], checkpoints [C,S,B,F], trace [R,T,B,F] or [0])
//   scan_backward(grad_out, grad_state?, grad_trace?, x, checkpoints, params, needs_grad[2+P], ..., times?)
//       -> (grad_x, grad_state0, grad_params[P]); a gradient not asked for is an empty [0] tensor
//
// `times` ([T] or [T, B], accumulation dtype) is given for the timed models (phased.h) only.
//
// scan_forward's autograd formula is here too (ScanFunction, registered for the Autograd key):
// in C++ rather than through torch.library's Python registration, whose wrapping cost about
// 0.15 ms per training step of a layer (measured), as much as the kernels of a small layer.
//
// User-facing argument checks happen in Python (neurosim/core/temporal.py); the checks here only
// guard the native code's memory.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "binding_utils.h"
#include "neurosim/scan_launch.h"
#include "neurosim/scan_models.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

using binding::acc_type;
using binding::storage_code;

ScanModelSizes checked_sizes(int64_t model) {
  ScanModelSizes sizes{};
  TORCH_CHECK(scan_model_sizes(model, sizes), "neurosim: unknown scan model code ", model);
  return sizes;
}

ScanOptions make_options(int64_t model, int64_t reset, int64_t surrogate, double surrogate_param, bool detach_reset) {
  TORCH_CHECK(reset >= 0 && reset <= 2, "neurosim: unknown reset code ", reset);
  TORCH_CHECK(surrogate >= 0 && surrogate <= 5, "neurosim: unknown surrogate code ", surrogate);
  ScanOptions o{};
  o.model = static_cast<int>(model);
  o.reset = static_cast<int>(reset);
  o.surrogate = static_cast<int>(surrogate);
  o.surrogate_param = surrogate_param;
  o.detach_reset = detach_reset;
  return o;
}

void check_x_and_params(const at::Tensor& x, at::TensorList params, const ScanModelSizes& sizes) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous(), "neurosim: x must be a contiguous [T, B, F] tensor");
  storage_code(x);
  TORCH_CHECK(static_cast<int>(params.size()) == sizes.params, "neurosim: the model takes ", sizes.params,
              " parameters, got ", params.size());
  for (const auto& p : params) binding::check_param(p, x, "a parameter");
}

// A [count, B, F] tensor of x [T, B, F] in the accumulation dtype.
void check_state(const at::Tensor& s, const at::Tensor& x, int64_t count, const char* name) {
  TORCH_CHECK(s.dim() == 3 && s.size(0) == count && s.sizes().slice(1) == x.sizes().slice(1) && s.is_contiguous() &&
                  s.scalar_type() == acc_type(x.scalar_type()) && s.device() == x.device(),
              "neurosim: ", name, " must be a contiguous [", count, ", B, F] tensor of the accumulation dtype");
}

// The timestamps of a timed model: [T] (one clock for the batch) or [T, B], contiguous, in the
// accumulation dtype; sets the strides of element (t, b). Absent for the other models.
const void* checked_times(const c10::optional<at::Tensor>& times, const at::Tensor& x, const ScanModelSizes& sizes,
                          int64_t& t_stride, int64_t& b_stride) {
  t_stride = b_stride = 0;
  const bool given = times.has_value() && times->defined();
  TORCH_CHECK(given == sizes.timed, "neurosim: this scan model ", sizes.timed ? "needs" : "takes no", " timestamps");
  if (!given) return nullptr;
  const at::Tensor& t = *times;
  const int64_t T = x.size(0), B = x.size(1);
  TORCH_CHECK(t.is_contiguous() && t.device() == x.device() && t.scalar_type() == acc_type(x.scalar_type()) &&
                  ((t.dim() == 1 && t.size(0) == T) || (t.dim() == 2 && t.size(0) == T && t.size(1) == B)),
              "neurosim: times must be a contiguous [T] or [T, B] tensor of the accumulation dtype");
  t_stride = t.dim() == 1 ? 1 : B;
  b_stride = t.dim() == 1 ? 0 : 1;
  return t.data_ptr();
}

// The CPU twin takes the CUDA kernel's code path when NEUROSIM_SCAN_GPU_PATH=1 (tests only).
bool cpu_takes_gpu_path() {
  const char* flag = std::getenv("NEUROSIM_SCAN_GPU_PATH");
  return flag != nullptr && std::strcmp(flag, "1") == 0;
}

using ForwardResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using BackwardResult = std::tuple<at::Tensor, at::Tensor, std::vector<at::Tensor>>;

ForwardResult scan_forward(const at::Tensor& x, const at::Tensor& state0, at::TensorList params, int64_t model,
                           int64_t reset, int64_t surrogate, double surrogate_param, bool detach_reset,
                           bool record, const c10::optional<at::Tensor>& times) {
  const ScanModelSizes sizes = checked_sizes(model);
  check_x_and_params(x, params, sizes);
  check_state(state0, x, sizes.state, "state0");
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2);
  const auto acc = x.options().dtype(acc_type(x.scalar_type()));
  const bool traced = record && sizes.recorded > 0;
  auto out = at::empty_like(x);
  auto state = at::empty({sizes.state, B, F}, acc);
  auto checkpoints = at::empty({num_checkpoints(T), sizes.state, B, F}, acc);
  auto trace = traced ? at::empty({sizes.recorded, T, B, F}, x.options()) : at::empty({0}, x.options());

  ScanForwardLaunch a{};
  a.options = make_options(model, reset, surrogate, surrogate_param, detach_reset);
  a.dtype = storage_code(x);
  a.x = x.data_ptr();
  a.state0 = state0.data_ptr();
  for (int j = 0; j < sizes.params; ++j) {
    a.params[j] = params[j].data_ptr();
    a.per_feature[j] = params[j].size(0) > 1;
  }
  a.out = out.data_ptr();
  a.state_final = state.data_ptr();
  a.checkpoints = checkpoints.data_ptr();
  a.trace = traced ? trace.data_ptr() : nullptr;
  a.times = checked_times(times, x, sizes, a.times_t_stride, a.times_b_stride);
  a.steps = T;
  a.columns = B * F;
  a.features = F;
  if (x.is_cuda()) {
#ifdef NEUROSIM_WITH_CUDA
    const c10::cuda::CUDAGuard guard(x.device());
    binding::check_cuda(scan_forward_cuda(a, at::cuda::getCurrentCUDAStream().stream()), "scan_forward");
#else
    TORCH_CHECK(false, "neurosim: built without CUDA kernels");
#endif
  } else {
    a.gpu_path = cpu_takes_gpu_path();
    scan_forward_cpu(a);
  }
  return {out, state, checkpoints, trace};
}

BackwardResult scan_backward(const at::Tensor& grad_out, const c10::optional<at::Tensor>& grad_state,
                             const c10::optional<at::Tensor>& grad_trace, const at::Tensor& x,
                             const at::Tensor& checkpoints, at::TensorList params, const c10::List<bool>& needs_grad,
                             int64_t model, int64_t reset, int64_t surrogate, double surrogate_param,
                             bool detach_reset, const c10::optional<at::Tensor>& times) {
  const ScanModelSizes sizes = checked_sizes(model);
  check_x_and_params(x, params, sizes);
  TORCH_CHECK(static_cast<int>(needs_grad.size()) == 2 + sizes.params, "neurosim: needs_grad must have ",
              2 + sizes.params, " entries (x, state, parameters)");
  TORCH_CHECK(grad_out.sizes() == x.sizes() && grad_out.scalar_type() == x.scalar_type() &&
                  grad_out.device() == x.device(), "neurosim: grad_out must match x");
  const int64_t T = x.size(0), B = x.size(1), F = x.size(2);
  TORCH_CHECK(checkpoints.dim() == 4 && checkpoints.size(0) == num_checkpoints(T) &&
                  checkpoints.size(1) == sizes.state && checkpoints.size(2) == B && checkpoints.size(3) == F &&
                  checkpoints.is_contiguous() && checkpoints.device() == x.device() &&
                  checkpoints.scalar_type() == acc_type(x.scalar_type()),
              "neurosim: checkpoints do not belong to x");
  const auto acc_dtype = acc_type(x.scalar_type());
  const auto acc = x.options().dtype(acc_dtype);
  int64_t go_t = 0, go_c = 0;
  const at::Tensor go = binding::column_view(grad_out, go_t, go_c);
  const std::vector<int64_t> state_shape{sizes.state, B, F}, trace_shape{sizes.recorded, T, B, F};
  const at::Tensor gs = binding::optional_grad(grad_state, x, state_shape, acc_dtype, "the final state");
  const at::Tensor gt = sizes.recorded > 0
                            ? binding::optional_grad(grad_trace, x, trace_shape, x.scalar_type(), "the trace")
                            : at::Tensor();
  at::Tensor grad_x = needs_grad.get(0) ? at::empty_like(x) : at::empty({0}, x.options());
  at::Tensor grad_state0 = needs_grad.get(1) ? at::empty(state_shape, acc) : at::empty({0}, acc);
  std::vector<at::Tensor> param_cols(sizes.params);

  ScanBackwardLaunch a{};
  a.options = make_options(model, reset, surrogate, surrogate_param, detach_reset);
  a.dtype = storage_code(x);
  a.grad_out = go.data_ptr();
  a.go_t_stride = go_t;
  a.go_c_stride = go_c;
  a.grad_state_final = gs.defined() ? gs.data_ptr() : nullptr;
  a.grad_trace = gt.defined() ? gt.data_ptr() : nullptr;
  a.x = x.data_ptr();
  a.checkpoints = checkpoints.data_ptr();
  for (int j = 0; j < sizes.params; ++j) {
    a.params[j] = params[j].data_ptr();
    a.per_feature[j] = params[j].size(0) > 1;
    if (needs_grad.get(2 + j)) {
      param_cols[j] = at::empty({B, F}, acc);
      a.grad_param_cols[j] = param_cols[j].data_ptr();
    }
  }
  a.grad_x = needs_grad.get(0) ? grad_x.data_ptr() : nullptr;
  a.grad_state0 = needs_grad.get(1) ? grad_state0.data_ptr() : nullptr;
  a.times = checked_times(times, x, sizes, a.times_t_stride, a.times_b_stride);
  a.steps = T;
  a.columns = B * F;
  a.features = F;
  if (x.is_cuda()) {
#ifdef NEUROSIM_WITH_CUDA
    const c10::cuda::CUDAGuard guard(x.device());
    binding::check_cuda(scan_backward_cuda(a, at::cuda::getCurrentCUDAStream().stream()), "scan_backward");
#else
    TORCH_CHECK(false, "neurosim: built without CUDA kernels");
#endif
  } else {
    a.gpu_path = cpu_takes_gpu_path();
    scan_backward_cpu(a);
  }
  std::vector<at::Tensor> grad_params;
  for (int j = 0; j < sizes.params; ++j) {
    grad_params.push_back(needs_grad.get(2 + j) ? binding::reduce_param_grad(param_cols[j], params[j])
                                            : at::empty({0}, acc));
  }
  return {grad_x, grad_state0, grad_params};
}

// ---- autograd -----------------------------------------------------------------------------------

std::string scan_model_name(int64_t code) {
  std::string name = "model " + std::to_string(code);
  for_each_scan_model([&](int c, const char* n, const ScanModelSizes&) {
    if (c == code) name = n;
  });
  return name;
}

// The ops through the dispatcher (called below autograd): the CPU or CUDA kernel, or the fake
// kernel (neurosim/core/temporal.py) while torch.compile traces.
template <auto& kernel>
const auto& dispatcher_op(const char* name) {
  static const auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<std::remove_reference_t<decltype(kernel)>>();
  return op;
}

// Differentiable in x, state0 and every parameter; the checkpoints are not an output to
// differentiate (the backward replays from them) and the timestamps get no gradient (callers
// that need one use the reference). What the backward replays from is saved only when some
// gradient is wanted, and a gradient not wanted is not computed (needs_grad).
struct ScanFunction : public torch::autograd::Function<ScanFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                                                const at::Tensor& state0, at::TensorList params, int64_t model,
                                                int64_t reset, int64_t surrogate, double surrogate_param,
                                                bool detach_reset, bool record, const c10::optional<at::Tensor>& times) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, state, checkpoints, trace] =
        dispatcher_op<scan_forward>("neurosim::scan_forward")
            .call(x, state0, params, model, reset, surrogate, surrogate_param, detach_reset, record, times);
    ctx->mark_non_differentiable({checkpoints});
    // what ctx->needs_input_grad would say (an input has an edge iff it requires grad); that call
    // indexes the node's edges, which do not exist when no input requires grad. (Grad mode is off
    // in here; when it was off for the call, no graph keeps this context.)
    c10::List<bool> needs;
    needs.push_back(x.requires_grad());
    needs.push_back(state0.requires_grad());
    for (const auto& p : params) needs.push_back(p.requires_grad());
    bool any = false;
    for (const bool need : needs) any = any || need;
    const bool timed = times.has_value() && times->defined();
    if (any) {
      std::vector<at::Tensor> saved{x, checkpoints};
      saved.insert(saved.end(), params.begin(), params.end());
      if (timed) saved.push_back(*times);
      ctx->save_for_backward(saved);
    }
    ctx->saved_data["needs"] = needs;
    ctx->saved_data["config"] = std::vector<int64_t>{model, reset, surrogate, detach_reset, record, timed};
    ctx->saved_data["surrogate_param"] = surrogate_param;
    return {out, state, checkpoints, trace};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto config = ctx->saved_data["config"].toIntVector();
    const int64_t model = config[0], reset = config[1], surrogate = config[2];
    const bool detach_reset = config[3], record = config[4], timed = config[5];
    TORCH_CHECK(!at::GradMode::is_enabled(), "neurosim: the native '", scan_model_name(model),
                "' op has no double backward (create_graph=True asked for gradients of its gradients); run the "
                "model with backend='torch', which supports it");
    const c10::List<bool> needs = ctx->saved_data["needs"].toBoolList();
    auto saved = ctx->get_saved_variables();
    const at::Tensor x = saved[0], checkpoints = saved[1];
    c10::optional<at::Tensor> times;
    if (timed) {
      times = saved.back();
      saved.pop_back();
    }
    const std::vector<at::Tensor> params(saved.begin() + 2, saved.end());
    // only the state or the trace was used: the output's gradient is a free stride-0 zero
    const at::Tensor grad_out = grads[0].defined() ? grads[0] : at::zeros({}, x.options()).expand(x.sizes());
    const c10::optional<at::Tensor> grad_state = grads[1].defined() ? c10::optional<at::Tensor>(grads[1]) : c10::nullopt;
    const c10::optional<at::Tensor> grad_trace =
        record && grads[3].defined() ? c10::optional<at::Tensor>(grads[3]) : c10::nullopt;
    auto [grad_x, grad_state0, grad_params] =
        dispatcher_op<scan_backward>("neurosim::scan_backward")
            .call(grad_out, grad_state, grad_trace, x, checkpoints, params, needs, model, reset, surrogate,
                  ctx->saved_data["surrogate_param"].toDouble(), detach_reset, times);
    // one gradient per forward argument, a tensor list counting one per tensor
    torch::autograd::variable_list result{needs.get(0) ? grad_x : at::Tensor(),
                                          needs.get(1) ? grad_state0 : at::Tensor()};
    for (size_t j = 0; j < params.size(); ++j) result.push_back(needs.get(2 + j) ? grad_params[j] : at::Tensor());
    // none for the other arguments: model, reset, surrogate, surrogate_param, detach_reset, record, times
    constexpr size_t kOtherArguments = 7;
    result.resize(result.size() + kOtherArguments);
    return result;
  }
};

ForwardResult scan_forward_autograd(const at::Tensor& x, const at::Tensor& state0, at::TensorList params,
                                    int64_t model, int64_t reset, int64_t surrogate, double surrogate_param,
                                    bool detach_reset, bool record, const c10::optional<at::Tensor>& times) {
  auto outs = ScanFunction::apply(x, state0, params, model, reset, surrogate, surrogate_param, detach_reset, record,
                                  times);
  return {outs[0], outs[1], outs[2], outs[3]};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("scan_forward(Tensor x, Tensor state0, Tensor[] params, int model, int reset, int surrogate, "
        "float surrogate_param, bool detach_reset, bool record, Tensor? times=None) "
        "-> (Tensor out, Tensor state, Tensor checkpoints, Tensor trace)");
  m.def("scan_backward(Tensor grad_out, Tensor? grad_state, Tensor? grad_trace, Tensor x, Tensor checkpoints, "
        "Tensor[] params, bool[] needs_grad, int model, int reset, int surrogate, float surrogate_param, "
        "bool detach_reset, Tensor? times=None) -> (Tensor grad_x, Tensor grad_state0, Tensor[] grad_params)");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("scan_forward", &scan_forward);
  m.impl("scan_backward", &scan_backward);
}

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) {
  m.impl("scan_forward", &scan_forward);
  m.impl("scan_backward", &scan_backward);
}
#endif

TORCH_LIBRARY_IMPL(neurosim, Autograd, m) {
  m.impl("scan_forward", &scan_forward_autograd);
}

}  // namespace neurosim
