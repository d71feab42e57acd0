#pragma once
/// \file color.hpp
/// RGB <-> YCbCr conversion of (N, 3, H, W) tensors with MATLAB's rgb2ycbcr / ycbcr2rgb
/// convention for double images in [0, 1] (ITU-R BT.601, "studio swing": Y in [16, 235]/255,
/// Cb and Cr in [16, 240]/255):
///
///     Y  = ( 65.481 R + 128.553 G +  24.966 B) / 255 +  16/255
///     Cb = (-37.797 R -  74.203 G + 112.000 B) / 255 + 128/255
///     Cr = (112.000 R -  93.786 G -  18.214 B) / 255 + 128/255
///
/// As rgb2ycbcr.m, the coefficients are the matrix above divided by 255 (in double, then cast to
/// the tensor's scalar type) and the offsets [16, 128, 128]/255; as ycbcr2rgb.m, the inverse is
/// rgb = 255 M^-1 ycbcr - M^-1 [16, 128, 128] with M the matrix above (inverted in double).
/// Channel 0 is R (Y), 1 is G (Cb), 2 is B (Cr). Values are not clamped.
///
/// luma_bt601 writes the Y channel alone: it is the guide of the CU-Net depth super-resolution
/// data (Y of rgb2ycbcr(im2double(rgb))), not the full-range 0.299 R + 0.587 G + 0.114 B of
/// mcsc::to_grayscale.
///
/// Each conversion handles one pixel (all three channels) per kernel iteration, so src and dst may
/// be the same tensor (in-place conversion).
#include <cstdint>
#include <type_traits>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

namespace Impl {

/// MATLAB's rgb2ycbcr matrix (for RGB in [0, 255], before the division by 255), row-major.
inline constexpr double ycbcr_matrix[9] = {65.481, 128.553, 24.966, -37.797, -74.203, 112.0,
                                           112.0,  -93.786, -18.214};
inline constexpr double ycbcr_offset[3] = {16.0, 128.0, 128.0};

/// A 3x3 affine map out = A in + b, in the kernels' scalar type.
template <class T>
struct Affine3 {
  Kokkos::Array<T, 9> a;
  Kokkos::Array<T, 3> b;
};

/// rgb2ycbcr for double images: A = M / 255, b = offset / 255.
template <class T>
Affine3<T> rgb_to_ycbcr_map() {
  Affine3<T> f;
  for (int k = 0; k < 9; ++k) f.a[k] = T(ycbcr_matrix[k] / 255);
  for (int k = 0; k < 3; ++k) f.b[k] = T(ycbcr_offset[k] / 255);
  return f;
}

/// ycbcr2rgb for double images: A = 255 M^-1, b = -M^-1 offset (M^-1 by cofactors, in double).
template <class T>
Affine3<T> ycbcr_to_rgb_map() {
  const double* m = ycbcr_matrix;
  const double c[9] = {m[4] * m[8] - m[5] * m[7], m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
                       m[5] * m[6] - m[3] * m[8], m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
                       m[3] * m[7] - m[4] * m[6], m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3]};
  const double det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
  double inv[9];
  for (int k = 0; k < 9; ++k) inv[k] = c[k] / det;
  Affine3<T> f;
  for (int k = 0; k < 9; ++k) f.a[k] = T(255 * inv[k]);
  for (int r = 0; r < 3; ++r)
    f.b[r] = T(-(inv[3 * r] * ycbcr_offset[0] + inv[3 * r + 1] * ycbcr_offset[1] + inv[3 * r + 2] * ycbcr_offset[2]));
  return f;
}

template <class Src, class Dst>
void check_color(const char* fn, const Src& src, const Dst& dst, std::int64_t dst_channels) {
  static_assert(is_tensor4_v<Src> && is_tensor4_v<Dst>, "mcsc colour conversion: src and dst must be rank-4 "
                                                        "LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Src::memory_space, typename Dst::memory_space>::value,
                "mcsc colour conversion: src and dst must live in the same memory space");
  const Shape4 ss = shape_of(src), sd = shape_of(dst);
  MCSC_REQUIRE(ss.size() > 0 && sd.size() > 0, fn, "empty tensor: src " << ss << ", dst " << sd);
  MCSC_REQUIRE(ss.c == 3, fn, "src must have 3 channels, got " << ss);
  MCSC_REQUIRE(sd == (Shape4{ss.n, dst_channels, ss.h, ss.w}), fn,
               "dst " << sd << " does not match src " << ss << " (expected (" << ss.n << ", " << dst_channels
                      << ", " << ss.h << ", " << ss.w << "))");
}

/// dst[:, r] = sum_k A[r, k] src[:, k] + b[r] for the first `rows` rows of the map, per pixel.
template <class Src, class Dst>
void apply_affine3(const char* label, const Src& src, const Dst& dst, const Affine3<typename Dst::non_const_value_type>& f,
                   int rows) {
  using T = typename Dst::non_const_value_type;
  const int H = int(src.extent(2)), W = int(src.extent(3));
  const std::int64_t total = std::int64_t(src.extent(0)) * H * W;
  Kokkos::parallel_for(
      label, Kokkos::RangePolicy<typename Dst::execution_space>(0, total), KOKKOS_LAMBDA(const std::int64_t id) {
        const int j = int(id % W);
        const std::int64_t t = id / W;
        const int i = int(t % H);
        const int n = int(t / H);
        const T x0 = T(src(n, 0, i, j)), x1 = T(src(n, 1, i, j)), x2 = T(src(n, 2, i, j));
        for (int r = 0; r < rows; ++r)
          dst(n, r, i, j) = f.a[3 * r] * x0 + f.a[3 * r + 1] * x1 + f.a[3 * r + 2] * x2 + f.b[r];
      });
}

}  // namespace Impl

/// dst (N, 3, H, W) = rgb2ycbcr(src (N, 3, H, W)), MATLAB's convention for images in [0, 1]
/// (see the file comment). src and dst may be the same tensor.
template <class Src, class Dst>
void rgb_to_ycbcr(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::rgb_to_ycbcr";
  Impl::check_color(fn, src, dst, 3);
  Impl::apply_affine3(fn, src, dst, Impl::rgb_to_ycbcr_map<typename Dst::non_const_value_type>(), 3);
}

/// dst (N, 3, H, W) = ycbcr2rgb(src (N, 3, H, W)), the inverse of rgb_to_ycbcr (MATLAB's
/// convention for double images). src and dst may be the same tensor.
template <class Src, class Dst>
void ycbcr_to_rgb(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::ycbcr_to_rgb";
  Impl::check_color(fn, src, dst, 3);
  Impl::apply_affine3(fn, src, dst, Impl::ycbcr_to_rgb_map<typename Dst::non_const_value_type>(), 3);
}

/// dst (N, 1, H, W) = the Y channel of rgb_to_ycbcr(src (N, 3, H, W)):
/// Y = (65.481 R + 128.553 G + 24.966 B)/255 + 16/255, in [16/255, 235/255] for RGB in [0, 1].
template <class Src, class Dst>
void luma_bt601(const Src& src, const Dst& dst) {
  const char* fn = "mcsc::luma_bt601";
  Impl::check_color(fn, src, dst, 1);
  Impl::apply_affine3(fn, src, dst, Impl::rgb_to_ycbcr_map<typename Dst::non_const_value_type>(), 1);
}

}  // namespace mcsc
