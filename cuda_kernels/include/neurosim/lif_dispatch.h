// Turns a LifForwardLaunch/LifBackwardLaunch (void pointers, runtime enums) into typed
// LifForwardArgs/LifBackwardArgs, and runtime choices (reset mode, detached reset) into
// compile-time tags. Shared by the CUDA launcher and the CPU twin so both instantiate the same
// template matrix; each side maps DType to its own half/bfloat16 storage types.
#pragma once

#include "neurosim/launch.h"
#include "neurosim/lif.h"
#include "neurosim/surrogate.h"

namespace neurosim {

template <Reset R>
struct ResetTag { static constexpr Reset value = R; };

template <typename Fn>
inline auto dispatch_reset(int reset, Fn&& fn) {
  switch (static_cast<Reset>(reset)) {
    case Reset::Zero: return fn(ResetTag<Reset::Zero>{});
    case Reset::None: return fn(ResetTag<Reset::None>{});
    case Reset::Subtract:
    default: return fn(ResetTag<Reset::Subtract>{});
  }
}

template <bool B>
struct BoolTag { static constexpr bool value = B; };

template <typename Fn>
inline auto dispatch_bool(bool flag, Fn&& fn) {
  return flag ? fn(BoolTag<true>{}) : fn(BoolTag<false>{});
}

template <typename T>
LifForwardArgs<T, typename AccType<T>::type> typed_forward_args(const LifForwardLaunch& a) {
  using A = typename AccType<T>::type;
  return LifForwardArgs<T, A>{
      static_cast<const T*>(a.x), static_cast<const A*>(a.u0), static_cast<const A*>(a.beta),
      static_cast<const A*>(a.thr), static_cast<T*>(a.spikes), static_cast<A*>(a.u_final),
      static_cast<A*>(a.checkpoints), static_cast<T*>(a.membrane), a.steps, a.columns, a.features,
      a.beta_per_feature, a.thr_per_feature};
}

template <typename T>
LifBackwardArgs<T, typename AccType<T>::type> typed_backward_args(const LifBackwardLaunch& a) {
  using A = typename AccType<T>::type;
  return LifBackwardArgs<T, A>{
      static_cast<const T*>(a.grad_spikes), a.gs_t_stride, a.gs_c_stride,
      static_cast<const A*>(a.grad_u_final), static_cast<const T*>(a.grad_membrane),
      static_cast<const T*>(a.x), static_cast<const A*>(a.checkpoints),
      static_cast<const A*>(a.beta), static_cast<const A*>(a.thr), static_cast<T*>(a.grad_x),
      static_cast<A*>(a.grad_u0), static_cast<A*>(a.grad_beta_cols),
      static_cast<A*>(a.grad_thr_cols), a.steps, a.columns, a.features, a.beta_per_feature,
      a.thr_per_feature};
}

}  // namespace neurosim
