#pragma once
/// \file back_projection.hpp
/// Guided back-projection: the data-consistency step of super-resolution.
///
/// The super-resolution tasks observe low = imresize(z, 1/s) (MATLAB bicubic, antialiased) of
/// the unknown high-resolution z. Any estimate z0 (bicubic, a sparse-coding reconstruction) is
/// pulled towards that observation by the iteration (Irani and Peleg's back-projection)
///
///     z <- z + U(low - imresize(z, 1/s)),
///
/// where U takes the low-resolution residual back to full size. With U = bicubic upsampling
/// (radius 0) this is plain back-projection: it converges to an estimate whose downsampling is
/// close to low, but it puts the correction where bicubic puts it, smeared across edges. With a
/// guide, U is the guided upsampling (the guided filter, He et al., of the bicubic upsampling,
/// guided by the high-resolution guide: colour guided filter with a 3-channel guide and a
/// 1-channel z), so the corrections follow the guide's edges. On the depth x4 test images of
/// ../shared/data, 20 guided iterations (radius 4, eps 1e-3, colour guide) from bicubic lower
/// the RMSE by 11-12 %, where plain back-projection gains 5-6 % (docs/results.md).
///
/// Each iteration costs one bicubic downsampling, one upsampling and one guided filter, all
/// Kokkos kernels in z's execution space; a colour guide's statistics are computed once
/// (ColorGuidedFilter).
#include <cmath>
#include <optional>
#include <vector>

#include "mcsc/baselines/guided_filter.hpp"
#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/resample.hpp"

namespace mcsc {

struct BackProjectionOptions {
  int iterations = 20;
  int radius = 4;     ///< guided-filter radius of U; 0: plain bicubic back-projection (no guide)
  double eps = 1e-3;  ///< guided-filter regularisation
};

struct BackProjectionResult {
  /// ||low - imresize(z, 1/s)|| / ||low|| before the first iteration and after each one (the
  /// norm itself when low is all zero).
  std::vector<double> residuals;
};

/// Runs options.iterations back-projection steps on z (N, C, H, W) in place, for the observation
/// low (N, C, h, w) = imresize(z_true, 1/scale); guide (N, 1, 3 or C, H, W) steers U (ignored
/// with radius 0; pass z itself then). Throws mcsc::Error naming the function on shapes that do
/// not fit the scale, a bad option or non-finite input.
template <class Low, class Guide, class Z>
BackProjectionResult back_project(const Low& low, const Guide& guide, const Z& z, double scale,
                                  const BackProjectionOptions& options) {
  const char* fn = "mcsc::back_project";
  static_assert(is_tensor4_v<Low> && is_tensor4_v<Guide> && is_tensor4_v<Z>,
                "mcsc::back_project: expects rank-4 LayoutRight views (N, C, H, W)");
  MCSC_REQUIRE(options.iterations >= 0, fn, "iterations must be >= 0, got " << options.iterations);
  MCSC_REQUIRE(options.radius >= 0, fn, "radius must be >= 0, got " << options.radius);
  MCSC_REQUIRE(options.radius == 0 || (options.eps > 0 && std::isfinite(options.eps)), fn,
               "eps must be positive and finite, got " << options.eps);
  MCSC_REQUIRE(std::isfinite(scale) && scale > 1, fn, "scale must be > 1, got " << scale);
  const Shape4 sz = shape_of(z), sl = shape_of(low), sg = shape_of(guide);
  MCSC_REQUIRE(sz.size() > 0, fn, "empty estimate z " << sz);
  MCSC_REQUIRE(shape_of(low) == resized_shape(sz, 1.0 / scale) && resized_shape(sl, scale) == sz, fn,
               "low " << sl << " is not z " << sz << " downsampled by " << scale << " (z's sides must be "
                      << scale << " times low's, so that the up- and downsampling use the same scale)");
  const bool color_guide = sg.c == 3 && sz.c == 1;
  if (options.radius > 0)
    MCSC_REQUIRE(sg.n == sz.n && sg.h == sz.h && sg.w == sz.w && (sg.c == 1 || sg.c == sz.c || color_guide), fn,
                 "guide " << sg << " does not fit z " << sz << " (same batch and size; 1, 3 or z's channels)");
  require_finite(fn, low);
  require_finite(fn, z);
  if (options.radius > 0) require_finite(fn, guide);

  using T = typename Z::non_const_value_type;
  auto down = make_tensor_like("mcsc::back_project::residual", low);
  auto up = make_tensor_like("mcsc::back_project::correction", z);
  const double low_norm = std::sqrt(dot(low, low));
  auto residual = [&] {  // down = low - imresize(z, 1/s); returns its relative norm
    imresize_bicubic(z, down, 1.0 / scale);
    axpby(T(1), low, T(-1), down);
    return low_norm > 0 ? std::sqrt(dot(down, down)) / low_norm : std::sqrt(dot(down, down));
  };
  // The colour guide's statistics once for all iterations (guided_upsample would redo them).
  std::optional<ColorGuidedFilter<typename Guide::non_const_value_type, typename Z::execution_space>> color_filter;
  if (options.iterations > 0 && options.radius > 0 && color_guide) color_filter.emplace(guide, options.radius, options.eps, fn);
  BackProjectionResult result;
  result.residuals.push_back(residual());
  for (int it = 0; it < options.iterations; ++it) {
    if (options.radius == 0) {
      imresize_bicubic(down, up);
    } else if (color_filter) {
      imresize_bicubic(down, up);
      color_filter->apply(up, up, fn);
    } else {
      guided_upsample(down, guide, up, options.radius, options.eps);
    }
    axpby(T(1), up, T(1), z);
    result.residuals.push_back(residual());
  }
  return result;
}

}  // namespace mcsc
