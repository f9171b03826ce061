// CUDA launchers for UltraDLIF. A step couples ring neighbours, so a row's time loop runs inside
// one kernel with a barrier per step. The row stays on chip: each thread owns K adjacent neurons
// (state, parameters and gradient accumulators in registers) and swaps only its two edge values
// per step through shared memory. On sm_90 a row is spread over a thread-block cluster (up to 8
// blocks, so B = 16 rows fill 128 SMs), whose blocks read the edge values of their ring
// neighbours through distributed shared memory with cluster.sync() between phases; elsewhere (or
// for short rows) one block holds a row. Rows too long for that run the global-memory kernel
// (state in global memory, two phases per step). Every piece of per-thread math is in
// neurosim/ultradlif.h and is run on the CPU by tests/cpp/ultradlif_thread_emulation.cpp; only
// launch configuration and synchronisation live here. No torch headers.
#include <cuda_runtime.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#include <cooperative_groups.h>
#define NEUROSIM_RING_CLUSTERS 1
#endif

#include "cuda_dispatch.cuh"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {
namespace {

constexpr int kGlobalThreads = 256;
constexpr int kMaxCluster = 8;
// Most threads per block of the on-chip kernels, which sets their register budget (65536 / threads):
// the backward pass keeps about 20 values per neuron in registers and needs up to 128 registers a
// thread at K = 4 (float) or K = 2 (double); the forward pass fits 64 at K = 4 (float). With these
// bounds no instantiation for K <= 4 spills (nvcc -Xptxas -v, sm_90); K = 8 would.
template <typename A> constexpr int forward_threads() { return sizeof(A) == 8 ? 512 : 1024; }
template <typename A> constexpr int backward_threads() { return sizeof(A) == 8 ? 256 : 512; }

// ---- barrier and edge exchange of a row spread over `blocks` blocks (a cluster, or one block) ----

// Shared memory: exchange[buffer][side][thread], two buffers used on alternate steps so that one
// barrier per step suffices (a buffer is rewritten two steps later, after a barrier every reader
// has passed).
template <typename A>
__device__ __forceinline__ A* exchange_slot(A* exchange, int buffer, int side, int threads, int thread) {
  return exchange + (buffer * 2 + side) * threads + thread;
}

__device__ __forceinline__ void row_sync() {
#if defined(NEUROSIM_RING_CLUSTERS)
  cooperative_groups::this_cluster().sync();
#else
  __syncthreads();
#endif
}

__device__ __forceinline__ unsigned row_blocks() {
#if defined(NEUROSIM_RING_CLUSTERS)
  return cooperative_groups::this_cluster().num_blocks();
#else
  return 1;
#endif
}

__device__ __forceinline__ unsigned row_rank() {
#if defined(NEUROSIM_RING_CLUSTERS)
  return cooperative_groups::this_cluster().block_rank();
#else
  return 0;
#endif
}

// A value another block of the row's cluster published (its own block when rank is ours).
template <typename A>
__device__ __forceinline__ A read_remote(A* local_slot, unsigned rank) {
#if defined(NEUROSIM_RING_CLUSTERS)
  return *cooperative_groups::this_cluster().map_shared_rank(local_slot, rank);
#else
  (void)rank;
  return *local_slot;
#endif
}

// Publishes (first, last) of this thread for step `buffer`, waits for the row, and returns the
// published values of the ring neighbours: the previous thread's last and the next thread's first.
template <typename A>
__device__ __forceinline__ RingEdges<A> exchange_edges(A* __restrict__ exchange, int buffer, RingEdges<A> mine) {
  const int threads = blockDim.x, thread = threadIdx.x;
  *exchange_slot(exchange, buffer, 0, threads, thread) = mine.first;
  *exchange_slot(exchange, buffer, 1, threads, thread) = mine.last;
  row_sync();
  const unsigned blocks = row_blocks(), rank = row_rank();
  RingEdges<A> in;
  if (thread > 0) {
    in.first = *exchange_slot(exchange, buffer, 1, threads, thread - 1);
  } else {
    in.first = read_remote(exchange_slot(exchange, buffer, 1, threads, threads - 1), (rank + blocks - 1) % blocks);
  }
  if (thread + 1 < threads) {
    in.last = *exchange_slot(exchange, buffer, 0, threads, thread + 1);
  } else {
    in.last = read_remote(exchange_slot(exchange, buffer, 0, threads, 0), (rank + 1) % blocks);
  }
  return in;  // in.first: left neighbour's value, in.last: right neighbour's value
}

// ---- on-chip kernels: a row over one cluster (grid = batch x cluster size) ----------------------

template <RingForm F, int K, typename T, typename A>
__global__ void __launch_bounds__(forward_threads<A>()) ring_forward_onchip(const UltraDlifForwardArgs<T, A> p) {
  extern __shared__ unsigned char shared_raw[];
  A* __restrict__ exchange = reinterpret_cast<A*>(shared_raw);
  const unsigned blocks = row_blocks();
  const int64_t b = blockIdx.x / blocks;
  const int64_t g = static_cast<int64_t>(row_rank()) * blockDim.x + threadIdx.x;
  RingForwardThread<F, K, T, A> th;
  th.init(p, b, ring_slice(p.features, g, static_cast<int64_t>(blocks) * blockDim.x));
  for (int64_t t = 0; t < p.steps; ++t) {
    const RingEdges<A> mine = th.publish(p, t);
    th.load_current(p, t + 1);
    const RingEdges<A> in = exchange_edges(exchange, static_cast<int>(t & 1), mine);
    th.finish(p, t, in.first, in.last);
  }
  th.store_state(p);
  row_sync();  // no block leaves while a neighbour may still read its shared memory
}

template <RingForm F, int K, typename T, typename A>
__global__ void __launch_bounds__(backward_threads<A>()) ring_backward_onchip(const UltraDlifBackwardArgs<T, A> p) {
  extern __shared__ unsigned char shared_raw[];
  A* __restrict__ exchange = reinterpret_cast<A*>(shared_raw);
  const unsigned blocks = row_blocks();
  const int64_t b = blockIdx.x / blocks;
  const int64_t g = static_cast<int64_t>(row_rank()) * blockDim.x + threadIdx.x;
  RingBackwardThread<F, K, T, A> th;
  th.init(p, b, ring_slice(p.features, g, static_cast<int64_t>(blocks) * blockDim.x));
  for (int64_t t = p.steps - 1; t >= 0; --t) {
    // mine.first: the left send of the first neuron (for the left thread); mine.last: the right
    // send of the last (for the right thread)
    const RingEdges<A> mine = th.before_exchange(p, t);
    const RingEdges<A> in = exchange_edges(exchange, static_cast<int>(t & 1), mine);
    th.finish(p, t, in.first, in.last);
    th.advance();
  }
  th.store(p);
  row_sync();
}

// ---- global-memory kernels: one block per row ----------------------------------------------------

template <RingForm F, typename T, typename A>
__global__ void __launch_bounds__(kGlobalThreads) ring_forward_global(const UltraDlifForwardArgs<T, A> p) {
  const int64_t b = blockIdx.x;
  for (int64_t t = 0; t < p.steps; ++t) {
    for (int64_t i = threadIdx.x; i < p.features; i += blockDim.x) ring_global_forward_phase1<F>(p, b, t, i);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < p.features; i += blockDim.x) ring_global_forward_phase2<F>(p, b, t, i);
    __syncthreads();
  }
}

template <RingForm F, typename T, typename A>
__global__ void __launch_bounds__(kGlobalThreads) ring_backward_global(const UltraDlifBackwardArgs<T, A> p) {
  const int64_t b = blockIdx.x;
  for (int64_t t = p.steps - 1; t >= 0; --t) {
    for (int64_t i = threadIdx.x; i < p.features; i += blockDim.x) ring_global_backward_phase1<F>(p, b, t, i);
    __syncthreads();
    for (int64_t j = threadIdx.x; j < p.features; j += blockDim.x) ring_global_backward_phase2<F>(p, b, t, j);
    __syncthreads();
  }
}

// ---- launch configuration --------------------------------------------------------------------------

struct RowLayout {
  int cluster;  // blocks per row (1: no cluster launch)
  int threads;  // per block
};

// Blocks per row: `preferred` gives enough rows x blocks to cover the SMs, up to 8 (the portable
// cluster size), on devices with cluster launch; rows shorter than 64 neurons per block stay in
// one block. `largest` is 8 there (a long row may need more blocks than the SMs ask for), else 1.
struct ClusterChoice {
  int preferred, largest;
};

ClusterChoice cluster_choice(int64_t batch, int64_t features) {
  int device = 0, major = 0, sms = 1, cluster_launch = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return {1, 1};
  cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  cudaDeviceGetAttribute(&cluster_launch, cudaDevAttrClusterLaunch, device);
  if (major < 9 || !cluster_launch) return {1, 1};
  int c = 1;
  while (c < kMaxCluster && batch * c * 2 <= sms && features >= 64 * c * 2) c *= 2;
  return {c, kMaxCluster};
}

// Threads per block so that every thread owns between 1 and K neurons, or 0 if that needs more
// threads than the kernel can run.
int threads_for(int64_t features, int cluster, int k, int max_threads) {
  const int64_t per_block = (features + cluster - 1) / cluster;
  const int64_t threads = (per_block + k - 1) / k;
  const int64_t row_threads = threads * cluster;
  if (threads > max_threads || row_threads > features) return 0;
  if ((features + row_threads - 1) / row_threads > k) return 0;
  return static_cast<int>(threads);
}

// Threads per block the kernel can run (its registers permit), 0 if it cannot run on `cluster`
// blocks per row: code built for an architecture before sm_90 has no cluster barrier.
template <typename Kernel>
int max_threads_of(Kernel kernel, int cluster) {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, kernel) != cudaSuccess) return 0;
  if (cluster > 1 && attr.binaryVersion < 90) return 0;
  return attr.maxThreadsPerBlock;
}

template <typename Args>
cudaLaunchConfig_t onchip_config(const Args& args, RowLayout layout, size_t shared, cudaStream_t stream,
                                 cudaLaunchAttribute* attribute) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(args.batch * layout.cluster));
  config.blockDim = dim3(static_cast<unsigned>(layout.threads));
  config.dynamicSmemBytes = shared;
  config.stream = stream;
  if (layout.cluster > 1) {
    attribute[0].id = cudaLaunchAttributeClusterDimension;
    attribute[0].val.clusterDim.x = static_cast<unsigned>(layout.cluster);
    attribute[0].val.clusterDim.y = 1;
    attribute[0].val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
  }
  return config;
}

// Tries K = 2, then 4 (the smallest that fits spreads the row over the most threads); returns
// false when no on-chip layout fits the row.
template <template <RingForm, int, typename, typename> class Kernels, RingForm F, typename Args>
bool run_onchip(const Args& args, int cluster, cudaStream_t stream, cudaError_t& error) {
  using T = typename std::remove_const<typename std::remove_pointer<decltype(args.x)>::type>::type;
  using A = typename std::remove_const<typename std::remove_pointer<decltype(args.tau)>::type>::type;
  bool launched = false;
  auto attempt = [&](auto k_tag) {
    constexpr int K = decltype(k_tag)::value;
    if (launched) return;
    auto kernel = Kernels<F, K, T, A>::kernel();
    const int threads = threads_for(args.features, cluster, K, max_threads_of(kernel, cluster));
    if (threads == 0) return;
    const size_t shared = 4 * static_cast<size_t>(threads) * sizeof(A);
    cudaLaunchAttribute attribute[1];
    const cudaLaunchConfig_t config = onchip_config(args, RowLayout{cluster, threads}, shared, stream, attribute);
    if (cluster > 1) {  // a cluster of this size must fit on the device's GPCs with these blocks
      int clusters = 0;
      if (cudaOccupancyMaxActiveClusters(&clusters, kernel, &config) != cudaSuccess || clusters == 0) {
        cudaGetLastError();  // clear the query's error; the caller then tries one block per row
        return;
      }
    }
    error = cudaLaunchKernelEx(&config, kernel, args);
    launched = true;
  };
  attempt(std::integral_constant<int, 2>{});
  attempt(std::integral_constant<int, 4>{});
  return launched;
}

// The preferred cluster size, then larger ones (a row too long for it), then one block per row.
template <template <RingForm, int, typename, typename> class Kernels, RingForm F, typename Args>
bool run_onchip_any(const Args& args, cudaStream_t stream, cudaError_t& error) {
  const ClusterChoice choice = cluster_choice(args.batch, args.features);
  for (int c = choice.preferred; c <= choice.largest; c *= 2) {
    if (static_cast<int64_t>(c) * 2 > args.features) break;
    if (run_onchip<Kernels, F>(args, c, stream, error)) return true;
  }
  return choice.preferred > 1 && run_onchip<Kernels, F>(args, 1, stream, error);
}

template <RingForm F, int K, typename T, typename A> struct ForwardKernels {
  static auto kernel() { return &ring_forward_onchip<F, K, T, A>; }
};
template <RingForm F, int K, typename T, typename A> struct BackwardKernels {
  static auto kernel() { return &ring_backward_onchip<F, K, T, A>; }
};

}  // namespace

int ultradlif_forward_cuda(const UltraDlifForwardLaunch& a, void* stream_ptr) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    using T = decltype(storage);
    const auto args = typed_args<T>(a);
    if (args.batch == 0 || args.features == 0 || args.steps == 0) return 0;
    const auto stream = static_cast<cudaStream_t>(stream_ptr);
    return dispatch_ring_form(a.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      cudaError_t error = cudaSuccess;
      if (!run_onchip_any<ForwardKernels, F>(args, stream, error)) {
        ring_forward_global<F><<<static_cast<unsigned>(args.batch), kGlobalThreads, 0, stream>>>(args);
        error = cudaGetLastError();
      }
      return static_cast<int>(error != cudaSuccess ? error : cudaGetLastError());
    });
  });
}

int ultradlif_backward_cuda(const UltraDlifBackwardLaunch& a, void* stream_ptr) {
  return cuda::dispatch_storage(a.dtype, [&](auto storage) {
    using T = decltype(storage);
    const auto args = typed_args<T>(a);
    if (args.batch == 0 || args.features == 0 || args.steps == 0) return 0;
    const auto stream = static_cast<cudaStream_t>(stream_ptr);
    return dispatch_ring_form(a.form, [&](auto tag) {
      constexpr RingForm F = decltype(tag)::value;
      cudaError_t error = cudaSuccess;
      if (!run_onchip_any<BackwardKernels, F>(args, stream, error)) {
        ring_backward_global<F><<<static_cast<unsigned>(args.batch), kGlobalThreads, 0, stream>>>(args);
        error = cudaGetLastError();
      }
      return static_cast<int>(error != cudaSuccess ? error : cudaGetLastError());
    });
  });
}

}  // namespace neurosim
