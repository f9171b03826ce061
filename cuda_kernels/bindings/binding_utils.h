// Helpers shared by the torch-facing op bindings (bindings/*_ops.cpp): dtype codes, the
// accumulation dtype, stride-0 gradient views, parameter-gradient reduction and prefaulting of
// large outputs.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels refuse it (EINVAL) and nothing changes
#endif
#endif

#include "neurosim/common.h"

namespace neurosim {
namespace binding {

// The [T, B, ...] outputs of the temporal ops (outputs, traces, input gradients) are tens of MB,
// written in full, and glibc gives memory that large back to the kernel when it is freed (a
// training step frees the last step's), so every call would take one page fault per 4 KB on first
// write: about 5 ms per 16 MB measured here. One madvise(MADV_POPULATE_WRITE) maps the pages in a
// single call instead (about 1 ms, measured for the recurrent op; for one 65 MB tensor written
// once it measured no faster than faulting, since the kernel zeroes every page either way, so
// the scan does not use it). Skipped for small or CUDA tensors and when the first page is already
// mapped (memory reused from the heap); where the call is not supported it fails and the pages
// fault in on first write as before. Call it on a fresh CPU output before the kernel runs.
inline void prefault(const at::Tensor& t) {
#if defined(__linux__)
  constexpr size_t kMinBytes = size_t(4) << 20;
  if (t.is_cuda() || t.nbytes() < kMinBytes) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data_ptr()) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(t.data_ptr()) + t.nbytes()) & ~(page - 1);
  if (end <= begin) return;
  unsigned char resident = 0;
  if (mincore(reinterpret_cast<void*>(begin), page, &resident) == 0 && (resident & 1)) return;
  madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
#else
  (void)t;
#endif
}

inline DType storage_code(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::Float32;
    case at::kDouble: return DType::Float64;
    case at::kHalf: return DType::Float16;
    case at::kBFloat16: return DType::BFloat16;
    default: TORCH_CHECK(false, "neurosim: unsupported dtype ", t.scalar_type());
  }
}

inline at::ScalarType acc_type(at::ScalarType storage) {
  return storage == at::kDouble ? at::kDouble : at::kFloat;
}

// A per-layer ([1]) or per-neuron ([F]) parameter of x [T, B, F] in the accumulation dtype.
inline void check_param(const at::Tensor& p, const at::Tensor& x, const char* name) {
  TORCH_CHECK(p.dim() == 1 && (p.size(0) == 1 || p.size(0) == x.size(2)), "neurosim: ", name,
              " must have shape [1] or [", x.size(2), "], got ", p.sizes());
  TORCH_CHECK(p.is_contiguous() && p.scalar_type() == acc_type(x.scalar_type()) &&
                  p.device() == x.device(), "neurosim: ", name, " has the wrong layout, dtype or device");
}

// A [B, F] state of x [T, B, F] in the accumulation dtype.
inline void check_state(const at::Tensor& s, const at::Tensor& x, const char* name) {
  TORCH_CHECK(s.sizes() == x.sizes().slice(1) && s.is_contiguous() &&
                  s.scalar_type() == acc_type(x.scalar_type()) && s.device() == x.device(),
              "neurosim: ", name, " must be a contiguous [B, F] tensor of the accumulation dtype");
}

// An optional upstream gradient: undefined when absent, else checked against `shape` and x's
// device and returned contiguous in `dtype`.
inline at::Tensor optional_grad(const c10::optional<at::Tensor>& g, const at::Tensor& x, at::IntArrayRef shape,
                                at::ScalarType dtype, const char* name) {
  if (!g.has_value() || !g->defined()) return at::Tensor();
  TORCH_CHECK(g->sizes() == shape && g->device() == x.device(), "neurosim: the gradient of ", name,
              " has the wrong shape or device");
  return g->to(dtype).contiguous();
}

// The `count` membrane checkpoints that a temporal op's forward pass saved for x.
inline void check_checkpoints(const at::Tensor& checkpoints, const at::Tensor& x, int64_t count) {
  TORCH_CHECK(checkpoints.dim() == 3 && checkpoints.size(0) == count &&
                  checkpoints.sizes().slice(1) == x.sizes().slice(1) && checkpoints.is_contiguous() &&
                  checkpoints.device() == x.device() && checkpoints.scalar_type() == acc_type(x.scalar_type()),
              "neurosim: checkpoints do not belong to x");
}

// Views g [T, B, F] as [T, M] with a column stride of 0 or 1 without copying when it can
// (a gradient of `spikes.sum()` arrives expanded, all strides 0), else makes it contiguous.
inline at::Tensor column_view(const at::Tensor& g, int64_t& t_stride, int64_t& c_stride) {
  const int64_t T = g.size(0), B = g.size(1), F = g.size(2);
  const bool f_ok = F == 1 || g.stride(2) == 0 || g.stride(2) == 1;
  const int64_t cs = F == 1 ? (B == 1 ? 1 : g.stride(1)) : g.stride(2);
  const bool b_ok = B == 1 || g.stride(1) == cs * F;
  if (f_ok && b_ok && (cs == 0 || cs == 1)) {
    t_stride = T == 1 ? 0 : g.stride(0);
    c_stride = cs;
    return g;
  }
  t_stride = B * F;
  c_stride = 1;
  return g.contiguous();
}

// Per-column (or per-element) parameter-gradient partials reduced to the parameter's shape.
inline at::Tensor reduce_param_grad(const at::Tensor& cols, const at::Tensor& param) {
  return param.size(0) == 1 ? cols.sum().reshape({1}) : cols.sum(0);
}

inline void check_cuda(int err, const char* what) {
  TORCH_CHECK(err == 0, "neurosim: CUDA launch of ", what, " failed with error code ", err);
}

}  // namespace binding
}  // namespace neurosim
