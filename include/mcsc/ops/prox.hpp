#pragma once
/// \file prox.hpp
/// Elementwise proximal operators with one parameter per channel, and their derivatives.
///
/// Soft thresholding (prox of theta |u|):      S_theta(v) = sign(v) max(|v| - theta, 0)
/// (for theta < 0 not a prox any more, but the formula learned networks use; see below)
/// l1-l1 prox with side information s (LMCSC paper eq. 3, Mota et al.):
///     xi_mu(v; s) = argmin_u 1/2 (u - v)^2 + mu (|u| + |u - s|)
/// in closed form, for s >= 0:
///     v + 2mu        if v < -2mu
///     0              if -2mu <= v <= 0
///     v              if 0 < v < s
///     s              if s <= v <= s + 2mu
///     v - 2mu        if v > s + 2mu
/// and for s < 0 by the symmetry xi_mu(v; s) = -xi_mu(-v; -s).
/// Derivatives are those of the piece v lies in (at a kink, the piece named first above).
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// Which proximal operator a step applies: soft thresholding (the l1 norm; CBPDN, LCSC, CU-Net)
/// or the l1-l1 prox with side information (coupled l1-l1, LMCSC).
enum class ProxKind { soft_threshold, l1l1 };

/// S_theta(v) = sign(v) max(|v| - theta, 0) for one value, in exactly this form so that it is
/// also right for a negative (learned, unclamped) theta: then every non-zero v moves away from 0
/// by |theta| and S(0) = 0 (trained CU-Net weights have such thresholds).
template <class T>
KOKKOS_INLINE_FUNCTION T soft_threshold_value(T v, T theta) {
  const T m = (v < T(0) ? -v : v) - theta;
  if (m > T(0)) return v > T(0) ? m : (v < T(0) ? -m : T(0));
  return m != m ? m : T(0);  // NaN in, NaN out: never hide bad values
}

/// Whether S_theta passes v through (derivative 1 in v, -sign(v) in theta) or gives 0.
template <class T>
KOKKOS_INLINE_FUNCTION bool soft_threshold_active(T v, T theta) {
  return v != T(0) && (v < T(0) ? -v : v) > theta;
}

/// Partial derivatives of xi_mu(v; s) with respect to v, s and mu.
template <class T>
struct L1L1Derivatives {
  T dv, ds, dmu;
};

/// xi_mu(v; s) for one value; writes its partial derivatives to *d when d is not null.
template <class T>
KOKKOS_INLINE_FUNCTION T l1l1_prox_value(T v, T s, T mu, L1L1Derivatives<T>* d = nullptr) {
  // Reduce s < 0 to s >= 0: xi(v; s) = -xi(-v; -s), so d/dv and d/ds keep their sign, d/dmu flips.
  const T sg = s < T(0) ? T(-1) : T(1);
  const T a = sg * v, b = sg * s;
  T u, dv = 0, ds = 0, dmu = 0;
  if (a < -2 * mu) {
    u = a + 2 * mu, dv = 1, dmu = 2;
  } else if (a <= T(0)) {
    u = 0;
  } else if (a < b) {
    u = a, dv = 1;
  } else if (a <= b + 2 * mu) {
    u = b, ds = 1;
  } else {
    u = a - 2 * mu, dv = 1, dmu = -2;
  }
  if (d) {
    d->dv = dv;
    d->ds = ds;
    d->dmu = sg * dmu;
  }
  return sg * u;
}

namespace Impl {
/// Shapes always; with check_values also the values (finite, and >= 0 where required): two
/// reductions read back to the host, which a network's stage skips (check_values = false) since
/// its parameters are checked when loaded and by the trainer after every step.
template <class V, class P>
void check_per_channel(const char* function, const V& v, const P& param, const char* name, bool require_nonnegative,
                       bool check_values = true) {
  static_assert(is_tensor4_v<V>, "mcsc prox operators: tensors must be rank-4 LayoutRight views");
  MCSC_REQUIRE(v.size() > 0, function, "zero-size tensor '" << v.label() << "' " << shape_of(v));
  MCSC_REQUIRE(param.extent(0) == v.extent(1) || param.extent(0) == 1, function,
               name << " has " << param.extent(0) << " entries but '" << v.label() << "' " << shape_of(v) << " has "
                    << v.extent(1) << " channels (give one per channel, or one for all)");
  if (!check_values) return;
  double smallest = 0;
  std::size_t nonfinite = 0;
  Kokkos::parallel_reduce(
      "mcsc::prox::check", Kokkos::RangePolicy<typename V::execution_space>(0, param.extent(0)),
      KOKKOS_LAMBDA(const std::size_t c, double& lo) {
        if (double(param(c)) < lo) lo = double(param(c));
      },
      Kokkos::Min<double>(smallest));
  Kokkos::parallel_reduce(
      "mcsc::prox::check_finite", Kokkos::RangePolicy<typename V::execution_space>(0, param.extent(0)),
      KOKKOS_LAMBDA(const std::size_t c, std::size_t& bad) { bad += math::isfinite(param(c)) ? 0 : 1; }, nonfinite);
  MCSC_REQUIRE(nonfinite == 0, function, name << " holds NaN/Inf");
  MCSC_REQUIRE(!require_nonnegative || smallest >= 0, function,
               name << " must be >= 0 but its smallest entry is " << smallest);
}

/// A per-channel parameter view, or a single value broadcast to every channel.
template <class P>
struct ChannelParameter {
  P view;
  bool broadcast;
  explicit ChannelParameter(const P& p) : view(p), broadcast(p.extent(0) == 1) {}
  KOKKOS_INLINE_FUNCTION typename P::value_type operator()(std::int64_t c) const { return view(broadcast ? 0 : c); }
};

/// Elements per team of for_each_in_planes / per_channel_sum: a plane (one image and channel) is
/// split into pieces of at most this many, so that one large plane still feeds every thread.
inline constexpr int kPlanePiece = 16384;

/// f(p, k) for every plane p < planes (p = n * C + c of an (N, C, H, W) tensor) and every element
/// k < hw of it: teams over pieces of planes, their threads over the piece's contiguous elements
/// (no division per element: on the host the inner loop is a plain, vectorisable loop).
template <class ExecSpace, class F>
void for_each_in_planes(const char* label, std::int64_t planes, int hw, const F& f) {
  using policy = Kokkos::TeamPolicy<ExecSpace>;
  using member = typename policy::member_type;
  const int pieces = (hw + kPlanePiece - 1) / kPlanePiece, piece = (hw + pieces - 1) / pieces;
  Kokkos::parallel_for(
      label, policy(planes * pieces, Kokkos::AUTO), KOKKOS_LAMBDA(const member& team) {
        const std::int64_t p = team.league_rank() / pieces;
        const int k0 = int(team.league_rank() % pieces) * piece, k1 = k0 + piece < hw ? k0 + piece : hw;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, k0, k1), [&](const int k) { f(p, k); });
      });
}

/// Sum over k in [k0, k1) of double(g(k)) by the threads of a team, in blocks of 16 consecutive
/// elements: each block's 16 terms are independent (the host compiler vectorises them) and added
/// pairwise, so only one addition per block waits for the previous one. The order is fixed by
/// k0, k1 and the team size.
template <class Member, class G>
KOKKOS_INLINE_FUNCTION double team_sum(const Member& team, int k0, int k1, const G& g) {
  constexpr int L = 16;
  double total = 0;
  Kokkos::parallel_reduce(
      Kokkos::TeamThreadRange(team, 0, (k1 - k0 + L - 1) / L),
      [&](const int b, double& acc) {
        const int kb = k0 + b * L;
        double t[L];
        if (kb + L <= k1) {
          for (int j = 0; j < L; ++j) t[j] = double(g(kb + j));
        } else {
          for (int j = 0; j < L; ++j) t[j] = kb + j < k1 ? double(g(kb + j)) : 0.0;
        }
        for (int w = L / 2; w > 0; w /= 2)
          for (int j = 0; j < w; ++j) t[j] += t[j + w];
        acc += t[0];
      },
      total);
  return total;
}

/// Sum over (n, h, w) of f(n, c, k) (k = h * W + w) for every channel c, added into out(c); or,
/// when out has one entry, the sum over everything added into out(0). Sums in double, in an order
/// fixed by the shape and the thread count (no atomics), so training runs repeat bit for bit.
///
/// A single out with a workspace of at least C doubles: the per-channel sums go to the workspace
/// and one kernel adds them, in channel order, to out(0), so that nothing is read back to the
/// host (without it, one parallel_reduce into a host scalar, spread over pieces of planes).
template <class ExecSpace, class Out, class F, class W = Kokkos::View<double*, typename Out::memory_space>>
void per_channel_sum(const char* label, int N, int C, int HW, const Out& out, const F& f, const W& workspace = W()) {
  using T = typename Out::value_type;
  using policy = Kokkos::TeamPolicy<ExecSpace>;
  using member = typename policy::member_type;
  if (out.extent(0) == 1 && workspace.data() != nullptr) {
    MCSC_REQUIRE(workspace.extent(0) >= std::size_t(C), label,
                 "workspace of " << workspace.extent(0) << " entries for " << C << " channels");
    Kokkos::parallel_for(
        label, policy(C, Kokkos::AUTO), KOKKOS_LAMBDA(const member& team) {
          const int c = team.league_rank();
          double total = 0;
          for (int n = 0; n < N; ++n) total += team_sum(team, 0, HW, [&](const int k) { return f(n, c, k); });
          Kokkos::single(Kokkos::PerTeam(team), [&]() { workspace(c) = total; });
        });
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace>(0, 1), KOKKOS_LAMBDA(const int) {
          double total = 0;
          for (int c = 0; c < C; ++c) total += workspace(c);
          out(0) += T(total);
        });
    return;
  }
  if (out.extent(0) == 1) {
    const int pieces = (HW + kPlanePiece - 1) / kPlanePiece, piece = (HW + pieces - 1) / pieces;
    double total = 0;
    Kokkos::parallel_reduce(
        label, policy(std::int64_t(N) * C * pieces, Kokkos::AUTO),
        KOKKOS_LAMBDA(const member& team, double& acc) {
          const std::int64_t p = team.league_rank() / pieces;
          const int n = int(p / C), c = int(p % C);
          const int k0 = int(team.league_rank() % pieces) * piece, k1 = k0 + piece < HW ? k0 + piece : HW;
          const double part = team_sum(team, k0, k1, [&](const int k) { return f(n, c, k); });
          Kokkos::single(Kokkos::PerTeam(team), [&]() { acc += part; });
        },
        total);
    Kokkos::parallel_for(
        label, Kokkos::RangePolicy<ExecSpace>(0, 1), KOKKOS_LAMBDA(const int) { out(0) += T(total); });
    return;
  }
  Kokkos::parallel_for(
      label, policy(C, Kokkos::AUTO), KOKKOS_LAMBDA(const member& team) {
        const int c = team.league_rank();
        double total = 0;
        for (int n = 0; n < N; ++n) total += team_sum(team, 0, HW, [&](const int k) { return f(n, c, k); });
        Kokkos::single(Kokkos::PerTeam(team), [&]() { out(c) += T(total); });
      });
}
}  // namespace Impl

/// out = S_theta(v), theta (C) one threshold per channel of v (N, C, H, W), or (1) one for all
/// channels; out may be v.
/// Thresholds must be >= 0 unless require_nonnegative is false (learned thresholds, unclamped);
/// check_values = false skips the check of their values (Impl::check_per_channel).
template <class V, class Theta, class Out>
void soft_threshold(const V& v, const Theta& theta, const Out& out, bool require_nonnegative = true,
                    bool check_values = true) {
  Impl::check_per_channel("mcsc::soft_threshold", v, theta, "threshold", require_nonnegative, check_values);
  Impl::require_same_shape("mcsc::soft_threshold", v, out);
  const std::int64_t C = v.extent(1), HW = std::int64_t(v.extent(2)) * v.extent(3);
  auto fv = Impl::flat(v);
  auto fo = Impl::flat(out);
  const Impl::ChannelParameter<Theta> th(theta);
  Impl::for_each_in_planes<typename V::execution_space>(
      "mcsc::soft_threshold", std::int64_t(v.extent(0)) * C, int(HW), KOKKOS_LAMBDA(const std::int64_t p, const int k) {
        const std::int64_t i = p * HW + k;
        fo(i) = soft_threshold_value(fv(i), th(p % C));
      });
}

/// Backward of out = S_theta(v): grad_v = grad_out * [|v| > theta] (overwritten, may alias
/// grad_out) and grad_theta(c) += -sum grad_out * sign(v) * [|v| > theta]. check_values and a
/// workspace of C doubles (for a single threshold): no read-back (Impl::per_channel_sum).
template <class V, class Theta, class G, class GV, class GTheta,
          class W = Kokkos::View<double*, typename GTheta::memory_space>>
void soft_threshold_backward(const V& v, const Theta& theta, const G& grad_out, const GV& grad_v,
                             const GTheta& grad_theta, bool check_values = true, const W& workspace = W()) {
  Impl::check_per_channel("mcsc::soft_threshold_backward", v, theta, "threshold", false, check_values);
  Impl::require_same_shape("mcsc::soft_threshold_backward", v, grad_out);
  Impl::require_same_shape("mcsc::soft_threshold_backward", v, grad_v);
  Impl::require_same_shape("mcsc::soft_threshold_backward", theta, grad_theta);
  using ExecSpace = typename V::execution_space;
  using T = typename GV::value_type;
  const int N = int(v.extent(0)), C = int(v.extent(1)), HW = int(v.extent(2) * v.extent(3));
  auto fv = Impl::flat(v);
  auto fg = Impl::flat(grad_out);
  auto fgv = Impl::flat(grad_v);
  const Impl::ChannelParameter<Theta> th(theta);
  // Both loops load every operand and then select (no load behind a data-dependent branch), and
  // the theta derivative is written as two plain selects: S is active for x > t or x < -t with
  // t = max(theta, 0) (all non-zero x for a negative theta), where it is -sign(x) g. GCC
  // vectorises these forms; with soft_threshold_active and sign it made branches, mispredicted
  // for half the elements (12x slower).
  Impl::per_channel_sum<ExecSpace>("mcsc::soft_threshold_backward::theta", N, C, HW, grad_theta,
                                   KOKKOS_LAMBDA(int n, int c, int k) {
                                     const std::int64_t i = (std::int64_t(n) * C + c) * HW + k;
                                     const T x = fv(i), g = fg(i), t = math::max(T(th(c)), T(0));
                                     return (x > t ? -g : T(0)) + (x < -t ? g : T(0));
                                   },
                                   workspace);
  Impl::for_each_in_planes<ExecSpace>(
      "mcsc::soft_threshold_backward", std::int64_t(N) * C, HW, KOKKOS_LAMBDA(const std::int64_t p, const int k) {
        const std::int64_t i = p * HW + k;
        const T x = fv(i), g = fg(i);
        fgv(i) = soft_threshold_active(x, T(th(p % C))) ? g : T(0);
      });
}

/// out = xi_mu(v; s), mu (C) one parameter per channel (or (1) for all); v, s, out (N, C, H, W);
/// out may be v.
template <class V, class S, class Mu, class Out>
void l1l1_prox(const V& v, const S& s, const Mu& mu, const Out& out, bool require_nonnegative = true,
               bool check_values = true) {
  Impl::check_per_channel("mcsc::l1l1_prox", v, mu, "mu", require_nonnegative, check_values);
  Impl::require_same_shape("mcsc::l1l1_prox", v, s);
  Impl::require_same_shape("mcsc::l1l1_prox", v, out);
  const std::int64_t C = v.extent(1), HW = std::int64_t(v.extent(2)) * v.extent(3);
  auto fv = Impl::flat(v);
  auto fs = Impl::flat(s);
  auto fo = Impl::flat(out);
  const Impl::ChannelParameter<Mu> m(mu);
  Impl::for_each_in_planes<typename V::execution_space>(
      "mcsc::l1l1_prox", std::int64_t(v.extent(0)) * C, int(HW), KOKKOS_LAMBDA(const std::int64_t p, const int k) {
        const std::int64_t i = p * HW + k;
        fo(i) = l1l1_prox_value(fv(i), fs(i), m(p % C));
      });
}

/// Backward of out = xi_mu(v; s): grad_v = grad_out * d/dv, grad_s = grad_out * d/ds (both
/// overwritten; grad_v may alias grad_out), grad_mu(c) += sum grad_out * d/dmu. check_values and
/// workspace as for soft_threshold_backward.
template <class V, class S, class Mu, class G, class GV, class GS, class GMu,
          class W = Kokkos::View<double*, typename GMu::memory_space>>
void l1l1_prox_backward(const V& v, const S& s, const Mu& mu, const G& grad_out, const GV& grad_v, const GS& grad_s,
                        const GMu& grad_mu, bool check_values = true, const W& workspace = W()) {
  Impl::check_per_channel("mcsc::l1l1_prox_backward", v, mu, "mu", false, check_values);
  Impl::require_same_shape("mcsc::l1l1_prox_backward", v, s);
  Impl::require_same_shape("mcsc::l1l1_prox_backward", v, grad_out);
  Impl::require_same_shape("mcsc::l1l1_prox_backward", v, grad_v);
  Impl::require_same_shape("mcsc::l1l1_prox_backward", v, grad_s);
  Impl::require_same_shape("mcsc::l1l1_prox_backward", mu, grad_mu);
  using ExecSpace = typename V::execution_space;
  using T = typename GV::value_type;
  const int N = int(v.extent(0)), C = int(v.extent(1)), HW = int(v.extent(2) * v.extent(3));
  auto fv = Impl::flat(v);
  auto fs = Impl::flat(s);
  auto fg = Impl::flat(grad_out);
  auto fgv = Impl::flat(grad_v);
  auto fgs = Impl::flat(grad_s);
  const Impl::ChannelParameter<Mu> m(mu);
  Impl::per_channel_sum<ExecSpace>("mcsc::l1l1_prox_backward::mu", N, C, HW, grad_mu,
                                   KOKKOS_LAMBDA(int n, int c, int k) {
                                     const std::int64_t i = (std::int64_t(n) * C + c) * HW + k;
                                     L1L1Derivatives<T> d;
                                     l1l1_prox_value(T(fv(i)), T(fs(i)), T(m(c)), &d);
                                     return fg(i) * d.dmu;
                                   },
                                   workspace);
  Impl::for_each_in_planes<ExecSpace>(
      "mcsc::l1l1_prox_backward", std::int64_t(N) * C, HW, KOKKOS_LAMBDA(const std::int64_t p, const int k) {
        const std::int64_t i = p * HW + k;
        L1L1Derivatives<T> d;
        l1l1_prox_value(T(fv(i)), T(fs(i)), T(m(p % C)), &d);
        const T g = fg(i);
        fgs(i) = g * d.ds;
        fgv(i) = g * d.dv;
      });
}

}  // namespace mcsc
