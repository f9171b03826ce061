// The scan's CPU kernels alone against the bare elementwise pass (benchmarks/scan_kernel_gap.py).
// Runs the library's column functions (cuda_kernels/include/neurosim/scan.h) over blocks of the
// library's width for float32 (1024 lanes; 512 for two state variables), with the upstream
// gradient of out.sum() (one value, column stride 0), every parameter gradient and dL/dx, on
// prefaulted buffers, so that neither page faults nor Python and autograd are in the figures.
// usage: kernel_gap <model: lif|synaptic|alif|li|bare> <n> <rounds>; prints "fwd_ms bwd_ms".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "neurosim/alif.h"
#include "neurosim/li.h"
#include "neurosim/lif.h"
#include "neurosim/scan.h"
#include "neurosim/synaptic.h"

using namespace neurosim;
using Clock = std::chrono::steady_clock;

static double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr long kSteps = 500, kBatch = 16;

template <class M>
static int run(const M& m, const std::vector<float>& param_values, long n, long rounds) {
  constexpr int S = M::kState, P = M::kParams;
  constexpr int W = ChunkRows<M, false>::value <= 40 ? 1024 : 512;  // as scan_backward_typed.h
  const long cols = kBatch * n, size = kSteps * cols;
  std::vector<float> x(size), out(size), gx(size), state0(S * cols, 0.f), final_state(S * cols);
  std::vector<float> checkpoints(num_checkpoints(kSteps) * S * cols), grad_state0(S * cols);
  std::vector<float> params[P], grad_params[P];
  for (long i = 0; i < size; ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) * 0.0015f - 0.45f;
  const float upstream = 1.f;  // d(out.sum())/d(out): one value, strides 0
  ScanForwardArgs<float, float> f{};
  ScanBackwardArgs<float, float> b{};
  for (int j = 0; j < P; ++j) {
    params[j].assign(1, param_values[j]);
    grad_params[j].assign(cols, 0.f);
    f.params[j] = b.params[j] = params[j].data();
    f.per_feature[j] = b.per_feature[j] = false;
    b.grad_param_cols[j] = grad_params[j].data();
  }
  f.x = x.data(); f.state0 = state0.data(); f.out = out.data(); f.state_final = final_state.data();
  f.checkpoints = checkpoints.data(); f.steps = kSteps; f.columns = cols; f.features = n;
  b.grad_out = &upstream; b.go_t_stride = 0; b.go_c_stride = 0; b.x = x.data(); b.checkpoints = checkpoints.data();
  b.grad_x = gx.data(); b.grad_state0 = grad_state0.data(); b.steps = kSteps; b.columns = cols; b.features = n;
  constexpr int kStride = kChunkRowStride<float, W>;  // as scan_backward_typed.h
  std::unique_ptr<float[]> chunk(new float[static_cast<size_t>(ChunkRows<M, false>::value) * kStride]);
  double best_f = 1e30, best_b = 1e30;
  for (long r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    for (long c = 0; c < cols; c += W) scan_forward_columns<W, false>(m, f, c, static_cast<int>(std::min<long>(W, cols - c)));
    best_f = std::min(best_f, ms_since(t0));
    t0 = Clock::now();
    for (long c = 0; c < cols; c += W)
      scan_backward_columns<W, false>(m, b, ChunkView<float, kStride>{chunk.get()}, c, static_cast<int>(std::min<long>(W, cols - c)));
    best_b = std::min(best_b, ms_since(t0));
  }
  std::printf("%.4f %.4f %g\n", best_f, best_b, static_cast<double>(gx[size / 3] + out[size / 2]));
  return 0;
}

static int bare(long n, long rounds) {
  const long size = kSteps * kBatch * n;
  std::vector<float> x(size), g(size, 1.f), out(size), gx(size);
  for (long i = 0; i < size; ++i) x[i] = static_cast<float>((i * 2654435761u) % 1000) * 0.001f;
  double best_f = 1e30, best_b = 1e30;
  for (long r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    {
      float* __restrict__ o = out.data();
      const float* __restrict__ xi = x.data();
      for (long i = 0; i < size; ++i) o[i] = xi[i] * 0.9f;
    }
    best_f = std::min(best_f, ms_since(t0));
    t0 = Clock::now();
    {
      float* __restrict__ o = gx.data();
      const float* __restrict__ gi = g.data();
      const float* __restrict__ xi = x.data();
      for (long i = 0; i < size; ++i) o[i] = gi[i] * xi[i];
    }
    best_b = std::min(best_b, ms_since(t0));
  }
  std::printf("%.4f %.4f %g\n", best_f, best_b, static_cast<double>(out[size / 2] + gx[size / 3]));
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: kernel_gap <lif|synaptic|alif|li|bare> <n> <rounds>\n");
    return 2;
  }
  const char* model = argv[1];
  const long n = std::atol(argv[2]), rounds = std::atol(argv[3]);
  if (n <= 0 || rounds <= 0) {
    std::fprintf(stderr, "kernel_gap: n and rounds must be positive\n");
    return 2;
  }
  // the modules' defaults: fast sigmoid (slope 25), subtract reset, detached reset
  using SG = FastSigmoidGrad<float>;
  const SG sg{25.f};
  if (!std::strcmp(model, "lif")) return run(LifModel<Reset::Subtract, false, float, SG>{sg}, {0.9f, 1.f}, n, rounds);
  if (!std::strcmp(model, "synaptic"))
    return run(SynapticModel<Reset::Subtract, false, float, SG>{sg}, {0.8f, 0.9f, 1.f}, n, rounds);
  if (!std::strcmp(model, "alif"))
    return run(AlifModel<Reset::Subtract, false, float, SG>{sg}, {0.9f, 0.95f, 0.5f, 1.f}, n, rounds);
  if (!std::strcmp(model, "li")) return run(LiModel<float>{}, {0.9f}, n, rounds);
  if (!std::strcmp(model, "bare")) return bare(n, rounds);
  std::fprintf(stderr, "kernel_gap: unknown model %s\n", model);
  return 2;
}
