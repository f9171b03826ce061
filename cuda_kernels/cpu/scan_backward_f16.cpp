// The CPU scan's backward pass for float16 storage (see scan_backward_typed.h). The float32-only
// copies of the multi-ISA build leave it to the baseline copy (bindings/cpu_dispatch.cpp).
#include <stdexcept>

#include "scan_backward_typed.h"

namespace neurosim {
namespace scan_cpu {

void scan_backward_f16(const ScanBackwardLaunch& launch) {
#if defined(NEUROSIM_CPU_FLOAT32_ONLY)
  (void)launch;
  throw std::logic_error("neurosim: this ISA copy of the CPU kernels holds float32 only");
#else
  scan_backward_typed<c10::Half>(launch);
#endif
}

}  // namespace scan_cpu
}  // namespace neurosim
