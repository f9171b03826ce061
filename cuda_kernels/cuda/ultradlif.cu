// CUDA launcher for UltraDLIF: one block per batch row; its threads stride over the row's
// features and meet at a barrier after each phase of a step (the ring couples neighbours).
// No torch headers; the binding passes raw pointers.
#include <cuda_runtime.h>

#include "cuda_dispatch.cuh"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {
namespace {

constexpr int kThreads = 256;

template <RingForm F, typename T, typename A>
__global__ void ultradlif_forward_kernel(const UltraDlifForwardArgs<T, A> args) {
  const int64_t b = blockIdx.x;
  for (int64_t t = 0; t < args.steps; ++t) {
    for (int64_t i = threadIdx.x; i < args.features; i += blockDim.x) ultradlif_forward_phase_a<F, false>(args, b, t, i);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < args.features; i += blockDim.x) ultradlif_forward_phase_b<F, false>(args, b, t, i);
    __syncthreads();
  }
}

template <RingForm F, typename T, typename A>
__global__ void ultradlif_backward_kernel(const UltraDlifBackwardArgs<T, A> args) {
  const int64_t b = blockIdx.x;
  for (int64_t t = args.steps - 1; t >= 0; --t) {
    for (int64_t i = threadIdx.x; i < args.features; i += blockDim.x) ultradlif_backward_phase_a<F, false>(args, b, t, i);
    __syncthreads();
    for (int64_t j = threadIdx.x; j < args.features; j += blockDim.x) ultradlif_backward_phase_b<F, false>(args, b, t, j);
    __syncthreads();
  }
}

}  // namespace

int ultradlif_forward_cuda(const UltraDlifForwardLaunch& a, void* stream) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(a);
    if (args.batch == 0 || args.features == 0) return 0;
    dispatch_ring_form(a.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      ultradlif_forward_kernel<F><<<static_cast<unsigned>(args.batch), kThreads, 0,
                                    static_cast<cudaStream_t>(stream)>>>(args);
      return 0;
    });
    return static_cast<int>(cudaGetLastError());
  });
}

int ultradlif_backward_cuda(const UltraDlifBackwardLaunch& a, void* stream) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(a);
    if (args.batch == 0 || args.features == 0) return 0;
    dispatch_ring_form(a.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      ultradlif_backward_kernel<F><<<static_cast<unsigned>(args.batch), kThreads, 0,
                                     static_cast<cudaStream_t>(stream)>>>(args);
      return 0;
    });
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace neurosim
