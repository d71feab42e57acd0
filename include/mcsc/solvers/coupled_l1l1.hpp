#pragma once
/// \file coupled_l1l1.hpp
/// Convolutional sparse coding with side information (LMCSC paper, eq. 1-3):
///
///     min_U  1/2 ||y - sum_k d_k * u_k||^2 + lambda (||U||_1 + ||U - Z||_1)
///
/// y (N, m, H, W), U and the side information Z (N, K, H, W), with any dictionary operator
/// (ConvDictionary or FftConvDictionary). Solved by proximal gradient (eq. 3 in convolutional
/// form), optionally FISTA-accelerated:
///     U <- xi_{lambda/L}(V - D'(D V - y) / L; Z),
/// V the extrapolated point and xi_mu(v; s) = argmin_u 1/2 (u - v)^2 + mu (|u| + |u - s|) the
/// l1-l1 prox (l1l1_prox_value; the step is prox_gradient_step() with l1l1_penalty(), ops/prox_step.hpp). D*V is kept by linearity as in fista(), so an iteration costs one
/// D and one D' and the objective at every iterate comes for free.
/// With Z = 0 the problem is CBPDN with weight 2 lambda (xi_mu(v; 0) = S_{2mu}(v)).
#include "mcsc/solvers/fista.hpp"

namespace mcsc {

/// Options of coupled_l1l1(): those of fista() (lambda weighs both l1 terms).
using CoupledL1L1Options = FistaOptions;

/// What coupled_l1l1() returns: the same fields as fista()'s (objective[k] is the coupled
/// objective at iterate k+1).
template <class T, class ExecSpace>
using CoupledL1L1Result = FistaResult<T, ExecSpace>;

/// What coupled_l1l1() shows its callback after every iteration (iteration, objective, codes,
/// D*codes; views valid during the call only).
template <class T, class ExecSpace>
using CoupledL1L1Iterate = FistaIterate<T, ExecSpace>;

namespace Impl {
/// ||U||_1 + ||U - Z||_1.
template <class U, class S>
double coupled_l1l1_penalty(const U& codes, const S& side) {
  Impl::require_same_shape("mcsc::coupled_l1l1_objective", codes, side);
  auto fu = Impl::flat(codes);
  auto fs = Impl::flat(side);
  double penalty = 0;
  Kokkos::parallel_reduce(
      "mcsc::coupled_l1l1_penalty", Kokkos::RangePolicy<Impl::exec_of<U>>(0, fu.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) {
        acc += l1l1_penalty_value(double(fu(i)), double(fs(i)));
      },
      penalty);
  return penalty;
}
}  // namespace Impl

/// 1/2 ||y - D*U||^2 + lambda (||U||_1 + ||U - Z||_1), given D*U; side = Z has the shape of codes.
template <class R, class Y, class U, class S>
double coupled_l1l1_objective(const R& reconstruction, const Y& y, const U& codes, const S& side, double lambda) {
  return 0.5 * distance_squared(reconstruction, y) + lambda * Impl::coupled_l1l1_penalty(codes, side);
}

/// Solves min_U 1/2 ||y - D*U||^2 + lambda (||U||_1 + ||U - side||_1) by FISTA (or plain
/// proximal gradient with options.accelerate = false). y: (N, m, H, W) signal; side: the side
/// information Z, (N, K, H, W) like the codes; initial_codes: optional warm start (N, K, H, W).
/// `callback(iterate)` is called after every iteration when given; returning false stops early.
/// mask (optional, >= 0, broadcast to the signal shape) weighs the data term as in fista().
/// options.nonnegative is refused (the l1-l1 prox has no non-negative variant here).
template <class Dictionary>
CoupledL1L1Result<typename Dictionary::scalar_type, typename Dictionary::execution_space> coupled_l1l1(
    const Dictionary& D, const typename Dictionary::tensor_type& y, const typename Dictionary::tensor_type& side,
    const CoupledL1L1Options& options, const typename Dictionary::tensor_type& initial_codes = {},
    const std::function<bool(const CoupledL1L1Iterate<typename Dictionary::scalar_type,
                                                       typename Dictionary::execution_space>&)>& callback = {},
    const typename Dictionary::tensor_type& mask = {}) {
  const char* fn = "mcsc::coupled_l1l1";
  const Shape4 sc = D.code_shape(shape_of(y));
  MCSC_REQUIRE(side.data() != nullptr && shape_of(side) == sc, fn,
               "side information " << shape_of(side) << " should have the code shape " << sc
                                   << " (N, K, H, W) of signal " << shape_of(y));
  require_finite(fn, side);
  MCSC_REQUIRE(!options.nonnegative, fn, "options.nonnegative is not supported by the coupled l1-l1 solver");
  return Impl::proximal_gradient(fn, D, y, options, initial_codes, callback, mask, l1l1_penalty(options.lambda, side));
}

}  // namespace mcsc
