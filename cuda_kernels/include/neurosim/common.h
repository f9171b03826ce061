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

// Per-neuron parameter lookup: a scalar (stride 0) or one value per feature.
template <typename A>
NEUROSIM_HD A param_at(const A* p, bool per_feature, int64_t feature) {
  return per_feature ? p[feature] : p[0];
}

// The upstream gradients of step t for W adjacent columns, gathered before a lane loop so that
// the loop is branch-free: dL/ds_t (its strides may be 0: a gradient of `spikes.sum()` arrives
// expanded) and dL/dmembrane_t ([T, M], or nullptr for zeros).
template <int W, typename T, typename A>
NEUROSIM_HD void load_step_grads(const T* grad_spikes, int64_t gs_t_stride, int64_t gs_c_stride,
                                 const T* grad_membrane, int64_t columns, int64_t t, int64_t col0,
                                 A (&grad_spike)[W], A (&grad_mem)[W]) {
  const T* gs = grad_spikes + t * gs_t_stride + col0 * gs_c_stride;
  for (int l = 0; l < W; ++l) grad_spike[l] = convert<A>(gs[gs_c_stride == 0 ? 0 : l]);
  if (grad_membrane != nullptr) {
    const T* gm = grad_membrane + t * columns + col0;
    for (int l = 0; l < W; ++l) grad_mem[l] = convert<A>(gm[l]);
  } else {
    for (int l = 0; l < W; ++l) grad_mem[l] = A(0);
  }
}

}  // namespace neurosim
