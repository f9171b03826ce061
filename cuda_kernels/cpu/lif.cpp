// CPU twin of cuda/lif.cu: the same column functions from lif.h, run over blocks of adjacent
// columns (lanes vectorise) with the blocks spread over threads.
#include "cpu_loops.h"
#include "neurosim/lif_dispatch.h"

namespace neurosim {
namespace {

using cpu::dispatch_storage;
using cpu::for_each_block;
using cpu::narrow_lanes;
using cpu::wide_lanes;

template <typename T>
void forward_typed(const LifForwardLaunch& launch) {
  const auto args = typed_forward_args<T>(launch);
  constexpr int Wide = wide_lanes<T>(), Narrow = narrow_lanes<T>();
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
      if (width == Wide) lif_forward_columns<Wide, R>(args, col0);
      else if (width == Narrow) lif_forward_columns<Narrow, R>(args, col0);
      else lif_forward_columns<1, R>(args, col0);
    });
  });
}

template <typename T>
void backward_typed(const LifBackwardLaunch& launch) {
  using A = typename AccType<T>::type;
  const auto args = typed_backward_args<T>(launch);
  constexpr int Wide = wide_lanes<T>(), Narrow = narrow_lanes<T>();
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    dispatch_bool(!launch.detach_reset, [&](auto reset_grad) {
      constexpr bool G = decltype(reset_grad)::value;
      dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                         [&](auto sg) {
        for_each_block<Wide, Narrow>(args.columns, args.steps, [&](int64_t col0, int width) {
          if (width == Wide) lif_backward_columns<Wide, R, G>(args, sg, col0);
          else if (width == Narrow) lif_backward_columns<Narrow, R, G>(args, sg, col0);
          else lif_backward_columns<1, R, G>(args, sg, col0);
        });
      });
    });
  });
}

}  // namespace

void lif_forward_cpu(const LifForwardLaunch& a) {
  dispatch_storage(a.dtype, [&](auto v) { forward_typed<decltype(v)>(a); });
}

void lif_backward_cpu(const LifBackwardLaunch& a) {
  dispatch_storage(a.dtype, [&](auto v) { backward_typed<decltype(v)>(a); });
}

}  // namespace neurosim
