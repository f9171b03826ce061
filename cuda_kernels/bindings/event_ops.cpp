// torch-facing side of the event-driven outer-product sum (CPU only; see events.h for why).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <limits>

#include "binding_utils.h"
#include "neurosim/events.h"

namespace neurosim {
namespace {

using binding::storage_code;

at::Tensor event_matmul_cpu_impl(const at::Tensor& events, const at::Tensor& dense, double scale) {
  TORCH_CHECK(events.dim() == 2 && dense.dim() == 2 && events.is_contiguous() && dense.is_contiguous(),
              "neurosim: events and dense must be contiguous 2-D tensors");
  TORCH_CHECK(events.size(0) == dense.size(0), "neurosim: events and dense need the same number of samples");
  TORCH_CHECK(events.scalar_type() == dense.scalar_type(), "neurosim: events and dense need the same dtype");
  TORCH_CHECK(events.size(1) < std::numeric_limits<int32_t>::max(), "neurosim: too many event columns");
  const auto acc = events.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  auto out = at::zeros({events.size(1), dense.size(1)}, events.options().dtype(acc));
  event_matmul_cpu(EventMatmulLaunch{events.data_ptr(), dense.data_ptr(), out.data_ptr(), events.size(0),
                                     events.size(1), dense.size(1), scale, storage_code(events)});
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(neurosim, m) {
  m.def("event_matmul(Tensor events, Tensor dense, float scale) -> Tensor");
}

TORCH_LIBRARY_IMPL(neurosim, CPU, m) {
  m.impl("event_matmul", &event_matmul_cpu_impl);
}

}  // namespace neurosim
