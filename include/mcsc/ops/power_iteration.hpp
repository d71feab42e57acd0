#pragma once
/// \file power_iteration.hpp
/// lambda_max of a symmetric positive semi-definite operator by power iteration: the Lipschitz
/// constant L = lambda_max(D'D) of the gradient of 1/2 ||y - D*U||^2 for the solvers' step
/// sizes. One implementation, cold (a seeded random start) or warm (from the previous call's
/// vector, as dictionary learning re-estimates L after every dictionary change). It needs no
/// FFT; the FFT operator's exact constant from its spectra is in lipschitz.hpp.
#include <cmath>
#include <cstdint>
#include <limits>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// Options of power_iteration.
struct PowerIterationOptions {
  int max_iterations = 200;
  double tolerance = 1e-7;  ///< stop when the estimate changes by less than tolerance (relative)
  std::uint64_t seed = 12345;
};

/// lambda_max of the operator `normal(v, out)` (out = A v, A symmetric positive semi-definite) by
/// power iteration, warm-started from v: v is left holding the last (normalised) iterate for the
/// next call; a v that is zero or not finite is first replaced by a random vector from
/// options.seed. tmp: scratch of v's shape. The estimate (a Rayleigh quotient) approaches
/// lambda_max from below; 0 when A v = 0, NaN when A v is not finite. Reads back two scalars per
/// iteration.
template <class V, class Normal>
double power_iteration_warm(const Normal& normal, const V& v, const V& tmp, PowerIterationOptions options = {}) {
  using T = typename V::value_type;
  MCSC_REQUIRE(options.max_iterations > 0, "mcsc::power_iteration", "max_iterations must be > 0");
  MCSC_REQUIRE(shape_of(v) == shape_of(tmp), "mcsc::power_iteration",
               "scratch " << shape_of(tmp) << " should have the vector's shape " << shape_of(v));
  double norm = std::sqrt(sum_squares(v));
  if (!(norm > 0) || !std::isfinite(norm)) {
    fill_normal(v, options.seed);
    norm = std::sqrt(sum_squares(v));
  }
  scale(v, T(1.0 / norm));
  double estimate = 0;
  for (int it = 0; it < options.max_iterations; ++it) {
    normal(v, tmp);
    const double next = dot(v, tmp);  // Rayleigh quotient, ||v|| = 1
    const double n = std::sqrt(sum_squares(tmp));
    if (n == 0) return 0;
    if (!std::isfinite(n)) return std::numeric_limits<double>::quiet_NaN();
    axpby(T(1.0 / n), tmp, T(0), v);
    const bool converged = it > 0 && std::abs(next - estimate) <= options.tolerance * std::abs(next);
    estimate = next;
    if (converged) break;
  }
  return estimate;
}

/// Largest eigenvalue of D'D for codes of shape `codes` (N, K, H, W), by power iteration on
/// D'D from a seeded random start (power_iteration_warm with a fresh vector). Dictionary:
/// anything with apply(codes, signal) and adjoint(signal, codes) (ConvDictionary,
/// FftConvDictionary). The estimate approaches lambda_max from below.
template <class Dictionary>
double power_iteration(const Dictionary& D, const Shape4& codes, PowerIterationOptions options = {}) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  MCSC_REQUIRE(codes.size() > 0, "mcsc::power_iteration", "zero-size code shape " << codes);
  MCSC_REQUIRE(options.max_iterations > 0, "mcsc::power_iteration", "max_iterations must be > 0");
  auto u = make_tensor<T, ExecSpace>("mcsc::power_iteration::u", codes);
  auto g = make_tensor<T, ExecSpace>("mcsc::power_iteration::g", codes);
  auto r = make_tensor<T, ExecSpace>("mcsc::power_iteration::r", Shape4{codes.n, D.num_channels(), codes.h, codes.w});
  fill_normal(u, options.seed);
  using tensor_type = Tensor4<T, ExecSpace>;
  return power_iteration_warm(
      [&](const tensor_type& v, const tensor_type& out) {
        D.apply(v, r);
        D.adjoint(r, out);
      },
      u, g, options);
}

}  // namespace mcsc
