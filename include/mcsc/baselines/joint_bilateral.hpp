#pragma once
/// \file joint_bilateral.hpp
/// Joint bilateral upsampling (J. Kopf, M. Cohen, D. Lischinski, M. Uyttendaele, "Joint bilateral
/// upsampling", ACM TOG 26(3), SIGGRAPH 2007) of a low-resolution target S (N, C, h, w) with a
/// high-resolution guide I (N, Cg, H, W) into dst (N, C, H, W):
///
///     dst(p) = sum_q S(q) f(||p_low - q||) g(||I(p) - I(q_high)||) / sum_q f(.) g(.)
///
/// - p_low: the position of output pixel p = (i, j) on the low-resolution grid, pixel centres
///   aligned as in mcsc::imresize_bicubic: y = (i + 0.5) h / H - 0.5, x = (j + 0.5) w / W - 0.5;
/// - q: the low-resolution pixels of the (2 radius + 1)^2 window centred on the nearest one,
///   (floor(y + 0.5), floor(x + 0.5)), clipped to the image (no padding);
/// - f(d) = exp(-d^2 / (2 sigma_spatial^2)), d in low-resolution pixels;
/// - q_high: the high-resolution pixel nearest to the centre of q, (min(H - 1, floor((q_y + 0.5)
///   H / h)), min(W - 1, floor((q_x + 0.5) W / w))) (the pixel right of/below the centre on a tie);
/// - g(d) = exp(-d^2 / (2 sigma_range^2)), d the Euclidean distance over the guide channels
///   (grey or colour guide) in the guide's units.
/// Every channel of S uses the same weights. With h == H and w == W this is the joint (cross)
/// bilateral filter of Petschnigg et al. / Eisemann & Durand (2004) with a square window. If all
/// weights of a pixel underflow to 0 (a tiny sigma_range), dst(p) is S at the window centre.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"

namespace mcsc {

/// Options of joint_bilateral_upsample().
struct JointBilateralOptions {
  double sigma_spatial = 1.0;  ///< spatial Gaussian sigma, in low-resolution pixels
  double sigma_range = 0.1;    ///< range Gaussian sigma, in guide units ([0, 1] images: 0.1 = 25.5/255)
  int radius = -1;             ///< window radius in low-resolution pixels; -1: ceil(2 sigma_spatial)
};

/// dst (N, C, H, W) = the joint bilateral upsampling of low (N, C, h, w) guided by guide
/// (N, Cg, H, W) (H >= h, W >= w; any ratio, not only integers). See the file comment.
template <class Low, class Guide, class Dst>
void joint_bilateral_upsample(const Low& low, const Guide& guide, const Dst& dst,
                              const JointBilateralOptions& options = {}) {
  static_assert(is_tensor4_v<Low> && is_tensor4_v<Guide> && is_tensor4_v<Dst>,
                "mcsc::joint_bilateral_upsample: low, guide and dst must be rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Low::memory_space, typename Guide::memory_space>::value &&
                    std::is_same<typename Guide::memory_space, typename Dst::memory_space>::value,
                "mcsc::joint_bilateral_upsample: low, guide and dst must live in the same memory space");
  using T = typename Dst::non_const_value_type;
  using Exec = typename Dst::execution_space;
  const char* fn = "mcsc::joint_bilateral_upsample";
  const Shape4 sl = shape_of(low), sg = shape_of(guide), sd = shape_of(dst);
  MCSC_REQUIRE(sl.size() > 0 && sg.size() > 0 && sd.size() > 0, fn,
               "empty tensor: low " << sl << ", guide " << sg << ", dst " << sd);
  MCSC_REQUIRE(sl.n == sd.n && sl.c == sd.c, fn, "low " << sl << " and dst " << sd << " differ in batch size or channels");
  MCSC_REQUIRE(sg.n == sd.n && sg.h == sd.h && sg.w == sd.w, fn,
               "guide " << sg << " and dst " << sd << " differ in batch size or image size");
  MCSC_REQUIRE(sd.h >= sl.h && sd.w >= sl.w, fn, "dst " << sd << " is smaller than low " << sl << " (upsampling only)");
  MCSC_REQUIRE(std::isfinite(options.sigma_spatial) && options.sigma_spatial > 0, fn,
               "sigma_spatial must be positive and finite, got " << options.sigma_spatial);
  MCSC_REQUIRE(std::isfinite(options.sigma_range) && options.sigma_range > 0, fn,
               "sigma_range must be positive and finite, got " << options.sigma_range);
  const int radius = options.radius == -1 ? int(std::ceil(2 * options.sigma_spatial)) : options.radius;
  MCSC_REQUIRE(radius >= 0 && radius <= 1024, fn, "radius must be in [0, 1024] (or -1), got " << options.radius);
  require_finite(fn, low);
  require_finite(fn, guide);

  const int C = int(sd.c), Cg = int(sg.c), H = int(sd.h), W = int(sd.w), h = int(sl.h), w = int(sl.w);
  const double ry = double(h) / double(H), rx = double(w) / double(W);  // low / high
  const double sy = double(H) / double(h), sx = double(W) / double(w);  // high / low
  const double ks = -0.5 / (options.sigma_spatial * options.sigma_spatial);
  const double inv_sr = 1.0 / options.sigma_range;  // d^2 / sigma^2 as (d^2 / sigma) / sigma: no 0/0
  auto acc = make_tensor<double, Exec>("mcsc::joint_bilateral_upsample::acc", sd);
  Kokkos::parallel_for(
      fn, Kokkos::RangePolicy<Exec>(0, sd.n * sd.h * sd.w), KOKKOS_LAMBDA(const std::int64_t id) {
        const Pixel p = unflatten(id, 1, H, W);
        const double y = (p.i + 0.5) * ry - 0.5, x = (p.j + 0.5) * rx - 0.5;
        const int cy = int(math::floor(y + 0.5)), cx = int(math::floor(x + 0.5));
        const int y0 = cy - radius < 0 ? 0 : cy - radius, y1 = cy + radius > h - 1 ? h - 1 : cy + radius;
        const int x0 = cx - radius < 0 ? 0 : cx - radius, x1 = cx + radius > w - 1 ? w - 1 : cx + radius;
        for (int c = 0; c < C; ++c) acc(p.n, c, p.i, p.j) = 0;
        double wsum = 0;
        for (int qy = y0; qy <= y1; ++qy) {
          int gy = int(math::floor((qy + 0.5) * sy));
          gy = gy > H - 1 ? H - 1 : gy;
          for (int qx = x0; qx <= x1; ++qx) {
            int gx = int(math::floor((qx + 0.5) * sx));
            gx = gx > W - 1 ? W - 1 : gx;
            double d2 = 0;
            for (int k = 0; k < Cg; ++k) {
              const double d = double(guide(p.n, k, p.i, p.j)) - double(guide(p.n, k, gy, gx));
              d2 += d * d;
            }
            const double dy = y - qy, dx = x - qx;
            const double weight = math::exp(ks * (dy * dy + dx * dx) - 0.5 * (d2 * inv_sr) * inv_sr);
            wsum += weight;
            for (int c = 0; c < C; ++c) acc(p.n, c, p.i, p.j) += weight * double(low(p.n, c, qy, qx));
          }
        }
        const int ccy = cy < 0 ? 0 : (cy > h - 1 ? h - 1 : cy), ccx = cx < 0 ? 0 : (cx > w - 1 ? w - 1 : cx);
        for (int c = 0; c < C; ++c)
          dst(p.n, c, p.i, p.j) = wsum > 0 ? T(acc(p.n, c, p.i, p.j) / wsum) : T(low(p.n, c, ccy, ccx));
      });
}

}  // namespace mcsc
