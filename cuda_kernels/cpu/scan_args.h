// Typed views of the scan launch structs, shared by the CPU scan's forward and backward files
// (cpu/scan_forward.cpp, cpu/scan_backward.cpp: two translation units so they compile in parallel,
// three times each for the ISA levels).
#pragma once

#include <type_traits>

#include "cpu_loops.h"
#include "neurosim/scan.h"
#include "neurosim/scan_launch.h"
#include "neurosim/scan_models.h"

namespace neurosim {
namespace scan_cpu {

static_assert(kMaxLaunchParams == kMaxScanParams, "scan_launch.h and scan.h disagree on the parameter count");

// Storage types for which this copy holds the GPU's code path (ScanForwardLaunch::gpu_path):
// float32 (one column per thread) and float16 (two), in the baseline copy (the dispatcher sends
// gpu_path launches there). bfloat16 takes float16's code with other conversions, and float64
// float32's; they run the CPU's blocks without the step cache (build time: this path is for tests).
template <typename T>
constexpr bool kHasGpuPath =
#if defined(NEUROSIM_CPU_FLOAT32_ONLY)
    false;
#else
    std::is_same_v<T, float> || std::is_same_v<T, c10::Half>;
#endif

// How many of a GPU thread's V columns from col exist.
template <int V>
inline int thread_width(int64_t col, int64_t columns) {
  return columns - col < V ? static_cast<int>(columns - col) : V;
}

template <typename T, typename A>
inline ScanForwardArgs<T, A> typed(const ScanForwardLaunch& a) {
  ScanForwardArgs<T, A> p{};
  p.x = static_cast<const T*>(a.x);
  p.state0 = static_cast<const A*>(a.state0);
  for (int j = 0; j < kMaxScanParams; ++j) {
    p.params[j] = static_cast<const A*>(a.params[j]);
    p.per_feature[j] = a.per_feature[j];
  }
  p.out = static_cast<T*>(a.out);
  p.state_final = static_cast<A*>(a.state_final);
  p.checkpoints = static_cast<A*>(a.checkpoints);
  p.trace = static_cast<T*>(a.trace);
  p.times = static_cast<const A*>(a.times);
  p.times_t_stride = a.times_t_stride;
  p.times_b_stride = a.times_b_stride;
  p.steps = a.steps;
  p.columns = a.columns;
  p.features = a.features;
  return p;
}

template <typename T, typename A>
inline ScanBackwardArgs<T, A> typed(const ScanBackwardLaunch& a) {
  ScanBackwardArgs<T, A> p{};
  p.grad_out = static_cast<const T*>(a.grad_out);
  p.go_t_stride = a.go_t_stride;
  p.go_c_stride = a.go_c_stride;
  p.grad_state_final = static_cast<const A*>(a.grad_state_final);
  p.grad_trace = static_cast<const T*>(a.grad_trace);
  p.x = static_cast<const T*>(a.x);
  p.checkpoints = static_cast<const A*>(a.checkpoints);
  for (int j = 0; j < kMaxScanParams; ++j) {
    p.params[j] = static_cast<const A*>(a.params[j]);
    p.per_feature[j] = a.per_feature[j];
    p.grad_param_cols[j] = static_cast<A*>(a.grad_param_cols[j]);
  }
  p.grad_x = static_cast<T*>(a.grad_x);
  p.grad_state0 = static_cast<A*>(a.grad_state0);
  p.times = static_cast<const A*>(a.times);
  p.times_t_stride = a.times_t_stride;
  p.times_b_stride = a.times_b_stride;
  p.steps = a.steps;
  p.columns = a.columns;
  p.features = a.features;
  return p;
}

// The backward pass for one storage type, each in its own translation unit (scan_backward*.cpp);
// the float32-only copies hold float32's and throw for the others.
void scan_backward_f32(const ScanBackwardLaunch& launch);
void scan_backward_f64(const ScanBackwardLaunch& launch);
void scan_backward_f16(const ScanBackwardLaunch& launch);
void scan_backward_bf16(const ScanBackwardLaunch& launch);

// The backward chunk of a block holds ChunkRows<M, kCache>::value values per lane; blocks are narrowed so
// that it stays within L2 next to the streamed rows (about 33 values per lane at full width).
}  // namespace scan_cpu
}  // namespace neurosim
