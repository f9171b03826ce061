// Turns the void-pointer UltraDLIF launch structs into typed argument structs and the ring form into
// a compile-time tag; shared by the CUDA launcher and the CPU twin.
#pragma once

#include "neurosim/ultra_launch.h"
#include "neurosim/ultradlif.h"

namespace neurosim {

template <RingForm F>
struct RingFormTag { static constexpr RingForm value = F; };

template <typename Fn>
inline auto dispatch_ring_form(int form, Fn&& fn) {
  return static_cast<RingForm>(form) == RingForm::Ablation ? fn(RingFormTag<RingForm::Ablation>{})
                                                           : fn(RingFormTag<RingForm::Library>{});
}

template <typename T>
UltraDlifForwardArgs<T, typename AccType<T>::type> typed_args(const UltraDlifForwardLaunch& a) {
  using A = typename AccType<T>::type;
  return {static_cast<const T*>(a.x), static_cast<const A*>(a.tau), static_cast<const A*>(a.eps),
          static_cast<const A*>(a.theta), static_cast<T*>(a.spikes), static_cast<A*>(a.state),
          static_cast<A*>(a.membrane), a.steps, a.batch, a.features, a.tau_per_feature,
          a.eps_per_feature, a.theta_per_feature};
}

template <typename T>
UltraDlifBackwardArgs<T, typename AccType<T>::type> typed_args(const UltraDlifBackwardLaunch& a) {
  using A = typename AccType<T>::type;
  return {static_cast<const T*>(a.grad_spikes), static_cast<const A*>(a.grad_membrane),
          static_cast<const T*>(a.x), static_cast<const A*>(a.v0), static_cast<const A*>(a.membrane),
          static_cast<const A*>(a.tau), static_cast<const A*>(a.eps), static_cast<const A*>(a.theta),
          static_cast<T*>(a.grad_x), static_cast<A*>(a.carry), static_cast<A*>(a.step_grad),
          static_cast<A*>(a.step_peak), static_cast<A*>(a.step_inv_sum), static_cast<A*>(a.grad_tau_elems), static_cast<A*>(a.grad_eps_elems),
          static_cast<A*>(a.grad_theta_elems), a.steps, a.batch, a.features, a.tau_per_feature,
          a.eps_per_feature, a.theta_per_feature};
}

}  // namespace neurosim
