// CPU twin of cuda/lif.cu: the same column functions from lif.h, run over blocks of adjacent
// columns (lanes vectorise) with the blocks spread over threads.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "neurosim/lif_dispatch.h"

namespace neurosim {
namespace {

// A block is a run of adjacent columns walked through all T steps, time outer and lanes inner:
// each step then streams NEUROSIM_CPU_BLOCK_BYTES contiguous bytes of a row (hardware prefetch
// keeps up) while the state stays in L1/L2. Columns left over go in 64-byte blocks, then singly.
#ifndef NEUROSIM_CPU_BLOCK_BYTES
#define NEUROSIM_CPU_BLOCK_BYTES 4096
#endif
template <typename T> constexpr int wide_lanes() { return NEUROSIM_CPU_BLOCK_BYTES / static_cast<int>(sizeof(T)); }
template <typename T> constexpr int narrow_lanes() { return 64 / static_cast<int>(sizeof(T)); }

// Calls run_block(col0, width) over all columns; width is one of Wide, Narrow or 1.
template <int Wide, int Narrow, typename Fn>
void for_each_block(int64_t columns, const Fn& run_block) {
  const int64_t wide_blocks = columns / Wide;
  const int64_t narrow_start = wide_blocks * Wide;
  const int64_t narrow_blocks = (columns - narrow_start) / Narrow;
  const int64_t single_start = narrow_start + narrow_blocks * Narrow;
  const int64_t total = wide_blocks + narrow_blocks + (columns - single_start);
  at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i < wide_blocks) run_block(i * Wide, Wide);
      else if (i < wide_blocks + narrow_blocks) run_block(narrow_start + (i - wide_blocks) * Narrow, Narrow);
      else run_block(single_start + (i - wide_blocks - narrow_blocks), 1);
    }
  });
}

template <typename T>
void forward_typed(const LifForwardLaunch& launch) {
  const auto args = typed_forward_args<T>(launch);
  constexpr int Wide = wide_lanes<T>(), Narrow = narrow_lanes<T>();
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    for_each_block<Wide, Narrow>(args.columns, [&](int64_t col0, int width) {
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
        for_each_block<Wide, Narrow>(args.columns, [&](int64_t col0, int width) {
          if (width == Wide) lif_backward_columns<Wide, R, G>(args, sg, col0);
          else if (width == Narrow) lif_backward_columns<Narrow, R, G>(args, sg, col0);
          else lif_backward_columns<1, R, G>(args, sg, col0);
        });
      });
    });
  });
}

template <typename Fn>
void dispatch_storage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float64: fn(double{}); break;
    case DType::Float16: fn(c10::Half{}); break;
    case DType::BFloat16: fn(c10::BFloat16{}); break;
    case DType::Float32:
    default: fn(float{}); break;
  }
}

}  // namespace

void lif_forward_cpu(const LifForwardLaunch& a) {
  dispatch_storage(a.dtype, [&](auto v) { forward_typed<decltype(v)>(a); });
}

void lif_backward_cpu(const LifBackwardLaunch& a) {
  dispatch_storage(a.dtype, [&](auto v) { backward_typed<decltype(v)>(a); });
}

}  // namespace neurosim
