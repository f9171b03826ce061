// CPU twin of cuda/scan.cu, forward pass (the other is cpu/scan_backward.cpp; two files so they compile in
// parallel): the column functions of scan.h for every model of scan_models.h, run
// over blocks of adjacent columns (lanes vectorise) with the blocks spread over threads. One
// instantiation per model serves every block width (the leftover narrow blocks and single
// columns too), which keeps the build small.
#include <memory>

#include "scan_args.h"

namespace neurosim {

using scan_cpu::typed;

void scan_forward_cpu(const ScanForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed<T, A>(launch);
    constexpr int Wide = cpu::wide_lanes<T>(), Narrow = cpu::narrow_lanes<T>();
    dispatch_model<A, false>(launch.options, [&](const auto& m) {
      dispatch_bool(launch.trace != nullptr, [&](auto record) {
        constexpr bool kRecord = decltype(record)::value;
        if constexpr (scan_cpu::kHasGpuPath<T>) {
          if (launch.gpu_path) {  // the CUDA thread's body, one thread's columns at a time
            constexpr int V = kGpuThreadLanes<T>;
            at::parallel_for(0, (args.columns + V - 1) / V, 64, [&](int64_t begin, int64_t end) {
              for (int64_t i = begin; i < end; ++i)
                scan_forward_columns<V, kRecord>(m, args, i * V, scan_cpu::thread_width<V>(i * V, args.columns));
            });
            return;
          }
        }
        cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
          scan_forward_columns<Wide, kRecord>(m, args, col0, width);
        });
      });
    });
  });
}

}  // namespace neurosim
