// CPU implementation of the event-driven outer-product sum declared in events.h.
#include <algorithm>
#include <vector>

#include "cpu_loops.h"
#include "neurosim/events.h"

namespace neurosim {
namespace {

template <typename T>
void event_matmul_typed(const EventMatmulLaunch& launch) {
  using A = typename AccType<T>::type;
  const T* events = static_cast<const T*>(launch.events);
  const T* dense = static_cast<const T*>(launch.dense);
  A* out = static_cast<A*>(launch.out);
  const int64_t S = launch.samples, n_ev = launch.n_events, n_dense = launch.n_dense;
  const A scale = static_cast<A>(launch.scale);

  // Compress, in one pass over `events`: each block of samples lists its nonzero events in its own
  // buffers; the per-sample offsets then point into one concatenation of the blocks.
  constexpr int64_t kSamplesPerBlock = 256;
  const int64_t blocks = (S + kSamplesPerBlock - 1) / kSamplesPerBlock;
  std::vector<std::vector<int32_t>> block_columns(blocks);
  std::vector<std::vector<A>> block_values(blocks);
  std::vector<int64_t> counts(S + 1, 0);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      auto& cols = block_columns[blk];
      auto& vals = block_values[blk];
      for (int64_t s = blk * kSamplesPerBlock; s < std::min(S, (blk + 1) * kSamplesPerBlock); ++s) {
        const T* row = events + s * n_ev;
        const size_t before = cols.size();
        for (int64_t a = 0; a < n_ev; ++a) {
          const A v = static_cast<A>(row[a]);
          if (v != A(0)) {
            cols.push_back(static_cast<int32_t>(a));
            vals.push_back(v * scale);
          }
        }
        counts[s + 1] = static_cast<int64_t>(cols.size() - before);
      }
    }
  });
  std::vector<int64_t> offsets(S + 1, 0);
  for (int64_t s = 0; s < S; ++s) offsets[s + 1] = offsets[s] + counts[s + 1];
  std::vector<int32_t> columns(offsets[S]);
  std::vector<A> values(offsets[S]);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t at_offset = offsets[blk * kSamplesPerBlock];
      std::copy(block_columns[blk].begin(), block_columns[blk].end(), columns.begin() + at_offset);
      std::copy(block_values[blk].begin(), block_values[blk].end(), values.begin() + at_offset);
    }
  });

  // Accumulate: each thread owns a contiguous range of output rows and walks all samples, one
  // column chunk at a time so that the block of `out` it adds into stays in its L2 cache.
  constexpr int64_t kChunk = 1024 / static_cast<int64_t>(sizeof(A));
  const int64_t grain = std::max<int64_t>(1, (n_ev + at::get_num_threads() - 1) / at::get_num_threads());
  at::parallel_for(0, n_ev, grain, [&](int64_t begin, int64_t end) {
    for (int64_t c0 = 0; c0 < n_dense; c0 += kChunk) {
      const int64_t width = std::min(kChunk, n_dense - c0);
      for (int64_t s = 0; s < S; ++s) {
        const int32_t* first = columns.data() + offsets[s];
        const int32_t* last = columns.data() + offsets[s + 1];
        // Columns are sorted within a sample: jump to this thread's range.
        const int32_t* it = std::lower_bound(first, last, static_cast<int32_t>(begin));
        const T* dense_row = dense + s * n_dense + c0;
        for (; it != last && *it < end; ++it) {
          add_scaled_row(out + static_cast<int64_t>(*it) * n_dense + c0, dense_row,
                         values[it - columns.data()], width);
        }
      }
    }
  });
}

}  // namespace

void event_matmul_cpu(const EventMatmulLaunch& a) {
  cpu::dispatch_storage(a.dtype, [&](auto storage) { event_matmul_typed<decltype(storage)>(a); });
}

}  // namespace neurosim
