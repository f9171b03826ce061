// CUDA launcher for the LIF op: one thread per column (neuron x batch element), each running the
// column function of lif.h over all T steps. No torch headers here; the binding passes raw pointers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_dispatch.cuh"
#include "neurosim/lif_dispatch.h"

namespace neurosim {
namespace {

using cuda::dispatch_storage;

constexpr int kThreads = 256;

template <Reset R, typename T, typename A>
__global__ void lif_forward_kernel(const LifForwardArgs<T, A> args) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col < args.columns) lif_forward_columns<1, R>(args, col);
}

template <Reset R, bool G, typename T, typename A, typename SG>
__global__ void lif_backward_kernel(const LifBackwardArgs<T, A> args, const SG sg) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col < args.columns) lif_backward_columns<1, R, G>(args, sg, col);
}

unsigned blocks_for(int64_t columns) {
  return static_cast<unsigned>((columns + kThreads - 1) / kThreads);
}

template <typename T>
int forward_typed(const LifForwardLaunch& launch, cudaStream_t stream) {
  const auto args = typed_forward_args<T>(launch);
  if (args.columns == 0) return 0;
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    lif_forward_kernel<R><<<blocks_for(args.columns), kThreads, 0, stream>>>(args);
  });
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int backward_typed(const LifBackwardLaunch& launch, cudaStream_t stream) {
  using A = typename AccType<T>::type;
  const auto args = typed_backward_args<T>(launch);
  if (args.columns == 0) return 0;
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    dispatch_bool(!launch.detach_reset, [&](auto reset_grad) {
      constexpr bool G = decltype(reset_grad)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate),
                         static_cast<A>(launch.surrogate_param), [&](auto sg) {
        lif_backward_kernel<R, G><<<blocks_for(args.columns), kThreads, 0, stream>>>(args, sg);
      });
    });
  });
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int lif_forward_cuda(const LifForwardLaunch& a, void* stream) {
  return dispatch_storage(a.dtype, [&](auto v) {
    return forward_typed<decltype(v)>(a, static_cast<cudaStream_t>(stream));
  });
}

int lif_backward_cuda(const LifBackwardLaunch& a, void* stream) {
  return dispatch_storage(a.dtype, [&](auto v) {
    return backward_typed<decltype(v)>(a, static_cast<cudaStream_t>(stream));
  });
}

}  // namespace neurosim
