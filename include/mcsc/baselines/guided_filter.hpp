#pragma once
/// \file guided_filter.hpp
/// The guided filter of K. He, J. Sun, X. Tang, "Guided image filtering" (ECCV 2010, TPAMI
/// 35(6) 2013), as their MATLAB guidedfilter.m / guidedfilter_color.m, on (N, C, H, W) tensors,
/// and guided upsampling (bicubic upsampling of a low-resolution target, then the guided filter
/// with the high-resolution guide).
///
/// Grey (or per-channel) guide I, filtering input p, window radius r, regulariser eps:
///     mean_I = f(I), mean_p = f(p), corr_I = f(I .* I), corr_Ip = f(I .* p)
///     a = (corr_Ip - mean_I .* mean_p) ./ (corr_I - mean_I.^2 + eps),  b = mean_p - a .* mean_I
///     q = f(a) .* I + f(b)
/// where f is the mean over the (2r+1) x (2r+1) window clipped to the image (boxfilter(x, r) ./
/// boxfilter(ones, r), i.e. mcsc::box_mean with ImageBorder::normalized).
/// Colour guide (3 channels): a = (Sigma + eps U)^-1 (corr_Ip - mean_I mean_p) with Sigma the
/// 3x3 windowed covariance of the guide, b = mean_p - a' mean_I, q = f(a)' I + f(b).
/// All statistics are computed in double (as MATLAB) whatever the tensors' scalar type.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"
#include "mcsc/data/resample.hpp"

namespace mcsc {

namespace Impl {

template <class Guide, class Src, class Dst>
void check_guided(const char* fn, const Guide& guide, const Src& src, const Dst& dst, int radius, double eps,
                  bool color) {
  static_assert(is_tensor4_v<Guide> && is_tensor4_v<Src> && is_tensor4_v<Dst>,
                "mcsc guided filter: guide, src and dst must be rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Guide::memory_space, typename Src::memory_space>::value &&
                    std::is_same<typename Src::memory_space, typename Dst::memory_space>::value,
                "mcsc guided filter: guide, src and dst must live in the same memory space");
  const Shape4 sg = shape_of(guide), ss = shape_of(src), sd = shape_of(dst);
  MCSC_REQUIRE(ss.size() > 0 && sg.size() > 0, fn, "empty tensor: guide " << sg << ", src " << ss);
  MCSC_REQUIRE(ss == sd, fn, "src " << ss << " and dst " << sd << " differ in shape");
  MCSC_REQUIRE(sg.n == ss.n && sg.h == ss.h && sg.w == ss.w, fn,
               "guide " << sg << " and src " << ss << " differ in batch size or image size");
  if (color)
    MCSC_REQUIRE(sg.c == 3, fn, "the colour guide must have 3 channels, got " << sg);
  else
    MCSC_REQUIRE(sg.c == 1 || sg.c == ss.c, fn,
                 "the guide must have 1 channel or as many as src (" << ss.c << "), got " << sg
                                                                     << " (guided_filter_color takes an RGB guide)");
  MCSC_REQUIRE(radius >= 0 && radius <= 4096, fn, "radius must be in [0, 4096], got " << radius);
  MCSC_REQUIRE(std::isfinite(eps) && eps > 0, fn, "eps must be positive and finite, got " << eps);
  require_finite(fn, guide);
  require_finite(fn, src);
}

}  // namespace Impl

/// dst = the guided filter of src (N, C, H, W) with the guide (N, 1, H, W) (one grey guide for
/// every channel) or (N, C, H, W) (channel c guided by guide channel c), window radius `radius`
/// (>= 0), regulariser eps (> 0, in squared image units: (0.02)^2 for He et al.'s flash /
/// no-flash example on [0, 1] images with r = 8). dst may be src (or the guide, when shapes match).
template <class Guide, class Src, class Dst>
void guided_filter(const Guide& guide, const Src& src, const Dst& dst, int radius, double eps) {
  using T = typename Dst::non_const_value_type;
  using Exec = typename Dst::execution_space;
  const char* fn = "mcsc::guided_filter";
  Impl::check_guided(fn, guide, src, dst, radius, eps, false);
  const Shape4 s = shape_of(src);
  const bool shared_guide = guide.extent(1) == 1;

  // mean_I, mean_p, corr_I, corr_Ip of every channel: stats(n, 4c + k, i, j).
  auto stats = make_tensor<double, Exec>("mcsc::guided_filter::stats", Shape4{s.n, 4 * s.c, s.h, s.w});
  for_each_pixel<Exec>(
      "mcsc::guided_filter::products", s,
      KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
        const Pixel p{pn, pc, pi, pj};
        const double I = double(guide(p.n, shared_guide ? 0 : p.c, p.i, p.j)), v = double(src(p.n, p.c, p.i, p.j));
        stats(p.n, 4 * p.c, p.i, p.j) = I;
        stats(p.n, 4 * p.c + 1, p.i, p.j) = v;
        stats(p.n, 4 * p.c + 2, p.i, p.j) = I * I;
        stats(p.n, 4 * p.c + 3, p.i, p.j) = I * v;
      });
  box_mean(stats, stats, radius);
  auto ab = make_tensor<double, Exec>("mcsc::guided_filter::ab", Shape4{s.n, 2 * s.c, s.h, s.w});
  for_each_pixel<Exec>(
      "mcsc::guided_filter::coefficients", s,
      KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
        const Pixel p{pn, pc, pi, pj};
        const double mI = stats(p.n, 4 * p.c, p.i, p.j), mp = stats(p.n, 4 * p.c + 1, p.i, p.j);
        const double var = stats(p.n, 4 * p.c + 2, p.i, p.j) - mI * mI;
        const double cov = stats(p.n, 4 * p.c + 3, p.i, p.j) - mI * mp;
        const double a = cov / (var + eps);
        ab(p.n, 2 * p.c, p.i, p.j) = a;
        ab(p.n, 2 * p.c + 1, p.i, p.j) = mp - a * mI;
      });
  box_mean(ab, ab, radius);
  for_each_pixel<Exec>(
      "mcsc::guided_filter::output", s,
      KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
        const Pixel p{pn, pc, pi, pj};
        const double I = double(guide(p.n, shared_guide ? 0 : p.c, p.i, p.j));
        dst(p.n, p.c, p.i, p.j) = T(ab(p.n, 2 * p.c, p.i, p.j) * I + ab(p.n, 2 * p.c + 1, p.i, p.j));
      });
}

/// The colour guided filter with its guide-only statistics computed once: the windowed mean of
/// the guide and the inverse of Sigma + eps U at every pixel. apply() filters any number of
/// inputs with the same guide (guided back-projection runs it once per iteration) at a bit less
/// than half the cost of guided_filter_color, which is this class applied once.
template <class T, class ExecSpace>
class ColorGuidedFilter {
 public:
  /// guide (N, 3, H, W); radius >= 0, eps > 0. Throws mcsc::Error naming `function` otherwise.
  template <class Guide>
  ColorGuidedFilter(const Guide& guide, int radius, double eps, const char* function = "mcsc::ColorGuidedFilter")
      : m_radius(radius) {
    set_guide(guide, eps, function);
  }

  /// Replaces the guide (same radius) and computes its statistics. The constructor calls it; it
  /// is public because nvcc allows device lambdas neither in constructors nor in non-public
  /// member functions.
  template <class Guide>
  void set_guide(const Guide& guide, double eps, const char* function = "mcsc::ColorGuidedFilter::set_guide") {
    Impl::check_guided(function, guide, guide, guide, m_radius, eps, true);
    m_guide = make_tensor<T, ExecSpace>("mcsc::ColorGuidedFilter::guide", shape_of(guide));
    Kokkos::deep_copy(m_guide, guide);
    const Shape4 s = shape_of(guide);
    auto g = m_guide;
    const int radius = m_radius;
    // stats(n, k): 0..2 the guide, 3..8 its products rr rg rb gg gb bb (box-filtered below).
    auto stats = make_tensor<double, ExecSpace>("mcsc::ColorGuidedFilter::stats", Shape4{s.n, 9, s.h, s.w});
    for_each_pixel<ExecSpace>(
        "mcsc::guided_filter_color::products", Shape4{s.n, 1, s.h, s.w},
        KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
          const Pixel p{pn, pc, pi, pj};
          const double I[3] = {double(g(p.n, 0, p.i, p.j)), double(g(p.n, 1, p.i, p.j)), double(g(p.n, 2, p.i, p.j))};
          for (int k = 0; k < 3; ++k) stats(p.n, k, p.i, p.j) = I[k];
          stats(p.n, 3, p.i, p.j) = I[0] * I[0];
          stats(p.n, 4, p.i, p.j) = I[0] * I[1];
          stats(p.n, 5, p.i, p.j) = I[0] * I[2];
          stats(p.n, 6, p.i, p.j) = I[1] * I[1];
          stats(p.n, 7, p.i, p.j) = I[1] * I[2];
          stats(p.n, 8, p.i, p.j) = I[2] * I[2];
        });
    box_mean(stats, stats, radius);
    // m_inverse(n, k): 0..2 mean_I, 3..8 the cofactors irr irg irb igg igb ibb of Sigma + eps U, 9 det.
    m_inverse = make_tensor<double, ExecSpace>("mcsc::ColorGuidedFilter::inverse", Shape4{s.n, 10, s.h, s.w});
    auto inv = m_inverse;
    for_each_pixel<ExecSpace>(
        "mcsc::guided_filter_color::inverse", Shape4{s.n, 1, s.h, s.w},
        KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
          const Pixel p{pn, pc, pi, pj};
          const double m[3] = {stats(p.n, 0, p.i, p.j), stats(p.n, 1, p.i, p.j), stats(p.n, 2, p.i, p.j)};
          // Sigma + eps U (symmetric) and its inverse by cofactors.
          const double srr = stats(p.n, 3, p.i, p.j) - m[0] * m[0] + eps, srg = stats(p.n, 4, p.i, p.j) - m[0] * m[1];
          const double srb = stats(p.n, 5, p.i, p.j) - m[0] * m[2], sgg = stats(p.n, 6, p.i, p.j) - m[1] * m[1] + eps;
          const double sgb = stats(p.n, 7, p.i, p.j) - m[1] * m[2], sbb = stats(p.n, 8, p.i, p.j) - m[2] * m[2] + eps;
          const double irr = sgg * sbb - sgb * sgb, irg = sgb * srb - srg * sbb, irb = srg * sgb - sgg * srb;
          const double igg = srr * sbb - srb * srb, igb = srb * srg - srr * sgb, ibb = srr * sgg - srg * srg;
          const double v[10] = {m[0], m[1], m[2], irr, irg, irb, igg, igb, ibb, irr * srr + irg * srg + irb * srb};
          for (int k = 0; k < 10; ++k) inv(p.n, k, p.i, p.j) = v[k];
        });
  }

  /// dst = the guided filter of every channel of src (N, C, H, W), same N, H, W as the guide.
  /// dst may be src.
  template <class Src, class Dst>
  void apply(const Src& src, const Dst& dst, const char* function = "mcsc::ColorGuidedFilter::apply") const {
    using Out = typename Dst::non_const_value_type;
    Impl::check_guided(function, m_guide, src, dst, m_radius, 1.0, true);
    const Shape4 s = shape_of(src);
    const int C = int(s.c);
    auto g = m_guide;
    auto inv = m_inverse;
    // stats(n, 4c): the input p of channel c, 4c + 1 + k the products I_k p. The workspace is
    // kept between calls (back_project applies the filter once per iteration); every entry is
    // written before it is read, so it is allocated without initialisation.
    if (!(shape_of(m_work) == Shape4{s.n, 4 * s.c, s.h, s.w}))
      m_work = Tensor4<double, ExecSpace>(Kokkos::view_alloc(Kokkos::WithoutInitializing, "mcsc::guided_filter_color::stats"),
                                          s.n, 4 * s.c, s.h, s.w);
    auto stats = m_work;
    for_each_pixel<ExecSpace>(
        "mcsc::guided_filter_color::input_products", Shape4{s.n, 1, s.h, s.w},
        KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
          const Pixel p{pn, pc, pi, pj};
          const double I[3] = {double(g(p.n, 0, p.i, p.j)), double(g(p.n, 1, p.i, p.j)), double(g(p.n, 2, p.i, p.j))};
          for (int c = 0; c < C; ++c) {
            const double v = double(src(p.n, c, p.i, p.j));
            stats(p.n, 4 * c, p.i, p.j) = v;
            for (int k = 0; k < 3; ++k) stats(p.n, 4 * c + 1 + k, p.i, p.j) = I[k] * v;
          }
        });
    box_mean(stats, stats, m_radius);
    // ab(n, 4c + k): a_k for k < 3, b at k = 3 (in place of the statistics).
    for_each_pixel<ExecSpace>(
        "mcsc::guided_filter_color::coefficients", Shape4{s.n, 1, s.h, s.w},
        KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
          const Pixel p{pn, pc, pi, pj};
          const double m[3] = {inv(p.n, 0, p.i, p.j), inv(p.n, 1, p.i, p.j), inv(p.n, 2, p.i, p.j)};
          const double irr = inv(p.n, 3, p.i, p.j), irg = inv(p.n, 4, p.i, p.j), irb = inv(p.n, 5, p.i, p.j);
          const double igg = inv(p.n, 6, p.i, p.j), igb = inv(p.n, 7, p.i, p.j), ibb = inv(p.n, 8, p.i, p.j);
          const double det = inv(p.n, 9, p.i, p.j);
          for (int c = 0; c < C; ++c) {
            const double mp = stats(p.n, 4 * c, p.i, p.j);
            const double cov[3] = {stats(p.n, 4 * c + 1, p.i, p.j) - m[0] * mp, stats(p.n, 4 * c + 2, p.i, p.j) - m[1] * mp,
                                   stats(p.n, 4 * c + 3, p.i, p.j) - m[2] * mp};
            const double a0 = (irr * cov[0] + irg * cov[1] + irb * cov[2]) / det;
            const double a1 = (irg * cov[0] + igg * cov[1] + igb * cov[2]) / det;
            const double a2 = (irb * cov[0] + igb * cov[1] + ibb * cov[2]) / det;
            stats(p.n, 4 * c, p.i, p.j) = a0;
            stats(p.n, 4 * c + 1, p.i, p.j) = a1;
            stats(p.n, 4 * c + 2, p.i, p.j) = a2;
            stats(p.n, 4 * c + 3, p.i, p.j) = mp - a0 * m[0] - a1 * m[1] - a2 * m[2];
          }
        });
    box_mean(stats, stats, m_radius);
    for_each_pixel<ExecSpace>(
        "mcsc::guided_filter_color::output", s,
        KOKKOS_LAMBDA(const int pn, const int pc, const int pi, const int pj) {
          const Pixel p{pn, pc, pi, pj};
          double q = stats(p.n, 4 * p.c + 3, p.i, p.j);
          for (int k = 0; k < 3; ++k) q += stats(p.n, 4 * p.c + k, p.i, p.j) * double(g(p.n, k, p.i, p.j));
          dst(p.n, p.c, p.i, p.j) = Out(q);
        });
  }

 private:
  Tensor4<T, ExecSpace> m_guide;
  Tensor4<double, ExecSpace> m_inverse;
  mutable Tensor4<double, ExecSpace> m_work;  ///< apply()'s statistics, reused while the input shape stays
  int m_radius;
};

/// dst = the guided filter of every channel of src (N, C, H, W) with the colour guide
/// (N, 3, H, W) (He et al.'s guidedfilter_color: a per-pixel 3x3 solve with Sigma + eps U).
/// dst may be src but not the guide.
template <class Guide, class Src, class Dst>
void guided_filter_color(const Guide& guide, const Src& src, const Dst& dst, int radius, double eps) {
  const char* fn = "mcsc::guided_filter_color";
  Impl::check_guided(fn, guide, src, dst, radius, eps, true);
  ColorGuidedFilter<typename Guide::non_const_value_type, typename Dst::execution_space>(guide, radius, eps, fn)
      .apply(src, dst, fn);
}

/// Guided upsampling: dst (N, C, H, W) = guided_filter(guide, imresize_bicubic(low, [H W]), r,
/// eps) for a low-resolution target low (N, C, h, w) and a high-resolution guide (N, 1 or C,
/// H, W), or guided_filter_color with an RGB guide when color_guide is true. The bicubic step is
/// mcsc::imresize_bicubic(src, dst) (MATLAB imresize(low, [H W]), scales H/h and W/w).
template <class Low, class Guide, class Dst>
void guided_upsample(const Low& low, const Guide& guide, const Dst& dst, int radius, double eps,
                     bool color_guide = false) {
  const char* fn = "mcsc::guided_upsample";
  static_assert(is_tensor4_v<Low> && is_tensor4_v<Dst>, "mcsc::guided_upsample: expects rank-4 LayoutRight views");
  const Shape4 sl = shape_of(low), sd = shape_of(dst);
  MCSC_REQUIRE(sl.size() > 0 && sd.size() > 0, fn, "empty tensor: low " << sl << ", dst " << sd);
  MCSC_REQUIRE(sl.n == sd.n && sl.c == sd.c, fn, "low " << sl << " and dst " << sd << " differ in batch size or channels");
  require_finite(fn, low);
  auto up = make_tensor_like("mcsc::guided_upsample::bicubic", dst);
  imresize_bicubic(low, up);
  if (color_guide)
    guided_filter_color(guide, up, dst, radius, eps);
  else
    guided_filter(guide, up, dst, radius, eps);
}

}  // namespace mcsc
