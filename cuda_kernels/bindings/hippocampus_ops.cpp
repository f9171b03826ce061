// torch-facing side of the hippocampal layer step: schema, memory-safety checks, output
// allocation, and the CPU/CUDA implementations that hand raw pointers to the launchers. User-facing
// argument checks live in Python (neurosim/core/hippocampus_op.py).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "neurosim/hippocampus.h"

#ifdef NEUROSIM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#endif

namespace neurosim {
namespace {

void check_like(const at::Tensor& t, const at::Tensor& ref, const char* name, at::IntArrayRef shape) {
  TORCH_CHECK(t.sizes() == shape, "neurosim: ", name, " must have shape ", shape, ", got ", t.sizes());
  TORCH_CHECK(t.is_contiguous() && t.scalar_type() == ref.scalar_type() && t.device() == ref.device(),
              "neurosim: ", name, " must be contiguous with the dtype and device of v_basal");
}

void check_compartment(const at::Tensor& w, const at::Tensor& trace, const at::Tensor& x,
                       const at::Tensor& ref, const char* name) {
  const int64_t S = ref.size(0), N = ref.size(1);
  TORCH_CHECK(x.dim() == 2 && x.size(0) == S, "neurosim: x_", name, " must be [S, inputs]");
  TORCH_CHECK(w.dim() == 3 && w.size(0) == S && w.size(1) == N &&
                  (w.size(2) == x.size(1) || w.size(2) == x.size(1) + 1),
              "neurosim: w_", name, " must be [S, N, inputs] or [S, N, inputs + 1], got ", w.sizes());
  check_like(x, ref, name, x.sizes());
  check_like(w, ref, name, w.sizes());
  check_like(trace, ref, name, w.sizes());
}

void check_params(const std::vector<double>& q, int64_t dendrite, const char* name) {
  TORCH_CHECK(static_cast<int>(q.size()) == kNumHippocampusParams, "neurosim: ", name,
              "_params must have ", static_cast<int>(kNumHippocampusParams), " entries");
  TORCH_CHECK(dendrite == 0 || dendrite == 1, "neurosim: unknown dendrite code ", dendrite);
}

HippocampusStepLaunch prepare(const at::Tensor& v_basal, const at::Tensor& v_apical,
                              const at::Tensor& noise, const at::Tensor& draws,
                              const at::Tensor& w_basal, const at::Tensor& trace_basal,
                              const at::Tensor& x_basal, const at::Tensor& w_apical,
                              const at::Tensor& trace_apical, const at::Tensor& x_apical,
                              double apical_fraction, double pi_rate,
                              const std::vector<double>& basal_params,
                              const std::vector<double>& apical_params, int64_t basal_dendrite,
                              int64_t apical_dendrite, at::Tensor& rates, at::Tensor& errors) {
  TORCH_CHECK(v_basal.dim() == 2, "neurosim: v_basal must be [S, N]");
  TORCH_CHECK(v_basal.scalar_type() == at::kFloat || v_basal.scalar_type() == at::kDouble,
              "neurosim: the hippocampal step runs in float32 or float64");
  const int64_t S = v_basal.size(0), N = v_basal.size(1);
  check_like(v_basal, v_basal, "v_basal", {S, N});
  check_like(v_apical, v_basal, "v_apical", {S, N});
  check_like(noise, v_basal, "noise", {2, S, N});
  check_like(draws, v_basal, "draws", {2, S, N});
  check_compartment(w_basal, trace_basal, x_basal, v_basal, "basal");
  check_compartment(w_apical, trace_apical, x_apical, v_basal, "apical");
  check_params(basal_params, basal_dendrite, "basal");
  check_params(apical_params, apical_dendrite, "apical");
  rates = at::empty({3, S, N}, v_basal.options());
  errors = at::empty({2, S, N}, v_basal.options());
  HippocampusStepLaunch l{};
  l.v_basal = v_basal.data_ptr(); l.v_apical = v_apical.data_ptr();
  l.noise = noise.data_ptr(); l.draws = draws.data_ptr();
  l.rates = rates.data_ptr(); l.errors = errors.data_ptr();
  l.w_basal = w_basal.data_ptr(); l.trace_basal = trace_basal.data_ptr(); l.x_basal = x_basal.data_ptr();
  l.w_apical = w_apical.data_ptr(); l.trace_apical = trace_apical.data_ptr(); l.x_apical = x_apical.data_ptr();
  l.sims = S; l.neurons = N;
  l.inputs_basal = x_basal.size(1); l.cols_basal = w_basal.size(2);
  l.inputs_apical = x_apical.size(1); l.cols_apical = w_apical.size(2);
  l.apical_fraction = apical_fraction; l.pi_rate = pi_rate;
  for (int k = 0; k < kNumHippocampusParams; ++k) {
    l.params_basal[k] = basal_params[k];
    l.params_apical[k] = apical_params[k];
  }
  l.dendrite_basal = static_cast<int>(basal_dendrite);
  l.dendrite_apical = static_cast<int>(apical_dendrite);
  l.dtype = v_basal.scalar_type() == at::kDouble ? DType::Float64 : DType::Float32;
  return l;
}

at::Tensor step_cpu(const at::Tensor& v_basal, const at::Tensor& v_apical, at::Tensor& noise,
                    const at::Tensor& draws, at::Tensor& w_basal, at::Tensor& trace_basal,
                    const at::Tensor& x_basal, at::Tensor& w_apical, at::Tensor& trace_apical,
                    const at::Tensor& x_apical, double apical_fraction, double pi_rate,
                    at::ArrayRef<double> basal_params, at::ArrayRef<double> apical_params,
                    int64_t basal_dendrite, int64_t apical_dendrite) {
  at::Tensor rates, errors;
  const auto launch = prepare(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical,
                              trace_apical, x_apical, apical_fraction, pi_rate, basal_params.vec(),
                              apical_params.vec(), basal_dendrite, apical_dendrite, rates, errors);
  hippocampus_step_cpu(launch);
  return rates;
}

#ifdef NEUROSIM_WITH_CUDA
at::Tensor step_cuda(const at::Tensor& v_basal, const at::Tensor& v_apical, at::Tensor& noise,
                     const at::Tensor& draws, at::Tensor& w_basal, at::Tensor& trace_basal,
                     const at::Tensor& x_basal, at::Tensor& w_apical, at::Tensor& trace_apical,
                     const at::Tensor& x_apical, double apical_fraction, double pi_rate,
                     at::ArrayRef<double> basal_params, at::ArrayRef<double> apical_params,
                     int64_t basal_dendrite, int64_t apical_dendrite) {
  const c10::cuda::CUDAGuard guard(v_basal.device());
  at::Tensor rates, errors;
  const auto launch = prepare(v_basal, v_apical, noise, draws, w_basal, trace_basal, x_basal, w_apical,
                              trace_apical, x_apical, apical_fraction, pi_rate, basal_params.vec(),
                              apical_params.vec(), basal_dendrite, apical_dendrite, rates, errors);
  const int err = hippocampus_step_cuda(launch, at::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == 0, "neurosim: CUDA launch of hippocampus_layer_step failed with error code ", err);
  return rates;
}
#endif

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("hippocampus_layer_step(Tensor v_basal, Tensor v_apical, Tensor(a!) noise, Tensor draws, "
        "Tensor(b!) w_basal, Tensor(c!) trace_basal, Tensor x_basal, Tensor(d!) w_apical, "
        "Tensor(e!) trace_apical, Tensor x_apical, float apical_fraction, float pi_rate, "
        "float[] basal_params, float[] apical_params, int basal_dendrite, int apical_dendrite) "
        "-> Tensor rates");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) { m.impl("hippocampus_layer_step", &step_cpu); }

#ifdef NEUROSIM_WITH_CUDA
TORCH_LIBRARY_IMPL(neurosim, CUDA, m) { m.impl("hippocampus_layer_step", &step_cuda); }
#endif

}  // namespace neurosim
