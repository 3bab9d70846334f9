#include "examples/spirals.h"

#include <cmath>

namespace kiln {
namespace examples {

void MakeSpirals(int n, Literal& x, Literal& y) {
  x = Literal(DType::kF32, {3 * n, 2});
  y = Literal(DType::kI32, {3 * n});
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < n; ++i) {
      const double r = static_cast<double>(i) / n;
      const double t = c * 4.0 + 4.0 * r + 0.2 * std::sin(7.0 * i);  // fixed "noise"
      x.values[2 * (c * n + i)] = r * std::sin(t);
      x.values[2 * (c * n + i) + 1] = r * std::cos(t);
      y.values[c * n + i] = c;
    }
  }
  x.RoundToDType();
}

}  // namespace examples
}  // namespace kiln
