// The CPU scan's backward pass for one storage type T (cuda_kernels/cpu/scan_backward*.cpp: one
// translation unit per type, so that a multi-core build compiles them in parallel; together they
// were the build's longest compile). The column functions of scan.h for every model of
// scan_models.h, run over blocks of adjacent columns (lanes vectorise) with the blocks spread over
// threads. One instantiation per model serves every block width (the leftover narrow blocks and
// single columns too), which keeps the build small.
#pragma once

#include <memory>
#include <stdexcept>
#include <type_traits>

#include "scan_args.h"

namespace neurosim {
namespace scan_cpu {

template <class M, bool kCache, typename T>
constexpr int backward_wide_lanes() {
  constexpr int rows = ChunkRows<M, kCache>::value;
  constexpr int shrink = rows <= 40 ? 1 : rows <= 80 ? 2 : 4;
  return cpu::wide_lanes<T>() / shrink;
}

template <int W, bool kCache, class M, typename T, typename A>
void backward_block(const M& m, const ScanBackwardArgs<T, A>& args, int64_t col0, int width) {
  constexpr int rows = ChunkRows<M, kCache>::value, stride = kChunkRowStride<A, W>;
  std::unique_ptr<A[]> buffer(new A[static_cast<size_t>(rows) * stride]);
  scan_backward_columns<W, kCache>(m, args, ChunkView<A, stride>{buffer.get()}, col0, width);
}

template <typename T>
void scan_backward_typed(const ScanBackwardLaunch& launch) {
  using A = typename AccType<T>::type;
  const auto args = typed<T, A>(launch);
  dispatch_model<A, true>(launch.options, [&](const auto& m) {
    using M = std::decay_t<decltype(m)>;
    if constexpr (kHasGpuPath<T>) {
      if (launch.gpu_path) {  // the CUDA thread's body, one thread's columns at a time (its chunk: a heap row)
        constexpr int V = kGpuThreadLanes<T>;
        at::parallel_for(0, (args.columns + V - 1) / V, 64, [&](int64_t begin, int64_t end) {
          std::unique_ptr<A[]> chunk(new A[ChunkRows<M, false>::value * V]);
          for (int64_t i = begin; i < end; ++i)
            scan_backward_columns<V, false>(m, args, ChunkView<A, V>{chunk.get()}, i * V,
                                            thread_width<V>(i * V, args.columns));
        });
        return;
      }
    }
    // the CUDA kernel never caches the locals (they would not fit in shared memory)
    dispatch_bool(M::kCacheLocals && !launch.gpu_path, [&](auto cache) {
      constexpr bool kCache = M::kCacheLocals && decltype(cache)::value;
      constexpr int Wide = backward_wide_lanes<M, kCache, T>(), Narrow = cpu::narrow_lanes<T>();
      cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
        backward_block<Wide, kCache>(m, args, col0, width);
      });
    });
  });
}

// scan_backward_typed<T> where this copy holds T: the float32-only copies of the multi-ISA build
// hold float32 alone and leave the other types to the baseline copy (bindings/cpu_dispatch.cpp).
template <typename T>
void scan_backward_if_held(const ScanBackwardLaunch& launch) {
#if defined(NEUROSIM_CPU_FLOAT32_ONLY)
  if constexpr (!std::is_same_v<T, float>) {
    (void)launch;
    throw std::logic_error("neurosim: this ISA copy of the CPU kernels holds float32 only");
  } else {
    scan_backward_typed<T>(launch);
  }
#else
  scan_backward_typed<T>(launch);
#endif
}

}  // namespace scan_cpu
}  // namespace neurosim
