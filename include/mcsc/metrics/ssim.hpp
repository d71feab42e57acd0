#pragma once
/// \file ssim.hpp
/// Structural similarity (SSIM) of Wang, Bovik, Sheikh and Simoncelli, "Image quality
/// assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004, exactly as
/// their reference implementation ssim_index.m and as scikit-image's
/// structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=peak):
///
/// - window: 11 x 11 Gaussian, sigma 1.5, normalised to sum 1 (fspecial('gaussian', 11, 1.5));
///   applied separably (the 2-D window is the outer product of the normalised 1-D one);
/// - local statistics with 'valid' filtering (filter2(window, img, 'valid')): the SSIM map of an
///   H x W image is (H - 10) x (W - 10), no padding;
///   mu = w * x, sigma_x^2 = w * x^2 - mu_x^2, sigma_xy = w * (x y) - mu_x mu_y (population
///   weighting, no N/(N-1) correction);
/// - C1 = (K1 L)^2, C2 = (K2 L)^2 with K1 = 0.01, K2 = 0.03 and L = peak (1 for images in [0, 1]);
/// - SSIM = mean of ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
///   sigma_y^2 + C2)) over the map; for several channels and images, the mean over all their maps
///   (equal sizes, so it is the average of the per-channel, per-image SSIMs, as skimage's
///   channel_axis).
///
/// No automatic downsampling (the later ssim.m of the same authors downsamples images larger than
/// 256 pixels; ssim_index.m and skimage do not). The statistics are computed in double whatever
/// the tensors' scalar type, as both references convert to double.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// SSIM parameters (Wang et al. 2004).
inline constexpr int ssim_window_size = 11;
inline constexpr double ssim_sigma = 1.5;
inline constexpr double ssim_k1 = 0.01;
inline constexpr double ssim_k2 = 0.03;

namespace Impl {

/// The normalised 1-D Gaussian of the SSIM window: g[k] = exp(-(k - 5)^2 / (2 sigma^2)) / sum.
inline Kokkos::Array<double, ssim_window_size> ssim_gaussian() {
  Kokkos::Array<double, ssim_window_size> g;
  const int r = ssim_window_size / 2;
  double sum = 0;
  for (int k = 0; k < ssim_window_size; ++k) {
    const double d = double(k - r);
    g[k] = std::exp(-d * d / (2 * ssim_sigma * ssim_sigma));
    sum += g[k];
  }
  for (int k = 0; k < ssim_window_size; ++k) g[k] /= sum;
  return g;
}

}  // namespace Impl

/// Mean SSIM of a and b (same shape (N, C, H, W), H and W at least 11), with dynamic range
/// `peak` (L). Returns exactly 1 for identical tensors; symmetric in a and b.
template <class A, class B>
double ssim(const A& a, const B& b, double peak = 1.0) {
  static_assert(is_tensor4_v<A> && is_tensor4_v<B>, "mcsc::ssim: a and b must be rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename A::memory_space, typename B::memory_space>::value,
                "mcsc::ssim: a and b must live in the same memory space");
  const char* fn = "mcsc::ssim";
  const Shape4 sa = shape_of(a), sb = shape_of(b);
  MCSC_REQUIRE(sa == sb, fn, "shape mismatch: a is " << sa << " but b is " << sb);
  MCSC_REQUIRE(sa.size() > 0, fn, "empty tensors: a " << sa << ", b " << sb);
  MCSC_REQUIRE(sa.h >= ssim_window_size && sa.w >= ssim_window_size, fn,
               "images must be at least " << ssim_window_size << "x" << ssim_window_size
                                          << " (the Gaussian window), got " << sa.h << "x" << sa.w << " in "
                                          << sa);
  MCSC_REQUIRE(std::isfinite(peak) && peak > 0, fn, "peak must be positive and finite, got " << peak);

  using Exec = typename A::execution_space;
  using Device = typename A::device_type;
  constexpr int K = ssim_window_size;
  const auto g = Impl::ssim_gaussian();
  const double C1 = (ssim_k1 * peak) * (ssim_k1 * peak), C2 = (ssim_k2 * peak) * (ssim_k2 * peak);
  const int C = int(sa.c), H = int(sa.h), W = int(sa.w);
  const int Hv = H - (K - 1), Wv = W - (K - 1);
  const std::int64_t NC = sa.n * sa.c;

  // Horizontal pass: for every row and valid column, the five weighted sums of a, b, a^2, b^2, ab.
  Kokkos::View<double* [5], Kokkos::LayoutRight, Device> rows("mcsc::ssim::rows", std::size_t(NC * H * Wv));
  Kokkos::parallel_for(
      "mcsc::ssim::rows", Kokkos::RangePolicy<Exec>(0, NC * H * Wv), KOKKOS_LAMBDA(const std::int64_t id) {
        const int j = int(id % Wv);
        const std::int64_t t = id / Wv;
        const int i = int(t % H);
        const std::int64_t nc = t / H;
        const int n = int(nc / C), c = int(nc % C);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
        for (int q = 0; q < K; ++q) {
          const double x = double(a(n, c, i, j + q)), y = double(b(n, c, i, j + q));
          s0 += g[q] * x;
          s1 += g[q] * y;
          s2 += g[q] * (x * x);
          s3 += g[q] * (y * y);
          s4 += g[q] * (x * y);
        }
        rows(id, 0) = s0;
        rows(id, 1) = s1;
        rows(id, 2) = s2;
        rows(id, 3) = s3;
        rows(id, 4) = s4;
      });

  // Vertical pass, the SSIM formula and the sum over the map.
  double total = 0;
  Kokkos::parallel_reduce(
      "mcsc::ssim::map", Kokkos::RangePolicy<Exec>(0, NC * Hv * Wv),
      KOKKOS_LAMBDA(const std::int64_t id, double& acc) {
        const int j = int(id % Wv);
        const std::int64_t t = id / Wv;
        const int i = int(t % Hv);
        const std::int64_t nc = t / Hv;
        double s[5] = {0, 0, 0, 0, 0};
        for (int p = 0; p < K; ++p) {
          const std::int64_t r = (nc * H + i + p) * Wv + j;
          for (int k = 0; k < 5; ++k) s[k] += g[p] * rows(r, k);
        }
        const double mu1 = s[0], mu2 = s[1];
        const double mu1_sq = mu1 * mu1, mu2_sq = mu2 * mu2, mu1_mu2 = mu1 * mu2;
        const double sigma1_sq = s[2] - mu1_sq, sigma2_sq = s[3] - mu2_sq, sigma12 = s[4] - mu1_mu2;
        acc += ((2 * mu1_mu2 + C1) * (2 * sigma12 + C2)) / ((mu1_sq + mu2_sq + C1) * (sigma1_sq + sigma2_sq + C2));
      },
      total);
  return total / double(NC * Hv * Wv);
}

}  // namespace mcsc
