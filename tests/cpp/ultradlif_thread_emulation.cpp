// Runs the CUDA UltraDLIF kernels' work decomposition on the CPU: the same per-thread code of
// neurosim/ultradlif.h (RingForwardThread / RingBackwardThread for the on-chip kernels, the
// ring_global_* phases for the global-memory kernels), with "threads" run one after another and
// the barrier and the edge exchange of cuda/ultradlif.cu (shared memory within a block, the
// cluster's neighbour blocks at the block edges) emulated in the same order. Only launch
// configuration and synchronisation stay untested without a GPU.
//
//   ultradlif_thread_emulation DIR FORM T B N BLOCKS THREADS K PER_FEATURE HAS_GRAD_MEMBRANE
//
// reads DIR/{x,v0,tau,eps,theta,grad_spikes,grad_state,grad_membrane}.bin (float64, row-major),
// writes DIR/{onchip,global}_{spikes,state,membrane,grad_x,grad_v0,grad_tau,grad_eps,grad_theta}.bin.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "neurosim/ultradlif.h"

using namespace neurosim;
using Vec = std::vector<double>;

namespace {

Vec read_file(const std::string& path, size_t count) {
  Vec v(count);
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr || std::fread(v.data(), sizeof(double), count, f) != count) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::fclose(f);
  return v;
}

void write_file(const std::string& path, const Vec& v) {
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(v.data(), sizeof(double), v.size(), f);
  std::fclose(f);
}

struct Problem {
  int form;
  int64_t steps, batch, n;
  int blocks, threads;
  bool per_feature, has_grad_membrane;
  Vec x, v0, tau, eps, theta, grad_spikes, grad_state, grad_membrane;
};

struct Outputs {
  Vec spikes, state, membrane, grad_x, grad_v0, grad_tau, grad_eps, grad_theta;
};

// exchange_edges of cuda/ultradlif.cu: the previous thread's `last` (the previous block's last
// thread, cyclically in the cluster, for thread 0) and the next thread's `first`.
template <typename A>
RingEdges<A> exchange(const std::vector<RingEdges<A>>& published, int blocks, int threads, int rank, int thread) {
  const auto at = [&](int r, int th) { return published[static_cast<size_t>(r) * threads + th]; };
  RingEdges<A> in;
  in.first = thread > 0 ? at(rank, thread - 1).last : at((rank + blocks - 1) % blocks, threads - 1).last;
  in.last = thread + 1 < threads ? at(rank, thread + 1).first : at((rank + 1) % blocks, 0).first;
  return in;
}

template <RingForm F, int K>
void run_onchip(const Problem& pr, const UltraDlifForwardArgs<double, double>& fa,
                const UltraDlifBackwardArgs<double, double>& ba) {
  const int64_t row_threads = static_cast<int64_t>(pr.blocks) * pr.threads;
  for (int64_t b = 0; b < pr.batch; ++b) {  // one cluster per row
    std::vector<RingForwardThread<F, K, double, double>> fwd(row_threads);
    std::vector<RingEdges<double>> published(row_threads);
    for (int64_t g = 0; g < row_threads; ++g) fwd[g].init(fa, b, ring_slice(pr.n, g, row_threads));
    for (int64_t t = 0; t < pr.steps; ++t) {
      for (int64_t g = 0; g < row_threads; ++g) {
        published[g] = fwd[g].publish(fa, t);
        fwd[g].load_current(fa, t + 1);
      }
      // row_sync()
      for (int r = 0; r < pr.blocks; ++r)
        for (int th = 0; th < pr.threads; ++th) {
          const RingEdges<double> in = exchange(published, pr.blocks, pr.threads, r, th);
          fwd[static_cast<size_t>(r) * pr.threads + th].finish(fa, t, in.first, in.last);
        }
    }
    for (int64_t g = 0; g < row_threads; ++g) fwd[g].store_state(fa);
  }
  for (int64_t b = 0; b < pr.batch; ++b) {
    std::vector<RingBackwardThread<F, K, double, double>> bwd(row_threads);
    std::vector<RingEdges<double>> published(row_threads);
    for (int64_t g = 0; g < row_threads; ++g) bwd[g].init(ba, b, ring_slice(pr.n, g, row_threads));
    for (int64_t t = pr.steps - 1; t >= 0; --t) {
      for (int64_t g = 0; g < row_threads; ++g) published[g] = bwd[g].before_exchange(ba, t);
      for (int r = 0; r < pr.blocks; ++r)
        for (int th = 0; th < pr.threads; ++th) {
          const RingEdges<double> in = exchange(published, pr.blocks, pr.threads, r, th);
          auto& thread = bwd[static_cast<size_t>(r) * pr.threads + th];
          thread.finish(ba, t, in.first, in.last);
          thread.advance();
        }
    }
    for (int64_t g = 0; g < row_threads; ++g) bwd[g].store(ba);
  }
}

template <RingForm F>
void run_global(const Problem& pr, const UltraDlifForwardArgs<double, double>& fa,
                const UltraDlifBackwardArgs<double, double>& ba) {
  for (int64_t b = 0; b < pr.batch; ++b) {  // one block per row; its threads stride over the row
    for (int64_t t = 0; t < pr.steps; ++t) {
      for (int64_t i = 0; i < pr.n; ++i) ring_global_forward_phase1<F>(fa, b, t, i);
      for (int64_t i = 0; i < pr.n; ++i) ring_global_forward_phase2<F>(fa, b, t, i);
    }
    for (int64_t t = pr.steps - 1; t >= 0; --t) {
      for (int64_t i = 0; i < pr.n; ++i) ring_global_backward_phase1<F>(ba, b, t, i);
      for (int64_t j = 0; j < pr.n; ++j) ring_global_backward_phase2<F>(ba, b, t, j);
    }
  }
}

Outputs run(const Problem& pr, bool onchip, int k) {
  const int64_t steps_elems = pr.steps * pr.batch * pr.n, row_elems = pr.batch * pr.n;
  Outputs o;
  o.spikes.assign(steps_elems, 0.0);
  o.membrane.assign(steps_elems, 0.0);
  o.state = pr.v0;
  UltraDlifForwardArgs<double, double> fa{pr.x.data(), pr.tau.data(), pr.eps.data(), pr.theta.data(),
                                          o.spikes.data(), o.state.data(), o.membrane.data(), pr.steps,
                                          pr.batch, pr.n, pr.per_feature, pr.per_feature, pr.per_feature};
  o.grad_x.assign(steps_elems, 0.0);
  o.grad_v0 = pr.grad_state;
  o.grad_tau.assign(row_elems, 0.0);
  o.grad_eps.assign(row_elems, 0.0);
  o.grad_theta.assign(row_elems, 0.0);
  Vec scratch_a(row_elems), scratch_b(row_elems), scratch_c(row_elems);
  UltraDlifBackwardArgs<double, double> ba{
      pr.grad_spikes.data(), pr.has_grad_membrane ? pr.grad_membrane.data() : nullptr, pr.x.data(), pr.v0.data(),
      o.membrane.data(), pr.tau.data(), pr.eps.data(), pr.theta.data(), o.grad_x.data(), o.grad_v0.data(),
      scratch_a.data(), scratch_b.data(), scratch_c.data(), o.grad_tau.data(), o.grad_eps.data(),
      o.grad_theta.data(), pr.steps, pr.batch, pr.n, pr.per_feature, pr.per_feature, pr.per_feature};
  const bool ablation = pr.form == 1;
  if (!onchip) {
    ablation ? run_global<RingForm::Ablation>(pr, fa, ba) : run_global<RingForm::Library>(pr, fa, ba);
  } else if (k == 2) {
    ablation ? run_onchip<RingForm::Ablation, 2>(pr, fa, ba) : run_onchip<RingForm::Library, 2>(pr, fa, ba);
  } else {
    ablation ? run_onchip<RingForm::Ablation, 4>(pr, fa, ba) : run_onchip<RingForm::Library, 4>(pr, fa, ba);
  }
  return o;
}

void write_outputs(const std::string& dir, const std::string& prefix, const Outputs& o) {
  write_file(dir + "/" + prefix + "_spikes.bin", o.spikes);
  write_file(dir + "/" + prefix + "_state.bin", o.state);
  write_file(dir + "/" + prefix + "_membrane.bin", o.membrane);
  write_file(dir + "/" + prefix + "_grad_x.bin", o.grad_x);
  write_file(dir + "/" + prefix + "_grad_v0.bin", o.grad_v0);
  write_file(dir + "/" + prefix + "_grad_tau.bin", o.grad_tau);
  write_file(dir + "/" + prefix + "_grad_eps.bin", o.grad_eps);
  write_file(dir + "/" + prefix + "_grad_theta.bin", o.grad_theta);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11) {
    std::fprintf(stderr, "usage: %s DIR FORM T B N BLOCKS THREADS K PER_FEATURE HAS_GRAD_MEMBRANE\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  Problem pr;
  pr.form = std::atoi(argv[2]);
  pr.steps = std::atoll(argv[3]);
  pr.batch = std::atoll(argv[4]);
  pr.n = std::atoll(argv[5]);
  pr.blocks = std::atoi(argv[6]);
  pr.threads = std::atoi(argv[7]);
  const int k = std::atoi(argv[8]);
  pr.per_feature = std::atoi(argv[9]) != 0;
  pr.has_grad_membrane = std::atoi(argv[10]) != 0;
  const int64_t row_threads = static_cast<int64_t>(pr.blocks) * pr.threads;
  if ((k != 2 && k != 4) || row_threads > pr.n || (pr.n + row_threads - 1) / row_threads > k) {
    std::fprintf(stderr, "layout does not fit: every thread must own 1..K neurons, K in {2, 4}\n");
    return 2;
  }
  const size_t steps_elems = pr.steps * pr.batch * pr.n, row_elems = pr.batch * pr.n;
  const size_t params = pr.per_feature ? pr.n : 1;
  pr.x = read_file(dir + "/x.bin", steps_elems);
  pr.v0 = read_file(dir + "/v0.bin", row_elems);
  pr.tau = read_file(dir + "/tau.bin", params);
  pr.eps = read_file(dir + "/eps.bin", params);
  pr.theta = read_file(dir + "/theta.bin", params);
  pr.grad_spikes = read_file(dir + "/grad_spikes.bin", steps_elems);
  pr.grad_state = read_file(dir + "/grad_state.bin", row_elems);
  if (pr.has_grad_membrane) pr.grad_membrane = read_file(dir + "/grad_membrane.bin", steps_elems);
  write_outputs(dir, "onchip", run(pr, true, k));
  write_outputs(dir, "global", run(pr, false, k));
  return 0;
}
