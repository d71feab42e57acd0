#pragma once
/// \file resample.hpp
/// Bicubic image resizing that reproduces MATLAB's `imresize(A, scale)` / `imresize(A, [rows cols])`
/// with the default method 'bicubic' and the default antialiasing, on (N, C, H, W) tensors.
///
/// The algorithm is that of MATLAB's imresize.m (functions contributions() and cubic()):
///
/// - Kernel: Keys' cubic convolution kernel with a = -0.5,
///       k(x) = 1.5|x|^3 - 2.5|x|^2 + 1              for |x| <= 1,
///            = -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2      for 1 < |x| <= 2,  0 otherwise.
/// - Coordinates (1-based, as imresize.m): output pixel x maps to u = x/scale + 0.5 (1 - 1/scale)
///   in the input (pixel centres aligned, 0.5 maps to 0.5).
/// - Antialiasing when downscaling (scale < 1): the kernel is stretched, h(x) = scale k(scale x),
///   and its width becomes 4/scale. The taps are the P = ceil(width) + 2 integers from
///   floor(u - width/2), and each output's weights are divided by their sum.
/// - Border: "symmetric" mirror including the edge pixel (... 2 1 | 1 2 ... n | n n-1 ...), for
///   any distance from the image: index i maps through aux = [1..n, n..1] at mod(i - 1, 2n) + 1.
/// - Separable: one pass per spatial axis. As MATLAB (dimensionResizeOrder: sort(scale)), the axis
///   with the smaller scale is resized first, the height (MATLAB's dimension 1) first on a tie. In
///   exact arithmetic the order does not matter; it changes the result only by rounding.
/// - Scale and size: with a scale s, the output is ceil(s * in) per axis (resized_shape) and s
///   itself enters the coordinate map; with an output size, the scale of each axis is
///   out / in (imresize(A, [rows cols])). The two differ when s * in is not an integer:
///   imresize(A, 1/4) of a 255-row image has 64 rows but uses the scale 0.25, not 64/255.
///
/// The weight and index tables (a few entries per output row/column) are computed on the host in
/// double once per call, as imresize.m does, and copied to the device; the resampling itself is
/// a Kokkos kernel in the tensor's execution space, accumulating in the tensor's scalar type.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// The shape of imresize(x, scale): (n, c, ceil(scale * h), ceil(scale * w)), computed in double
/// as MATLAB does. scale must be positive and finite.
inline Shape4 resized_shape(const Shape4& s, double scale) {
  MCSC_REQUIRE(std::isfinite(scale) && scale > 0, "mcsc::resized_shape",
               "scale must be positive and finite, got " << scale << " for shape " << s);
  MCSC_REQUIRE(s.n > 0 && s.c > 0 && s.h > 0 && s.w > 0, "mcsc::resized_shape", "empty shape " << s);
  return Shape4{s.n, s.c, std::int64_t(std::ceil(scale * double(s.h))),
                std::int64_t(std::ceil(scale * double(s.w)))};
}

namespace Impl {

/// Keys' cubic convolution kernel with a = -0.5 (imresize.m's cubic()).
inline double keys_cubic(double x) {
  const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

/// The per-axis resampling table of imresize.m's contributions(): output o (0-based) is
/// sum_p weights[o * taps + p] * input[indices[o * taps + p]] (0-based indices, mirrored).
struct ResizeTable {
  int in_length = 0;
  int out_length = 0;
  int taps = 0;
  std::vector<double> weights;
  std::vector<int> indices;
  /// The table maps every output to the input at the same position with weight 1 (scale 1).
  bool identity() const {
    if (in_length != out_length || taps != 1) return false;
    for (int o = 0; o < out_length; ++o)
      if (weights[std::size_t(o)] != 1.0 || indices[std::size_t(o)] != o) return false;
    return true;
  }
};

/// Symmetric ("mirror, edge pixel repeated") index of the 1-based position i in [1, n], returned
/// 0-based: aux = [1..n, n..1], aux(mod(i - 1, 2n) + 1) - 1.
inline int mirror_index(std::int64_t i, int n) {
  const std::int64_t period = 2 * std::int64_t(n);
  std::int64_t m = (i - 1) % period;
  if (m < 0) m += period;
  return int(m < n ? m : period - 1 - m);
}

/// imresize.m's contributions(in_length, out_length, scale, @cubic, 4, true), in double, with its
/// final step: taps whose weight is zero for every output are removed.
inline ResizeTable bicubic_contributions(int in_length, int out_length, double scale) {
  const bool antialias = scale < 1;
  const double kernel_width = antialias ? 4.0 / scale : 4.0;
  const int P = int(std::ceil(kernel_width)) + 2;
  std::vector<double> w(std::size_t(out_length) * std::size_t(P));
  std::vector<int> idx(w.size());
  for (int o = 0; o < out_length; ++o) {
    const double x = double(o + 1);
    const double u = x / scale + 0.5 * (1 - 1 / scale);
    const double left = std::floor(u - kernel_width / 2);
    double sum = 0;
    for (int p = 0; p < P; ++p) {
      const double i = left + p;
      const double v = antialias ? scale * keys_cubic(scale * (u - i)) : keys_cubic(u - i);
      w[std::size_t(o) * P + p] = v;
      sum += v;
    }
    for (int p = 0; p < P; ++p) {
      w[std::size_t(o) * P + p] /= sum;
      idx[std::size_t(o) * P + p] = mirror_index(std::int64_t(left) + p, in_length);
    }
  }
  // Keep the columns (tap positions) where some weight is nonzero.
  std::vector<int> keep;
  for (int p = 0; p < P; ++p) {
    bool any = false;
    for (int o = 0; o < out_length && !any; ++o) any = w[std::size_t(o) * P + p] != 0;
    if (any) keep.push_back(p);
  }
  ResizeTable table;
  table.in_length = in_length;
  table.out_length = out_length;
  table.taps = int(keep.size());
  table.weights.resize(std::size_t(out_length) * keep.size());
  table.indices.resize(table.weights.size());
  for (int o = 0; o < out_length; ++o)
    for (std::size_t k = 0; k < keep.size(); ++k) {
      table.weights[std::size_t(o) * keep.size() + k] = w[std::size_t(o) * P + keep[k]];
      table.indices[std::size_t(o) * keep.size() + k] = idx[std::size_t(o) * P + keep[k]];
    }
  return table;
}

/// dst = src resampled along `axis` (2: height, 3: width) with `table`; the other extents of
/// src and dst are equal.
template <class Src, class Dst>
void resample_axis(const Src& src, const Dst& dst, int axis, const ResizeTable& table) {
  using T = typename Dst::non_const_value_type;
  using Device = typename Dst::device_type;
  using Exec = typename Dst::execution_space;
  const int taps = table.taps, out_length = table.out_length;
  Kokkos::View<T**, Kokkos::LayoutRight, Device> weights("mcsc::imresize_bicubic::weights", out_length, taps);
  Kokkos::View<int**, Kokkos::LayoutRight, Device> indices("mcsc::imresize_bicubic::indices", out_length, taps);
  auto hw = Kokkos::create_mirror_view(weights);
  auto hi = Kokkos::create_mirror_view(indices);
  for (int o = 0; o < out_length; ++o)
    for (int p = 0; p < taps; ++p) {
      hw(o, p) = T(table.weights[std::size_t(o) * taps + p]);
      hi(o, p) = table.indices[std::size_t(o) * taps + p];
    }
  Kokkos::deep_copy(weights, hw);
  Kokkos::deep_copy(indices, hi);
  if (axis == 2) {
    for_each_pixel<Exec>(
        "mcsc::imresize_bicubic::rows", shape_of(dst), KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
          T acc = 0;
          for (int p = 0; p < taps; ++p) acc += weights(i, p) * T(src(n, c, indices(i, p), j));
          dst(n, c, i, j) = acc;
        });
  } else {
    for_each_pixel<Exec>(
        "mcsc::imresize_bicubic::columns", shape_of(dst), KOKKOS_LAMBDA(const int n, const int c, const int i, const int j) {
          T acc = 0;
          for (int p = 0; p < taps; ++p) acc += weights(j, p) * T(src(n, c, i, indices(j, p)));
          dst(n, c, i, j) = acc;
        });
  }
}

/// The common part of both imresize_bicubic overloads, with the scale of each axis given.
template <class Src, class Dst>
void imresize_bicubic_scaled(const Src& src, const Dst& dst, double scale_h, double scale_w) {
  using T = typename Dst::non_const_value_type;
  const Shape4 ss = shape_of(src), sd = shape_of(dst);
  const ResizeTable rows = bicubic_contributions(int(ss.h), int(sd.h), scale_h);
  const ResizeTable cols = bicubic_contributions(int(ss.w), int(sd.w), scale_w);
  const bool do_rows = !rows.identity(), do_cols = !cols.identity();
  if (!do_rows && !do_cols) {
    Kokkos::deep_copy(dst, src);
  } else if (!do_rows) {
    resample_axis(src, dst, 3, cols);
  } else if (!do_cols) {
    resample_axis(src, dst, 2, rows);
  } else {
    using Tmp = Kokkos::View<T****, Kokkos::LayoutRight, typename Dst::device_type>;
    // MATLAB's order: the smaller scale first, the height on a tie.
    if (scale_w < scale_h) {
      Tmp tmp("mcsc::imresize_bicubic::tmp", ss.n, ss.c, ss.h, sd.w);
      resample_axis(src, tmp, 3, cols);
      resample_axis(tmp, dst, 2, rows);
    } else {
      Tmp tmp("mcsc::imresize_bicubic::tmp", ss.n, ss.c, sd.h, ss.w);
      resample_axis(src, tmp, 2, rows);
      resample_axis(tmp, dst, 3, cols);
    }
  }
}

template <class Src, class Dst>
void check_imresize(const char* fn, const Src& src, const Dst& dst) {
  static_assert(is_tensor4_v<Src> && is_tensor4_v<Dst>,
                "mcsc::imresize_bicubic: src and dst must be rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Src::memory_space, typename Dst::memory_space>::value,
                "mcsc::imresize_bicubic: src and dst must live in the same memory space");
  const Shape4 ss = shape_of(src), sd = shape_of(dst);
  MCSC_REQUIRE(ss.size() > 0 && sd.size() > 0, fn, "empty tensor: src " << ss << ", dst " << sd);
  MCSC_REQUIRE(ss.n == sd.n && ss.c == sd.c, fn,
               "src " << ss << " and dst " << sd << " differ in batch size or channel count");
  constexpr std::int64_t int_max = std::numeric_limits<int>::max();
  MCSC_REQUIRE(ss.h <= int_max && ss.w <= int_max && sd.h <= int_max && sd.w <= int_max, fn,
               "image sides must fit in int: src " << ss << ", dst " << sd);
}

}  // namespace Impl

/// dst = imresize(src, [H2 W2], 'bicubic') (MATLAB, antialiasing on), sizes taken from dst:
/// src (N, C, H, W), dst (N, C, H2, W2), the scale of each axis H2/H and W2/W.
template <class Src, class Dst>
std::enable_if_t<Kokkos::is_view<Dst>::value> imresize_bicubic(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::imresize_bicubic";
  Impl::check_imresize(fn, src, dst);
  const Shape4 ss = shape_of(src), sd = shape_of(dst);
  Impl::imresize_bicubic_scaled(src, dst, double(sd.h) / double(ss.h), double(sd.w) / double(ss.w));
}

/// dst = imresize(src, scale, 'bicubic') (MATLAB, antialiasing on): dst must have the shape
/// resized_shape(shape_of(src), scale), and `scale` itself (not dst/src) maps the coordinates.
template <class Src, class Dst>
void imresize_bicubic(const Src& src, const Dst& dst, double scale) {
  const char* fn = "mcsc::imresize_bicubic";
  Impl::check_imresize(fn, src, dst);
  MCSC_REQUIRE(std::isfinite(scale) && scale > 0, fn,
               "scale must be positive and finite, got " << scale << " (src " << shape_of(src) << ")");
  const Shape4 expected = resized_shape(shape_of(src), scale);
  MCSC_REQUIRE(shape_of(dst) == expected, fn,
               "dst " << shape_of(dst) << " is not the shape of src " << shape_of(src) << " resized by " << scale
                      << ": expected " << expected);
  Impl::imresize_bicubic_scaled(src, dst, scale, scale);
}

/// imresize(src, scale, 'bicubic') into a new tensor of shape resized_shape(shape_of(src), scale),
/// in src's memory space.
template <class Src>
auto imresize_bicubic(const Src& src, double scale) {
  static_assert(is_tensor4_v<Src>, "mcsc::imresize_bicubic: src must be a rank-4 LayoutRight view (N, C, H, W)");
  const char* fn = "mcsc::imresize_bicubic";
  MCSC_REQUIRE(src.size() > 0, fn, "empty tensor: src " << shape_of(src));
  MCSC_REQUIRE(std::isfinite(scale) && scale > 0, fn,
               "scale must be positive and finite, got " << scale << " (src " << shape_of(src) << ")");
  const Shape4 s = resized_shape(shape_of(src), scale);
  Kokkos::View<typename Src::non_const_value_type****, Kokkos::LayoutRight, typename Src::device_type> dst(
      "mcsc::imresize_bicubic", s.n, s.c, s.h, s.w);
  imresize_bicubic(src, dst, scale);
  return dst;
}

}  // namespace mcsc
