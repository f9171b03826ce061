// CPU twin of cuda/ultralif.cu: the column functions of ultralif.h over blocks of adjacent
// columns (lanes vectorise, including the soft max-plus exp/log polynomials), blocks over threads.
#include <memory>

#include "cpu_loops.h"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {

void ultralif_forward_cpu(const UltraLifForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    const auto args = typed_args<T>(launch);
    constexpr int Wide = cpu::wide_lanes<T>(), Narrow = cpu::narrow_lanes<T>();
    cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
      if (width == Wide) ultralif_forward_columns<Wide>(args, col0);
      else if (width == Narrow) ultralif_forward_columns<Narrow>(args, col0);
      else ultralif_forward_columns<1>(args, col0);
    });
  });
}

// The backward pass caches each chunk's per-step quantities (7 values x 32 steps per lane), so
// its blocks are a quarter as wide as the forward pass's to keep that cache within L2.
template <int W, typename T, typename A>
void ultralif_backward_block(const UltraLifBackwardArgs<T, A>& args, int64_t col0) {
  auto cache = std::make_unique<UltraChunk<W, A>>();
  ultralif_backward_columns<W, true>(args, cache.get(), col0);
}

void ultralif_backward_cpu(const UltraLifBackwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    using T = decltype(storage);
    using A = typename AccType<T>::type;
    const auto args = typed_args<T>(launch);
    constexpr int Wide = cpu::wide_lanes<T>() / 4, Narrow = cpu::narrow_lanes<T>();
    cpu::for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
      if (width == Wide) ultralif_backward_block<Wide, T, A>(args, col0);
      else if (width == Narrow) ultralif_backward_block<Narrow, T, A>(args, col0);
      else ultralif_backward_block<1, T, A>(args, col0);
    });
  });
}

}  // namespace neurosim
