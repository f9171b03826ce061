// One C-linkage wrapper per CPU entry point for the ISA level this copy is compiled for.
// setup.py compiles cuda_kernels/cpu/*.cpp once per level with -Dneurosim=neurosim_isa_<level>
// and -DNEUROSIM_CPU_ISA=<level>, so `neurosim::f` below is that level's copy of f, and the
// wrapper `neurosim_cpu_f_<level>` is what bindings/cpu_dispatch.cpp calls.
#if defined(NEUROSIM_CPU_ISA)

#define NEUROSIM_ISA_PASTE2(a, b, c) a##b##_##c
#define NEUROSIM_ISA_PASTE(a, b, c) NEUROSIM_ISA_PASTE2(a, b, c)
#define NEUROSIM_CPU_ENTRY(function, Launch)                                               \
  extern "C" void NEUROSIM_ISA_PASTE(neurosim_cpu_, function, NEUROSIM_CPU_ISA)(const void* launch) { \
    neurosim::function(*static_cast<const neurosim::Launch*>(launch));                     \
  }
#include "neurosim/cpu_entry_points.def"
#undef NEUROSIM_CPU_ENTRY

#endif
