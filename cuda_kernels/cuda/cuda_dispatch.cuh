// Storage dtype code -> CUDA storage type, shared by the CUDA launchers. No torch headers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "neurosim/common.h"

namespace neurosim {
namespace cuda {

template <typename Fn>
int dispatch_storage(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float64: return fn(double{});
    case DType::Float16: return fn(__half{});
    case DType::BFloat16: return fn(__nv_bfloat16{});
    case DType::Float32:
    default: return fn(float{});
  }
}

}  // namespace cuda
}  // namespace neurosim
