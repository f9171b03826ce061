// neurosim::floor_mod(float, float) (phased.h: the phase of the time gate in the scan) against
// torch.remainder's formula for float (the exact fmod, then + b for a remainder of the other sign,
// rounded once), bit for bit, on random pairs: quotients |a / b| up to 2^limit_log2, negative a,
// near-multiples of b, tiny a and quotients around 2^22, where floor_mod switches from its float
// form (floor_mod_near) to its double form (floor_mod_wide); each form is also checked alone
// where it claims to hold. Prints "<pairs> <mismatches> <outside [0, b]>".
//
//   floor_mod_check <pairs> <limit_log2>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "neurosim/phased.h"

static float torch_remainder(float a, float b) {
  float m = std::fmod(a, b);
  if (m != 0.f && ((b < 0.f) != (m < 0.f))) m += b;
  return m;
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const long pairs = std::atol(argv[1]);
  const double limit_log2 = std::atof(argv[2]);
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  long mismatches = 0, outside = 0;
  for (long i = 0; i < pairs; ++i) {
    const float b = static_cast<float>(std::exp2(unit(rng) * 20.0 - 10.0));  // 2^-10 .. 2^10
    const double ratio = std::exp2(unit(rng) * limit_log2);
    float a;
    switch (i % 5 == 4 ? 4 : i % 4) {
      case 0: a = static_cast<float>(ratio * b); break;                              // anywhere
      case 1: a = -static_cast<float>(ratio * b); break;                             // negative
      case 2: a = std::nextafter(static_cast<float>(std::floor(ratio) * b), 0.f); break;  // a near-multiple
      case 3: a = static_cast<float>((unit(rng) - 0.5) * std::exp2(-30.0) * b); break;  // tiny
      default: {  // around the switch, either sign, some exact multiples
        const float near_switch = static_cast<float>(std::exp2(21.0 + 2.0 * unit(rng)) * b);
        a = (i % 10 == 4 ? std::floor(near_switch / b) * b : near_switch) * (i % 3 == 0 ? -1.f : 1.f);
      }
    }
    const float want = torch_remainder(a, b);
    float near_form = 0.f;
    const bool near_holds = neurosim::floor_mod_near(a, b, near_form);
    const float forms[3] = {neurosim::floor_mod(a, b), near_holds ? near_form : want, neurosim::floor_mod_wide(a, b)};
    for (const float mine : forms) {
      if (std::memcmp(&mine, &want, sizeof(float)) != 0 && !(mine == 0.f && want == 0.f)) ++mismatches;
      if (!(mine >= 0.f && mine <= b)) ++outside;
    }
  }
  std::printf("%ld %ld %ld\n", pairs, mismatches, outside);
  return 0;
}
