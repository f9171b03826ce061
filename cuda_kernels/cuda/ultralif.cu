// CUDA launcher for UltraLIF: one thread per column, each running the column functions of
// ultralif.h over all T steps. No torch headers; the binding passes raw pointers.
#include <cuda_runtime.h>

#include "cuda_dispatch.cuh"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {
namespace {

constexpr int kThreads = 256;

template <typename T, typename A>
__global__ void ultralif_forward_kernel(const UltraLifForwardArgs<T, A> args) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col < args.columns) ultralif_forward_columns<1>(args, col);
}

template <typename T, typename A>
__global__ void ultralif_backward_kernel(const UltraLifBackwardArgs<T, A> args) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col < args.columns) ultralif_backward_columns<1, false>(args, static_cast<UltraChunk<1, A>*>(nullptr), col);
}

unsigned blocks_for(int64_t columns) {
  return static_cast<unsigned>((columns + kThreads - 1) / kThreads);
}

}  // namespace

int ultralif_forward_cuda(const UltraLifForwardLaunch& a, void* stream) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(a);
    if (args.columns == 0) return 0;
    ultralif_forward_kernel<<<blocks_for(args.columns), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(args);
    return static_cast<int>(cudaGetLastError());
  });
}

int ultralif_backward_cuda(const UltraLifBackwardLaunch& a, void* stream) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(a);
    if (args.columns == 0) return 0;
    ultralif_backward_kernel<<<blocks_for(args.columns), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(args);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace neurosim
