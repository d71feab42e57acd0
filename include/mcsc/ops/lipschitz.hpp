#pragma once
/// \file lipschitz.hpp
/// The Lipschitz constant L = lambda_max(D'D) of the gradient of 1/2 ||y - D*U||^2 from the
/// filters' spectra of the FFT operator (exact for the circular boundary). The power iteration,
/// for any dictionary operator, is in power_iteration.hpp (included here as before).
#include <cmath>

#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/ops/power_iteration.hpp"

namespace mcsc {

/// lambda_max of the circulant D'D from the filter spectra of an FFT operator: the maximum over
/// frequencies f of the largest eigenvalue of W(f) W(f)^H, W(f) the (O x C) matrix of spectra.
/// Closed form when O == 1 or C == 1 (single-channel signals, the usual CSC case); otherwise a
/// power iteration per frequency on the smaller Gram matrix (`iterations` steps).
/// Exact for Boundary::circular; for Boundary::zero it is the constant of the zero-padded
/// circulant, an upper bound of the cropped operator's (so 1/L is still a safe step size).
template <class T, class ExecSpace>
double lipschitz_from_spectra(const FftConv2d<T, ExecSpace>& op, int iterations = 500) {
  MCSC_REQUIRE(op.has_weights(), "mcsc::lipschitz_from_spectra", "set_weights() was not called");
  const auto spectra = op.weight_spectra();
  const int O = int(op.weight_shape().n), C = int(op.weight_shape().c);
  const int R = int(spectra.extent(1)), F = int(spectra.extent(2));
  const bool small_is_out = O <= C;
  const int A = small_is_out ? O : C, B = small_is_out ? C : O;
  // Entry (a, b) of the A x B matrix whose Gram (A x A) we need.
  auto entry = KOKKOS_LAMBDA(int a, int b, int r, int f) {
    return small_is_out ? spectra(a * C + b, r, f) : spectra(b * C + a, r, f);
  };
  using complex_t = Kokkos::complex<T>;
  Kokkos::View<complex_t***, Kokkos::LayoutRight, DeviceOf<ExecSpace>> v("mcsc::lipschitz::v", R, F, A),
      w("mcsc::lipschitz::w", R, F, A);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::lipschitz_from_spectra", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(R) * F),
      KOKKOS_LAMBDA(const std::int64_t idx, double& best) {
        const int r = int(idx / F), f = int(idx % F);
        double lambda = 0;
        if (A == 1) {
          for (int b = 0; b < B; ++b) lambda += Kokkos::abs(entry(0, b, r, f)) * Kokkos::abs(entry(0, b, r, f));
        } else {
          for (int a = 0; a < A; ++a) v(r, f, a) = complex_t(1.0 + 0.1 * a, 0.01 * a);
          for (int it = 0; it < iterations; ++it) {
            // w = M M^H v, M the A x B matrix at this frequency.
            for (int a = 0; a < A; ++a) w(r, f, a) = complex_t(0, 0);
            for (int b = 0; b < B; ++b) {
              complex_t t(0, 0);
              for (int a = 0; a < A; ++a) t += Kokkos::conj(entry(a, b, r, f)) * v(r, f, a);
              for (int a = 0; a < A; ++a) w(r, f, a) += entry(a, b, r, f) * t;
            }
            double vv = 0, vw = 0, ww = 0;
            for (int a = 0; a < A; ++a) {
              vv += Kokkos::abs(v(r, f, a)) * Kokkos::abs(v(r, f, a));
              vw += (Kokkos::conj(v(r, f, a)) * w(r, f, a)).real();
              ww += Kokkos::abs(w(r, f, a)) * Kokkos::abs(w(r, f, a));
            }
            lambda = vv > 0 ? vw / vv : 0;
            if (ww == 0) break;
            const double inv = 1.0 / math::sqrt(ww);
            for (int a = 0; a < A; ++a) v(r, f, a) = w(r, f, a) * T(inv);
          }
        }
        if (lambda > best) best = lambda;
      },
      Kokkos::Max<double>(result));
  return result;
}

}  // namespace mcsc
