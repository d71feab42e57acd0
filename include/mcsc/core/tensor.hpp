#pragma once
/// \file tensor.hpp
/// 4-D tensors (N, C, H, W) as Kokkos views with an explicit LayoutRight (W is the fastest
/// index on every backend), plus the small helpers everything else uses: create, fill, copy
/// to/from the host, elementwise arithmetic and reductions, comparison.
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <type_traits>

#include "mcsc/core/compat.hpp"
#include "mcsc/core/error.hpp"

namespace mcsc {

/// The Kokkos device type (execution space + its memory space) used for all mcsc views.
template <class ExecSpace>
using DeviceOf = Kokkos::Device<ExecSpace, typename ExecSpace::memory_space>;

/// (N, C, H, W) tensor of T living where ExecSpace runs.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
using Tensor4 = Kokkos::View<T****, Kokkos::LayoutRight, DeviceOf<ExecSpace>>;

/// 1-D vector (per-channel thresholds, filter norms, ...).
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
using Vector = Kokkos::View<T*, Kokkos::LayoutRight, DeviceOf<ExecSpace>>;

/// Shape of an (N, C, H, W) tensor.
struct Shape4 {
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  std::int64_t size() const { return n * c * h * w; }
  bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape4& o) const { return !(*this == o); }
};

inline std::ostream& operator<<(std::ostream& os, const Shape4& s) {
  return os << "(" << s.n << ", " << s.c << ", " << s.h << ", " << s.w << ")";
}

/// Traits: is V a rank-4 LayoutRight view (what mcsc's kernels accept)?
template <class V, class = void>
struct is_tensor4 : std::false_type {};
template <class V>
struct is_tensor4<V, std::enable_if_t<Kokkos::is_view<V>::value>>
    : std::integral_constant<bool, V::rank == 4 &&
                                       std::is_same<typename V::array_layout, Kokkos::LayoutRight>::value> {};
template <class V>
inline constexpr bool is_tensor4_v = is_tensor4<V>::value;

template <class V>
Shape4 shape_of(const V& v) {
  static_assert(V::rank == 4, "mcsc::shape_of: expects a rank-4 (N, C, H, W) view");
  return Shape4{std::int64_t(v.extent(0)), std::int64_t(v.extent(1)), std::int64_t(v.extent(2)),
                std::int64_t(v.extent(3))};
}

/// Allocates a zero-initialised (N, C, H, W) tensor.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> make_tensor(const std::string& label, const Shape4& s) {
  MCSC_REQUIRE(s.n >= 0 && s.c >= 0 && s.h >= 0 && s.w >= 0, "mcsc::make_tensor",
               "negative extent in shape " << s << " for '" << label << "'");
  return Tensor4<T, ExecSpace>(label, s.n, s.c, s.h, s.w);
}

/// Allocates a tensor of the same type and shape as v (zero-initialised).
template <class V>
auto make_tensor_like(const std::string& label, const V& v) {
  using Out = Kokkos::View<typename V::non_const_data_type, typename V::array_layout, typename V::device_type>;
  return Out(label, v.extent(0), v.extent(1), v.extent(2), v.extent(3));
}

/// (n, c, i, j) of the flat LayoutRight index id of an (N, C, H, W) tensor (unflatten()).
struct Pixel {
  int n, c, i, j;
};
KOKKOS_INLINE_FUNCTION Pixel unflatten(std::int64_t id, int C, int H, int W) {
  Pixel p;
  p.j = int(id % W);
  id /= W;
  p.i = int(id % H);
  id /= H;
  p.c = int(id % C);
  p.n = int(id / C);
  return p;
}

/// Runs f(n, c, i, j) once for every pixel of an (N, C, H, W) grid, in ExecSpace, a row (n, c, i)
/// at a time. On host spaces an iteration is a row, a plain loop over j, without the divisions
/// that unflatten() costs per pixel (a flat RangePolicy over unflatten() ran the FFT operator's
/// padding and the separable filters several times slower); on devices a team takes a row, its
/// threads along j, so that they read and write consecutive addresses. (A team per row on the host
/// too gave the depth task the same times; the plain loop needs none of the team machinery.) Rows
/// must fit in an int (Kokkos' league size).
template <class ExecSpace, class F>
void for_each_pixel(const char* label, const Shape4& s, const F& f) {
  const std::int64_t rows = s.n * s.c * s.h;
  if (rows == 0 || s.w == 0) return;
  MCSC_REQUIRE(rows <= std::int64_t(2147483647) && s.w <= std::int64_t(2147483647), label,
               "a grid of " << rows << " rows of " << s.w << " pixels is too large");
  const int C = int(s.c), H = int(s.h), W = int(s.w);
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace>(0, rows), KOKKOS_LAMBDA(const std::int64_t r) {
          const int row = int(r);
          const int i = row % H, c = (row / H) % C, n = row / H / C;
          for (int j = 0; j < W; ++j) f(n, c, i, j);
        });
  } else {
    using Policy = Kokkos::TeamPolicy<ExecSpace>;
    Kokkos::parallel_for(
        label, Policy(int(rows), Kokkos::AUTO), KOKKOS_LAMBDA(const typename Policy::member_type& team) {
          const int row = team.league_rank();
          const int i = row % H, c = (row / H) % C, n = row / H / C;
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, W), [&](const int j) { f(n, c, i, j); });
        });
  }
}

/// Checks that src and dst are non-empty images (N, C, H, W) of one shape, in one memory space,
/// small enough for int pixel arithmetic; throws naming fn. (The filters, resampling and
/// baselines check their operands with it.)
template <class Src, class Dst>
void require_same_image_shape(const char* fn, const Src& src, const Dst& dst) {
  static_assert(is_tensor4_v<Src> && is_tensor4_v<Dst>, "mcsc: src and dst must be rank-4 LayoutRight views (N, C, H, W)");
  static_assert(std::is_same<typename Src::memory_space, typename Dst::memory_space>::value,
                "mcsc: src and dst must live in the same memory space");
  const Shape4 ss = shape_of(src), sd = shape_of(dst);
  MCSC_REQUIRE(ss.size() > 0, fn, "empty tensor " << ss);
  MCSC_REQUIRE(ss == sd, fn, "src " << ss << " and dst " << sd << " differ in shape");
  MCSC_REQUIRE(ss.h <= std::numeric_limits<int>::max() / 2 && ss.w <= std::numeric_limits<int>::max() / 2 &&
                   ss.c <= std::numeric_limits<int>::max(),
               fn, "image too large: " << ss);
}

namespace Impl {
/// A contiguous view seen as a flat 1-D unmanaged view (for elementwise kernels of any rank).
template <class V>
auto flat(const V& v) {
  using T = typename V::value_type;
  MCSC_REQUIRE(v.span_is_contiguous(), "mcsc::Impl::flat", "view '" << v.label() << "' is not contiguous");
  return Kokkos::View<T*, Kokkos::LayoutRight, typename V::device_type, Kokkos::MemoryTraits<Kokkos::Unmanaged>>(
      v.data(), v.span());
}
template <class V>
using exec_of = typename V::execution_space;

template <class A, class B>
void require_same_shape(const char* function, const A& a, const B& b) {
  bool same = A::rank == B::rank;
  for (unsigned r = 0; same && r < A::rank; ++r) same = a.extent(r) == b.extent(r);
  if (!same) {
    std::ostringstream sa, sb;
    for (unsigned r = 0; r < A::rank; ++r) sa << (r ? ", " : "(") << a.extent(r);
    for (unsigned r = 0; r < B::rank; ++r) sb << (r ? ", " : "(") << b.extent(r);
    MCSC_REQUIRE(false, function, "shape mismatch: '" << a.label() << "' is " << sa.str() << ") but '"
                                                    << b.label() << "' is " << sb.str() << ")");
  }
}
}  // namespace Impl

/// Sets every element of v to value.
template <class V>
void fill(const V& v, typename V::value_type value) {
  Kokkos::deep_copy(v, value);
}

/// dst = src (same shape required).
template <class Dst, class Src>
void copy(const Dst& dst, const Src& src) {
  Impl::require_same_shape("mcsc::copy", dst, src);
  Kokkos::deep_copy(dst, src);
}

/// v readable on the host (same layout). For a view already in host memory this is v itself
/// (no copy, as Kokkos::create_mirror_view_and_copy): copy values out before changing v.
template <class V>
auto to_host(const V& v) {
  return Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
}

/// Copies host data (same shape) into v.
template <class V, class H>
void from_host(const V& v, const H& host) {
  Impl::require_same_shape("mcsc::from_host", v, host);
  auto m = Kokkos::create_mirror_view(v);
  Kokkos::deep_copy(m, host);
  Kokkos::deep_copy(v, m);
}

namespace Impl {
/// Fills v, in flat order, with samples of `dist` from std::mt19937_64(seed) on the host.
template <class V, class Distribution>
void fill_random(const V& v, std::uint64_t seed, Distribution dist) {
  auto h = Kokkos::create_mirror_view(v);
  auto hf = Impl::flat(h);
  std::mt19937_64 gen(seed);
  for (std::size_t i = 0; i < hf.extent(0); ++i) hf(i) = typename V::value_type(dist(gen));
  Kokkos::deep_copy(v, h);
}
}  // namespace Impl

/// Fills v with independent N(mean, stddev^2) samples from a seeded host generator, so the
/// values do not depend on the execution space.
template <class V>
void fill_normal(const V& v, std::uint64_t seed, double mean = 0.0, double stddev = 1.0) {
  Impl::fill_random(v, seed, std::normal_distribution<double>(mean, stddev));
}

/// Fills v with U(lo, hi) samples from a seeded host generator.
template <class V>
void fill_uniform(const V& v, std::uint64_t seed, double lo = 0.0, double hi = 1.0) {
  Impl::fill_random(v, seed, std::uniform_real_distribution<double>(lo, hi));
}

/// <a, b> accumulated in double.
template <class A, class B>
double dot(const A& a, const B& b) {
  Impl::require_same_shape("mcsc::dot", a, b);
  auto fa = Impl::flat(a);
  auto fb = Impl::flat(b);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::dot", Kokkos::RangePolicy<Impl::exec_of<A>>(0, fa.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) { acc += double(fa(i)) * double(fb(i)); }, result);
  return result;
}

/// ||a||_2^2 accumulated in double.
template <class A>
double sum_squares(const A& a) {
  return dot(a, a);
}

/// ||a||_1 accumulated in double.
template <class A>
double sum_abs(const A& a) {
  auto fa = Impl::flat(a);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::sum_abs", Kokkos::RangePolicy<Impl::exec_of<A>>(0, fa.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) { acc += math::fabs(double(fa(i))); }, result);
  return result;
}

/// ||a - b||_2^2 accumulated in double.
template <class A, class B>
double distance_squared(const A& a, const B& b) {
  Impl::require_same_shape("mcsc::distance_squared", a, b);
  auto fa = Impl::flat(a);
  auto fb = Impl::flat(b);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::distance_squared", Kokkos::RangePolicy<Impl::exec_of<A>>(0, fa.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) {
        const double d = double(fa(i)) - double(fb(i));
        acc += d * d;
      },
      result);
  return result;
}

/// max_i |a_i - b_i|.
template <class A, class B>
double max_abs_diff(const A& a, const B& b) {
  Impl::require_same_shape("mcsc::max_abs_diff", a, b);
  auto fa = Impl::flat(a);
  auto fb = Impl::flat(b);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::max_abs_diff", Kokkos::RangePolicy<Impl::exec_of<A>>(0, fa.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) {
        const double d = math::fabs(double(fa(i)) - double(fb(i)));
        if (d > acc) acc = d;
      },
      Kokkos::Max<double>(result));
  return result;
}

/// Number of NaN/Inf entries of a.
template <class A>
std::size_t count_nonfinite(const A& a) {
  auto fa = Impl::flat(a);
  std::size_t result = 0;
  Kokkos::parallel_reduce(
      "mcsc::count_nonfinite", Kokkos::RangePolicy<Impl::exec_of<A>>(0, fa.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, std::size_t& acc) { acc += math::isfinite(fa(i)) ? 0 : 1; }, result);
  return result;
}

/// Throws mcsc::Error naming `function` when a holds NaN or Inf.
template <class A>
void require_finite(const char* function, const A& a) {
  const std::size_t bad = count_nonfinite(a);
  MCSC_REQUIRE(bad == 0, function, "'" << a.label() << "' holds " << bad << " NaN/Inf value(s)");
}

/// y = alpha * x + beta * y.
template <class X, class Y>
void axpby(typename Y::value_type alpha, const X& x, typename Y::value_type beta, const Y& y) {
  Impl::require_same_shape("mcsc::axpby", x, y);
  auto fx = Impl::flat(x);
  auto fy = Impl::flat(y);
  Kokkos::parallel_for(
      "mcsc::axpby", Kokkos::RangePolicy<Impl::exec_of<Y>>(0, fy.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { fy(i) = alpha * fx(i) + beta * fy(i); });
}

/// z = alpha * x + beta * y (z may alias x or y).
template <class X, class Y, class Z>
void lincomb(typename Z::value_type alpha, const X& x, typename Z::value_type beta, const Y& y, const Z& z) {
  Impl::require_same_shape("mcsc::lincomb", x, y);
  Impl::require_same_shape("mcsc::lincomb", x, z);
  auto fx = Impl::flat(x);
  auto fy = Impl::flat(y);
  auto fz = Impl::flat(z);
  Kokkos::parallel_for(
      "mcsc::lincomb", Kokkos::RangePolicy<Impl::exec_of<Z>>(0, fz.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { fz(i) = alpha * fx(i) + beta * fy(i); });
}

/// y *= alpha.
template <class Y>
void scale(const Y& y, typename Y::value_type alpha) {
  auto fy = Impl::flat(y);
  Kokkos::parallel_for(
      "mcsc::scale", Kokkos::RangePolicy<Impl::exec_of<Y>>(0, fy.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) { fy(i) *= alpha; });
}

/// out (N, Ca + Cb, H, W) = a (N, Ca, H, W) and b (N, Cb, H, W) stacked on the channel axis.
template <class A, class B, class Out>
void concat_channels(const A& a, const B& b, const Out& out) {
  const Shape4 sa = shape_of(a), sb = shape_of(b), so = shape_of(out);
  MCSC_REQUIRE(sa.n == sb.n && sa.h == sb.h && sa.w == sb.w && so == (Shape4{sa.n, sa.c + sb.c, sa.h, sa.w}),
               "mcsc::concat_channels", "cannot stack " << sa << " and " << sb << " into " << so);
  Kokkos::deep_copy(Kokkos::subview(out, Kokkos::ALL, std::make_pair(0, int(sa.c)), Kokkos::ALL, Kokkos::ALL), a);
  Kokkos::deep_copy(Kokkos::subview(out, Kokkos::ALL, std::make_pair(int(sa.c), int(sa.c + sb.c)), Kokkos::ALL,
                                    Kokkos::ALL),
                    b);
}

/// The inverse of concat_channels: a = in[:, :Ca], b = in[:, Ca:].
template <class In, class A, class B>
void split_channels(const In& in, const A& a, const B& b) {
  const Shape4 sa = shape_of(a), sb = shape_of(b), si = shape_of(in);
  MCSC_REQUIRE(sa.n == sb.n && sa.h == sb.h && sa.w == sb.w && si == (Shape4{sa.n, sa.c + sb.c, sa.h, sa.w}),
               "mcsc::split_channels", "cannot split " << si << " into " << sa << " and " << sb);
  Kokkos::deep_copy(a, Kokkos::subview(in, Kokkos::ALL, std::make_pair(0, int(sa.c)), Kokkos::ALL, Kokkos::ALL));
  Kokkos::deep_copy(b, Kokkos::subview(in, Kokkos::ALL, std::make_pair(int(sa.c), int(sa.c + sb.c)), Kokkos::ALL,
                                       Kokkos::ALL));
}

}  // namespace mcsc
