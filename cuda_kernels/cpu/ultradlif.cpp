// CPU twin of cuda/ultradlif.cu: one batch row per task, walked through all T steps with the row's
// state in small per-row buffers that stay in L1/L2. The ring values each pass reads at i - 1 and
// i + 1 sit in buffers with one ghost cell at each end (index 0 holds the last neuron, index n + 1
// the first), so every pass is one branch-free loop over the row that vectorises; the per-neuron
// math is the shared code of neurosim/ultradlif.h. Per-element parameters are expanded to rows once.
#include <vector>

#include "cpu_loops.h"
#include "neurosim/ultra_dispatch.h"

namespace neurosim {
namespace {

// Small problems run on the calling thread: waking the pool costs more than they do.
int64_t rows_per_task(int64_t steps, int64_t features) {
  const int64_t work = steps * features;
  return work >= cpu::kSerialWork ? 1 : (cpu::kSerialWork + work - 1) / (work > 0 ? work : 1);
}

// A ring buffer of n values with ghost cells: data()[0] = value n - 1, data()[n + 1] = value 0.
template <typename A> struct GhostRow {
  std::vector<A> cells;
  explicit GhostRow(int64_t n) : cells(static_cast<size_t>(n + 2), A(0)) {}
  A* body() { return cells.data() + 1; }  // body()[-1] and body()[n] are the ghosts
  void wrap(int64_t n) {
    cells[0] = cells[n];
    cells[n + 1] = cells[1];
  }
};

// The parameters as rows of n values (a scalar is repeated), shared read-only by every task.
template <typename A> struct ParamRows {
  std::vector<A> tau, eps, theta;
  template <typename Args>
  explicit ParamRows(const Args& p) : tau(p.features), eps(p.features), theta(p.features) {
    for (int64_t i = 0; i < p.features; ++i) {
      const RingParams<A> q = ring_params(p, i);
      tau[i] = q.tau;
      eps[i] = q.eps;
      theta[i] = q.theta;
    }
  }
};

template <typename Fn>
void for_each_row(int64_t batch, int64_t steps, int64_t features, const Fn& fn) {
  at::parallel_for(0, batch, rows_per_task(steps, features), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) fn(b);
  });
}

// ---- forward ----------------------------------------------------------------------------------

template <RingForm F, typename T, typename A>
void forward_rows(const UltraDlifForwardArgs<T, A>& p) {
  const int64_t n = p.features, stride = p.batch * n;
  const ParamRows<A> params(p);
  for_each_row(p.batch, p.steps, n, [&](int64_t b) {
    const A* __restrict tau = params.tau.data();
    const A* __restrict eps = params.eps.data();
    const A* __restrict theta = params.theta.data();
    A* __restrict state = p.state + b * n;
    if (F == RingForm::Library) {
      // v stays in the state row; W goes to a ghosted row, then to the trace.
      GhostRow<A> ring(n);
      A* __restrict w = ring.body();
      for (int64_t t = 0; t < p.steps; ++t) {
        const T* __restrict x = p.x + t * stride + b * n;
        A* __restrict m = p.membrane + t * stride + b * n;
        T* __restrict s = p.spikes + t * stride + b * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const A wi = ring_membrane<F>(A(0), state[i], A(0), convert<A>(x[i]), tau[i], eps[i]);
          w[i] = wi;
          m[i] = wi;
        }
        ring.wrap(n);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const RingFire<A> f = ring_fire<F>(w[i - 1], w[i], w[i + 1], eps[i], theta[i]);
          s[i] = convert<T>(f.spike);
          state[i] = f.state;
        }
      }
    } else {
      // V_{t-1} is read at i +- 1 while V_t is written: two ghosted rows, swapped each step.
      GhostRow<A> ring_a(n), ring_b(n);
      GhostRow<A>* old_row = &ring_a;
      GhostRow<A>* new_row = &ring_b;
      for (int64_t i = 0; i < n; ++i) old_row->body()[i] = state[i];
      old_row->wrap(n);
      for (int64_t t = 0; t < p.steps; ++t) {
        const T* __restrict x = p.x + t * stride + b * n;
        A* __restrict m = p.membrane + t * stride + b * n;
        T* __restrict s = p.spikes + t * stride + b * n;
        const A* __restrict v_old = old_row->body();
        A* __restrict v_new = new_row->body();
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) {
          const A wi = ring_membrane<F>(v_old[i - 1], v_old[i], v_old[i + 1], convert<A>(x[i]), tau[i], eps[i]);
          m[i] = wi;
          const RingFire<A> f = ring_fire<F>(A(0), wi, A(0), eps[i], theta[i]);
          s[i] = convert<T>(f.spike);
          v_new[i] = f.state;
        }
        new_row->wrap(n);
        GhostRow<A>* swap = old_row;
        old_row = new_row;
        new_row = swap;
      }
      const A* __restrict v_old = old_row->body();
      for (int64_t i = 0; i < n; ++i) state[i] = v_old[i];
    }
  });
}

// ---- backward ---------------------------------------------------------------------------------

// Step t's read and soft max as rows (structure of arrays, so that the passes vectorise).
template <typename A> struct StepRows {
  std::vector<A> w, dsig, sneg, u, left, centre, right, entropy;
  explicit StepRows(int64_t n) : w(n), dsig(n), sneg(n), u(n), left(n), centre(n), right(n), entropy(n) {}
  void swap(StepRows& o) {
    w.swap(o.w); dsig.swap(o.dsig); sneg.swap(o.sneg); u.swap(o.u);
    left.swap(o.left); centre.swap(o.centre); right.swap(o.right); entropy.swap(o.entropy);
  }
};

template <typename A> struct StepView {
  A* __restrict w; A* __restrict dsig; A* __restrict sneg; A* __restrict u;
  A* __restrict left; A* __restrict centre; A* __restrict right; A* __restrict entropy;
  explicit StepView(StepRows<A>& r)
      : w(r.w.data()), dsig(r.dsig.data()), sneg(r.sneg.data()), u(r.u.data()), left(r.left.data()),
        centre(r.centre.data()), right(r.right.data()), entropy(r.entropy.data()) {}
  NEUROSIM_HD RingStep<A> get(int64_t i) const {
    return {w[i], dsig[i], sneg[i], u[i], left[i], centre[i], right[i], entropy[i]};
  }
  NEUROSIM_HD void put(int64_t i, const RingStep<A>& s) const {
    w[i] = s.w; dsig[i] = s.dsig; sneg[i] = s.sneg; u[i] = s.u;
    left[i] = s.left; centre[i] = s.centre; right[i] = s.right; entropy[i] = s.entropy;
  }
};

// Step t's read (library: and its soft max over W_t) for the whole row, from the trace.
template <RingForm F, typename A>
void load_step_row(const A* __restrict trace, GhostRow<A>& ring, int64_t n, const A* __restrict eps,
                   const A* __restrict theta, const StepView<A>& out) {
  if (F == RingForm::Library) {
    A* __restrict w = ring.body();
    for (int64_t i = 0; i < n; ++i) w[i] = trace[i];
    ring.wrap(n);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out.put(i, ring_step_library(w[i - 1], w[i], w[i + 1], eps[i], theta[i]));
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out.put(i, ring_step_ablation_read(trace[i], eps[i], theta[i]));
  }
}

template <RingForm F, typename T, typename A>
void backward_rows(const UltraDlifBackwardArgs<T, A>& p) {
  const int64_t n = p.features, stride = p.batch * n;
  const ParamRows<A> params(p);
  const std::vector<A> zeros(p.grad_membrane == nullptr ? n : 0, A(0));
  for_each_row(p.batch, p.steps, n, [&](int64_t b) {
    const A* __restrict tau = params.tau.data();
    const A* __restrict eps = params.eps.data();
    const A* __restrict theta = params.theta.data();
    A* __restrict carry = p.carry + b * n;  // dL/dV_t, in place
    A* __restrict g_tau = p.grad_tau_elems + b * n;
    A* __restrict g_eps = p.grad_eps_elems + b * n;
    A* __restrict g_theta = p.grad_theta_elems + b * n;
    StepRows<A> now_rows(n), prev_rows(n);
    GhostRow<A> w_ring(n), v_ring(n), to_left_ring(n), to_right_ring(n);
    std::vector<A> own_row(n), centre_row(n);
    A* __restrict v_prev = v_ring.body();
    A* __restrict to_left = to_left_ring.body();   // what soft max i sends to its left term
    A* __restrict to_right = to_right_ring.body(); // ... and to its right term
    A* __restrict own = own_row.data();
    A* __restrict centre = centre_row.data();
    load_step_row<F>(p.membrane + (p.steps - 1) * stride + b * n, w_ring, n, eps, theta, StepView<A>(now_rows));
    for (int64_t t = p.steps - 1; t >= 0; --t) {
      const StepView<A> now(now_rows), prev(prev_rows);
      // V_{t-1}: the reset of step t - 1, whose read is kept for the next reverse step.
      if (t > 0) {
        load_step_row<F>(p.membrane + (t - 1) * stride + b * n, w_ring, n, eps, theta, prev);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) v_prev[i] = ring_state_after(prev.get(i));
      } else {
        const A* __restrict v0 = p.v0 + b * n;
        for (int64_t i = 0; i < n; ++i) v_prev[i] = v0[i];
      }
      v_ring.wrap(n);
      const int64_t offset = t * stride + b * n;
      const T* __restrict gs = p.grad_spikes + offset;
      const A* __restrict gm = p.grad_membrane != nullptr ? p.grad_membrane + offset : zeros.data();
      T* __restrict gx = p.grad_x + offset;
      // Pass 1: every neuron's soft max sends its gradient back to its three terms.
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        RingStep<A> s = now.get(i);
        if (F == RingForm::Ablation) ring_step_ablation_soft(s, v_prev[i - 1], v_prev[i], v_prev[i + 1], tau[i], eps[i]);
        RingGradAcc<A> acc{A(0), g_eps[i], g_theta[i]};
        const RingSend<A> send = ring_backward_local<F>(s, convert<A>(gs[i]), gm[i], carry[i], acc);
        g_eps[i] = acc.eps;
        g_theta[i] = acc.theta;
        to_left[i] = send.left;
        centre[i] = send.centre;
        to_right[i] = send.right;
        own[i] = send.own;
        if (F == RingForm::Ablation) gx[i] = convert<T>(send.own);
      }
      to_left_ring.wrap(n);
      to_right_ring.wrap(n);
      // Pass 2: every neuron gathers what its own and its neighbours' soft maxes sent to it.
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) {
        RingGradAcc<A> acc{g_tau[j], A(0), A(0)};
        const RingSend<A> mine{A(0), centre[j], A(0), own[j]};
        const RingGather<A> g = ring_backward_gather<F>(mine, to_right[j - 1], to_left[j + 1], v_prev[j], tau[j], acc);
        g_tau[j] = acc.tau;
        if (F == RingForm::Library) gx[j] = convert<T>(g.grad_x);
        carry[j] = g.carry;
      }
      now_rows.swap(prev_rows);
    }
  });
}

}  // namespace

void ultradlif_forward_cpu(const UltraDlifForwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(launch);
    if (args.batch == 0 || args.features == 0) return;
    dispatch_ring_form(launch.form, [&](auto tag) {
      forward_rows<decltype(tag)::value>(args);
      return 0;
    });
  });
}

void ultradlif_backward_cpu(const UltraDlifBackwardLaunch& launch) {
  cpu::dispatch_storage(launch.dtype, [&](auto storage) {
    const auto args = typed_args<decltype(storage)>(launch);
    if (args.batch == 0 || args.features == 0 || args.steps == 0) return;
    dispatch_ring_form(launch.form, [&](auto tag) {
      backward_rows<decltype(tag)::value>(args);
      return 0;
    });
  });
}

}  // namespace neurosim
