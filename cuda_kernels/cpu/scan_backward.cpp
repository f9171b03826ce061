// CPU twin of cuda/scan.cu, backward pass: the storage type's own translation unit does the work
// (scan_backward_typed.h; float32 here, the others in scan_backward_f64.cpp, _f16.cpp, _bf16.cpp,
// so that the build compiles them in parallel). The forward pass is cpu/scan_forward.cpp.
#include "scan_backward_typed.h"

namespace neurosim {

namespace scan_cpu {
void scan_backward_f32(const ScanBackwardLaunch& launch) { scan_backward_typed<float>(launch); }
}  // namespace scan_cpu

void scan_backward_cpu(const ScanBackwardLaunch& launch) {
  switch (launch.dtype) {
    case DType::Float64: scan_cpu::scan_backward_f64(launch); break;
    case DType::Float16: scan_cpu::scan_backward_f16(launch); break;
    case DType::BFloat16: scan_cpu::scan_backward_bf16(launch); break;
    case DType::Float32:
    default: scan_cpu::scan_backward_f32(launch); break;
  }
}

}  // namespace neurosim
