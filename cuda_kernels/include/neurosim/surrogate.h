// Surrogate derivatives dS/dU of the Heaviside spike, as small functors so that the backward
// kernels inline them. Formulas follow snnTorch's surrogate module; `p` is the one shape parameter.
#pragma once

#include <cmath>
#include <cstddef>
#include <tuple>
#include <utility>

#include "neurosim/common.h"

namespace neurosim {

enum class SurrogateKind : int {
  FastSigmoid = 0,      // 1 / (1 + k|x|)^2                       (p = slope k, default 25)
  ATan = 1,             // (a/2) / (1 + (pi/2 * a * x)^2)          (p = alpha a, default 2)
  Sigmoid = 2,          // k e^{-kx} / (1 + e^{-kx})^2             (p = slope k, default 25)
  Triangle = 3,         // max(0, 1 - |x|/w) / w                   (p = width w, default 1)
  Triangular = 4,       // snnTorch's `triangular`: +c for x < 0, -c for x >= 0 (p = c)
  StraightThrough = 5,  // 1
};

template <typename A> struct FastSigmoidGrad {
  A slope;
  NEUROSIM_HD A operator()(A x) const {
    const A d = slope * std::fabs(x) + A(1);
    return A(1) / (d * d);
  }
};

template <typename A> struct ATanGrad {
  A alpha;
  NEUROSIM_HD A operator()(A x) const {
    const A z = A(1.5707963267948966) * alpha * x;
    return (alpha / A(2)) / (A(1) + z * z);
  }
};

template <typename A> struct SigmoidGrad {
  A slope;
  // Symmetric form with e = exp(-k|x|) <= 1, so it never overflows (the textbook form does).
  NEUROSIM_HD A operator()(A x) const {
    const A e = std::exp(-slope * std::fabs(x));
    const A d = A(1) + e;
    return slope * e / (d * d);
  }
};

template <typename A> struct TriangleGrad {
  A width;
  NEUROSIM_HD A operator()(A x) const {
    const A v = A(1) - std::fabs(x) / width;
    return v > A(0) ? v / width : A(0);
  }
};

template <typename A> struct TriangularGrad {
  A scale;
  NEUROSIM_HD A operator()(A x) const { return x < A(0) ? scale : -scale; }
};

template <typename A> struct StraightThroughGrad {
  A unused;
  NEUROSIM_HD A operator()(A) const { return A(1); }
};

// The functor of each kind, at the index of its SurrogateKind: the single map from kinds to
// types, read by both dispatchers below.
template <typename A>
using SurrogateGrads = std::tuple<FastSigmoidGrad<A>, ATanGrad<A>, SigmoidGrad<A>, TriangleGrad<A>,
                                  TriangularGrad<A>, StraightThroughGrad<A>>;
constexpr int kSurrogateKinds = 6;
static_assert(static_cast<int>(SurrogateKind::StraightThrough) + 1 == kSurrogateKinds, "one functor per kind");
template <int I, typename A>
using SurrogateGradAt = std::tuple_element_t<static_cast<std::size_t>(I), SurrogateGrads<A>>;

// Every kind in one functor, chosen at run time. The CUDA kernels use it (lif.h,
// dispatch_spiking): the branch is the same for every thread of a launch, so it costs little on
// the GPU, and one kernel per model instead of six keeps scan.cu's compile time (the build's long
// pole) down. The CPU twin keeps one instantiation per kind: a branch per element would stop its
// lane loops from vectorising. An unknown kind is FastSigmoid, as in dispatch_surrogate.
template <typename A> struct AnySurrogateGrad {
  SurrogateKind kind;
  A param;
  NEUROSIM_HD A operator()(A x) const { return eval(x, std::make_integer_sequence<int, kSurrogateKinds>{}); }

 private:
  template <int... I>
  NEUROSIM_HD A eval(A x, std::integer_sequence<int, I...>) const {
    const int k = static_cast<int>(kind);
    A out = A(0);
    const bool known = ((k == I && (out = SurrogateGradAt<I, A>{param}(x), true)) || ...);
    return known ? out : FastSigmoidGrad<A>{param}(x);
  }
};

// Calls `fn(functor)` with the functor for `kind` (host code: the CPU twin instantiates the
// caller once per kind). An unknown kind is FastSigmoid.
template <int... I, typename A, typename Fn>
inline void dispatch_surrogate_in(std::integer_sequence<int, I...>, SurrogateKind kind, A param, Fn& fn) {
  const int k = static_cast<int>(kind);
  const bool known = ((k == I && (fn(SurrogateGradAt<I, A>{param}), true)) || ...);
  if (!known) fn(FastSigmoidGrad<A>{param});
}
template <typename A, typename Fn>
inline void dispatch_surrogate(SurrogateKind kind, A param, Fn&& fn) {
  dispatch_surrogate_in(std::make_integer_sequence<int, kSurrogateKinds>{}, kind, param, fn);
}

}  // namespace neurosim
