// CPU twin of cuda/scan.cu: the column functions of scan.h for every model of scan_models.h, run
// over blocks of adjacent columns (lanes vectorise) with the blocks spread over threads. One
// instantiation per model serves every block width (the leftover narrow blocks and single
// columns too), which keeps the build small.
#include <memory>

#include "cpu_loops.h"
#include "neurosim/scan.h"
#include "neurosim/scan_launch.h"
#include "neurosim/scan_models.h"

namespace neurosim {
namespace {

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
  p.steps = a.steps;
  p.columns = a.columns;
  p.features = a.features;
  return p;
}

// The backward chunk of a block holds ChunkRows<M, kCache>::value values per lane; blocks are narrowed so
// that it stays within L2 next to the streamed rows (about 33 values per lane at full width).
template <class M, bool kCache, typename T>
constexpr int backward_wide_lanes() {
  constexpr int rows = ChunkRows<M, kCache>::value;
  constexpr int shrink = rows <= 40 ? 1 : rows <= 80 ? 2 : 4;
  return cpu::wide_lanes<T>() / shrink;
}

template <int W, bool kCache, class M, typename T, typename A>
void backward_block(const M& m, const ScanBackwardArgs<T, A>& args, int64_t col0, int width) {
  constexpr int rows = ChunkRows<M, kCache>::value;
  std::unique_ptr<A[]> buffer(new A[static_cast<size_t>(rows) * W]);
  scan_backward_columns<W, kCache>(m, args, ChunkView<A, W>{buffer.get()}, col0, width);
}

}  // namespace

void scan_forward_cpu(const ScanForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed<T, A>(launch);
    constexpr int Wide = cpu::wide_lanes<T>(), Narrow = cpu::narrow_lanes<T>();
    dispatch_model<A>(launch.options, false, [&](const auto& m) {
      dispatch_bool(launch.trace != nullptr, [&](auto record) {
        constexpr bool kRecord = decltype(record)::value;
        cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
          scan_forward_columns<Wide, kRecord>(m, args, col0, width);
        });
      });
    });
  });
}

void scan_backward_cpu(const ScanBackwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed<T, A>(launch);
    dispatch_model<A>(launch.options, true, [&](const auto& m) {
      using M = std::decay_t<decltype(m)>;
      // the CUDA kernel never caches the locals (they would not fit in shared memory)
      dispatch_bool(M::kCacheLocals && !launch.gpu_path, [&](auto cache) {
        constexpr bool kCache = M::kCacheLocals && decltype(cache)::value;
        constexpr int Wide = backward_wide_lanes<M, kCache, T>(), Narrow = cpu::narrow_lanes<T>();
        cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
          backward_block<Wide, kCache>(m, args, col0, width);
        });
      });
    });
  });
}

}  // namespace neurosim
