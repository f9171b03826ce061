// The per-neuron models of the generic scan, by code. The binding, the CPU twin and the CUDA
// launcher dispatch through this one list; the Python registry reads it from neurosim._C
// (SCAN_MODELS: name -> (code, parameters, state variables, recorded values, timed)).
#pragma once

#include <type_traits>

#include "neurosim/alif.h"
#include "neurosim/li.h"
#include "neurosim/lif.h"
#include "neurosim/phased.h"
#include "neurosim/synaptic.h"
#include "neurosim/ultralif.h"

// X(code, name, Family, Policy instantiated for the sizes)
#define NEUROSIM_SCAN_MODELS(X)                                                          \
  X(0, "lif", LifFamily, (LifModel<Reset::Subtract, false, float, StraightThroughGrad<float>>)) \
  X(1, "ultralif", UltraLifFamily, (UltraLifModel<float>))                               \
  X(2, "synaptic", SynapticFamily, (SynapticModel<Reset::Subtract, false, float, StraightThroughGrad<float>>)) \
  X(3, "alif", AlifFamily, (AlifModel<Reset::Subtract, false, float, StraightThroughGrad<float>>)) \
  X(4, "li", LiFamily, (LiModel<float>))                                                \
  X(5, "phased_lif", PhasedFamily<LifFamily>,                                            \
    (PhasedModel<LifModel<Reset::Subtract, false, float, StraightThroughGrad<float>>, float>)) \
  X(6, "phased_synaptic", PhasedFamily<SynapticFamily>,                                  \
    (PhasedModel<SynapticModel<Reset::Subtract, false, float, StraightThroughGrad<float>>, float>)) \
  X(7, "phased_alif", PhasedFamily<AlifFamily>,                                          \
    (PhasedModel<AlifModel<Reset::Subtract, false, float, StraightThroughGrad<float>>, float>)) \
  X(8, "phased_li", PhasedFamily<LiFamily>, (PhasedModel<LiModel<float>, float>))

namespace neurosim {

template <typename T> struct ArgType;
template <typename T> struct ArgType<void(T)> { using type = T; };

// Sizes of a model as the binding needs them.
struct ScanModelSizes {
  int params, state, recorded;
  bool timed;  // reads a timestamp per step and batch element (phased.h)
};

inline bool scan_model_sizes(int64_t code, ScanModelSizes& out) {
#define NEUROSIM_SIZES_CASE(CODE, NAME, FAMILY, POLICY)                                  \
  if (code == CODE) {                                                                    \
    using P = typename ArgType<void POLICY>::type;                                       \
    out = ScanModelSizes{P::kParams, P::kState, P::kRecorded, IsTimed<P>::value};                           \
    return true;                                                                         \
  }
  NEUROSIM_SCAN_MODELS(NEUROSIM_SIZES_CASE)
#undef NEUROSIM_SIZES_CASE
  return false;
}

// Calls fn(code, name, sizes) for every model (the Python module exports the list).
template <typename Fn>
inline void for_each_scan_model(Fn&& fn) {
#define NEUROSIM_EACH_CASE(CODE, NAME, FAMILY, POLICY)                                   \
  {                                                                                      \
    using P = typename ArgType<void POLICY>::type;                                       \
    fn(CODE, NAME, ScanModelSizes{P::kParams, P::kState, P::kRecorded, IsTimed<P>::value});                 \
  }
  NEUROSIM_SCAN_MODELS(NEUROSIM_EACH_CASE)
#undef NEUROSIM_EACH_CASE
}

// Calls Family::dispatch<A>(options, backward, fn) for the model code in `options`; kBackward
// is a compile-time choice (lif.h, dispatch_spiking: the forward's launcher instantiates only the
// models a forward pass can run).
template <typename A, bool kBackward, typename Options, typename Fn>
inline void dispatch_model(const Options& options, Fn&& fn) {
  switch (options.model) {
#define NEUROSIM_DISPATCH_CASE(CODE, NAME, FAMILY, POLICY) \
    case CODE: FAMILY::template dispatch<A>(options, std::bool_constant<kBackward>{}, fn); break;
    NEUROSIM_SCAN_MODELS(NEUROSIM_DISPATCH_CASE)
#undef NEUROSIM_DISPATCH_CASE
    default: break;
  }
}

}  // namespace neurosim
