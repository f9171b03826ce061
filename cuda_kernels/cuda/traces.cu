// CUDA launcher of the trace op: one thread per column, each running the column function of
// traces.h over all T steps. No torch headers here; the binding passes raw pointers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda_dispatch.cuh"
#include "neurosim/traces.h"

namespace neurosim {
namespace {

constexpr int kThreads = 256;

template <bool kReverse, typename T, typename A>
__global__ void trace_kernel(const TraceArgs<T, A> args) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  A z, decay;
  if (col < args.columns) trace_columns<kReverse>(args, col, 1, &z, &decay);
}

template <typename T>
int trace_typed(const TraceLaunch& launch, cudaStream_t stream) {
  const auto args = typed_trace_args<T>(launch);
  if (args.columns == 0) return 0;
  const unsigned blocks = static_cast<unsigned>((args.columns + kThreads - 1) / kThreads);
  if (launch.reverse) trace_kernel<true><<<blocks, kThreads, 0, stream>>>(args);
  else trace_kernel<false><<<blocks, kThreads, 0, stream>>>(args);
  return static_cast<int>(cudaGetLastError());
}

template <typename T, typename A>
__global__ void stdp_rows_kernel(const StdpRowsArgs<T, A> args) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  A z;
  if (col < args.columns) stdp_rows_columns(args, col, 1, &z);
}

template <typename T>
int stdp_rows_typed(const StdpRowsLaunch& launch, cudaStream_t stream) {
  const auto args = typed_stdp_rows_args<T>(launch);
  if (args.columns == 0) return 0;
  const unsigned blocks = static_cast<unsigned>((args.columns + kThreads - 1) / kThreads);
  stdp_rows_kernel<<<blocks, kThreads, 0, stream>>>(args);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int stdp_rows_cuda(const StdpRowsLaunch& a, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  return cuda::dispatch_storage(a.dtype, [&](auto storage) { return stdp_rows_typed<decltype(storage)>(a, s); });
}

int trace_cuda(const TraceLaunch& a, void* stream) {
  const auto s = static_cast<cudaStream_t>(stream);
  return cuda::dispatch_storage(a.dtype, [&](auto storage) { return trace_typed<decltype(storage)>(a, s); });
}

}  // namespace neurosim
