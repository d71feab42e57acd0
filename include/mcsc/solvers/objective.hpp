#pragma once
/// \file objective.hpp
/// The CBPDN objective, evaluated from a reconstruction, for checks and reporting (the solvers
/// compute it incrementally inside their iterations).
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// 1/2 ||y - D*U||^2 + lambda ||U||_1, given D*U (sums in double).
template <class R, class Y, class U>
double cbpdn_objective(const R& reconstruction, const Y& y, const U& codes, double lambda) {
  return 0.5 * distance_squared(reconstruction, y) + lambda * sum_abs(codes);
}

}  // namespace mcsc
