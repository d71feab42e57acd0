#pragma once
/// \file fusion.hpp
/// No-reference fusion quality metrics on (N, C, H, W) tensors:
///
/// Q^AB/F (Xydeas & Petrovic, "Objective image fusion performance measure", Electronics Letters
/// 36(4):308-309, 2000): how much of the edge information of the sources A and B the fused
/// image F keeps. Per pixel, with the 3x3 Sobel responses of MATLAB's conv2(X, h, 'same')
/// (true convolution, zeros outside the image),
///     h1 = [1 2 1; 0 0 0; -1 -2 -1]  ->  s_y = conv2(X, h1, 'same')
///     h3 = [-1 0 1; -2 0 2; -1 0 1]  ->  s_x = conv2(X, h3, 'same')
///     g = sqrt(s_x^2 + s_y^2)   (edge strength)
///     a = atan(s_y / s_x), pi/2 where s_x == 0   (edge orientation, in (-pi/2, pi/2])
/// and for each source X in {A, B}:
///     G^XF = min(g_X, g_F) / max(g_X, g_F)   (1 where g_X == g_F)
///     A^XF = 1 - |a_X - a_F| / (pi/2)
///     Q_g^XF = Gamma_g / (1 + exp(kappa_g (G^XF - sigma_g)))
///     Q_a^XF = Gamma_a / (1 + exp(kappa_a (A^XF - sigma_a)))
///     Q^XF = Q_g^XF Q_a^XF
///     Q^AB/F = sum(Q^AF g_A^L + Q^BF g_B^L) / sum(g_A^L + g_B^L)   over the image
/// with Gamma_g = 0.9994, kappa_g = -15, sigma_g = 0.5, Gamma_a = 0.9879, kappa_a = -22,
/// sigma_a = 0.8, L = 1. The score lies in [0, qabf_maximum()]: with these constants even F = A = B
/// scores qabf_maximum() = Q_g(1) Q_a(1) ~= 0.9748, not 1. For several channels or images the
/// result is the mean of the per-plane scores (as VIFB's metricsQabf for colour images).
///
/// The widely circulated Qabf.m (e.g. VIFB metricsQabf.m) differs in one place: where
/// g_X == g_F it sets G^XF = g_F (the strength itself, on images scaled to 0..255) instead of 1.
/// QabfOptions::matlab_compatible reproduces that code exactly (images scaled by 255 / peak);
/// the default follows the paper, for which the score does not depend on the intensity scale.
///
/// MEF-SSIM (K. Ma, K. Zeng, Z. Wang, "Perceptual quality assessment for multi-exposure image
/// fusion", IEEE TIP 24(11):3345-3356, 2015), as the authors' reference code (mef_ssim.m with the
/// multi-scale wrapper; see mef_ssim below for the exact steps and constants).
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"
#include "mcsc/metrics/ssim.hpp"

namespace mcsc {

/// Q^AB/F constants (Xydeas & Petrovic 2000).
inline constexpr double qabf_gamma_g = 0.9994;
inline constexpr double qabf_kappa_g = -15;
inline constexpr double qabf_sigma_g = 0.5;
inline constexpr double qabf_gamma_a = 0.9879;
inline constexpr double qabf_kappa_a = -22;
inline constexpr double qabf_sigma_a = 0.8;

/// Options of qabf().
struct QabfOptions {
  /// true: reproduce the common MATLAB Qabf.m exactly (G = g_F where g_X == g_F, on images
  /// scaled to 0..255 by 255 / peak); false (default): the paper's G = 1 there.
  bool matlab_compatible = false;
  /// The images' peak value (1 for [0, 1] images); used by matlab_compatible only.
  double peak = 1.0;
};

/// The Q^AB/F of a perfect fusion (G = A = 1 everywhere, e.g. F = A = B):
/// Gamma_g / (1 + exp(kappa_g (1 - sigma_g))) * Gamma_a / (1 + exp(kappa_a (1 - sigma_a))).
inline double qabf_maximum() {
  return qabf_gamma_g / (1 + std::exp(qabf_kappa_g * (1 - qabf_sigma_g))) * qabf_gamma_a /
         (1 + std::exp(qabf_kappa_a * (1 - qabf_sigma_a)));
}

namespace Impl {

/// Sobel responses (s_x, s_y) of plane (n, c) of x at (i, j), MATLAB conv2(x, h, 'same') with
/// zeros outside, times `scale`.
template <class V>
KOKKOS_INLINE_FUNCTION void sobel_conv2(const V& x, int n, int c, int i, int j, int H, int W, double scale, double& sx,
                                        double& sy) {
  // h1 (for s_y) and h3 (for s_x), row-major.
  const double h1[9] = {1, 2, 1, 0, 0, 0, -1, -2, -1};
  const double h3[9] = {-1, 0, 1, -2, 0, 2, -1, 0, 1};
  sx = 0;
  sy = 0;
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 3; ++q) {
      const int r = i + 1 - p, s = j + 1 - q;  // true convolution, centre (1, 1)
      if (r < 0 || r >= H || s < 0 || s >= W) continue;
      const double v = scale * double(x(n, c, r, s));
      sx += h3[3 * p + q] * v;
      sy += h1[3 * p + q] * v;
    }
}

KOKKOS_INLINE_FUNCTION double edge_orientation(double sx, double sy) {
  return sx == 0 ? 1.5707963267948966 : math::atan(sy / sx);
}

/// Q^XF at one pixel from the strengths and orientations of the source X and of F.
KOKKOS_INLINE_FUNCTION double qabf_pixel(double gx, double ax, double gf, double af, bool matlab) {
  double G;
  if (gx > gf)
    G = gf / gx;
  else if (gx == gf)
    G = matlab ? gf : 1.0;
  else
    G = gx / gf;
  const double A = 1 - (ax > af ? ax - af : af - ax) / 1.5707963267948966;
  const double qg = qabf_gamma_g / (1 + math::exp(qabf_kappa_g * (G - qabf_sigma_g)));
  const double qa = qabf_gamma_a / (1 + math::exp(qabf_kappa_a * (A - qabf_sigma_a)));
  return qg * qa;
}

template <class A, class B>
void check_fusion_pair(const char* fn, const A& a, const B& b) {
  static_assert(is_tensor4_v<A> && is_tensor4_v<B>, "mcsc fusion metrics: expects rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename A::memory_space, typename B::memory_space>::value,
                "mcsc fusion metrics: all images must live in the same memory space");
  MCSC_REQUIRE(shape_of(a) == shape_of(b), fn, "shape mismatch: " << shape_of(a) << " and " << shape_of(b));
}

}  // namespace Impl

/// Q^AB/F of the fused image f for the sources a and b (all (N, C, H, W), same shape), in
/// [0, qabf_maximum()]: the mean over the N x C planes of the per-plane score (see the file
/// comment for the formula). Throws for empty or mismatched tensors, NaN/Inf values, and for a
/// plane where both sources have no edge at all (the score is 0/0 there).
template <class A, class B, class F>
double qabf(const A& a, const B& b, const F& f, const QabfOptions& options = {}) {
  const char* fn = "mcsc::qabf";
  Impl::check_fusion_pair(fn, a, b);
  Impl::check_fusion_pair(fn, a, f);
  const Shape4 s = shape_of(a);
  MCSC_REQUIRE(s.size() > 0, fn, "empty tensors " << s);
  MCSC_REQUIRE(std::isfinite(options.peak) && options.peak > 0, fn, "peak must be positive and finite, got " << options.peak);
  require_finite(fn, a);
  require_finite(fn, b);
  require_finite(fn, f);
  using Exec = typename A::execution_space;
  const bool matlab = options.matlab_compatible;
  const double scale = matlab ? 255.0 / options.peak : 1.0;
  const int H = int(s.h), W = int(s.w);
  const std::int64_t plane = s.h * s.w;
  double total = 0;
  for (int n = 0; n < int(s.n); ++n)
    for (int c = 0; c < int(s.c); ++c) {
      double numerator = 0, denominator = 0;
      Kokkos::parallel_reduce(
          "mcsc::qabf::numerator", Kokkos::RangePolicy<Exec>(0, plane),
          KOKKOS_LAMBDA(const std::int64_t id, double& acc) {
            const int i = int(id / W), j = int(id % W);
            double ax, ay, bx, by, fx, fy;
            Impl::sobel_conv2(a, n, c, i, j, H, W, scale, ax, ay);
            Impl::sobel_conv2(b, n, c, i, j, H, W, scale, bx, by);
            Impl::sobel_conv2(f, n, c, i, j, H, W, scale, fx, fy);
            const double ga = math::sqrt(ax * ax + ay * ay), gb = math::sqrt(bx * bx + by * by);
            const double gf = math::sqrt(fx * fx + fy * fy);
            const double oa = Impl::edge_orientation(ax, ay), ob = Impl::edge_orientation(bx, by);
            const double of = Impl::edge_orientation(fx, fy);
            acc += Impl::qabf_pixel(ga, oa, gf, of, matlab) * ga + Impl::qabf_pixel(gb, ob, gf, of, matlab) * gb;
          },
          numerator);
      Kokkos::parallel_reduce(
          "mcsc::qabf::denominator", Kokkos::RangePolicy<Exec>(0, plane),
          KOKKOS_LAMBDA(const std::int64_t id, double& acc) {
            const int i = int(id / W), j = int(id % W);
            double ax, ay, bx, by;
            Impl::sobel_conv2(a, n, c, i, j, H, W, scale, ax, ay);
            Impl::sobel_conv2(b, n, c, i, j, H, W, scale, bx, by);
            acc += math::sqrt(ax * ax + ay * ay) + math::sqrt(bx * bx + by * by);
          },
          denominator);
      MCSC_REQUIRE(denominator > 0, fn,
                   "plane (" << n << ", " << c << ") of both sources has no edges (all zero): Q^AB/F is undefined");
      total += numerator / denominator;
    }
  return total / double(s.n * s.c);
}

// ------------------------------------------------------------------ MEF-SSIM

/// Options of mef_ssim(): the reference code's defaults.
struct MefSsimOptions {
  double peak = 1.0;   ///< the images' peak value (1 for [0, 1]); they are scaled to 0..255 internally
  int levels = 3;      ///< number of scales
  std::vector<double> weights = {0.0448, 0.2856, 0.3001};  ///< per-scale exponents (normalised to sum 1)
  double k = 0.03;     ///< C = (k 255)^2
};

/// The most source images mef_ssim accepts per scene.
inline constexpr int mef_ssim_max_sources = 16;

namespace Impl {

/// dst (N, C, ceil(H/2), ceil(W/2)) = the 2x2 mean of src (imfilter(x, ones(2)/4, 'symmetric',
/// 'same'): pixels (i, j), (i+1, j), (i, j+1), (i+1, j+1), the edge repeated past the bottom and
/// right) sampled at even rows and columns, as the reference's x(1:2:end, 1:2:end).
template <class Src>
Tensor4<double, typename Src::execution_space> mef_downsample(const Src& src) {
  using Exec = typename Src::execution_space;
  const Shape4 s = shape_of(src);
  const Shape4 d{s.n, s.c, (s.h + 1) / 2, (s.w + 1) / 2};
  auto dst = make_tensor<double, Exec>("mcsc::mef_ssim::downsampled", d);
  const int H = int(s.h), W = int(s.w), C = int(d.c), H2 = int(d.h), W2 = int(d.w);
  Kokkos::parallel_for(
      "mcsc::mef_ssim::downsample", Kokkos::RangePolicy<Exec>(0, d.size()), KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, C, H2, W2);
        const int r0 = 2 * p.i, c0 = 2 * p.j;
        const int r1 = r0 + 1 < H ? r0 + 1 : H - 1, c1 = c0 + 1 < W ? c0 + 1 : W - 1;
        dst(p.n, p.c, p.i, p.j) = 0.25 * (double(src(p.n, p.c, r0, c0)) + double(src(p.n, p.c, r1, c0)) +
                                          double(src(p.n, p.c, r0, c1)) + double(src(p.n, p.c, r1, c1)));
      });
  return dst;
}

/// Single-scale MEF-SSIM of sample n (values already in 0..255): the mean of the quality map.
template <class Seq, class F>
double mef_ssim_single(const Seq& seq, const F& fused, int n, double C2) {
  using Exec = typename Seq::execution_space;
  constexpr int wsize = ssim_window_size;
  constexpr double area = double(wsize * wsize);
  constexpr double eps = std::numeric_limits<double>::epsilon();  // MATLAB eps
  constexpr double half_pi = 1.5707963267948966;
  const auto g = ssim_gaussian();
  const int K = int(seq.extent(1)), H = int(seq.extent(2)), W = int(seq.extent(3));
  const int Hv = H - wsize + 1, Wv = W - wsize + 1;
  double sum = 0;
  Kokkos::parallel_reduce(
      "mcsc::mef_ssim::map", Kokkos::RangePolicy<Exec>(0, std::int64_t(Hv) * Wv),
      KOKKOS_LAMBDA(const std::int64_t id, double& acc) {
        const int i0 = int(id / Wv), j0 = int(id % Wv);
        Kokkos::Array<double, mef_ssim_max_sources> mu, ed, w;
        // Patch means, signal strengths ed_k = ||x_k - mu_k|| (from the variance) + 0.001, and
        // the denominator of the structure consistency R: sum_k ||x_k - mu_k||.
        double denominator = 0;
        for (int k = 0; k < K; ++k) {
          double s1 = 0, s2 = 0;
          for (int p = 0; p < wsize; ++p)
            for (int q = 0; q < wsize; ++q) {
              const double x = seq(n, k, i0 + p, j0 + q);
              s1 += x;
              s2 += x * x;
            }
          mu[k] = s1 / area;
          const double variance = s2 / area - mu[k] * mu[k];
          ed[k] = math::sqrt(area * variance > 0 ? area * variance : 0.0) + 0.001;
          double d2 = 0;
          for (int p = 0; p < wsize; ++p)
            for (int q = 0; q < wsize; ++q) {
              const double d = seq(n, k, i0 + p, j0 + q) - mu[k];
              d2 += d * d;
            }
          denominator += math::sqrt(d2);
        }
        // Numerator of R: || sum_k x_k - mean(sum_k x_k) ||.
        double vmean = 0;
        for (int p = 0; p < wsize; ++p)
          for (int q = 0; q < wsize; ++q)
            for (int k = 0; k < K; ++k) vmean += seq(n, k, i0 + p, j0 + q);
        vmean /= area;
        double v2 = 0;
        for (int p = 0; p < wsize; ++p)
          for (int q = 0; q < wsize; ++q) {
            double v = 0;
            for (int k = 0; k < K; ++k) v += seq(n, k, i0 + p, j0 + q);
            v2 += (v - vmean) * (v - vmean);
          }
        double R = (math::sqrt(v2) + eps) / (denominator + eps);
        if (R > 1) R = 1 - eps;
        if (R < 0) R = eps;
        double power = math::tan(half_pi * R);
        if (power > 10) power = 10;
        // Structure weights ((ed_k / wsize)^p + eps, normalised) and the desired contrast.
        double wsum = 0, max_ed = 0;
        for (int k = 0; k < K; ++k) {
          w[k] = math::pow(ed[k] / wsize, power) + eps;
          wsum += w[k];
          if (ed[k] > max_ed) max_ed = ed[k];
        }
        for (int k = 0; k < K; ++k) w[k] /= wsum;
        // The desired patch r = sum_k w_k (x_k - mu_k) / ed_k, rescaled to norm max_ed.
        double r2 = 0;
        for (int p = 0; p < wsize; ++p)
          for (int q = 0; q < wsize; ++q) {
            double r = 0;
            for (int k = 0; k < K; ++k) r += w[k] * (seq(n, k, i0 + p, j0 + q) - mu[k]) / ed[k];
            r2 += r * r;
          }
        const double rscale = r2 > 0 ? max_ed / math::sqrt(r2) : 1.0;
        // Gaussian-weighted SSIM contrast-structure term between r and the fused patch.
        double mu1 = 0, mu2 = 0;
        for (int p = 0; p < wsize; ++p)
          for (int q = 0; q < wsize; ++q) {
            double r = 0;
            for (int k = 0; k < K; ++k) r += w[k] * (seq(n, k, i0 + p, j0 + q) - mu[k]) / ed[k];
            const double gw = g[p] * g[q];
            mu1 += gw * (r * rscale);
            mu2 += gw * fused(n, 0, i0 + p, j0 + q);
          }
        double s11 = 0, s22 = 0, s12 = 0;
        for (int p = 0; p < wsize; ++p)
          for (int q = 0; q < wsize; ++q) {
            double r = 0;
            for (int k = 0; k < K; ++k) r += w[k] * (seq(n, k, i0 + p, j0 + q) - mu[k]) / ed[k];
            const double gw = g[p] * g[q];
            const double d1 = r * rscale - mu1, d2 = fused(n, 0, i0 + p, j0 + q) - mu2;
            s11 += gw * d1 * d1;
            s22 += gw * d2 * d2;
            s12 += gw * d1 * d2;
          }
        acc += (2 * s12 + C2) / (s11 + s22 + C2);
      },
      sum);
  return sum / (double(Hv) * Wv);
}

}  // namespace Impl

/// MEF-SSIM of the fused image `fused` (N, 1, H, W) for the source sequence `sequence`
/// (N, K, H, W): K differently exposed greyscale images of each of N scenes (1 <= K <= 16).
/// Follows the authors' reference code (mef_ssim.m, Ma, Zeng & Wang 2015) on images scaled to
/// 0..255 (x 255 / peak), per scene and scale, over every 11 x 11 patch position ('valid'):
///   mu_k  = mean of source patch x_k (uniform window), ed_k = sqrt(max(121 var_k, 0)) + 0.001
///           with var_k = mean(x_k^2) - mu_k^2;
///   R     = (||sum_k x_k - mean(sum_k x_k)|| + eps) / (sum_k ||x_k - mu_k|| + eps), set to
///           1 - eps above 1 (eps = 2^-52);
///   p     = min(tan(pi R / 2), 10);  w_k = (ed_k / 11)^p + eps, normalised to sum 1;
///   r     = sum_k w_k (x_k - mu_k) / ed_k, rescaled to norm max_k ed_k (when nonzero);
///   q     = (2 sigma_rf + C) / (sigma_r^2 + sigma_f^2 + C), Gaussian-weighted statistics of r
///           and the fused patch f (fspecial('gaussian', 11, 1.5), the SSIM window of
///           mcsc/metrics/ssim.hpp), C = (k 255)^2 = (0.03 * 255)^2;
///   Q_l   = mean of q over the map.
/// Between scales every image is 2x2-averaged (edge repeated) and subsampled by 2 (ceil).
/// Score = prod_l Q_l^(w_l), w = weights / sum(weights) ([0.0448 0.2856 0.3001] for 3 levels).
/// As in the reference, min(H, W) / 2^(levels - 1) must be at least 11. A negative Q_l (a fused
/// image whose structure opposes the sources') makes the reference's product complex (a
/// negative number to a fractional power): mcsc scores it 0, the lowest score, instead of NaN
/// (with one scale the score is Q_1 itself, negative or not, as in the reference).
/// With several scenes the result is the mean of their scores.
template <class Seq, class F>
double mef_ssim(const Seq& sequence, const F& fused, const MefSsimOptions& options = {}) {
  static_assert(is_tensor4_v<Seq> && is_tensor4_v<F>, "mcsc::mef_ssim: expects rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Seq::memory_space, typename F::memory_space>::value,
                "mcsc::mef_ssim: all images must live in the same memory space");
  using Exec = typename Seq::execution_space;
  const char* fn = "mcsc::mef_ssim";
  const Shape4 ss = shape_of(sequence), sf = shape_of(fused);
  MCSC_REQUIRE(ss.size() > 0, fn, "empty source sequence " << ss);
  MCSC_REQUIRE(ss.c >= 1 && ss.c <= mef_ssim_max_sources, fn,
               "the sequence " << ss << " must hold 1 to " << mef_ssim_max_sources << " sources on its channel axis");
  MCSC_REQUIRE(sf == (Shape4{ss.n, 1, ss.h, ss.w}), fn,
               "fused image " << sf << " must be (" << ss.n << ", 1, " << ss.h << ", " << ss.w << ") for the sequence " << ss);
  MCSC_REQUIRE(options.levels >= 1 && std::size_t(options.levels) == options.weights.size(), fn,
               "levels (" << options.levels << ") must be >= 1 and equal the number of weights ("
                          << options.weights.size() << ")");
  double wsum = 0;
  for (double w : options.weights) {
    MCSC_REQUIRE(std::isfinite(w) && w >= 0, fn, "scale weights must be finite and >= 0, got " << w);
    wsum += w;
  }
  MCSC_REQUIRE(wsum > 0, fn, "the scale weights sum to 0");
  MCSC_REQUIRE(std::isfinite(options.peak) && options.peak > 0, fn, "peak must be positive and finite, got " << options.peak);
  MCSC_REQUIRE(std::isfinite(options.k) && options.k > 0, fn, "k must be positive and finite, got " << options.k);
  MCSC_REQUIRE(double(std::min(ss.h, ss.w)) / std::pow(2.0, options.levels - 1) >= ssim_window_size, fn,
               "images of " << ss.h << "x" << ss.w << " are too small for " << options.levels
                            << " scales: min(H, W) / 2^(levels - 1) must be at least " << ssim_window_size);
  require_finite(fn, sequence);
  require_finite(fn, fused);

  // Scaled copies in double (0..255).
  const double to255 = 255.0 / options.peak;
  auto seq = make_tensor<double, Exec>("mcsc::mef_ssim::sequence", ss);
  auto fus = make_tensor<double, Exec>("mcsc::mef_ssim::fused", sf);
  {
    auto fs = Impl::flat(sequence);
    auto fd = Impl::flat(seq);
    Kokkos::parallel_for(
        "mcsc::mef_ssim::scale", Kokkos::RangePolicy<Exec>(0, fd.extent(0)),
        KOKKOS_LAMBDA(const std::int64_t i) { fd(i) = to255 * double(fs(i)); });
    auto gs = Impl::flat(fused);
    auto gd = Impl::flat(fus);
    Kokkos::parallel_for(
        "mcsc::mef_ssim::scale", Kokkos::RangePolicy<Exec>(0, gd.extent(0)),
        KOKKOS_LAMBDA(const std::int64_t i) { gd(i) = to255 * double(gs(i)); });
  }
  const double C2 = (options.k * 255) * (options.k * 255);
  std::vector<std::vector<double>> per_scale(std::size_t(ss.n), std::vector<double>(std::size_t(options.levels)));
  for (int l = 0; l < options.levels; ++l) {
    if (l > 0) {
      seq = Impl::mef_downsample(seq);
      fus = Impl::mef_downsample(fus);
    }
    for (int n = 0; n < int(ss.n); ++n) per_scale[std::size_t(n)][std::size_t(l)] = Impl::mef_ssim_single(seq, fus, n, C2);
  }
  double total = 0;
  for (int n = 0; n < int(ss.n); ++n) {
    double score = 1;
    for (int l = 0; l < options.levels; ++l) {
      const double q = per_scale[std::size_t(n)][std::size_t(l)], e = options.weights[std::size_t(l)] / wsum;
      score *= q < 0 && e != 0.0 && e != 1.0 ? 0.0 : std::pow(q, e);  // q < 0 to a fractional power: see above
    }
    total += score;
  }
  return total / double(ss.n);
}

/// MEF-SSIM for two sources a and b (N, 1, H, W) (an under- and an over-exposed image).
template <class A, class B, class F>
std::enable_if_t<Kokkos::is_view<F>::value, double> mef_ssim(const A& a, const B& b, const F& fused,
                                                             const MefSsimOptions& options = {}) {
  const char* fn = "mcsc::mef_ssim";
  Impl::check_fusion_pair(fn, a, b);
  const Shape4 s = shape_of(a);
  MCSC_REQUIRE(s.c == 1, fn, "the two-source form takes greyscale images (N, 1, H, W), got " << s);
  auto seq = make_tensor<typename A::non_const_value_type, typename A::execution_space>("mcsc::mef_ssim::pair",
                                                                                       Shape4{s.n, 2, s.h, s.w});
  concat_channels(a, b, seq);
  return mef_ssim(seq, fused, options);
}

}  // namespace mcsc
