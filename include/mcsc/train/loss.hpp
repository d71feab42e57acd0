#pragma once
/// \file loss.hpp
/// Losses over a batch, with their gradients: mean squared error and mean absolute error over all
/// elements (torch's MSELoss / L1Loss with reduction='mean'); and a training step's form of them,
/// the gradient as a kernel and the loss with the parameters' finiteness in one read-back,
/// optionally weighted per element (edge_loss_weights: more weight where the target has edges).
#include <cmath>
#include <limits>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// The loss of a training step: mean squared error or mean absolute error.
enum class LossKind { mse, l1 };

/// Edge weighting of a loss: element weights w = 1 + gain x min(1, e / scale), where e is the
/// largest absolute difference between the target's element and its four neighbours in the same
/// image and channel (both sides of a step get it). gain 0: off (every weight 1).
struct EdgeLossWeighting {
  double gain = 0;      ///< extra weight of a full edge; 0: unweighted
  double scale = 0.02;  ///< the neighbour difference (in the target's units) that counts as a full edge
  bool enabled() const { return gain > 0; }
};

/// weights = the edge weights of `target` (EdgeLossWeighting), a kernel. Same shape required.
template <class Q, class W>
void edge_loss_weights(const EdgeLossWeighting& e, const Q& target, const W& weights) {
  Impl::require_same_shape("mcsc::edge_loss_weights", target, weights);
  MCSC_REQUIRE(e.gain >= 0 && e.scale > 0 && std::isfinite(e.gain) && std::isfinite(e.scale),
               "mcsc::edge_loss_weights", "gain must be >= 0 and scale > 0, both finite (gain " << e.gain << ", scale "
                                                                                                 << e.scale << ")");
  using T = typename W::value_type;
  const int H = int(target.extent(2)), Wd = int(target.extent(3));
  const T gain = T(e.gain), inv_scale = T(1 / e.scale);
  Kokkos::parallel_for(
      "mcsc::edge_loss_weights",
      Kokkos::MDRangePolicy<typename W::execution_space, Kokkos::Rank<4>>(
          {0, 0, 0, 0}, {target.extent(0), target.extent(1), target.extent(2), target.extent(3)}),
      KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
        const T t = T(target(n, c, i, j));
        T edge = 0;
        if (i > 0) edge = math::max(edge, T(math::fabs(T(target(n, c, i - 1, j)) - t)));
        if (i + 1 < H) edge = math::max(edge, T(math::fabs(T(target(n, c, i + 1, j)) - t)));
        if (j > 0) edge = math::max(edge, T(math::fabs(T(target(n, c, i, j - 1)) - t)));
        if (j + 1 < Wd) edge = math::max(edge, T(math::fabs(T(target(n, c, i, j + 1)) - t)));
        weights(n, c, i, j) = T(1) + gain * math::min(T(1), edge * inv_scale);
      });
}

/// grad = d loss / d prediction of the mean loss `kind` (mse: 2 (prediction - target) / count,
/// as mse_loss; l1: sign(prediction - target) / count, as l1_loss), each element times its
/// weight when `weights` is not empty (the weighted mean loss sum(w l) / count). A kernel, no
/// reduction: the gradient does not need the loss value.
template <class P, class Q, class G, class W>
void loss_gradient(LossKind kind, const P& prediction, const Q& target, const G& grad, const W& weights) {
  Impl::require_same_shape("mcsc::loss_gradient", prediction, target);
  Impl::require_same_shape("mcsc::loss_gradient", prediction, grad);
  const bool weighted = weights.data() != nullptr;
  if (weighted) Impl::require_same_shape("mcsc::loss_gradient", prediction, weights);
  const double n = double(prediction.size());
  MCSC_REQUIRE(n > 0, "mcsc::loss_gradient", "empty tensors");
  using T = typename G::value_type;
  if (kind == LossKind::mse && !weighted) {
    lincomb(T(2 / n), prediction, T(-2 / n), target, grad);
    return;
  }
  auto fp = Impl::flat(prediction);
  auto fq = Impl::flat(target);
  auto fg = Impl::flat(grad);
  auto fw = Impl::flat(weights);
  const bool l1 = kind == LossKind::l1;
  const T inv = T(1 / n);
  Kokkos::parallel_for(
      "mcsc::loss_gradient", Kokkos::RangePolicy<typename P::execution_space>(0, fp.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) {
        const T d = T(fp(i) - fq(i));
        const T g = l1 ? inv * math::sign(d) : T(2) * inv * d;
        fg(i) = weighted ? T(fw(i)) * g : g;
      });
}

/// The unweighted loss_gradient.
template <class P, class Q, class G>
void loss_gradient(LossKind kind, const P& prediction, const Q& target, const G& grad) {
  loss_gradient(kind, prediction, target, grad, G());
}

/// A training step's one read-back: the loss `kind` of prediction against target (the value
/// mse_loss / l1_loss return, the same reduction), or NaN when `watch` (the parameters after the
/// optimiser's step) holds a NaN/Inf. The check is a kernel that raises `flag` on the device; the
/// loss reduction reads and clears it, so the step returns one scalar to the host, not two.
/// `flag` is the caller's, zero when first passed (a fresh View is) and left zero. With
/// `weights` not empty, the weighted mean loss sum(w l) / count (loss_gradient's).
template <class P, class Q, class F, class Flag, class W>
double loss_unless_nonfinite(LossKind kind, const P& prediction, const Q& target, const F& watch, const Flag& flag,
                             const W& weights) {
  Impl::require_same_shape("mcsc::loss_unless_nonfinite", prediction, target);
  const bool weighted = weights.data() != nullptr;
  if (weighted) Impl::require_same_shape("mcsc::loss_unless_nonfinite", prediction, weights);
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
  auto fwt = Impl::flat(weights);
  const bool l1 = kind == LossKind::l1;
  double total = 0, bad = 0;
  Kokkos::parallel_reduce(
      "mcsc::loss_unless_nonfinite", Kokkos::RangePolicy<Exec>(0, fp.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc, double& nonfinite) {
        const double d = double(fp(i)) - double(fq(i));
        const double l = l1 ? math::fabs(d) : d * d;
        acc += weighted ? double(fwt(i)) * l : l;
        if (i == 0) {  // one thread reads the flag and clears it for the next step
          nonfinite += flag();
          flag() = 0;
        }
      },
      total, bad);
  return bad != 0 ? std::numeric_limits<double>::quiet_NaN() : total / n;
}

/// The unweighted loss_unless_nonfinite.
template <class P, class Q, class F, class Flag>
double loss_unless_nonfinite(LossKind kind, const P& prediction, const Q& target, const F& watch, const Flag& flag) {
  return loss_unless_nonfinite(kind, prediction, target, watch, flag, P());
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
