// CPU twin of cuda/traces.cu: the column function of traces.h over blocks of adjacent columns
// (lanes vectorise), blocks spread over threads.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "neurosim/traces.h"

namespace neurosim {
namespace {

// A block streams 4 KiB of each time row while its traces stay in registers/L1; columns left
// over go in 64-byte blocks, then singly (a single column walks T rows one element at a time).
template <typename T> constexpr int wide_lanes() { return 4096 / static_cast<int>(sizeof(T)); }
template <typename T> constexpr int narrow_lanes() { return 64 / static_cast<int>(sizeof(T)); }

template <bool kReverse, typename T>
void run_columns(const TraceArgs<T, typename AccType<T>::type>& args) {
  constexpr int Wide = wide_lanes<T>(), Narrow = narrow_lanes<T>();
  const int64_t wide_blocks = args.columns / Wide;
  const int64_t narrow_start = wide_blocks * Wide;
  const int64_t narrow_blocks = (args.columns - narrow_start) / Narrow;
  const int64_t single_start = narrow_start + narrow_blocks * Narrow;
  const int64_t total = wide_blocks + narrow_blocks + (args.columns - single_start);
  at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i < wide_blocks) trace_columns<Wide, kReverse>(args, i * Wide);
      else if (i < wide_blocks + narrow_blocks) trace_columns<Narrow, kReverse>(args, narrow_start + (i - wide_blocks) * Narrow);
      else trace_columns<1, kReverse>(args, single_start + (i - wide_blocks - narrow_blocks));
    }
  });
}

template <typename T>
void trace_typed(const TraceLaunch& launch) {
  const auto args = typed_trace_args<T>(launch);
  if (launch.reverse) run_columns<true>(args);
  else run_columns<false>(args);
}

}  // namespace

void trace_cpu(const TraceLaunch& a) {
  switch (a.dtype) {
    case DType::Float64: trace_typed<double>(a); break;
    case DType::Float16: trace_typed<c10::Half>(a); break;
    case DType::BFloat16: trace_typed<c10::BFloat16>(a); break;
    case DType::Float32:
    default: trace_typed<float>(a); break;
  }
}

}  // namespace neurosim
