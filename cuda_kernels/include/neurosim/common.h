// Shared definitions for code compiled both by nvcc (CUDA kernels) and by the host C++
// compiler (the CPU twin). Nothing here may include torch headers: the .cu files stay light.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
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

// Per-neuron parameter lookup: a scalar (stride 0) or one value per feature.
template <typename A>
NEUROSIM_HD A param_at(const A* p, bool per_feature, int64_t feature) {
  return per_feature ? p[feature] : p[0];
}

}  // namespace neurosim
