#pragma once
/// \file loss.hpp
/// Losses over a batch, with their gradients: mean squared error and mean absolute error over all
/// elements (torch's MSELoss / L1Loss with reduction='mean').
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// mean((prediction - target)^2); grad (if not empty) = 2 (prediction - target) / count.
template <class P, class Q, class G>
double mse_loss(const P& prediction, const Q& target, const G& grad) {
  Impl::require_same_shape("mcsc::mse_loss", prediction, target);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::mse_loss", "empty tensors");
  if (grad.data()) {
    Impl::require_same_shape("mcsc::mse_loss", prediction, grad);
    using T = typename G::value_type;
    lincomb(T(2 / n), prediction, T(-2 / n), target, grad);
  }
  return distance_squared(prediction, target) / n;
}

/// mean(|prediction - target|); grad (if not empty) = sign(prediction - target) / count.
template <class P, class Q, class G>
double l1_loss(const P& prediction, const Q& target, const G& grad) {
  Impl::require_same_shape("mcsc::l1_loss", prediction, target);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::l1_loss", "empty tensors");
  auto fp = Impl::flat(prediction);
  auto fq = Impl::flat(target);
  double total = 0;
  Kokkos::parallel_reduce(
      "mcsc::l1_loss", Kokkos::RangePolicy<typename P::execution_space>(0, fp.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) { acc += math::fabs(double(fp(i)) - double(fq(i))); }, total);
  if (grad.data()) {
    Impl::require_same_shape("mcsc::l1_loss", prediction, grad);
    using T = typename G::value_type;
    auto fg = Impl::flat(grad);
    const T inv = T(1 / n);
    Kokkos::parallel_for(
        "mcsc::l1_loss::grad", Kokkos::RangePolicy<typename P::execution_space>(0, fp.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { fg(i) = inv * math::sign(T(fp(i) - fq(i))); });
  }
  return total / n;
}

}  // namespace mcsc
