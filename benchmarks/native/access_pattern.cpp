// What the order of memory accesses alone costs a time scan on this CPU (issue 10's bare-pass
// target). A scan over [T, M] tensors (time-major, M = B * n columns) must carry each column's
// state from step to step, so the CPU twin walks a block of W adjacent columns through all T
// steps before the next block: each step reads and writes one W-wide piece of a row, and the
// rows are M floats apart. The bare elementwise pass streams the same tensors front to back.
//
// Timed here, each the minimum of `rounds` runs over the same arrays (no page faults):
//   linear        out[i] = 0.9 x[i] over the whole tensor (the bare pass's forward)
//   block copy    the same arithmetic in the scan's order: W columns through all T steps
//   block lif     a LIF step in the scan's order (state in a W-lane array, spikes out)
//   row lif       a LIF step with whole rows (W = M): the state array of all M columns
//                 streams beside the rows
//
//   access_pattern <n> <W> <rounds>     prints one line: n W linear block_copy block_lif row_lif (ms)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

void linear(const float* __restrict__ x, float* __restrict__ out, long size) {
  for (long i = 0; i < size; ++i) out[i] = x[i] * 0.9f;
}

void block_copy(const float* __restrict__ x, float* __restrict__ out, long steps, long cols, long width) {
  for (long c0 = 0; c0 < cols; c0 += width) {
    const long w = std::min(width, cols - c0);
    for (long t = 0; t < steps; ++t) {
      const float* __restrict__ xr = x + t * cols + c0;
      float* __restrict__ outr = out + t * cols + c0;
      for (long l = 0; l < w; ++l) outr[l] = xr[l] * 0.9f;
    }
  }
}

// u_t = (0.9 u_{t-1} + x_t) - H(u_{t-1} - 1), s_t = H(u_t - 1): LIF with subtractive reset
void lif(const float* __restrict__ x, float* __restrict__ out, float* __restrict__ state, long steps, long cols,
         long width) {
  for (long c0 = 0; c0 < cols; c0 += width) {
    const long w = std::min(width, cols - c0);
    float* __restrict__ u = state;
    for (long l = 0; l < w; ++l) u[l] = 0.f;
    for (long t = 0; t < steps; ++t) {
      const float* __restrict__ xr = x + t * cols + c0;
      float* __restrict__ outr = out + t * cols + c0;
      for (long l = 0; l < w; ++l) {
        const float reset = u[l] - 1.f > 0.f ? 1.f : 0.f;
        const float next = (0.9f * u[l] + xr[l]) - reset;
        u[l] = next;
        outr[l] = next - 1.f > 0.f ? 1.f : 0.f;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: access_pattern <n> <W> <rounds>\n");
    return 2;
  }
  const long n = std::atol(argv[1]), width = std::atol(argv[2]), rounds = std::atol(argv[3]);
  const long steps = 500, cols = 16 * n, size = steps * cols;
  if (n <= 0 || width <= 0 || rounds <= 0) {
    std::fprintf(stderr, "access_pattern: n, W and rounds must be positive\n");
    return 2;
  }
  std::vector<float> x(size), out(size), state(cols);
  for (long i = 0; i < size; ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) * 0.001f;
  double best[4] = {1e30, 1e30, 1e30, 1e30};
  double checksum = 0;
  for (long r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    linear(x.data(), out.data(), size);
    best[0] = std::min(best[0], ms_since(t0));
    t0 = Clock::now();
    block_copy(x.data(), out.data(), steps, cols, width);
    best[1] = std::min(best[1], ms_since(t0));
    t0 = Clock::now();
    lif(x.data(), out.data(), state.data(), steps, cols, width);
    best[2] = std::min(best[2], ms_since(t0));
    t0 = Clock::now();
    lif(x.data(), out.data(), state.data(), steps, cols, cols);
    best[3] = std::min(best[3], ms_since(t0));
    checksum += out[(r * 7919) % size];
  }
  std::printf("%ld %ld %.4f %.4f %.4f %.4f %g\n", n, width, best[0], best[1], best[2], best[3], checksum);
  return 0;
}
