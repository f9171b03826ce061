// CUDA launcher of the generic scan: one thread per column (neuron x batch element), two
// adjacent columns per thread for 16-bit storage (their values move as one 32-bit word), each
// running the column functions of scan.h over all T steps, for every model of scan_models.h.
// No torch headers here; the binding passes raw pointers.
#include <cuda_runtime.h>

#include <type_traits>

#include "cuda_dispatch.cuh"
#include "neurosim/scan.h"
#include "neurosim/scan_launch.h"
#include "neurosim/scan_models.h"

namespace neurosim {
namespace {

constexpr int kForwardThreads = 256;

// The backward keeps each thread's replayed chunk in shared memory, (K + 1) x kState values per
// column; blocks shrink with it so that one block stays at about 17 KB (float, one state) to
// 34 KB and several blocks fit on an SM. Threads with two columns take half as many per block.
template <class M, typename T, typename A>
constexpr int backward_threads() {
  constexpr int columns = (M::kState * sizeof(A)) <= 4 ? 128 : (M::kState * sizeof(A)) <= 8 ? 64 : 32;
  return columns / kGpuThreadLanes<T>;
}

// The columns of this thread: its first, and how many (kGpuThreadLanes, fewer at the end).
template <typename T>
__device__ __forceinline__ int64_t first_column() {
  return (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kGpuThreadLanes<T>;
}
template <typename T>
__device__ __forceinline__ int columns_from(int64_t col, int64_t columns) {
  return columns - col < kGpuThreadLanes<T> ? static_cast<int>(columns - col) : kGpuThreadLanes<T>;
}

template <bool kRecord, class M, typename T, typename A>
__global__ void __launch_bounds__(kForwardThreads) scan_forward_kernel(const M m, const ScanForwardArgs<T, A> args) {
  constexpr int V = kGpuThreadLanes<T>;
  const int64_t col = first_column<T>();
  if (col < args.columns) scan_forward_columns<V, kRecord>(m, args, col, columns_from<T>(col, args.columns));
}

template <int kThreads, class M, typename T, typename A>
__global__ void __launch_bounds__(kThreads) scan_backward_kernel(const M m, const ScanBackwardArgs<T, A> args) {
  constexpr int V = kGpuThreadLanes<T>;
  constexpr int rows = ChunkRows<M, false>::value;
  __shared__ A chunk[rows * kThreads * V];
  const int64_t col = first_column<T>();
  if (col < args.columns) {
    scan_backward_columns<V, false>(m, args, ChunkView<A, kThreads * V, kThreads>{chunk + threadIdx.x}, col,
                                    columns_from<T>(col, args.columns));
  }
}

unsigned blocks_for(int64_t columns, int columns_per_block) {
  return static_cast<unsigned>((columns + columns_per_block - 1) / columns_per_block);
}

template <typename T, typename A>
ScanForwardArgs<T, A> typed(const ScanForwardLaunch& a) {
  ScanForwardArgs<T, A> p{};
  p.x = static_cast<const T*>(a.x);
  p.state0 = static_cast<const A*>(a.state0);
  for (int j = 0; j < kMaxScanParams; ++j) {
    p.params[j] = static_cast<const A*>(a.params[j]);
    p.per_feature[j] = a.per_feature[j];
  }
  p.out = static_cast<T*>(a.out);
  p.state_final = static_cast<A*>(a.state_final);
  p.checkpoints = static_cast<A*>(a.checkpoints);
  p.trace = static_cast<T*>(a.trace);
  p.times = static_cast<const A*>(a.times);
  p.times_t_stride = a.times_t_stride;
  p.times_b_stride = a.times_b_stride;
  p.steps = a.steps;
  p.columns = a.columns;
  p.features = a.features;
  return p;
}

template <typename T, typename A>
ScanBackwardArgs<T, A> typed(const ScanBackwardLaunch& a) {
  ScanBackwardArgs<T, A> p{};
  p.grad_out = static_cast<const T*>(a.grad_out);
  p.go_t_stride = a.go_t_stride;
  p.go_c_stride = a.go_c_stride;
  p.grad_state_final = static_cast<const A*>(a.grad_state_final);
  p.grad_trace = static_cast<const T*>(a.grad_trace);
  p.x = static_cast<const T*>(a.x);
  p.checkpoints = static_cast<const A*>(a.checkpoints);
  for (int j = 0; j < kMaxScanParams; ++j) {
    p.params[j] = static_cast<const A*>(a.params[j]);
    p.per_feature[j] = a.per_feature[j];
    p.grad_param_cols[j] = static_cast<A*>(a.grad_param_cols[j]);
  }
  p.grad_x = static_cast<T*>(a.grad_x);
  p.grad_state0 = static_cast<A*>(a.grad_state0);
  p.times = static_cast<const A*>(a.times);
  p.times_t_stride = a.times_t_stride;
  p.times_b_stride = a.times_b_stride;
  p.steps = a.steps;
  p.columns = a.columns;
  p.features = a.features;
  return p;
}

}  // namespace

int scan_forward_cuda(const ScanForwardLaunch& launch, void* stream) {
  if (launch.columns == 0) return 0;
  return cuda::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed<T, A>(launch);
    dispatch_model<A, false>(launch.options, [&](const auto& m) {
      dispatch_bool(launch.trace != nullptr, [&](auto record) {
        constexpr bool kRecord = decltype(record)::value;
        scan_forward_kernel<kRecord><<<blocks_for(args.columns, kForwardThreads * kGpuThreadLanes<T>),
                                       kForwardThreads, 0,
                                       static_cast<cudaStream_t>(stream)>>>(m, args);
      });
    });
    return static_cast<int>(cudaGetLastError());
  });
}

int scan_backward_cuda(const ScanBackwardLaunch& launch, void* stream) {
  if (launch.columns == 0) return 0;
  return cuda::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed<T, A>(launch);
    dispatch_model<A, true>(launch.options, [&](const auto& m) {
      using M = std::decay_t<decltype(m)>;
      constexpr int threads = backward_threads<M, T, A>();
      scan_backward_kernel<threads><<<blocks_for(args.columns, threads * kGpuThreadLanes<T>), threads, 0,
                                      static_cast<cudaStream_t>(stream)>>>(m, args);
    });
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace neurosim
