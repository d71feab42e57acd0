#pragma once
/// \file degrade.hpp
/// Synthetic degradations of (N, C, H, W) images for the papers' tasks (the blurs they use, and
/// the baselines and metrics use, are in filter.hpp: gaussian_blur, box_mean, separable_filter):
///
/// - add_gaussian_noise: dst = src + sigma N(0, 1), samples from a seeded host generator
///   (mcsc::fill_normal, std::mt19937_64), so the noise does not depend on the execution space and
///   equals the noise of examples/dataset.hpp for the same seed; sigma in the image's units
///   (25/255 for noise level 25 on [0, 1] images); not clipped;
/// - make_multifocus_pair: a seeded smooth random foreground mask, A in focus on the foreground
///   (blurred outside it), B in focus on the background (blurred inside it);
/// - simulate_exposure / make_exposure_pair: under / over exposure of a [0, 1] image through a
///   gamma camera response with clipping (and optional quantisation).
///
/// Every kernel runs in the tensors' execution space (Kokkos), for any scalar type; bad shapes,
/// parameters and non-finite inputs throw mcsc::Error naming the function.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"
#include "mcsc/data/resample.hpp"

namespace mcsc {

/// dst = src + sigma * n with n ~ N(0, 1) i.i.d. from a host std::mt19937_64 seeded with `seed`
/// (mcsc::fill_normal, in LayoutRight order), so the result is the same on every execution
/// space. sigma is in the image's units (25.0/255 for noise level 25 on [0, 1] images); the
/// result is not clipped. src and dst: same shape; they may be the same tensor.
template <class Src, class Dst>
void add_gaussian_noise(const Src& src, const Dst& dst, double sigma, std::uint64_t seed) {
  using T = typename Dst::non_const_value_type;
  const char* fn = "mcsc::add_gaussian_noise";
  require_same_image_shape(fn, src, dst);
  MCSC_REQUIRE(std::isfinite(sigma) && sigma >= 0, fn, "sigma must be finite and >= 0, got " << sigma);
  require_finite(fn, src);
  auto noise = make_tensor_like("mcsc::add_gaussian_noise::noise", dst);
  fill_normal(noise, seed, 0.0, sigma);
  lincomb(T(1), src, T(1), noise, dst);
}

/// add_gaussian_noise into a new tensor of src's type and shape.
template <class Src>
auto add_gaussian_noise(const Src& src, double sigma, std::uint64_t seed) {
  auto dst = make_tensor_like("mcsc::add_gaussian_noise", src);
  add_gaussian_noise(src, dst, sigma, seed);
  return dst;
}

// ------------------------------------------------------------------ multi-focus pairs

/// Options of make_multifocus_pair.
struct MultiFocusOptions {
  double sigma = 2.0;          ///< defocus blur (Gaussian sigma, pixels)
  int radius = -1;             ///< Gaussian radius (-1: ceil(3 sigma))
  int grid = 4;                ///< the random field has grid x grid cells (larger: more, smaller blobs)
  double foreground = 0.5;     ///< fraction of the pixels in the foreground region, in (0, 1)
  std::uint64_t seed = 1;      ///< seed of the random field
  ImageBorder border = ImageBorder::symmetric;  ///< border rule of the blur
};

/// A synthetic multi-focus pair: mask (N, 1, H, W) is 1 on the foreground region and 0 on the
/// background; a is sharp on the foreground and blurred on the background, b the reverse.
template <class T, class ExecSpace>
struct MultiFocusPair {
  Tensor4<T, ExecSpace> a, b, mask;
};

/// Makes a multi-focus pair from a sharp image (N, C, H, W):
///   field  = imresize_bicubic(U, [H W]) of a grid x grid field U of i.i.d. U(0, 1) samples
///            (seeded host generator, one field per image n), a smooth random surface;
///   mask   = 1 where field > its (1 - foreground) quantile (per image), 0 elsewhere;
///   blur   = gaussian_blur(sharp, sigma, radius, border);
///   a      = mask * sharp + (1 - mask) * blur      (in focus on the foreground)
///   b      = mask * blur  + (1 - mask) * sharp     (in focus on the background)
/// The mask is shared by all channels. The transition is hard (a binary mask).
template <class Src>
MultiFocusPair<typename Src::non_const_value_type, typename Src::execution_space> make_multifocus_pair(
    const Src& sharp, const MultiFocusOptions& options = {}) {
  using T = typename Src::non_const_value_type;
  using ExecSpace = typename Src::execution_space;
  static_assert(is_tensor4_v<Src>, "mcsc::make_multifocus_pair: expects a rank-4 LayoutRight view (N, C, H, W)");
  const char* fn = "mcsc::make_multifocus_pair";
  const Shape4 s = shape_of(sharp);
  MCSC_REQUIRE(s.size() > 0, fn, "empty image " << s);
  MCSC_REQUIRE(options.grid >= 1 && options.grid <= 4096, fn, "grid must be in [1, 4096], got " << options.grid);
  MCSC_REQUIRE(options.foreground > 0 && options.foreground < 1, fn,
               "foreground fraction must be in (0, 1), got " << options.foreground);
  MCSC_REQUIRE(s.h * s.w >= 2, fn, "the image needs at least 2 pixels for two regions, got " << s);
  require_finite(fn, sharp);

  MultiFocusPair<T, ExecSpace> out;
  // The smooth random field and its per-image quantile threshold.
  auto field = make_tensor<double, ExecSpace>("mcsc::make_multifocus_pair::field", Shape4{s.n, 1, options.grid, options.grid});
  fill_uniform(field, options.seed);
  auto smooth = make_tensor<double, ExecSpace>("mcsc::make_multifocus_pair::smooth", Shape4{s.n, 1, s.h, s.w});
  imresize_bicubic(field, smooth);
  auto host = to_host(smooth);
  const std::int64_t plane = s.h * s.w;
  Kokkos::View<double*, typename Tensor4<T, ExecSpace>::device_type> threshold("mcsc::make_multifocus_pair::threshold",
                                                                               std::size_t(s.n));
  auto hthreshold = Kokkos::create_mirror_view(threshold);
  for (std::int64_t n = 0; n < s.n; ++n) {
    std::vector<double> v(host.data() + n * plane, host.data() + (n + 1) * plane);
    // The `count` largest values form the foreground: the threshold is the largest value left out.
    const std::int64_t count =
        std::min<std::int64_t>(plane - 1, std::max<std::int64_t>(1, std::llround(options.foreground * double(plane))));
    const std::int64_t k = plane - count - 1;
    std::nth_element(v.begin(), v.begin() + k, v.end());
    hthreshold(std::size_t(n)) = v[std::size_t(k)];
  }
  Kokkos::deep_copy(threshold, hthreshold);

  out.mask = make_tensor<T, ExecSpace>("mcsc::make_multifocus_pair::mask", Shape4{s.n, 1, s.h, s.w});
  auto mask = out.mask;
  const int H = int(s.h), W = int(s.w), C = int(s.c);
  Kokkos::parallel_for(
      "mcsc::make_multifocus_pair::mask", Kokkos::RangePolicy<ExecSpace>(0, s.n * plane),
      KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, 1, H, W);
        mask(p.n, 0, p.i, p.j) = smooth(p.n, 0, p.i, p.j) > threshold(p.n) ? T(1) : T(0);
      });

  auto blurred = gaussian_blur(sharp, options.sigma, options.radius, options.border);
  out.a = make_tensor<T, ExecSpace>("mcsc::make_multifocus_pair::a", s);
  out.b = make_tensor<T, ExecSpace>("mcsc::make_multifocus_pair::b", s);
  auto a = out.a, b = out.b;
  Kokkos::parallel_for(
      "mcsc::make_multifocus_pair::mix", Kokkos::RangePolicy<ExecSpace>(0, s.size()), KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, C, H, W);
        const T m = mask(p.n, 0, p.i, p.j);
        const T x = T(sharp(p.n, p.c, p.i, p.j)), y = blurred(p.n, p.c, p.i, p.j);
        a(p.n, p.c, p.i, p.j) = m * x + (T(1) - m) * y;
        b(p.n, p.c, p.i, p.j) = m * y + (T(1) - m) * x;
      });
  return out;
}

// ------------------------------------------------------------------ exposure

/// Options of simulate_exposure.
struct ExposureOptions {
  double gamma = 2.2;  ///< camera response f(E) = E^(1/gamma); its inverse linearises the input
  int levels = 0;      ///< >= 2: quantise the output to `levels` values (256: 8 bit); 0: no quantisation
};

/// dst = the image re-exposed by `stops` (negative: under-exposed, positive: over-exposed):
///     E   = clamp(src, 0, 1)^gamma            (scene irradiance, inverse of the response)
///     out = clamp(2^stops * E, 0, 1)^(1/gamma)  (exposure gain, sensor clipping, response)
///     out = round(out * (levels - 1)) / (levels - 1)   when levels >= 2
/// i.e. out = min(1, 2^(stops/gamma) src) before quantisation. Inputs are treated as
/// display-referred values in [0, 1] (values outside are clamped first). Highlights saturate at
/// 1 when over-exposed; under-exposure compresses the shadows, which quantisation then destroys.
template <class Src, class Dst>
void simulate_exposure(const Src& src, const Dst& dst, double stops, const ExposureOptions& options = {}) {
  using T = typename Dst::non_const_value_type;
  const char* fn = "mcsc::simulate_exposure";
  require_same_image_shape(fn, src, dst);
  MCSC_REQUIRE(std::isfinite(stops) && std::fabs(stops) <= 64, fn, "stops must be finite, |stops| <= 64, got " << stops);
  MCSC_REQUIRE(std::isfinite(options.gamma) && options.gamma > 0, fn,
               "gamma must be positive and finite, got " << options.gamma);
  MCSC_REQUIRE(options.levels == 0 || (options.levels >= 2 && options.levels <= (1 << 24)), fn,
               "levels must be 0 (none) or in [2, 2^24], got " << options.levels);
  require_finite(fn, src);
  const double gain = std::exp2(stops), gamma = options.gamma;
  const double steps = options.levels >= 2 ? double(options.levels - 1) : 0.0;
  auto fs = Impl::flat(src);
  auto fd = Impl::flat(dst);
  Kokkos::parallel_for(
      fn, Kokkos::RangePolicy<typename Dst::execution_space>(0, fd.extent(0)), KOKKOS_LAMBDA(const std::int64_t i) {
        double x = double(fs(i));
        x = x < 0 ? 0 : (x > 1 ? 1 : x);
        double e = gain * math::pow(x, gamma);
        e = e > 1 ? 1 : e;
        double out = math::pow(e, 1.0 / gamma);
        if (steps > 0) out = math::floor(out * steps + 0.5) / steps;
        fd(i) = T(out);
      });
}

/// simulate_exposure into a new tensor of src's type and shape.
template <class Src>
auto simulate_exposure(const Src& src, double stops, const ExposureOptions& options = {}) {
  auto dst = make_tensor_like("mcsc::simulate_exposure", src);
  simulate_exposure(src, dst, stops, options);
  return dst;
}

/// An under- and an over-exposed version of the same image.
template <class T, class ExecSpace>
struct ExposurePair {
  Tensor4<T, ExecSpace> under, over;
};

/// simulate_exposure(src, under_stops) and simulate_exposure(src, over_stops) (defaults -2 and
/// +2 stops); under_stops must be < over_stops.
template <class Src>
ExposurePair<typename Src::non_const_value_type, typename Src::execution_space> make_exposure_pair(
    const Src& src, double under_stops = -2, double over_stops = 2, const ExposureOptions& options = {}) {
  MCSC_REQUIRE(under_stops < over_stops, "mcsc::make_exposure_pair",
               "under_stops (" << under_stops << ") must be below over_stops (" << over_stops << ")");
  ExposurePair<typename Src::non_const_value_type, typename Src::execution_space> pair;
  pair.under = simulate_exposure(src, under_stops, options);
  pair.over = simulate_exposure(src, over_stops, options);
  return pair;
}

}  // namespace mcsc
