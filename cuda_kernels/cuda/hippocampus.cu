// CUDA launcher for the hippocampal layer step: one thread per neuron row for the dendrites and
// soma (hippocampus_neuron), then one thread per weight element of each plastic compartment
// (hippocampus_synapse). No torch headers here; the binding passes raw pointers.
#include <cuda_runtime.h>

#include "neurosim/hippocampus.h"

namespace neurosim {
namespace {

constexpr int kThreads = 256;

template <typename A>
__global__ void neuron_kernel(const HippocampusStepArgs<A> args) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row < args.sims * args.neurons) hippocampus_neuron(args, row);
}

template <typename A>
__global__ void synapse_kernel(const HippocampusStepArgs<A> args, const CompartmentView<A> view) {
  const int64_t element = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (element < args.sims * args.neurons * view.cols) hippocampus_synapse(args, view, element);
}

unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

template <typename A>
int step_typed(const HippocampusStepLaunch& launch, cudaStream_t stream) {
  const auto args = typed_hippocampus_args<A>(launch);
  const int64_t rows = args.sims * args.neurons;
  if (rows == 0) return 0;
  neuron_kernel<A><<<blocks_for(rows), kThreads, 0, stream>>>(args);
  for (int which = 0; which < 2; ++which) {
    const auto view = compartment_view(args, which);
    if (view.consts.eta == A(0) || view.cols == 0) continue;
    synapse_kernel<A><<<blocks_for(rows * view.cols), kThreads, 0, stream>>>(args, view);
  }
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int hippocampus_step_cuda(const HippocampusStepLaunch& launch, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  return launch.dtype == DType::Float64 ? step_typed<double>(launch, s) : step_typed<float>(launch, s);
}

}  // namespace neurosim
