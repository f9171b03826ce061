// The one TORCH_LIBRARY(neurosim) block: it owns the op namespace; every op file adds its ops
// with TORCH_LIBRARY_FRAGMENT (torch refuses a second TORCH_LIBRARY for the same namespace).
#include <torch/library.h>

TORCH_LIBRARY(neurosim, m) {}
