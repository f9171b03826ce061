// CPU twin of cuda/traces.cu: the column function of traces.h over blocks of adjacent columns
// (lanes vectorise), blocks spread over threads.
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "neurosim/traces.h"

namespace neurosim {
namespace {

// One block streams 4 KiB of each time row while its traces stay in registers/L1; the columns
// that do not fill a block are run one by one.
template <typename T> constexpr int block_lanes() { return 4096 / static_cast<int>(sizeof(T)); }

template <bool kReverse, typename T>
void run_columns(const TraceArgs<T, typename AccType<T>::type>& args) {
  constexpr int W = block_lanes<T>();
  const int64_t blocks = args.columns / W;
  const int64_t tail_start = blocks * W;
  const int64_t total = blocks + (args.columns - tail_start);
  at::parallel_for(0, total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i < blocks) trace_columns<W, kReverse>(args, i * W);
      else trace_columns<1, kReverse>(args, tail_start + (i - blocks));
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
