// The CPU scan's backward pass for float64 storage, in its own translation unit (scan_backward_typed.h).
#include "scan_backward_typed.h"

namespace neurosim {
namespace scan_cpu {
void scan_backward_f64(const ScanBackwardLaunch& launch) { scan_backward_if_held<double>(launch); }
}  // namespace scan_cpu
}  // namespace neurosim
