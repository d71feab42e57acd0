#pragma once
/// \file baselines/exposure_fusion.hpp
/// Exposure fusion: T. Mertens, J. Kautz, F. Van Reeth, "Exposure Fusion", Pacific Graphics 2007,
/// following the authors' MATLAB code (exposure_fusion.m and its pyramid functions), on
/// (N, C, H, W) tensors with C = 1 or 3 and values in [0, 1]:
///
///   W_k = contrast_k^wc  saturation_k^ws  exposedness_k^we + 1e-12,  normalised over the sources
///   contrast     |3x3 Laplacian| of the grey image (0.2989 R + 0.5870 G + 0.1140 B), replicate border
///   saturation   standard deviation over R, G, B (colour images only)
///   exposedness  prod_c exp(-(I_c - 0.5)^2 / (2 sigma^2)), sigma = 0.2
///   F = collapse( sum_k  gaussian_pyramid(W_k) * laplacian_pyramid(I_k) )
///
/// with the authors' pyramids: the 5-tap binomial filter [1 4 6 4 1] / 16, downsampling by
/// blurring (symmetric border) and keeping every other pixel, upsampling by replicate-padding,
/// zero insertion, blurring and cropping, floor(log2(min(H, W))) levels. The pyramid functions
/// are public (pyramid_down, pyramid_up, laplacian_pyramid, collapse_laplacian_pyramid): a
/// Laplacian pyramid collapses back to its image exactly, whatever the upsampling.
#include <cmath>
#include <string>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"

namespace mcsc {

/// Options of mertens_fusion(): the exponents of the three quality measures (0 drops a measure)
/// and the pyramid depth.
struct MertensOptions {
  double contrast = 1;     ///< exponent of the contrast measure
  double saturation = 1;   ///< exponent of the saturation measure (ignored for one channel)
  double exposedness = 1;  ///< exponent of the well-exposedness measure
  double sigma = 0.2;      ///< width of the well-exposedness Gaussian around 0.5
  int levels = 0;          ///< pyramid levels; 0: floor(log2(min(H, W))), the authors' choice
};

/// Tap k (0-4) of the authors' pyramid filter, [1 4 6 4 1] / 16 (usable in kernels).
KOKKOS_INLINE_FUNCTION double pyramid_tap(int k) { return (k == 2 ? 6.0 : (k == 1 || k == 3) ? 4.0 : 1.0) / 16.0; }

/// The authors' pyramid filter, [1 4 6 4 1] / 16, as the separable filters take it.
inline std::vector<double> pyramid_filter() {
  std::vector<double> f(5);
  for (int k = 0; k < 5; ++k) f[std::size_t(k)] = pyramid_tap(k);
  return f;
}

/// The number of pyramid levels of an H x W image by default: floor(log2(min(H, W))), at least 1.
inline int default_pyramid_levels(std::int64_t height, std::int64_t width) {
  int levels = 0;
  for (std::int64_t side = std::min(height, width); side >= 2; side /= 2) ++levels;
  return levels > 0 ? levels : 1;
}

/// dst (N, C, ceil(H / 2), ceil(W / 2)) = src (N, C, H, W) blurred by pyramid_filter() in both
/// directions (symmetric border), every other pixel from the first (the authors' downsample).
template <class Src, class Dst>
void pyramid_down(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::pyramid_down";
  MCSC_REQUIRE(dst.extent(0) == src.extent(0) && dst.extent(1) == src.extent(1) &&
                   dst.extent(2) == (src.extent(2) + 1) / 2 && dst.extent(3) == (src.extent(3) + 1) / 2,
               fn, "dst " << shape_of(dst) << " is not src " << shape_of(src) << " halved (rounded up)");
  const auto f = pyramid_filter();
  auto blurred = make_tensor_like("mcsc::pyramid_down::blurred", src);
  separable_filter(src, blurred, f, f, ImageBorder::symmetric);
  const int C = int(dst.extent(1)), H = int(dst.extent(2)), W = int(dst.extent(3));
  using T = typename Dst::non_const_value_type;
  Kokkos::parallel_for(
      "mcsc::pyramid_down", Kokkos::RangePolicy<typename Dst::execution_space>(0, std::int64_t(dst.size())),
      KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, C, H, W);
        dst(p.n, p.c, p.i, p.j) = T(blurred(p.n, p.c, 2 * p.i, 2 * p.j));
      });
}

/// dst (N, C, H, W) = src (N, C, h, w) upsampled, H = 2h or 2h - 1 (and W likewise): the
/// authors' upsample, i.e. src padded by one replicated pixel on every side, 4 src placed on the
/// even pixels of a zero image twice its size, blurred by pyramid_filter() in both directions,
/// and the window of dst's size two pixels in cropped out.
template <class Src, class Dst>
void pyramid_up(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::pyramid_up";
  MCSC_REQUIRE(dst.extent(0) == src.extent(0) && dst.extent(1) == src.extent(1) &&
                   (dst.extent(2) + 1) / 2 == src.extent(2) &&
                   (dst.extent(3) + 1) / 2 == src.extent(3),
               fn, "dst " << shape_of(dst) << " is not src " << shape_of(src) << " doubled (or doubled less one)");
  const int C = int(dst.extent(1)), H = int(dst.extent(2)), W = int(dst.extent(3));
  const int h = int(src.extent(2)), w = int(src.extent(3));
  using T = typename Dst::non_const_value_type;
  Kokkos::parallel_for(
      "mcsc::pyramid_up", Kokkos::RangePolicy<typename Dst::execution_space>(0, std::int64_t(dst.size())),
      KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, C, H, W);
        // Row Y = i + 2 + t of the zero-inserted image holds 4 x padded row (Y / 2) when Y is
        // even; padded row a is src row clamp(a - 1, 0, h - 1).
        double acc = 0;
        for (int t = -2; t <= 2; ++t) {
          const int Y = p.i + 2 + t;
          if (Y % 2 != 0) continue;
          const int r = Impl::border_index(Y / 2 - 1, h, ImageBorder::replicate);
          for (int u = -2; u <= 2; ++u) {
            const int X = p.j + 2 + u;
            if (X % 2 != 0) continue;
            const int s = Impl::border_index(X / 2 - 1, w, ImageBorder::replicate);
            acc += pyramid_tap(t + 2) * pyramid_tap(u + 2) * double(src(p.n, p.c, r, s));
          }
        }
        dst(p.n, p.c, p.i, p.j) = T(4 * acc);
      });
}

/// The Gaussian pyramid of src: `levels` tensors, src itself (a copy) first, each next one
/// pyramid_down of the one before.
template <class Src>
std::vector<Tensor4<typename Src::non_const_value_type, typename Src::execution_space>> gaussian_pyramid(
    const Src& src, int levels) {
  using T = typename Src::non_const_value_type;
  using Exec = typename Src::execution_space;
  MCSC_REQUIRE(levels >= 1, "mcsc::gaussian_pyramid", "levels must be >= 1, got " << levels);
  std::vector<Tensor4<T, Exec>> pyr;
  pyr.push_back(make_tensor_like("mcsc::gaussian_pyramid", src));
  Kokkos::deep_copy(pyr[0], src);
  for (int l = 1; l < levels; ++l) {
    const auto& above = pyr.back();
    auto below = make_tensor<T, Exec>("mcsc::gaussian_pyramid",
                                      Shape4{std::int64_t(above.extent(0)), std::int64_t(above.extent(1)),
                                             std::int64_t(above.extent(2) + 1) / 2, std::int64_t(above.extent(3) + 1) / 2});
    pyramid_down(above, below);
    pyr.push_back(below);
  }
  return pyr;
}

/// The Laplacian pyramid of src: level l = G_l - pyramid_up(G_{l+1}) for the Gaussian pyramid G,
/// the last level G_{levels-1} itself.
template <class Src>
std::vector<Tensor4<typename Src::non_const_value_type, typename Src::execution_space>> laplacian_pyramid(
    const Src& src, int levels) {
  using T = typename Src::non_const_value_type;
  auto pyr = gaussian_pyramid(src, levels);
  for (int l = 0; l + 1 < levels; ++l) {
    auto up = make_tensor_like("mcsc::laplacian_pyramid::up", pyr[std::size_t(l)]);
    pyramid_up(pyr[std::size_t(l) + 1], up);
    axpby(T(-1), up, T(1), pyr[std::size_t(l)]);
  }
  return pyr;
}

/// dst = the image of a Laplacian pyramid: R = last level, then R = level l + pyramid_up(R) up to
/// level 0 (the authors' reconstruct_laplacian_pyramid). dst has level 0's shape.
template <class T, class Exec, class Dst>
void collapse_laplacian_pyramid(const std::vector<Tensor4<T, Exec>>& pyr, const Dst& dst) {
  MCSC_REQUIRE(!pyr.empty(), "mcsc::collapse_laplacian_pyramid", "empty pyramid");
  Tensor4<T, Exec> r = pyr.back();
  for (std::size_t l = pyr.size() - 1; l-- > 0;) {
    auto next = make_tensor_like("mcsc::collapse_laplacian_pyramid", pyr[l]);
    pyramid_up(r, next);
    axpby(T(1), pyr[l], T(1), next);
    r = next;
  }
  MCSC_REQUIRE(shape_of(dst) == shape_of(r), "mcsc::collapse_laplacian_pyramid",
               "dst " << shape_of(dst) << " is not level 0's shape " << shape_of(r));
  Kokkos::deep_copy(dst, r);
}

/// weights (N, 1, H, W) = the unnormalised Mertens weight of image (N, C, H, W), C = 1 or 3:
/// contrast^wc saturation^ws exposedness^we + 1e-12 (see the file comment).
template <class Img, class Wt>
void mertens_weights(const Img& image, const Wt& weights, const MertensOptions& o = {}) {
  const char* fn = "mcsc::mertens_weights";
  const int C = int(image.extent(1)), H = int(image.extent(2)), W = int(image.extent(3));
  MCSC_REQUIRE(C == 1 || C == 3, fn, "images must have 1 or 3 channels, got " << C);
  MCSC_REQUIRE(weights.extent(0) == image.extent(0) && weights.extent(1) == 1 && int(weights.extent(2)) == H &&
                   int(weights.extent(3)) == W,
               fn, "weights " << shape_of(weights) << " should be (" << image.extent(0) << ", 1, " << H << ", " << W << ")");
  MCSC_REQUIRE(o.contrast >= 0 && o.saturation >= 0 && o.exposedness >= 0 && o.sigma > 0, fn,
               "exponents must be >= 0 and sigma > 0 (contrast " << o.contrast << ", saturation " << o.saturation
                                                                 << ", exposedness " << o.exposedness << ", sigma "
                                                                 << o.sigma << ")");
  using T = typename Wt::non_const_value_type;
  const double wc = o.contrast, ws = C == 3 ? o.saturation : 0.0, we = o.exposedness;
  const double inv_two_sigma2 = 1 / (2 * o.sigma * o.sigma);
  Kokkos::parallel_for(
      "mcsc::mertens_weights", Kokkos::RangePolicy<typename Wt::execution_space>(0, std::int64_t(weights.size())),
      KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, 1, H, W);
        auto grey = [&](int i, int j) {
          i = Impl::border_index(i, H, ImageBorder::replicate);
          j = Impl::border_index(j, W, ImageBorder::replicate);
          if (C == 1) return double(image(p.n, 0, i, j));
          return 0.2989 * double(image(p.n, 0, i, j)) + 0.5870 * double(image(p.n, 1, i, j)) +
                 0.1140 * double(image(p.n, 2, i, j));
        };
        double weight = 1;
        if (wc > 0) {
          const double lap = grey(p.i - 1, p.j) + grey(p.i + 1, p.j) + grey(p.i, p.j - 1) + grey(p.i, p.j + 1) -
                             4 * grey(p.i, p.j);
          weight *= math::pow(math::fabs(lap), wc);
        }
        if (ws > 0) {
          const double r = double(image(p.n, 0, p.i, p.j)), g = double(image(p.n, 1, p.i, p.j)),
                       b = double(image(p.n, 2, p.i, p.j));
          const double mu = (r + g + b) / 3;
          weight *= math::pow(math::sqrt(((r - mu) * (r - mu) + (g - mu) * (g - mu) + (b - mu) * (b - mu)) / 3), ws);
        }
        if (we > 0) {
          double e = 1;
          for (int c = 0; c < C; ++c) {
            const double d = double(image(p.n, c, p.i, p.j)) - 0.5;
            e *= math::exp(-d * d * inv_two_sigma2);
          }
          weight *= math::pow(e, we);
        }
        weights(p.n, 0, p.i, p.j) = T(weight + 1e-12);
      });
}

/// fused = the Mertens exposure fusion of the registered sources a and b (N, C, H, W), C = 1 or 3,
/// values in [0, 1] (see the file comment). fused may alias a or b.
template <class A, class B, class F>
void mertens_fusion(const A& a, const B& b, const F& fused, const MertensOptions& o = {}) {
  const char* fn = "mcsc::mertens_fusion";
  using T = typename F::non_const_value_type;
  using Exec = typename F::execution_space;
  require_same_image_shape(fn, a, fused);
  require_same_image_shape(fn, b, fused);
  require_finite(fn, a);
  require_finite(fn, b);
  const std::int64_t N = std::int64_t(a.extent(0)), H = std::int64_t(a.extent(2)), W = std::int64_t(a.extent(3));
  const int most = default_pyramid_levels(H, W);
  MCSC_REQUIRE(o.levels >= 0 && o.levels <= most, fn,
               "levels must be in [0, " << most << "] for a " << H << "x" << W << " image, got " << o.levels);
  const int levels = o.levels > 0 ? o.levels : most;
  auto wa = make_tensor<T, Exec>("mcsc::mertens_fusion::wa", Shape4{N, 1, H, W});
  auto wb = make_tensor_like("mcsc::mertens_fusion::wb", wa);
  mertens_weights(a, wa, o);
  mertens_weights(b, wb, o);
  Kokkos::parallel_for(
      "mcsc::mertens_fusion::normalise", Kokkos::RangePolicy<Exec>(0, std::int64_t(wa.size())),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const T s = wa.data()[i] + wb.data()[i];
        wa.data()[i] /= s;
        wb.data()[i] /= s;
      });
  const auto ga = gaussian_pyramid(wa, levels), gb = gaussian_pyramid(wb, levels);
  auto la = laplacian_pyramid(a, levels);
  const auto lb = laplacian_pyramid(b, levels);
  for (int l = 0; l < levels; ++l) {  // la[l] = ga[l] la[l] + gb[l] lb[l], the weights broadcast over channels
    const auto x = la[std::size_t(l)], y = lb[std::size_t(l)], u = ga[std::size_t(l)], v = gb[std::size_t(l)];
    const int C = int(x.extent(1)), h = int(x.extent(2)), w = int(x.extent(3));
    Kokkos::parallel_for(
        "mcsc::mertens_fusion::blend", Kokkos::RangePolicy<Exec>(0, std::int64_t(x.size())),
        KOKKOS_LAMBDA(const std::int64_t id) {
          const Pixel p = unflatten(id, C, h, w);
          x(p.n, p.c, p.i, p.j) = u(p.n, 0, p.i, p.j) * x(p.n, p.c, p.i, p.j) + v(p.n, 0, p.i, p.j) * y(p.n, p.c, p.i, p.j);
        });
  }
  collapse_laplacian_pyramid(la, fused);
}

}  // namespace mcsc
