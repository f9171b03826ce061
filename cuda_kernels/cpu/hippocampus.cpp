// CPU twin of cuda/hippocampus.cu: for each row (one neuron of one simulation) the neuron function
// of hippocampus.h, then the synapse rows of its plastic compartments. Rows are spread over threads
// only when a step has enough work to pay for it; one small simulation runs on the calling thread.
#include <ATen/Parallel.h>

#include "neurosim/hippocampus.h"

namespace neurosim {
namespace {

// Roughly the number of synapse updates below which a step is not worth splitting over threads:
// waking OpenMP workers costs tens of microseconds (far more on a busy machine), one row ~0.3 us.
constexpr int64_t kSerialWork = 1 << 18;

template <typename A>
void step_typed(const HippocampusStepLaunch& launch) {
  const auto args = typed_hippocampus_args<A>(launch);
  const auto basal = compartment_view(args, 0);
  const auto apical = compartment_view(args, 1);
  const bool learn_basal = args.basal.eta != A(0) && basal.cols > 0;
  const bool learn_apical = args.apical.eta != A(0) && apical.cols > 0;
  const int64_t rows = args.sims * args.neurons;
  const int64_t work_per_row = 8 + (learn_basal ? basal.cols : 0) + (learn_apical ? apical.cols : 0);
  const int64_t grain = std::max<int64_t>(1, kSerialWork / work_per_row);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      hippocampus_neuron(args, row);
      if (learn_basal) hippocampus_synapse_row(args, basal, row);
      if (learn_apical) hippocampus_synapse_row(args, apical, row);
    }
  });
}

}  // namespace

void hippocampus_step_cpu(const HippocampusStepLaunch& launch) {
  if (launch.dtype == DType::Float64) step_typed<double>(launch);
  else step_typed<float>(launch);
}

}  // namespace neurosim
