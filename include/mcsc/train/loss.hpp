#pragma once
/// \file loss.hpp
/// Losses over a batch, with their gradients: mean squared error and mean absolute error over all
/// elements (torch's MSELoss / L1Loss with reduction='mean'); and a training step's form of them,
/// the gradient as a kernel and the loss with the parameters' finiteness in one read-back.
#include <limits>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// The loss of a training step: mean squared error or mean absolute error.
enum class LossKind { mse, l1 };

/// grad = d loss / d prediction of the mean loss `kind` (mse: 2 (prediction - target) / count,
/// as mse_loss; l1: sign(prediction - target) / count, as l1_loss). A kernel, no reduction: the
/// gradient does not need the loss value.
template <class P, class Q, class G>
void loss_gradient(LossKind kind, const P& prediction, const Q& target, const G& grad) {
  Impl::require_same_shape("mcsc::loss_gradient", prediction, target);
  Impl::require_same_shape("mcsc::loss_gradient", prediction, grad);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::loss_gradient", "empty tensors");
  using T = typename G::value_type;
  if (kind == LossKind::mse) {
    lincomb(T(2 / n), prediction, T(-2 / n), target, grad);
    return;
  }
  auto fp = Impl::flat(prediction);
  auto fq = Impl::flat(target);
  auto fg = Impl::flat(grad);
  const T inv = T(1 / n);
  Kokkos::parallel_for(
      "mcsc::l1_loss::grad", Kokkos::RangePolicy<typename P::execution_space>(0, fp.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { fg(i) = inv * math::sign(T(fp(i) - fq(i))); });
}

/// A training step's one read-back: the loss `kind` of prediction against target (the value
/// mse_loss / l1_loss return, the same reduction), or NaN when `watch` (the parameters after the
/// optimiser's step) holds a NaN/Inf. The check is a kernel that raises `flag` on the device; the
/// loss reduction reads and clears it, so the step returns one scalar to the host, not two.
/// `flag` is the caller's, zero when first passed (a fresh View is) and left zero.
template <class P, class Q, class F, class Flag>
double loss_unless_nonfinite(LossKind kind, const P& prediction, const Q& target, const F& watch, const Flag& flag) {
  Impl::require_same_shape("mcsc::loss_unless_nonfinite", prediction, target);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::loss_unless_nonfinite", "empty tensors");
  using Exec = typename P::execution_space;
  auto fw = Impl::flat(watch);
  Kokkos::parallel_for(
      "mcsc::nonfinite_flag", Kokkos::RangePolicy<Exec>(0, fw.extent(0)), KOKKOS_LAMBDA(const std::size_t i) {
        if (!math::isfinite(fw(i))) Kokkos::atomic_exchange(&flag(), 1);
      });
  auto fp = Impl::flat(prediction);
  auto fq = Impl::flat(target);
  const bool l1 = kind == LossKind::l1;
  double total = 0, bad = 0;
  Kokkos::parallel_reduce(
      "mcsc::loss_unless_nonfinite", Kokkos::RangePolicy<Exec>(0, fp.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc, double& nonfinite) {
        const double d = double(fp(i)) - double(fq(i));
        acc += l1 ? math::fabs(d) : d * d;
        if (i == 0) {  // one thread reads the flag and clears it for the next step
          nonfinite += flag();
          flag() = 0;
        }
      },
      total, bad);
  return bad != 0 ? std::numeric_limits<double>::quiet_NaN() : total / n;
}

/// mean((prediction - target)^2); grad (if not empty) = 2 (prediction - target) / count.
template <class P, class Q, class G>
double mse_loss(const P& prediction, const Q& target, const G& grad) {
  Impl::require_same_shape("mcsc::mse_loss", prediction, target);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::mse_loss", "empty tensors");
  if (grad.data()) {
    Impl::require_same_shape("mcsc::mse_loss", prediction, grad);
    loss_gradient(LossKind::mse, prediction, target, grad);
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
    loss_gradient(LossKind::l1, prediction, target, grad);
  }
  return total / n;
}

}  // namespace mcsc
