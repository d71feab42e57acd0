#pragma once
/// \file baselines/fusion.hpp
/// Classical fusion baselines on (N, C, H, W) tensors:
///
/// - average_fusion: F = (A + B) / 2;
/// - tikhonov_lowpass: the base layer of a two-scale split, B = argmin ||B - S||^2 +
///   lambda (||d_x B||^2 + ||d_y B||^2) with forward differences inside the image (Neumann
///   boundary), solved by conjugate gradients in double;
/// - csr_fusion: "Image fusion with convolutional sparse representation", Y. Liu, X. Chen,
///   R. K. Ward, Z. J. Wang, IEEE Signal Processing Letters 23(12):1882-1886, 2016, following the
///   authors' CSR_Fusion.m (see csr_fusion below), with the CSC solved by mcsc::fista.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/data/filter.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/solvers/fista.hpp"

namespace mcsc {

/// fused = (a + b) / 2, elementwise (all three the same shape; fused may alias a or b).
template <class A, class B, class F>
void average_fusion(const A& a, const B& b, const F& fused) {
  using T = typename F::non_const_value_type;
  const char* fn = "mcsc::average_fusion";
  require_same_image_shape(fn, a, fused);
  require_same_image_shape(fn, b, fused);
  require_finite(fn, a);
  require_finite(fn, b);
  lincomb(T(0.5), a, T(0.5), b, fused);
}

// ------------------------------------------------------------------ Tikhonov low-pass

/// Options of tikhonov_lowpass().
struct LowpassOptions {
  double lambda = 5;         ///< gradient penalty (Liu et al. and SPORCO's lowpass use 5)
  int max_iterations = 1000;  ///< conjugate-gradient iterations at most
  double tolerance = 1e-10;  ///< stop when ||S - A B|| <= tolerance ||S||
};

namespace Impl {
/// out = A x = x + lambda sum over the 4-neighbours inside the image of (x - x_neighbour), i.e.
/// (I + lambda (Dx'Dx + Dy'Dy)) x with forward differences inside the image; returns <x, A x>.
template <class X, class Y>
double tikhonov_apply(const X& x, const Y& out, double lambda) {
  using Exec = typename Y::execution_space;
  const int C = int(x.extent(1)), H = int(x.extent(2)), W = int(x.extent(3));
  double xax = 0;
  Kokkos::parallel_reduce(
      "mcsc::tikhonov_lowpass::apply", Kokkos::RangePolicy<Exec>(0, std::int64_t(x.size())),
      KOKKOS_LAMBDA(const std::int64_t id, double& acc) {
        const Pixel p = unflatten(id, C, H, W);
        const double v = x(p.n, p.c, p.i, p.j);
        double lap = 0;
        if (p.i > 0) lap += v - x(p.n, p.c, p.i - 1, p.j);
        if (p.i < H - 1) lap += v - x(p.n, p.c, p.i + 1, p.j);
        if (p.j > 0) lap += v - x(p.n, p.c, p.i, p.j - 1);
        if (p.j < W - 1) lap += v - x(p.n, p.c, p.i, p.j + 1);
        const double y = v + lambda * lap;
        out(p.n, p.c, p.i, p.j) = y;
        acc += v * y;
      },
      xax);
  return xax;
}
}  // namespace Impl

namespace Impl {
/// dst = src elementwise, converting the scalar type (same shape and memory space).
template <class Src, class Dst>
void convert_copy(const Src& src, const Dst& dst) {
  using T = typename Dst::non_const_value_type;
  auto fs = flat(src);
  auto fd = flat(dst);
  Kokkos::parallel_for(
      "mcsc::convert_copy", Kokkos::RangePolicy<typename Dst::execution_space>(0, fd.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i) { fd(i) = T(fs(i)); });
}
}  // namespace Impl

/// dst = the Tikhonov low-pass ("base layer") of src, every (n, c) plane separately:
///     dst = argmin_B ||B - S||^2 + lambda (||d_x B||^2 + ||d_y B||^2),
/// d_x, d_y forward differences between horizontally / vertically adjacent pixels inside the
/// image, i.e. the solution of (I + lambda L) B = S with L the 5-point graph Laplacian with
/// Neumann (reflecting) boundary. This is SPORCO's lowpass(s, lambda) (used by Liu et al.),
/// which solves the same problem with the DFT on the image padded by 16 mirrored pixels: the
/// two agree away from the border and differ slightly within a few sqrt(lambda) pixels of it.
/// Solved by conjugate gradients in double, started from S. Returns the number of iterations;
/// throws if the tolerance is not met within max_iterations. src and dst may be the same tensor.
template <class Src, class Dst>
int tikhonov_lowpass(const Src& src, const Dst& dst, const LowpassOptions& options = {}) {
  using Exec = typename Dst::execution_space;
  const char* fn = "mcsc::tikhonov_lowpass";
  require_same_image_shape(fn, src, dst);
  MCSC_REQUIRE(std::isfinite(options.lambda) && options.lambda >= 0, fn,
               "lambda must be finite and >= 0, got " << options.lambda);
  MCSC_REQUIRE(options.max_iterations >= 1, fn, "max_iterations must be >= 1, got " << options.max_iterations);
  MCSC_REQUIRE(std::isfinite(options.tolerance) && options.tolerance > 0, fn,
               "tolerance must be positive and finite, got " << options.tolerance);
  require_finite(fn, src);
  const Shape4 s = shape_of(src);
  auto b = make_tensor<double, Exec>("mcsc::tikhonov_lowpass::rhs", s);
  Impl::convert_copy(src, b);
  auto x = make_tensor<double, Exec>("mcsc::tikhonov_lowpass::x", s);
  Kokkos::deep_copy(x, b);
  auto r = make_tensor<double, Exec>("mcsc::tikhonov_lowpass::r", s);
  auto p = make_tensor<double, Exec>("mcsc::tikhonov_lowpass::p", s);
  auto q = make_tensor<double, Exec>("mcsc::tikhonov_lowpass::q", s);
  const double target = options.tolerance * std::sqrt(sum_squares(b));
  Impl::tikhonov_apply(x, r, options.lambda);
  axpby(1.0, b, -1.0, r);  // r = b - A x
  Kokkos::deep_copy(p, r);
  double rr = sum_squares(r);
  auto fx = Impl::flat(x), fr = Impl::flat(r), fp = Impl::flat(p), fq = Impl::flat(q);
  const std::int64_t size = std::int64_t(fx.extent(0));
  int it = 0;
  // Three kernels per iteration: q = A p with <p, q>; x, r updates with <r, r>; p update.
  while (std::sqrt(rr) > target) {
    MCSC_REQUIRE(it < options.max_iterations, fn,
                 "conjugate gradients did not reach the relative residual " << options.tolerance << " in "
                                                                            << options.max_iterations
                                                                            << " iterations (residual "
                                                                            << std::sqrt(rr) << ")");
    const double alpha = rr / Impl::tikhonov_apply(p, q, options.lambda);
    double rr_next = 0;
    Kokkos::parallel_reduce(
        "mcsc::tikhonov_lowpass::update", Kokkos::RangePolicy<Exec>(0, size),
        KOKKOS_LAMBDA(const std::int64_t i, double& acc) {
          fx(i) += alpha * fp(i);
          fr(i) -= alpha * fq(i);
          acc += fr(i) * fr(i);
        },
        rr_next);
    const double beta = rr_next / rr;
    Kokkos::parallel_for(
        "mcsc::tikhonov_lowpass::direction", Kokkos::RangePolicy<Exec>(0, size),
        KOKKOS_LAMBDA(const std::int64_t i) { fp(i) = fr(i) + beta * fp(i); });
    rr = rr_next;
    ++it;
  }
  Impl::convert_copy(x, dst);
  return it;
}

// ------------------------------------------------------------------ CSR fusion (Liu et al. 2016)

/// How csr_fusion fuses the base layers.
enum class FusionBaseRule {
  average,     ///< (base_a + base_b) / 2 (Liu et al.'s rule for multi-modal images)
  choose_max,  ///< base of the source chosen by the detail decision map (their multi-focus rule)
};

/// Options of csr_fusion(). The defaults are Liu et al.'s multi-focus setting (CSR_Fusion.m with
/// flag = 1); multi_modal() gives their setting for the other tasks.
struct CsrFusionOptions {
  FistaOptions fista{};       ///< CSC of the detail layers (lambda 0.01 as Liu et al.)
  int activity_radius = 9;    ///< r: activity averaged over (2r+1)^2 windows (9 multi-focus, 3 otherwise)
  FusionBaseRule base_rule = FusionBaseRule::choose_max;
  LowpassOptions lowpass{};   ///< two-scale split (lambda 5 as Liu et al.)
  Boundary boundary = Boundary::circular;  ///< of the ConvDictionary built by the weights overload
                                           ///< (circular: SPORCO's cbpdn, used by Liu et al.)
  static CsrFusionOptions multi_focus() { return CsrFusionOptions{}; }
  static CsrFusionOptions multi_modal() {
    CsrFusionOptions o;
    o.activity_radius = 3;
    o.base_rule = FusionBaseRule::average;
    return o;
  }
};

/// What csr_fusion() returns: the fused image and every intermediate (all (N, C, H, W) unless
/// stated; codes (N, K, H, W); activities and decision (N, 1, H, W)).
template <class T, class ExecSpace>
struct CsrFusionResult {
  Tensor4<T, ExecSpace> fused;                  ///< fused_base + fused_detail
  Tensor4<T, ExecSpace> base_a, base_b;         ///< tikhonov_lowpass of the sources
  Tensor4<T, ExecSpace> detail_a, detail_b;     ///< source - base
  Tensor4<T, ExecSpace> codes_a, codes_b;       ///< fista codes of the detail layers
  Tensor4<T, ExecSpace> activity_a, activity_b;  ///< window-averaged l1 norms of the codes
  Tensor4<T, ExecSpace> decision;               ///< 1 where a was chosen, 0 where b
  Tensor4<T, ExecSpace> fused_base, fused_detail;
  double lipschitz = 0;                         ///< the step constant used by both CSC solves
  int iterations_a = 0, iterations_b = 0;       ///< fista iterations
};

/// Fuses two registered images a and b (N, m, H, W) with the dictionary D (a ConvDictionary or
/// FftConvDictionary of m-channel filters, weights (m, K, s, s)), as Liu et al.'s CSR_Fusion.m:
///  1. two-scale split: base_x = tikhonov_lowpass(x, options.lowpass), detail_x = x - base_x;
///  2. CSC of each detail layer: codes_x = fista(D, detail_x, options.fista).codes (Liu et al.
///     use SPORCO's ADMM cbpdn with lambda = 0.01; any solver of the same problem will do). Both
///     solves use the same step constant 1/L, L = options.fista.lipschitz or 1.01 times the
///     power-iteration estimate;
///  3. activity: A_x(i, j) = sum_k |codes_x(k, i, j)|, averaged over the (2r+1)^2 window
///     (imfilter with ones / (2r+1)^2, zeros outside the image), r = activity_radius;
///  4. decision = A_a > A_b (ties go to b, as in the reference); fused codes = codes_a where
///     decision is 1, codes_b elsewhere; fused_detail = D * fused codes;
///  5. fused_base = choose_max: base_a where decision is 1, base_b elsewhere; or average:
///     (base_a + base_b) / 2 (Liu et al.: choose-max for multi-focus, average otherwise);
///  6. fused = fused_base + fused_detail (not clipped or quantised; the reference writes
///     uint8((fused) * 255)).
/// Images in [0, 1] as the reference (it divides 8-bit images by 255).
template <class Dictionary, class A, class B>
std::enable_if_t<!Kokkos::is_view<Dictionary>::value,
                 CsrFusionResult<typename Dictionary::scalar_type, typename Dictionary::execution_space>>
csr_fusion(const Dictionary& D, const A& a, const B& b, const CsrFusionOptions& options = {}) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  using Tensor = typename Dictionary::tensor_type;
  const char* fn = "mcsc::csr_fusion";
  static_assert(is_tensor4_v<A> && is_tensor4_v<B>, "mcsc::csr_fusion: a and b must be rank-4 LayoutRight views");
  const Shape4 s = shape_of(a);
  MCSC_REQUIRE(shape_of(b) == s, fn, "the sources differ in shape: " << s << " and " << shape_of(b));
  MCSC_REQUIRE(s.size() > 0, fn, "empty sources " << s);
  MCSC_REQUIRE(s.c == D.num_channels(), fn,
               "the sources " << s << " have " << s.c << " channel(s) but the dictionary " << D.num_channels());
  MCSC_REQUIRE(options.activity_radius >= 0 && options.activity_radius <= 4096, fn,
               "activity_radius must be in [0, 4096], got " << options.activity_radius);
  require_finite(fn, a);
  require_finite(fn, b);

  CsrFusionResult<T, ExecSpace> out;
  out.base_a = make_tensor<T, ExecSpace>("mcsc::csr_fusion::base_a", s);
  out.base_b = make_tensor<T, ExecSpace>("mcsc::csr_fusion::base_b", s);
  out.detail_a = make_tensor<T, ExecSpace>("mcsc::csr_fusion::detail_a", s);
  out.detail_b = make_tensor<T, ExecSpace>("mcsc::csr_fusion::detail_b", s);
  // 1. Two-scale split.
  Impl::convert_copy(a, out.detail_a);
  Impl::convert_copy(b, out.detail_b);
  tikhonov_lowpass(out.detail_a, out.base_a, options.lowpass);
  tikhonov_lowpass(out.detail_b, out.base_b, options.lowpass);
  axpby(T(-1), out.base_a, T(1), out.detail_a);
  axpby(T(-1), out.base_b, T(1), out.detail_b);
  // 2. CSC of the detail layers, with one step constant for both.
  FistaOptions fopt = options.fista;
  if (!(fopt.lipschitz > 0)) fopt.lipschitz = 1.01 * power_iteration(D, D.code_shape(s));
  out.lipschitz = fopt.lipschitz;
  {
    auto ra = fista(D, Tensor(out.detail_a), fopt);
    out.codes_a = ra.codes;
    out.iterations_a = ra.iterations;
    auto rb = fista(D, Tensor(out.detail_b), fopt);
    out.codes_b = rb.codes;
    out.iterations_b = rb.iterations;
  }
  // 3. Activity maps.
  const Shape4 sc = shape_of(out.codes_a);
  const Shape4 s1{s.n, 1, s.h, s.w};
  out.activity_a = make_tensor<T, ExecSpace>("mcsc::csr_fusion::activity_a", s1);
  out.activity_b = make_tensor<T, ExecSpace>("mcsc::csr_fusion::activity_b", s1);
  {
    auto ca = out.codes_a, cb = out.codes_b, aa = out.activity_a, ab = out.activity_b;
    const int K = int(sc.c), H = int(s.h), W = int(s.w);
    Kokkos::parallel_for(
        "mcsc::csr_fusion::activity", Kokkos::RangePolicy<ExecSpace>(0, s1.size()), KOKKOS_LAMBDA(const std::int64_t id) {
          const Pixel p = unflatten(id, 1, H, W);
          T sa = 0, sb = 0;
          for (int k = 0; k < K; ++k) {
            sa += math::fabs(ca(p.n, k, p.i, p.j));
            sb += math::fabs(cb(p.n, k, p.i, p.j));
          }
          aa(p.n, 0, p.i, p.j) = sa;
          ab(p.n, 0, p.i, p.j) = sb;
        });
  }
  box_mean(out.activity_a, out.activity_a, options.activity_radius, ImageBorder::zero);
  box_mean(out.activity_b, out.activity_b, options.activity_radius, ImageBorder::zero);
  // 4.-6. Decision, fused codes, detail, base and image.
  out.decision = make_tensor<T, ExecSpace>("mcsc::csr_fusion::decision", s1);
  Tensor codes = make_tensor<T, ExecSpace>("mcsc::csr_fusion::codes", sc);
  out.fused_base = make_tensor<T, ExecSpace>("mcsc::csr_fusion::fused_base", s);
  out.fused_detail = make_tensor<T, ExecSpace>("mcsc::csr_fusion::fused_detail", s);
  out.fused = make_tensor<T, ExecSpace>("mcsc::csr_fusion::fused", s);
  {
    auto aa = out.activity_a, ab = out.activity_b, d = out.decision;
    const int H = int(s.h), W = int(s.w);
    Kokkos::parallel_for(
        "mcsc::csr_fusion::decision", Kokkos::RangePolicy<ExecSpace>(0, s1.size()), KOKKOS_LAMBDA(const std::int64_t id) {
          const Pixel p = unflatten(id, 1, H, W);
          d(p.n, 0, p.i, p.j) = aa(p.n, 0, p.i, p.j) > ab(p.n, 0, p.i, p.j) ? T(1) : T(0);
        });
    auto ca = out.codes_a, cb = out.codes_b;
    const int K = int(sc.c);
    Kokkos::parallel_for(
        "mcsc::csr_fusion::codes", Kokkos::RangePolicy<ExecSpace>(0, sc.size()), KOKKOS_LAMBDA(const std::int64_t id) {
          const Pixel p = unflatten(id, K, H, W);
          codes(p.n, p.c, p.i, p.j) = d(p.n, 0, p.i, p.j) > T(0.5) ? ca(p.n, p.c, p.i, p.j) : cb(p.n, p.c, p.i, p.j);
        });
    D.apply(codes, out.fused_detail);
    auto ba = out.base_a, bb = out.base_b, fb = out.fused_base, fd = out.fused_detail, f = out.fused;
    const bool choose = options.base_rule == FusionBaseRule::choose_max;
    const int C = int(s.c);
    Kokkos::parallel_for(
        "mcsc::csr_fusion::fuse", Kokkos::RangePolicy<ExecSpace>(0, s.size()), KOKKOS_LAMBDA(const std::int64_t id) {
          const Pixel p = unflatten(id, C, H, W);
          const T x = ba(p.n, p.c, p.i, p.j), y = bb(p.n, p.c, p.i, p.j);
          const T base = choose ? (d(p.n, 0, p.i, p.j) > T(0.5) ? x : y) : T(0.5) * (x + y);
          fb(p.n, p.c, p.i, p.j) = base;
          f(p.n, p.c, p.i, p.j) = base + fd(p.n, p.c, p.i, p.j);
        });
  }
  return out;
}

/// csr_fusion with a dictionary given by its weights (m, K, s, s): a ConvDictionary with
/// options.boundary (circular by default, as SPORCO's cbpdn in the reference).
template <class Weights, class A, class B>
std::enable_if_t<Kokkos::is_view<Weights>::value,
                 CsrFusionResult<typename Weights::non_const_value_type, typename Weights::execution_space>>
csr_fusion(const Weights& weights, const A& a, const B& b, const CsrFusionOptions& options = {}) {
  using T = typename Weights::non_const_value_type;
  using ExecSpace = typename Weights::execution_space;
  static_assert(is_tensor4_v<Weights>, "mcsc::csr_fusion: the weights must be a rank-4 LayoutRight view (m, K, s, s)");
  Tensor4<T, ExecSpace> w = weights;
  return csr_fusion(ConvDictionary<T, ExecSpace>(w, options.boundary), a, b, options);
}

}  // namespace mcsc
