// Prints, for every surrogate code (and one unknown code), parameter and x of a grid, the value of
// AnySurrogateGrad (the CUDA kernels' run-time choice) and of dispatch_surrogate (the CPU twin's
// compile-time choice), in double: tests/test_surrogate_kinds.py checks both against
// neurosim.surrogate. No GPU has run the CUDA kernels, so this is where their surrogates are tested.
#include <cstdio>

#include "neurosim/surrogate.h"

using namespace neurosim;

int main() {
  const int codes[] = {0, 1, 2, 3, 4, 5, 9};
  const double params[] = {0.5, 1.0, 2.0, 25.0};
  for (int code : codes)
    for (double p : params)
      for (int i = -300; i <= 300; i += 7) {
        const double x = i * 0.01;
        const auto kind = static_cast<SurrogateKind>(code);
        const double any = AnySurrogateGrad<double>{kind, p}(x);
        double chosen = 0;
        dispatch_surrogate(kind, p, [&](auto sg) { chosen = sg(x); });
        std::printf("%d %.17g %.17g %.17g %.17g\n", code, p, x, any, chosen);
      }
  return 0;
}
