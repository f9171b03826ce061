// Shared definitions for code compiled both by nvcc (CUDA kernels) and by the host C++
// compiler (the CPU twin). Nothing here may include torch headers: the .cu files stay light.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define NEUROSIM_HD __host__ __device__ __forceinline__
#else
#define NEUROSIM_HD inline __attribute__((always_inline))
#endif

namespace neurosim {

// Storage dtype codes, shared between the torch binding and the raw-pointer launchers.
enum class DType : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };

// Internal math type: double stays double, every narrower storage type computes in float.
template <typename T> struct AccType { using type = float; };
template <> struct AccType<double> { using type = double; };

// Storage <-> math conversions. torch builds CUDA code with -D__CUDA_NO_HALF_CONVERSIONS__ and
// -D__CUDA_NO_BFLOAT16_CONVERSIONS__, which remove the implicit __half/__nv_bfloat16 <-> float
// conversions, so every load and store of a storage value goes through these explicit ones.
template <typename To, typename From>
NEUROSIM_HD To convert(From v) { return static_cast<To>(v); }
#if defined(__CUDACC__)
template <> NEUROSIM_HD float convert<float, __half>(__half v) { return __half2float(v); }
template <> NEUROSIM_HD __half convert<__half, float>(float v) { return __float2half_rn(v); }
template <> NEUROSIM_HD float convert<float, __nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> NEUROSIM_HD __nv_bfloat16 convert<__nv_bfloat16, float>(float v) { return __float2bfloat16_rn(v); }
#endif

// Temporal ops save their state every kCheckpointEvery steps; the backward pass replays each
// chunk forward from its checkpoint, so training keeps no [T, B, N] tensor besides the input.
// Exported to Python as neurosim._C.CHECKPOINT_EVERY.
constexpr int kCheckpointEvery = 32;

NEUROSIM_HD int64_t num_checkpoints(int64_t steps) {
  return (steps + kCheckpointEvery - 1) / kCheckpointEvery;
}

// A runtime flag as a compile-time tag: dispatch_bool(flag, [&](auto tag) { decltype(tag)::value ... }).
template <bool B>
struct BoolTag { static constexpr bool value = B; };

template <typename Fn>
inline auto dispatch_bool(bool flag, Fn&& fn) {
  return flag ? fn(BoolTag<true>{}) : fn(BoolTag<false>{});
}

// Per-neuron parameter lookup: a scalar (stride 0) or one value per feature.
template <typename A>
NEUROSIM_HD A param_at(const A* p, bool per_feature, int64_t feature) {
  return per_feature ? p[feature] : p[0];
}

}  // namespace neurosim
