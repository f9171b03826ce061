// CPU twin of cuda/lif.cu: the same column functions from lif.h, run over blocks of adjacent
// columns (lanes vectorise) with the blocks spread over threads.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "neurosim/lif_dispatch.h"

namespace neurosim {
namespace {

// Bytes of one row that a block handles: several cache lines, so each time step's loads and
// stores run sequentially within a row (hardware prefetch) while the lanes vectorise.
#ifndef NEUROSIM_CPU_BLOCK_BYTES
#define NEUROSIM_CPU_BLOCK_BYTES 256
#endif
template <typename T> constexpr int lanes() { return NEUROSIM_CPU_BLOCK_BYTES / static_cast<int>(sizeof(T)); }

template <typename Fn>
void for_each_block(int64_t columns, int W, const Fn& run_block) {
  const int64_t full_blocks = columns / W;
  const int64_t tail_start = full_blocks * W;
  // Each block streams T rows, so even one block is a sizeable unit of work.
  at::parallel_for(0, full_blocks + (columns - tail_start), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i < full_blocks) run_block(i * W, true);
      else run_block(tail_start + (i - full_blocks), false);
    }
  });
}

template <typename T>
void forward_typed(const LifForwardLaunch& launch) {
  const auto args = typed_forward_args<T>(launch);
  constexpr int W = lanes<T>();
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    for_each_block(args.columns, W, [&](int64_t col0, bool full) {
      if (full) lif_forward_columns<W, R>(args, col0);
      else lif_forward_columns<1, R>(args, col0);
    });
  });
}

template <typename T>
void backward_typed(const LifBackwardLaunch& launch) {
  using A = typename AccType<T>::type;
  const auto args = typed_backward_args<T>(launch);
  constexpr int W = lanes<T>();
  dispatch_reset(launch.reset, [&](auto tag) {
    constexpr Reset R = decltype(tag)::value;
    dispatch_surrogate(static_cast<SurrogateKind>(launch.surrogate), static_cast<A>(launch.surrogate_param),
                       [&](auto sg) {
      for_each_block(args.columns, W, [&](int64_t col0, bool full) {
        if (full) lif_backward_columns<W, R>(args, sg, col0);
        else lif_backward_columns<1, R>(args, sg, col0);
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
