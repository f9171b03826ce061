// The CPU kernels' instruction-set level (see bindings/cpu_dispatch.cpp).
#pragma once

namespace neurosim {

const char* cpu_isa();            // the level in use: "baseline", "avx2", "avx512" or "single"
const char* cpu_isa_supported();  // the widest level this CPU runs
bool set_cpu_isa(const char* name);  // false if the level is unknown or this CPU lacks it

}  // namespace neurosim
