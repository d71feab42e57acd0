#pragma once
/// \file prox_step.hpp
/// The proximal step of every sparse-coding iteration, as one tensor-level operation:
///
///     x = prox_{step g}(z - step * grad),   g = lambda * penalty
///
/// for the penalties of the solvers (ProxPenalty, by ProxKind):
/// - soft_threshold: sum w |u| (per-entry weights w >= 0, broadcast; 1 when absent), optionally
///   with u >= 0; its prox is the soft threshold S_{step lambda w} (max(v - step lambda w, 0) with
///   non-negativity);
/// - l1l1: sum |u| + |u - s| with side information s (LMCSC eq. 3); its prox is xi_{step lambda}(v; s).
///
/// fista(), ista() and coupled_l1l1() take the step whole (prox_gradient_step, which also returns
/// the sums their objective, backtracking and stopping tests need, from one reduction); ADMM's
/// sparse step applies the same penalty's prox (ProxPenalty::prox) inside its fused
/// relaxation/dual kernel. The scalar functions underneath (soft_threshold_value,
/// l1l1_prox_value) are those of ops/prox.hpp, which the networks' stages and the fused
/// conv2d_prox epilogue use too.
#include <cstdint>
#include <utility>

#include "mcsc/ops/broadcast.hpp"
#include "mcsc/ops/prox.hpp"

namespace mcsc {

/// |u| + |u - s|, one entry's term of the l1-l1 penalty.
KOKKOS_INLINE_FUNCTION double l1l1_penalty_value(double u, double s) { return math::fabs(u) + math::fabs(u - s); }

/// A penalty g = lambda * penalty(U) of a proximal-gradient solver (see the file comment). V: the
/// code tensor type (weights and side information are of it too).
template <class V>
struct ProxPenalty {
  using value_type = typename V::non_const_value_type;
  ProxKind kind = ProxKind::soft_threshold;
  double lambda = 0;           ///< >= 0
  Broadcast<V> weights;        ///< soft_threshold: per-entry weights, broadcast to the codes (absent: 1)
  bool nonnegative = false;    ///< soft_threshold: constrain u >= 0
  /// l1l1: the side information, of the codes' shape, read by flat index
  decltype(Impl::flat(std::declval<const V&>())) side;

  /// The prox at flat index i of the codes with threshold theta = step * lambda: returns the new
  /// value and adds the penalty term at it (without lambda) to `pen`.
  KOKKOS_INLINE_FUNCTION value_type prox(std::int64_t i, value_type v, value_type theta, double& pen) const {
    using T = value_type;
    if (kind == ProxKind::l1l1) {
      const T s = side(i);
      const T u = l1l1_prox_value(v, s, theta);
      pen += l1l1_penalty_value(double(u), double(s));
      return u;
    }
    T th = theta;
    double w = 1;
    if (weights.present()) {
      w = double(weights.at(i));
      th *= T(w);
    }
    T u;
    if (nonnegative) {
      const T d = v - th;
      u = d > T(0) ? d : (d != d ? d : T(0));  // NaN propagates
    } else {
      u = soft_threshold_value(v, th);
    }
    pen += w * math::fabs(double(u));
    return u;
  }
  /// The prox alone (ADMM's sparse step, which needs no penalty value).
  KOKKOS_INLINE_FUNCTION value_type prox(std::int64_t i, value_type v, value_type theta) const {
    double penalty_term = 0;  // computed and dropped: inlined, the compiler removes it
    return prox(i, v, theta, penalty_term);
  }
};

/// The weighted (optionally non-negative) l1 penalty: weights may be empty (all 1).
template <class V>
ProxPenalty<V> l1_penalty(double lambda, const Broadcast<V>& weights = {}, bool nonnegative = false) {
  ProxPenalty<V> p;
  p.kind = ProxKind::soft_threshold;
  p.lambda = lambda;
  p.weights = weights;
  p.nonnegative = nonnegative;
  return p;
}

/// The l1-l1 penalty with side information `side` (of the codes' shape).
template <class V>
ProxPenalty<V> l1l1_penalty(double lambda, const V& side) {
  ProxPenalty<V> p;
  p.kind = ProxKind::l1l1;
  p.lambda = lambda;
  p.side = Impl::flat(side);
  return p;
}

/// What a proximal step reads back, from the kernel that writes x: lambda * penalty(x), ||x - z||^2
/// and <x - z, grad> (the backtracking test's terms). One reduction, so one synchronisation.
struct StepSums {
  double penalty = 0, change = 0, inner = 0;
};

/// x = prox_{step g}(z - step * grad), elementwise over the codes (z, grad, x of one shape), and
/// its StepSums, from one kernel and one reduction.
template <class V>
StepSums prox_gradient_step(const ProxPenalty<V>& penalty, const V& z, const V& grad, typename V::value_type step,
                            const V& x) {
  using T = typename V::value_type;
  auto fz = Impl::flat(z);
  auto fg = Impl::flat(grad);
  auto fx = Impl::flat(x);
  const T theta = T(penalty.lambda * double(step));
  StepSums sums;
  Kokkos::parallel_reduce(
      penalty.kind == ProxKind::l1l1 ? "mcsc::prox_gradient_step::l1l1" : "mcsc::prox_gradient_step::l1",
      Kokkos::RangePolicy<Impl::exec_of<V>>(0, fx.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i, double& pen, double& change, double& inner) {
        const T u = penalty.prox(i, T(fz(i) - step * fg(i)), theta, pen);
        fx(i) = u;
        const double d = double(u) - double(fz(i));
        change += d * d;
        inner += d * double(fg(i));
      },
      sums.penalty, sums.change, sums.inner);
  sums.penalty *= penalty.lambda;
  return sums;
}

}  // namespace mcsc
