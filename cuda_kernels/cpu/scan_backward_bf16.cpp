// The CPU scan's backward pass for bfloat16 storage, in its own translation unit (scan_backward_typed.h).
#include "scan_backward_typed.h"

namespace neurosim {
namespace scan_cpu {
void scan_backward_bf16(const ScanBackwardLaunch& launch) { scan_backward_if_held<c10::BFloat16>(launch); }
}  // namespace scan_cpu
}  // namespace neurosim
