#pragma once
/// \file psnr.hpp
/// Peak signal-to-noise ratio and RMSE of tensors: PSNR = 10 log10(peak^2 / MSE) over all
/// elements (peak 1 for images in [0, 1]); RMSE in the units of `scale` (255 for the papers'
/// depth tables).
#include <cmath>
#include <limits>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

template <class A, class B>
double rmse(const A& estimate, const B& reference, double scale = 1.0) {
  MCSC_REQUIRE(estimate.size() > 0, "mcsc::rmse", "empty tensors");
  return scale * std::sqrt(distance_squared(estimate, reference) / double(estimate.size()));
}

/// +infinity for identical tensors.
template <class A, class B>
double psnr(const A& estimate, const B& reference, double peak = 1.0) {
  MCSC_REQUIRE(estimate.size() > 0, "mcsc::psnr", "empty tensors");
  const double mse = distance_squared(estimate, reference) / double(estimate.size());
  return mse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(peak * peak / mse);
}

}  // namespace mcsc
