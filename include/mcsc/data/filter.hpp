#pragma once
/// \file filter.hpp
/// Separable filtering of (N, C, H, W) images, shared by the degradations (degrade.hpp), the
/// baselines (guided filter, JBU, CSR fusion) and the fusion metrics:
///
/// - ImageBorder: how a filter reads outside the image (symmetric, replicate, zero, normalized);
/// - separable_filter: any separable kernel wy (rows) x wx (columns), accumulated in double;
/// - gaussian_kernel / gaussian_blur: fspecial('gaussian', 2r+1, sigma) per axis (weights
///   exp(-k^2 / (2 sigma^2)), k = -r..r, divided by their sum), default radius ceil(3 sigma),
///   border symmetric by default (MATLAB imfilter(..., 'symmetric'): the image is mirrored with
///   the edge pixel repeated, ... b a | a b c ... | c b ...);
/// - box_mean: the mean over a (2r+1)^2 window (He et al.'s boxfilter / N by default).
///
/// Every kernel runs in the tensors' execution space, for any scalar type; bad shapes and
/// parameters throw mcsc::Error naming the function.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// How a filter reads outside the image (all rules act on the row and column index separately).
enum class ImageBorder {
  symmetric,   ///< mirror with the edge pixel repeated (MATLAB 'symmetric'): ... b a | a b c | c b ...
  replicate,   ///< the edge pixel extended (MATLAB 'replicate')
  zero,        ///< zeros outside (MATLAB imfilter / conv2 default)
  normalized,  ///< taps outside are dropped and the remaining weights divided by their sum
               ///< (for a box: the mean over the window clipped to the image, He et al.'s boxfilter / N)
};

inline const char* to_string(ImageBorder b) {
  switch (b) {
    case ImageBorder::symmetric: return "symmetric";
    case ImageBorder::replicate: return "replicate";
    case ImageBorder::zero: return "zero";
    default: return "normalized";
  }
}

namespace Impl {

/// The index read for position i of an axis of length n under `border` (symmetric and replicate
/// only; any distance from the image). For zero and normalized the caller skips i outside [0, n).
KOKKOS_INLINE_FUNCTION int border_index(int i, int n, ImageBorder border) {
  if (i >= 0 && i < n) return i;
  if (border == ImageBorder::replicate) return i < 0 ? 0 : n - 1;
  const std::int64_t period = 2 * std::int64_t(n);
  std::int64_t m = std::int64_t(i) % period;
  if (m < 0) m += period;
  return int(m < n ? m : period - 1 - m);
}

/// A host vector of weights copied to a device view of doubles.
template <class Device>
Kokkos::View<double*, Device> to_device_weights(const char* label, const std::vector<double>& w) {
  Kokkos::View<double*, Device> d(std::string(label), w.size());
  auto h = Kokkos::create_mirror_view(d);
  for (std::size_t k = 0; k < w.size(); ++k) h(k) = w[k];
  Kokkos::deep_copy(d, h);
  return d;
}

/// dst = the 1-D correlation of src along `axis` (2: rows / height, 3: columns / width) with the
/// odd-length weights w (centre at w.size() / 2), under `border`; accumulated in double. src and
/// dst have the same shape and must not alias.
template <class Src, class Dst>
void filter_axis(const Src& src, const Dst& dst, int axis, const std::vector<double>& weights, ImageBorder border) {
  using T = typename Dst::non_const_value_type;
  using Exec = typename Dst::execution_space;
  const auto w = to_device_weights<typename Dst::device_type>("mcsc::filter_axis::weights", weights);
  const int radius = int(weights.size() / 2), taps = int(weights.size());
  const int H = int(dst.extent(2)), W = int(dst.extent(3));
  const int length = axis == 2 ? H : W;
  // The sum of every weight, in the kernel's order: wsum below for a window inside the image.
  double all_weights = 0;
  for (const double x : weights) all_weights += x;
  const bool normalized = border == ImageBorder::normalized;
  for_each_pixel<Exec>(
      "mcsc::filter_axis", shape_of(dst), KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
        const int centre = axis == 2 ? i : j;
        double acc = 0;
        if (centre >= radius && centre < length - radius) {  // the window inside the image: no border rule
          for (int k = 0; k < taps; ++k)
            acc += w(k) * (axis == 2 ? double(src(n, c, i + k - radius, j)) : double(src(n, c, i, j + k - radius)));
          dst(n, c, i, j) = T(normalized ? acc / all_weights : acc);
          return;
        }
        double wsum = 0;
        for (int k = 0; k < taps; ++k) {
          int q = centre + k - radius;
          if (q < 0 || q >= length) {
            if (border == ImageBorder::zero || normalized) continue;
            q = border_index(q, length, border);
          }
          const double v = axis == 2 ? double(src(n, c, q, j)) : double(src(n, c, i, q));
          acc += w(k) * v;
          wsum += w(k);
        }
        dst(n, c, i, j) = T(normalized ? acc / wsum : acc);
      });
}

}  // namespace Impl

/// dst = src filtered by the separable kernel wy (rows) x wx (columns), odd lengths, centred,
/// accumulated in double, reading outside the image by `border`; through a temporary of dst's
/// type, so src and dst may be the same tensor.
template <class Src, class Dst>
void separable_filter(const Src& src, const Dst& dst, const std::vector<double>& wy, const std::vector<double>& wx,
                      ImageBorder border) {
  const char* fn = "mcsc::separable_filter";
  require_same_image_shape(fn, src, dst);
  MCSC_REQUIRE(wy.size() % 2 == 1 && wx.size() % 2 == 1, fn,
               "the kernels must have odd lengths, got " << wy.size() << " and " << wx.size());
  auto tmp = make_tensor_like("mcsc::separable_filter::tmp", dst);
  Impl::filter_axis(src, tmp, 3, wx, border);
  Impl::filter_axis(tmp, dst, 2, wy, border);
}

/// The default Gaussian radius, ceil(3 sigma) (the kernel then holds 99.7 % of the mass).
inline int default_gaussian_radius(double sigma) { return int(std::ceil(3 * sigma)); }

/// The normalised 1-D Gaussian of 2 radius + 1 taps, exp(-k^2 / (2 sigma^2)) / sum for
/// k = -radius..radius (fspecial('gaussian', [2r+1 1], sigma)); radius -1 means
/// default_gaussian_radius(sigma). sigma must be positive and finite, radius >= 0 (or -1).
inline std::vector<double> gaussian_kernel(double sigma, int radius = -1) {
  const char* fn = "mcsc::gaussian_kernel";
  MCSC_REQUIRE(std::isfinite(sigma) && sigma > 0, fn, "sigma must be positive and finite, got " << sigma);
  if (radius == -1) radius = default_gaussian_radius(sigma);
  MCSC_REQUIRE(radius >= 0 && radius <= 4096, fn, "radius must be in [0, 4096] (or -1 for ceil(3 sigma)), got " << radius);
  std::vector<double> g(std::size_t(2 * radius + 1));
  double sum = 0;
  for (int k = -radius; k <= radius; ++k) {
    g[std::size_t(k + radius)] = std::exp(-double(k) * k / (2 * sigma * sigma));
    sum += g[std::size_t(k + radius)];
  }
  for (double& v : g) v /= sum;
  return g;
}

/// dst = src blurred by the separable Gaussian gaussian_kernel(sigma, radius) along both axes
/// (rows first, then columns, accumulated in double), reading outside the image by `border`
/// (default symmetric, MATLAB imfilter(src, fspecial('gaussian', 2r+1, sigma), 'symmetric')).
/// src and dst: same shape (N, C, H, W); they may be the same tensor.
template <class Src, class Dst>
void gaussian_blur(const Src& src, const Dst& dst, double sigma, int radius = -1,
                   ImageBorder border = ImageBorder::symmetric) {
  const char* fn = "mcsc::gaussian_blur";
  require_same_image_shape(fn, src, dst);
  const auto g = gaussian_kernel(sigma, radius);
  require_finite(fn, src);
  separable_filter(src, dst, g, g, border);
}

/// gaussian_blur into a new tensor of src's type and shape.
template <class Src>
auto gaussian_blur(const Src& src, double sigma, int radius = -1, ImageBorder border = ImageBorder::symmetric) {
  auto dst = make_tensor_like("mcsc::gaussian_blur", src);
  gaussian_blur(src, dst, sigma, radius, border);
  return dst;
}

/// dst = the mean of src over the (2 radius + 1)^2 window around each pixel, separably, reading
/// outside the image by `border` (default normalized: the window clipped to the image, He et
/// al.'s boxfilter(I, r) ./ boxfilter(ones, r)). src and dst may be the same tensor.
template <class Src, class Dst>
void box_mean(const Src& src, const Dst& dst, int radius, ImageBorder border = ImageBorder::normalized) {
  const char* fn = "mcsc::box_mean";
  require_same_image_shape(fn, src, dst);
  MCSC_REQUIRE(radius >= 0 && radius <= 4096, fn, "radius must be in [0, 4096], got " << radius);
  const std::vector<double> w(std::size_t(2 * radius + 1), 1.0 / double(2 * radius + 1));
  separable_filter(src, dst, w, w, border);
}

}  // namespace mcsc
