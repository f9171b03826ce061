// Run-time choice of the CPU kernels' instruction set. With NEUROSIM_CPU_MULTI_ISA the CPU twins
// exist once per x86 level (baseline x86-64, AVX2 = x86-64-v3, AVX-512 = x86-64-v4) and each
// entry point of cpu_entry_points.def calls the widest copy this CPU runs; one build then works on
// every x86-64 machine (a venv shared by a cluster, a wheel) at the speed of the widest it has.
// NEUROSIM_CPU_ISA in the environment picks a narrower level (tests compare all levels).
// The wider levels are compiled for float32 only; float64 and 16-bit storage run the baseline copy.
#include "neurosim/cpu_dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#define NEUROSIM_CPU_ENTRY(function, Launch)
#include "neurosim/cpu_entry_points.def"  // first inclusion: only the launch headers it includes
#undef NEUROSIM_CPU_ENTRY

namespace neurosim {

#if NEUROSIM_CPU_MULTI_ISA
namespace {

int supported_level() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("f16c"))
    return 1;
  return 0;
}

const char* const kLevelNames[] = {"baseline", "avx2", "avx512"};

int initial_level() {
  const int best = supported_level();
  const char* wanted = std::getenv("NEUROSIM_CPU_ISA");
  if (wanted == nullptr || *wanted == '\0') return best;
  for (int level = 0; level <= best; ++level)
    if (std::strcmp(wanted, kLevelNames[level]) == 0) return level;
  return best;  // unknown or unsupported: the Python side reports it (neurosim.build_info)
}

std::atomic<int> active_level{initial_level()};

template <class Launch, class = void> struct HasGpuPath : std::false_type {};
template <class Launch>
struct HasGpuPath<Launch, decltype(void(std::declval<const Launch&>().gpu_path))> : std::true_type {};

// Whether a wider copy may run this launch: float32 storage, and not the GPU's code path (the
// GPU's thread body exists in the baseline copy only).
template <class Launch>
bool runs_wide_copy(const Launch& launch) {
  if constexpr (HasGpuPath<Launch>::value) {
    if (launch.gpu_path) return false;
  }
  return launch.dtype == DType::Float32;
}

}  // namespace

const char* cpu_isa() { return kLevelNames[active_level.load(std::memory_order_relaxed)]; }
const char* cpu_isa_supported() { return kLevelNames[supported_level()]; }

bool set_cpu_isa(const char* name) {
  const int best = supported_level();
  for (int level = 0; level <= best; ++level) {
    if (std::strcmp(name, kLevelNames[level]) == 0) {
      active_level.store(level, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

}  // namespace neurosim

#define NEUROSIM_CPU_ENTRY(function, Launch)                                         \
  extern "C" void neurosim_cpu_##function##_baseline(const void*);                   \
  extern "C" void neurosim_cpu_##function##_avx2(const void*);                       \
  extern "C" void neurosim_cpu_##function##_avx512(const void*);                     \
  void neurosim::function(const Launch& launch) {                                    \
    switch (runs_wide_copy(launch) ? active_level.load(std::memory_order_relaxed) : 0) {    \
      case 2: neurosim_cpu_##function##_avx512(&launch); return;                     \
      case 1: neurosim_cpu_##function##_avx2(&launch); return;                       \
      default: neurosim_cpu_##function##_baseline(&launch); return;                  \
    }                                                                                \
  }
#include "neurosim/cpu_entry_points.def"
#undef NEUROSIM_CPU_ENTRY

#else  // one build of the CPU kernels (non-x86, or NEUROSIM_MARCH given): nothing to choose

const char* cpu_isa() { return "single"; }
const char* cpu_isa_supported() { return "single"; }
bool set_cpu_isa(const char* name) { return std::strcmp(name, "single") == 0; }

}  // namespace neurosim

#endif
