// Loop scaffolding shared by the CPU twins (cpu/*.cpp): spreading column blocks over threads and
// mapping the storage dtype code to a C++ type. CPU-only (uses ATen's thread pool and c10 types).
#pragma once

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <stdexcept>

#include "neurosim/common.h"

namespace neurosim {
namespace cpu {

// A block is a run of adjacent columns walked through all T steps, time outer and lanes inner:
// each step then streams NEUROSIM_CPU_BLOCK_BYTES contiguous bytes of a row (hardware prefetch
// keeps up) while the state stays in L1/L2. Columns left over go in 64-byte blocks, then singly.
#ifndef NEUROSIM_CPU_BLOCK_BYTES
#define NEUROSIM_CPU_BLOCK_BYTES 4096
#endif
template <typename T> constexpr int wide_lanes() { return NEUROSIM_CPU_BLOCK_BYTES / static_cast<int>(sizeof(T)); }
template <typename T> constexpr int narrow_lanes() { return 64 / static_cast<int>(sizeof(T)); }

// Calls run_block(col0, width) over all columns; width is one of Wide, Narrow or 1. Problems
// under kSerialWork column-steps run on the calling thread: waking the pool costs more.
constexpr int64_t kSerialWork = int64_t(1) << 16;

template <int Wide, int Narrow, typename Fn>
void for_each_block(int64_t columns, int64_t steps, const Fn& run_block) {
  const int64_t wide_blocks = columns / Wide;
  const int64_t narrow_start = wide_blocks * Wide;
  const int64_t narrow_blocks = (columns - narrow_start) / Narrow;
  const int64_t single_start = narrow_start + narrow_blocks * Narrow;
  const int64_t total = wide_blocks + narrow_blocks + (columns - single_start);
  const int64_t grain = columns * steps < kSerialWork ? (total > 0 ? total : 1) : 1;
  at::parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (i < wide_blocks) run_block(i * Wide, Wide);
      else if (i < wide_blocks + narrow_blocks) run_block(narrow_start + (i - wide_blocks) * Narrow, Narrow);
      else run_block(single_start + (i - wide_blocks - narrow_blocks), 1);
    }
  });
}

// Calls fn(value of the storage type) for the storage dtype code. The AVX2/AVX-512 copies of
// a multi-ISA build hold float32 only (NEUROSIM_CPU_FLOAT32_ONLY): bindings/cpu_dispatch.cpp
// sends float64 and 16-bit storage to the baseline copy, which keeps the build a third as long
// per wide level; float32 is where training time goes.
template <typename Fn>
void dispatch_storage(DType dtype, Fn&& fn) {
#if defined(NEUROSIM_CPU_FLOAT32_ONLY)
  if (dtype != DType::Float32) throw std::logic_error("neurosim: this ISA copy of the CPU kernels holds float32 only");
  fn(float{});
  return;
#endif
  switch (dtype) {
    case DType::Float64: fn(double{}); break;
    case DType::Float16: fn(c10::Half{}); break;
    case DType::BFloat16: fn(c10::BFloat16{}); break;
    case DType::Float32:
    default: fn(float{}); break;
  }
}

}  // namespace cpu
}  // namespace neurosim
