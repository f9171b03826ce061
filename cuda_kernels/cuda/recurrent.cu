// CUDA launcher of the recurrent layers' elementwise step (recurrent.h): one thread per element
// (neuron x batch row) running the launch's range of steps. The binding calls it once per step
// between cuBLAS GEMMs (dense recurrence) or once for all steps (one weight per neuron).
// No torch headers here; the binding passes raw pointers.
#include <cuda_runtime.h>

#include "neurosim/recurrent.h"

namespace neurosim {
namespace {

constexpr int kThreads = 256;

template <class Cell, RecurrentReset R, typename A>
__global__ void recurrent_forward_kernel(const RecurrentForwardArgs<A> args) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < args.M) recurrent_forward_lanes<Cell, R, 1>(args, e, e % args.n);
}

template <class Cell, RecurrentReset R, bool G, typename A, typename SG>
__global__ void recurrent_backward_kernel(const RecurrentBackwardArgs<A> args, const SG sg) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < args.M) recurrent_backward_lanes<Cell, R, G, 1>(args, sg, e, e % args.n);
}

unsigned blocks_for(int64_t elements) { return static_cast<unsigned>((elements + kThreads - 1) / kThreads); }

template <typename A>
int forward_typed(const RecurrentForwardLaunch& launch, cudaStream_t stream) {
  const auto args = typed_recurrent_forward<A>(launch);
  if (args.M == 0 || args.t_end <= args.t_begin) return 0;
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    recurrent_forward_kernel<Cell, R><<<blocks_for(args.M), kThreads, 0, stream>>>(args);
  });
  return static_cast<int>(cudaGetLastError());
}

template <typename A>
int backward_typed(const RecurrentBackwardLaunch& launch, cudaStream_t stream) {
  const auto args = typed_recurrent_backward<A>(launch);
  if (args.M == 0 || args.t_end <= args.t_begin) return 0;
  dispatch_recurrent(launch.cell, launch.reset, [&](auto cell_tag, auto reset_tag) {
    using Cell = typename decltype(cell_tag)::type;
    constexpr RecurrentReset R = decltype(reset_tag)::value;
    auto with_grad = [&](auto grad_tag) {
      constexpr bool G = decltype(grad_tag)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                         [&](auto sg) {
        recurrent_backward_kernel<Cell, R, G><<<blocks_for(args.M), kThreads, 0, stream>>>(args, sg);
      });
    };
    if (launch.detach_reset) with_grad(RecurrentBool<false>{});
    else with_grad(RecurrentBool<true>{});
  });
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int recurrent_forward_cuda(const RecurrentForwardLaunch& a, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  return a.dtype == DType::Float64 ? forward_typed<double>(a, s) : forward_typed<float>(a, s);
}

int recurrent_backward_cuda(const RecurrentBackwardLaunch& a, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  return a.dtype == DType::Float64 ? backward_typed<double>(a, s) : backward_typed<float>(a, s);
}

}  // namespace neurosim
