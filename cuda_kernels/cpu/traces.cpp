// CPU twin of cuda/traces.cu: the column function of traces.h over blocks of adjacent columns
// (lanes vectorise), blocks spread over threads.
#include <algorithm>
#include <vector>

#include "cpu_loops.h"
#include "neurosim/traces.h"

namespace neurosim {
namespace {

// Each thread takes one contiguous range of columns and walks it time-outer in runs of at most
// kMaxRun columns: every step streams one long contiguous piece of the row (prefetch-friendly)
// while the run's traces stay in L1/L2. Ranges are at least 64 bytes wide so threads never share
// a cache line of output.
constexpr int64_t kMaxRun = 4096;

template <bool kReverse, typename T>
void run_columns(const TraceArgs<T, typename AccType<T>::type>& args) {
  using A = typename AccType<T>::type;
  const int64_t threads = at::get_num_threads();
  const int64_t min_width = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t grain = std::max<int64_t>(min_width, (args.columns + threads - 1) / threads);
  at::parallel_for(0, args.columns, grain, [&](int64_t begin, int64_t end) {
    std::vector<A> z(std::min(kMaxRun, end - begin)), decay(z.size());
    for (int64_t col0 = begin; col0 < end; col0 += kMaxRun) {
      trace_columns<kReverse>(args, col0, std::min(kMaxRun, end - col0), z.data(), decay.data());
    }
  });
}

template <typename T>
void trace_typed(const TraceLaunch& launch) {
  const auto args = typed_trace_args<T>(launch);
  if (launch.reverse) run_columns<true>(args);
  else run_columns<false>(args);
}

template <typename T>
void stdp_rows_typed(const StdpRowsLaunch& launch) {
  using A = typename AccType<T>::type;
  const auto args = typed_stdp_rows_args<T>(launch);
  const int64_t threads = at::get_num_threads();
  const int64_t min_width = 64 / static_cast<int64_t>(sizeof(T));
  const int64_t grain = std::max<int64_t>(min_width, (args.columns + threads - 1) / threads);
  at::parallel_for(0, args.columns, grain, [&](int64_t begin, int64_t end) {
    std::vector<A> z(std::min(kMaxRun, end - begin));
    for (int64_t col0 = begin; col0 < end; col0 += kMaxRun) {
      stdp_rows_columns(args, col0, std::min(kMaxRun, end - col0), z.data());
    }
  });
}

}  // namespace

void stdp_rows_cpu(const StdpRowsLaunch& a) {
  cpu::dispatch_storage(a.dtype, [&](auto storage) { stdp_rows_typed<decltype(storage)>(a); });
}

void trace_cpu(const TraceLaunch& a) {
  cpu::dispatch_storage(a.dtype, [&](auto storage) { trace_typed<decltype(storage)>(a); });
}

}  // namespace neurosim
