#pragma once
/// \file fista.hpp
/// FISTA (Beck & Teboulle 2009) and ISTA for convolutional basis pursuit denoising
///
///     min_U  1/2 ||y - sum_k d_k * u_k||^2 + lambda sum_k ||u_k||_1
///
/// y (N, m, H, W), U (N, K, H, W), with any dictionary operator (ConvDictionary or
/// FftConvDictionary). One iteration is the ISTA step of an LCSC stage,
///     U <- S_{lambda/L}(Z - D'(D Z - y) / L),
/// taken at the extrapolated point Z. D*Z is kept by linearity, so an iteration costs one D
/// and one D' and the objective at every iterate comes for free.
#include <chrono>
#include <cmath>
#include <functional>
#include <vector>

#include "mcsc/ops/lipschitz.hpp"
#include "mcsc/ops/prox.hpp"

namespace mcsc {

/// Options of fista().
struct FistaOptions {
  double lambda = 0.01;          ///< l1 weight, >= 0
  int max_iterations = 100;
  double tolerance = 0;          ///< stop when ||U_k - U_{k-1}|| <= tolerance ||U_k|| (0: never)
  double lipschitz = 0;          ///< L of D'D; 0: estimated by power iteration (times 1.01)
  bool accelerate = true;        ///< false: plain ISTA (no momentum), the iteration LCSC unrolls
};

/// What fista() returns. objective[k] is the objective at iterate k+1.
template <class T, class ExecSpace>
struct FistaResult {
  Tensor4<T, ExecSpace> codes;           ///< U (N, K, H, W)
  Tensor4<T, ExecSpace> reconstruction;  ///< D*U (N, m, H, W)
  std::vector<double> objective;
  std::vector<double> seconds;           ///< wall time since the start, per iteration
  int iterations = 0;
  double lipschitz = 0;
};

/// What fista() shows its callback after every iteration (views valid during the call only).
template <class T, class ExecSpace>
struct FistaIterate {
  int iteration;                                ///< 1-based
  double objective;
  const Tensor4<T, ExecSpace>& codes;           ///< U_k
  const Tensor4<T, ExecSpace>& reconstruction;  ///< D*U_k
};

/// 1/2 ||y - D*U||^2 + lambda ||U||_1, given D*U.
template <class R, class Y, class U>
double cbpdn_objective(const R& reconstruction, const Y& y, const U& codes, double lambda) {
  return 0.5 * distance_squared(reconstruction, y) + lambda * sum_abs(codes);
}

namespace Impl {
/// x = S_theta(z - step * g), elementwise (theta the same for every entry).
template <class Z, class G, class X>
void proximal_gradient_step(const Z& z, const G& g, typename X::value_type step, typename X::value_type theta,
                            const X& x) {
  auto fz = flat(z);
  auto fg = flat(g);
  auto fx = flat(x);
  Kokkos::parallel_for(
      "mcsc::proximal_gradient_step", Kokkos::RangePolicy<typename X::execution_space>(0, fx.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i) { fx(i) = soft_threshold_value(fz(i) - step * fg(i), theta); });
}
}  // namespace Impl

namespace Impl {
/// The proximal-gradient loop shared by fista() and coupled_l1l1():
///     U_k = prox(Z_k - D'(D Z_k - y) / L),  Z_{k+1} = U_k + beta_k (U_k - U_{k-1})
/// (beta_k = 0 without acceleration), D*Z kept by linearity so that an iteration costs one D and
/// one D'. `step(z, gradient, step_size, x)` writes x = prox(z - step_size * gradient);
/// `objective(D x, x)` is the objective at x. Checks the inputs common to both solvers (fn names
/// the caller in messages).
template <class Dictionary, class Step, class Objective>
FistaResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> proximal_gradient(
    const char* fn, const Dictionary& D, const typename Dictionary::tensor_type& y, const FistaOptions& options,
    const typename Dictionary::tensor_type& initial_codes,
    const std::function<bool(const FistaIterate<typename Dictionary::scalar_type,
                                                typename Dictionary::execution_space>&)>& callback,
    const Step& step, const Objective& objective) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const Shape4 sy = shape_of(y);
  MCSC_REQUIRE(options.lambda >= 0 && std::isfinite(options.lambda), fn, "lambda must be finite and >= 0, got "
                                                                             << options.lambda);
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0");
  MCSC_REQUIRE(sy.size() > 0, fn, "zero-size signal " << sy);
  MCSC_REQUIRE(sy.c == D.num_channels(), fn, "signal " << sy << " has " << sy.c << " channels but the dictionary "
                                                       << shape_of(D.weights()) << " has " << D.num_channels());
  require_finite(fn, y);
  const Shape4 sc = D.code_shape(sy);

  FistaResult<T, ExecSpace> result;
  result.codes = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::codes", sc);
  result.reconstruction = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::reconstruction", sy);
  if (initial_codes.data() != nullptr) {
    MCSC_REQUIRE(shape_of(initial_codes) == sc, fn, "initial codes " << shape_of(initial_codes) << " should be " << sc);
    require_finite(fn, initial_codes);
    Kokkos::deep_copy(result.codes, initial_codes);
  }
  result.lipschitz = options.lipschitz > 0 ? options.lipschitz : 1.01 * power_iteration(D, sc);
  MCSC_REQUIRE(result.lipschitz > 0 && std::isfinite(result.lipschitz), fn,
               "the Lipschitz constant is " << result.lipschitz << " (all-zero dictionary?)");
  const T step_size = T(1.0 / result.lipschitz);

  auto x = result.codes;                      // U_k
  auto dx = result.reconstruction;            // D U_k
  auto x_prev = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::codes_prev", sc);
  auto dx_prev = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::reconstruction_prev", sy);
  auto z = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::extrapolated", sc);
  auto dz = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::extrapolated_reconstruction", sy);
  auto g = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::gradient", sc);
  D.apply(x, dx);
  Kokkos::deep_copy(z, x);
  Kokkos::deep_copy(dz, dx);
  double t = 1;
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < options.max_iterations; ++k) {
    Kokkos::deep_copy(x_prev, x);
    Kokkos::deep_copy(dx_prev, dx);
    axpby(T(-1), y, T(1), dz);  // dz <- D Z - y (dz is recomputed below)
    D.adjoint(dz, g);           // gradient at Z
    step(z, g, step_size, x);
    D.apply(x, dx);
    const double value = objective(dx, x);
    ExecSpace().fence();
    result.objective.push_back(value);
    result.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    result.iterations = k + 1;
    MCSC_REQUIRE(std::isfinite(value), fn, "objective became " << value << " at iteration " << k + 1);
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    const T beta = options.accelerate ? T((t - 1) / t_next) : T(0);
    t = t_next;
    lincomb(T(1) + beta, x, -beta, x_prev, z);
    lincomb(T(1) + beta, dx, -beta, dx_prev, dz);
    bool stop = callback && !callback(FistaIterate<T, ExecSpace>{k + 1, value, x, dx});
    if (options.tolerance > 0) {
      const double change = std::sqrt(distance_squared(x, x_prev));
      stop = stop || change <= options.tolerance * std::sqrt(sum_squares(x));
    }
    if (stop) break;
  }
  return result;
}
}  // namespace Impl

/// Solves CBPDN by FISTA (or ISTA with options.accelerate = false). y: (N, m, H, W) signal;
/// initial_codes: optional warm start (N, K, H, W). `callback(iterate)` (a FistaIterate:
/// iteration, objective, codes, D*codes) is called after every iteration when given; returning
/// false stops early.
template <class Dictionary>
FistaResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> fista(
    const Dictionary& D, const typename Dictionary::tensor_type& y, const FistaOptions& options,
    const typename Dictionary::tensor_type& initial_codes = {},
    const std::function<bool(const FistaIterate<typename Dictionary::scalar_type,
                                                typename Dictionary::execution_space>&)>& callback = {}) {
  using T = typename Dictionary::scalar_type;
  using tensor_type = typename Dictionary::tensor_type;
  const double lambda = options.lambda;
  return Impl::proximal_gradient(
      "mcsc::fista", D, y, options, initial_codes, callback,
      [lambda](const tensor_type& z, const tensor_type& g, T step_size, const tensor_type& x) {
        Impl::proximal_gradient_step(z, g, step_size, T(lambda * double(step_size)), x);
      },
      [&y, lambda](const tensor_type& dx, const tensor_type& x) { return cbpdn_objective(dx, y, x, lambda); });
}

}  // namespace mcsc
