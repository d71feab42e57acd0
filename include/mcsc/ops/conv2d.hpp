#pragma once
/// \file conv2d.hpp
/// Direct 2-D convolution, batched and multi-channel, with its adjoint and weight gradient.
///
/// Convention (as PyTorch's `conv2d`, and as both papers' code): the convolution is a
/// cross-correlation (no kernel flip), stride 1, no bias, "same" output size:
///
///     y[n,o,i,j] = sum_{c,p,q} w[o,c,p,q] * x[n, c, i + p - pt, j + q - pl]
///
/// with pt = (kh-1)/2 rows before and kh/2 after (pl = (kw-1)/2 columns before, kw/2 after).
/// For odd kernels that is symmetric; for even kernels the extra row/column of padding is at the
/// bottom/right, exactly as PyTorch's `padding='same'`. Outside the image x is zero
/// (Boundary::zero), or wraps around periodically (Boundary::circular).
///
/// In the sparse-coding notation of the papers, a dictionary D with K filters of size s x s for
/// an m-channel signal is the weight w of shape (m, K, s, s): `D*U = conv2d(U, w)` maps codes
/// (N, K, H, W) to signals (N, m, H, W) and `D'*R = conv2d_adjoint(R, w)` maps back.
///
/// Kernels: `conv2d`, `conv2d_adjoint` and `conv2d_weight_grad` dispatch (Conv2dOptions::kernel).
/// By default, on execution spaces that run on the host (Serial, OpenMP, ...) they use the
/// register-blocked kernels of conv2d_blocked.hpp (the input rows a tile needs are staged in team
/// scratch, zero-padded or, for Boundary::circular, wrapped, and each inner step updates a block
/// of output channels x rows x vector columns held in registers); on device spaces (CUDA) with
/// Boundary::zero, the team-scratch kernels of conv2d_team.hpp (a team per output tile, input
/// halo and weights staged cooperatively in team scratch, no atomics, a deterministic two-level
/// reduction for the weight gradient), which ConvKernel::team also selects on the host.
/// Everywhere else (Boundary::circular on a device, mixed scalar types, or a shape whose tiles
/// would not fit the kernels' scratch) they use the generic gather kernels `conv2d_reference`,
/// `conv2d_adjoint_reference` and `conv2d_weight_grad_reference`: one output element (or weight)
/// per iteration, simple enough to be obviously right, and the reference the other kernels are
/// tested against (tests/test_conv2d.cpp).
#include <type_traits>

#include "mcsc/core/tensor.hpp"
#include "mcsc/ops/conv2d_blocked.hpp"
#include "mcsc/ops/conv2d_team.hpp"

namespace mcsc {

/// What lies outside the image.
enum class Boundary { zero, circular };

inline const char* to_string(Boundary b) { return b == Boundary::zero ? "zero" : "circular"; }

/// Which kernel computes a convolution (the file comment says what each is).
enum class ConvKernel {
  automatic,  ///< the blocked kernels on host spaces (both boundaries), the team kernels on device spaces (zero boundary)
  team,       ///< the team-scratch kernels of conv2d_team.hpp, on any space (zero boundary)
  reference   ///< the generic gather kernels, always
};

/// Options common to the convolution routines.
struct Conv2dOptions {
  Boundary boundary = Boundary::zero;
  /// false: the output is overwritten; true: the result is added to it (gradients accumulate).
  bool accumulate = false;
  /// Which kernel; a kernel that cannot take the operands (the team kernels a circular boundary,
  /// a tile beyond its scratch) leaves them to the reference kernels.
  ConvKernel kernel = ConvKernel::automatic;
};

/// Padding before the first row/column for a kernel of size s ("same" convention above).
KOKKOS_INLINE_FUNCTION constexpr int same_pad_before(int s) { return (s - 1) / 2; }

namespace Impl {

/// Checks that x (N,C,H,W), w (O,C,kh,kw) and y (N,O,H,W) fit together; throws naming function.
template <class X, class Wt, class Y>
void check_conv_shapes(const char* function, const X& x, const Wt& w, const Y& y) {
  const Shape4 sx = shape_of(x), sw = shape_of(w), sy = shape_of(y);
  MCSC_REQUIRE(sx.size() > 0 && sw.size() > 0 && sy.size() > 0, function,
               "zero-size tensor: input " << sx << ", weight " << sw << ", output " << sy);
  MCSC_REQUIRE(sw.c == sx.c, function,
               "weight " << sw << " expects " << sw.c << " input channels but input is " << sx);
  MCSC_REQUIRE(sy.n == sx.n && sy.c == sw.n && sy.h == sx.h && sy.w == sx.w, function,
               "output " << sy << " does not match input " << sx << " and weight " << sw << " (expected ("
                         << sx.n << ", " << sw.n << ", " << sx.h << ", " << sx.w << "))");
  MCSC_REQUIRE(sw.h <= sx.h && sw.w <= sx.w, function,
               "kernel " << sw.h << "x" << sw.w << " of weight " << sw << " is larger than the image " << sx.h
                         << "x" << sx.w << " of input " << sx);
}

// (wrap_index, the periodic index of Boundary::circular: ops/blocked/common.hpp)

/// Can the blocked host kernels of conv2d_blocked.hpp take these operands? (A host execution
/// space, one floating-point scalar type for all three, writable output.)
template <class Out, class A, class B>
inline constexpr bool blocked_conv_types_v =
    blocked::use_blocked_kernels_v<typename Out::execution_space> &&
    std::is_floating_point<typename Out::non_const_value_type>::value &&
    std::is_same<typename Out::value_type, typename Out::non_const_value_type>::value &&
    std::is_same<typename A::non_const_value_type, typename Out::non_const_value_type>::value &&
    std::is_same<typename B::non_const_value_type, typename Out::non_const_value_type>::value;

/// Can the team kernels of conv2d_team.hpp take these operands? (One floating-point scalar type
/// for all three, writable output; any execution space.)
template <class Out, class A, class B>
inline constexpr bool team_conv_types_v =
    std::is_floating_point<typename Out::non_const_value_type>::value &&
    std::is_same<typename Out::value_type, typename Out::non_const_value_type>::value &&
    std::is_same<typename A::non_const_value_type, typename Out::non_const_value_type>::value &&
    std::is_same<typename B::non_const_value_type, typename Out::non_const_value_type>::value;

/// Whether the team kernels run: asked for, or the default on a device space; zero boundary.
template <class ExecSpace>
bool use_team_kernels(const Conv2dOptions& options) {
  if (options.boundary != Boundary::zero) return false;
  if (options.kernel == ConvKernel::team) return true;
  return options.kernel == ConvKernel::automatic && !blocked::use_blocked_kernels_v<ExecSpace>;
}

/// The blocked kernels' operands of y = conv2d(x, w) (zero boundary, no accumulation: the caller sets those).
template <class X, class Wt, class Y>
blocked::CorrelationArgs<typename Y::non_const_value_type> forward_correlation_args(const X& x, const Wt& w,
                                                                                   const Y& y) {
  blocked::CorrelationArgs<typename Y::non_const_value_type> a;
  a.in = x.data();
  a.in_sn = x.stride(0), a.in_sc = x.stride(1), a.in_sh = x.stride(2);
  a.out = y.data();
  a.out_sn = y.stride(0), a.out_sc = y.stride(1), a.out_sh = y.stride(2);
  a.w = w.data();
  a.w0 = 0, a.wso = w.stride(0), a.wsc = w.stride(1), a.wsp = w.stride(2), a.wsq = w.stride(3);
  a.N = int(x.extent(0)), a.Cin = int(x.extent(1)), a.H = int(x.extent(2)), a.W = int(x.extent(3));
  a.Cout = int(w.extent(0)), a.KH = int(w.extent(2)), a.KW = int(w.extent(3));
  a.pt = same_pad_before(a.KH), a.pl = same_pad_before(a.KW);
  return a;
}

}  // namespace Impl

/// y = conv2d(x, w) by the generic gather kernel (one output element per iteration, any
/// execution space and boundary): the reference the blocked kernels are tested against.
/// Same arguments and semantics as conv2d.
template <class X, class Wt, class Y>
void conv2d_reference(const X& x, const Wt& w, const Y& y, Conv2dOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<Wt> && is_tensor4_v<Y>,
                "mcsc::conv2d_reference: x, w, y must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d_reference", x, w, y);
  using T = typename Y::value_type;
  const int N = int(x.extent(0)), C = int(x.extent(1)), H = int(x.extent(2)), W = int(x.extent(3));
  const int O = int(w.extent(0)), KH = int(w.extent(2)), KW = int(w.extent(3));
  const int pt = same_pad_before(KH), pl = same_pad_before(KW);
  const bool circular = options.boundary == Boundary::circular;
  const bool accumulate = options.accumulate;
  Kokkos::parallel_for(
      "mcsc::conv2d_reference", Kokkos::RangePolicy<typename Y::execution_space>(0, std::int64_t(N) * O * H * W),
      KOKKOS_LAMBDA(const std::int64_t idx) {
        const auto [n, o, i, j] = unflatten(idx, O, H, W);
        T acc = 0;
        if (circular) {
          for (int c = 0; c < C; ++c)
            for (int p = 0; p < KH; ++p) {
              const int r = Impl::wrap_index(i + p - pt, H);
              for (int q = 0; q < KW; ++q) acc += w(o, c, p, q) * x(n, c, r, Impl::wrap_index(j + q - pl, W));
            }
        } else {
          const int p0 = math::max(0, pt - i), p1 = math::min(KH, H + pt - i);
          const int q0 = math::max(0, pl - j), q1 = math::min(KW, W + pl - j);
          for (int c = 0; c < C; ++c)
            for (int p = p0; p < p1; ++p)
              for (int q = q0; q < q1; ++q) acc += w(o, c, p, q) * x(n, c, i + p - pt, j + q - pl);
        }
        y(n, o, i, j) = accumulate ? y(n, o, i, j) + acc : acc;
      });
}

/// x = conv2d_adjoint(y, w) by the generic gather kernel: the reference (see conv2d_reference).
/// Same arguments and semantics as conv2d_adjoint.
template <class Y, class Wt, class X>
void conv2d_adjoint_reference(const Y& y, const Wt& w, const X& x, Conv2dOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<Wt> && is_tensor4_v<Y>,
                "mcsc::conv2d_adjoint_reference: y, w, x must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d_adjoint_reference", x, w, y);
  using T = typename X::value_type;
  const int N = int(x.extent(0)), C = int(x.extent(1)), H = int(x.extent(2)), W = int(x.extent(3));
  const int O = int(w.extent(0)), KH = int(w.extent(2)), KW = int(w.extent(3));
  const int pt = same_pad_before(KH), pl = same_pad_before(KW);
  const bool circular = options.boundary == Boundary::circular;
  const bool accumulate = options.accumulate;
  Kokkos::parallel_for(
      "mcsc::conv2d_adjoint_reference",
      Kokkos::RangePolicy<typename X::execution_space>(0, std::int64_t(N) * C * H * W),
      KOKKOS_LAMBDA(const std::int64_t idx) {
        const auto [n, c, r, u] = unflatten(idx, C, H, W);
        T acc = 0;
        if (circular) {
          for (int o = 0; o < O; ++o)
            for (int p = 0; p < KH; ++p) {
              const int i = Impl::wrap_index(r - p + pt, H);
              for (int q = 0; q < KW; ++q) acc += w(o, c, p, q) * y(n, o, i, Impl::wrap_index(u - q + pl, W));
            }
        } else {
          const int p0 = math::max(0, r + pt - H + 1), p1 = math::min(KH, r + pt + 1);
          const int q0 = math::max(0, u + pl - W + 1), q1 = math::min(KW, u + pl + 1);
          for (int o = 0; o < O; ++o)
            for (int p = p0; p < p1; ++p)
              for (int q = q0; q < q1; ++q) acc += w(o, c, p, q) * y(n, o, r - p + pt, u - q + pl);
        }
        x(n, c, r, u) = accumulate ? x(n, c, r, u) + acc : acc;
      });
}

/// gw = conv2d_weight_grad(x, gy) by the generic kernel, one weight per iteration, each
/// reducing over N x H x W: the reference (see conv2d_reference). Same arguments and semantics
/// as conv2d_weight_grad.
template <class X, class GY, class GW>
void conv2d_weight_grad_reference(const X& x, const GY& gy, const GW& gw, Conv2dOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<GY> && is_tensor4_v<GW>,
                "mcsc::conv2d_weight_grad_reference: x, gy, gw must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d_weight_grad_reference", x, gw, gy);
  using T = typename GW::value_type;
  const int N = int(x.extent(0)), C = int(x.extent(1)), H = int(x.extent(2)), W = int(x.extent(3));
  const int O = int(gw.extent(0)), KH = int(gw.extent(2)), KW = int(gw.extent(3));
  const int pt = same_pad_before(KH), pl = same_pad_before(KW);
  const bool circular = options.boundary == Boundary::circular;
  const bool accumulate = options.accumulate;
  Kokkos::parallel_for(
      "mcsc::conv2d_weight_grad_reference",
      Kokkos::RangePolicy<typename GW::execution_space>(0, std::int64_t(O) * C * KH * KW),
      KOKKOS_LAMBDA(const std::int64_t idx) {
        const auto [o, c, p, q] = unflatten(idx, C, KH, KW);
        T acc = 0;
        if (circular) {
          for (int n = 0; n < N; ++n)
            for (int i = 0; i < H; ++i) {
              const int r = Impl::wrap_index(i + p - pt, H);
              for (int j = 0; j < W; ++j) acc += gy(n, o, i, j) * x(n, c, r, Impl::wrap_index(j + q - pl, W));
            }
        } else {
          const int i0 = math::max(0, pt - p), i1 = math::min(H, H + pt - p);
          const int j0 = math::max(0, pl - q), j1 = math::min(W, W + pl - q);
          for (int n = 0; n < N; ++n)
            for (int i = i0; i < i1; ++i)
              for (int j = j0; j < j1; ++j) acc += gy(n, o, i, j) * x(n, c, i + p - pt, j + q - pl);
        }
        gw(o, c, p, q) = accumulate ? gw(o, c, p, q) + acc : acc;
      });
}

/// y = conv2d(x, w): x (N, C, H, W), w (O, C, kh, kw), y (N, O, H, W) (see the file comment for
/// the convention and which kernel runs).
template <class X, class Wt, class Y>
void conv2d(const X& x, const Wt& w, const Y& y, Conv2dOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<Wt> && is_tensor4_v<Y>,
                "mcsc::conv2d: x, w, y must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d", x, w, y);
  using ExecSpace = typename Y::execution_space;
  if constexpr (Impl::team_conv_types_v<Y, X, Wt>) {
    if (Impl::use_team_kernels<ExecSpace>(options)) {
      if (Impl::team::correlation<ExecSpace>(
              "mcsc::conv2d", x.data(), x.stride(0), x.stride(1), x.stride(2), y.data(), y.stride(0), y.stride(1),
              y.stride(2), w.data(), 0, w.stride(0), w.stride(1), w.stride(2), w.stride(3), int(x.extent(0)),
              int(x.extent(1)), int(w.extent(0)), int(x.extent(2)), int(x.extent(3)), int(w.extent(2)),
              int(w.extent(3)), same_pad_before(int(w.extent(2))), same_pad_before(int(w.extent(3))),
              options.accumulate))
        return;
      conv2d_reference(x, w, y, options);
      return;
    }
  }
  if constexpr (Impl::blocked_conv_types_v<Y, X, Wt>) {
    if (options.kernel == ConvKernel::automatic) {
      auto a = Impl::forward_correlation_args(x, w, y);
      a.accumulate = options.accumulate;
      a.circular = options.boundary == Boundary::circular;
      if (Impl::blocked::correlation<ExecSpace>("mcsc::conv2d", a)) return;
    }
  }
  conv2d_reference(x, w, y, options);
}

/// x = conv2d_adjoint(y, w): the transpose of conv2d, i.e. the gradient of <conv2d(x, w), y>
/// with respect to x. y (N, O, H, W), w (O, C, kh, kw), x (N, C, H, W).
///
///     x[n,c,t,u] = sum_{o,p,q} w[o,c,p,q] * y[n, o, t - p + pt, u - q + pl]
///
/// The blocked kernel computes it as a correlation of y with the transposed, flipped weight
/// w[o, c, kh-1-p, kw-1-q] (read through strides) and kh-1-pt rows (kw-1-pl columns) of padding
/// before.
template <class Y, class Wt, class X>
void conv2d_adjoint(const Y& y, const Wt& w, const X& x, Conv2dOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<Wt> && is_tensor4_v<Y>,
                "mcsc::conv2d_adjoint: y, w, x must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d_adjoint", x, w, y);
  using ExecSpace = typename X::execution_space;
  if constexpr (Impl::team_conv_types_v<X, Y, Wt>) {
    if (Impl::use_team_kernels<ExecSpace>(options)) {
      // wt(c, o, p, q) = w[o, c, kh-1-p, kw-1-q], read through strides (as below)
      const int KH = int(w.extent(2)), KW = int(w.extent(3));
      if (Impl::team::correlation<ExecSpace>(
              "mcsc::conv2d_adjoint", y.data(), y.stride(0), y.stride(1), y.stride(2), x.data(), x.stride(0),
              x.stride(1), x.stride(2), w.data(),
              std::int64_t(KH - 1) * w.stride(2) + std::int64_t(KW - 1) * w.stride(3), w.stride(1), w.stride(0),
              -std::int64_t(w.stride(2)), -std::int64_t(w.stride(3)), int(x.extent(0)), int(w.extent(0)),
              int(x.extent(1)), int(x.extent(2)), int(x.extent(3)), KH, KW, KH - 1 - same_pad_before(KH),
              KW - 1 - same_pad_before(KW), options.accumulate))
        return;
      conv2d_adjoint_reference(y, w, x, options);
      return;
    }
  }
  if constexpr (Impl::blocked_conv_types_v<X, Y, Wt>) {
    if (options.kernel == ConvKernel::automatic) {
      using T = typename X::non_const_value_type;
      Impl::blocked::CorrelationArgs<T> a;
      a.in = y.data();
      a.in_sn = y.stride(0), a.in_sc = y.stride(1), a.in_sh = y.stride(2);
      a.out = x.data();
      a.out_sn = x.stride(0), a.out_sc = x.stride(1), a.out_sh = x.stride(2);
      a.N = int(x.extent(0)), a.Cout = int(x.extent(1)), a.H = int(x.extent(2)), a.W = int(x.extent(3));
      a.Cin = int(w.extent(0)), a.KH = int(w.extent(2)), a.KW = int(w.extent(3));
      // wt(c, o, p, q) = w[o, c, kh-1-p, kw-1-q]
      a.w = w.data();
      a.wso = w.stride(1), a.wsc = w.stride(0), a.wsp = -std::int64_t(w.stride(2)), a.wsq = -std::int64_t(w.stride(3));
      a.w0 = std::int64_t(a.KH - 1) * w.stride(2) + std::int64_t(a.KW - 1) * w.stride(3);
      a.pt = a.KH - 1 - same_pad_before(a.KH), a.pl = a.KW - 1 - same_pad_before(a.KW);
      a.accumulate = options.accumulate;
      a.circular = options.boundary == Boundary::circular;
      if (Impl::blocked::correlation<ExecSpace>("mcsc::conv2d_adjoint", a)) return;
    }
  }
  conv2d_adjoint_reference(y, w, x, options);
}

/// What a convolution kernel keeps between calls: the team weight gradient's buffer of partial
/// sums (groups x weights), allocated by the first call that needs it and grown when a later one
/// needs more. Without a workspace every such call allocates its own (an allocation, and on a
/// device a synchronisation, per weight gradient). The networks and ConvDictionary keep one.
/// A workspace serves one sequence of calls at a time: calls that may run concurrently (from
/// several host threads) each need their own.
template <class T, class MemorySpace>
class Conv2dWorkspace {
 public:
  /// Bytes held now.
  std::size_t bytes() const { return m_partial.span() * sizeof(T); }
  Kokkos::View<T*, MemorySpace>& partial_sums() { return m_partial; }

 private:
  Kokkos::View<T*, MemorySpace> m_partial;
};

/// The workspace type conv2d_weight_grad takes for a weight-gradient view GW.
template <class GW>
using conv2d_workspace_for =
    Conv2dWorkspace<typename GW::non_const_value_type, typename GW::execution_space::memory_space>;

/// gw = conv2d_weight_grad(x, gy): the gradient of <conv2d(x, w), gy> with respect to w.
/// x (N, C, H, W), gy (N, O, H, W), gw (O, C, kh, kw).
///
///     gw[o,c,p,q] = sum_{n,i,j} gy[n,o,i,j] * x[n, c, i + p - pt, j + q - pl]
///
/// Deterministic: every weight is reduced in an order that depends on the shapes only (not on
/// the thread count). workspace (optional): keeps the team kernel's buffer between calls.
template <class X, class GY, class GW>
void conv2d_weight_grad(const X& x, const GY& gy, const GW& gw, Conv2dOptions options = {},
                        conv2d_workspace_for<GW>* workspace = nullptr) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<GY> && is_tensor4_v<GW>,
                "mcsc::conv2d_weight_grad: x, gy, gw must be rank-4 LayoutRight views (N, C, H, W)");
  Impl::check_conv_shapes("mcsc::conv2d_weight_grad", x, gw, gy);
  using ExecSpace = typename GW::execution_space;
  if constexpr (Impl::team_conv_types_v<GW, X, GY>) {
    if (Impl::use_team_kernels<ExecSpace>(options)) {
      if (Impl::team::weight_grad<ExecSpace>(
              "mcsc::conv2d_weight_grad", x.data(), x.stride(0), x.stride(1), x.stride(2), gy.data(), gy.stride(0),
              gy.stride(1), gy.stride(2), gw.data(), gw.stride(0), gw.stride(1), gw.stride(2), int(x.extent(0)),
              int(x.extent(1)), int(gw.extent(0)), int(x.extent(2)), int(x.extent(3)), int(gw.extent(2)),
              int(gw.extent(3)), same_pad_before(int(gw.extent(2))), same_pad_before(int(gw.extent(3))),
              options.accumulate, workspace ? &workspace->partial_sums() : nullptr))
        return;
      conv2d_weight_grad_reference(x, gy, gw, options);
      return;
    }
  }
  if constexpr (Impl::blocked_conv_types_v<GW, X, GY>) {
    if (options.kernel == ConvKernel::automatic) {
      using T = typename GW::non_const_value_type;
      Impl::blocked::WeightGradArgs<T> a;
      a.x = x.data();
      a.x_sn = x.stride(0), a.x_sc = x.stride(1), a.x_sh = x.stride(2);
      a.gy = gy.data();
      a.gy_sn = gy.stride(0), a.gy_sc = gy.stride(1), a.gy_sh = gy.stride(2);
      a.gw = gw.data();
      a.gw_so = gw.stride(0), a.gw_sc = gw.stride(1), a.gw_sp = gw.stride(2);
      a.N = int(x.extent(0)), a.C = int(x.extent(1)), a.H = int(x.extent(2)), a.W = int(x.extent(3));
      a.O = int(gw.extent(0)), a.KH = int(gw.extent(2)), a.KW = int(gw.extent(3));
      a.pt = same_pad_before(a.KH), a.pl = same_pad_before(a.KW);
      a.accumulate = options.accumulate;
      a.circular = options.boundary == Boundary::circular;
      if (Impl::blocked::weight_grad<ExecSpace>("mcsc::conv2d_weight_grad", a)) return;
    }
  }
  conv2d_weight_grad_reference(x, gy, gw, options);
}

/// A convolutional dictionary applied with the direct kernels: D*U and D'*R for a fixed weight
/// (m, K, s, s). The FFT counterpart, FftConvDictionary, has the same interface, so the solvers
/// take either.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class ConvDictionary {
 public:
  using scalar_type = T;
  using execution_space = ExecSpace;
  using tensor_type = Tensor4<T, ExecSpace>;

  /// weights: (m, K, s, s) filters d_k of each signal channel.
  explicit ConvDictionary(tensor_type weights, Boundary boundary = Boundary::zero)
      : m_weights(weights), m_boundary(boundary) {
    MCSC_REQUIRE(weights.size() > 0, "mcsc::ConvDictionary", "empty dictionary " << shape_of(weights));
  }

  const tensor_type& weights() const { return m_weights; }
  Boundary boundary() const { return m_boundary; }
  int num_filters() const { return int(m_weights.extent(1)); }
  int num_channels() const { return int(m_weights.extent(0)); }
  /// Shape of the codes U for a signal of shape (N, m, H, W): (N, K, H, W).
  Shape4 code_shape(const Shape4& signal) const { return Shape4{signal.n, num_filters(), signal.h, signal.w}; }
  /// Bytes the dictionary allocates to code signals (none: the direct kernels need no buffers;
  /// FftConvDictionary's operator has some), for the solvers' memory estimates.
  double operator_bytes(const Shape4&) const { return 0; }

  /// signal = D * codes (or += with accumulate).
  void apply(const tensor_type& codes, const tensor_type& signal, bool accumulate = false) const {
    conv2d(codes, m_weights, signal, Conv2dOptions{m_boundary, accumulate});
  }
  /// codes = D' * signal (or += with accumulate).
  void adjoint(const tensor_type& signal, const tensor_type& codes, bool accumulate = false) const {
    conv2d_adjoint(signal, m_weights, codes, Conv2dOptions{m_boundary, accumulate});
  }
  /// gw = gradient of <D * codes, residual> with respect to the weights, (m, K, s, s) (or +=
  /// with accumulate): with residual = D*U - y, the gradient of 1/2 ||D*U - y||^2 in D.
  void weight_gradient(const tensor_type& codes, const tensor_type& residual, const tensor_type& gw,
                       bool accumulate = false) const {
    conv2d_weight_grad(codes, residual, gw, Conv2dOptions{m_boundary, accumulate}, &m_workspace);
  }
  /// To be called after the weights were changed in place (the direct kernels read them on
  /// every call, so there is nothing to refresh; FftConvDictionary recomputes its spectra).
  void weights_changed() {}

 private:
  tensor_type m_weights;
  Boundary m_boundary;
  // The team weight gradient's buffer (device spaces, or ConvKernel::team), kept between calls:
  // copies of a dictionary share it, so a dictionary and its copies must not compute weight
  // gradients concurrently from several host threads (on host spaces the blocked kernels need
  // no buffer and leave it untouched).
  mutable Conv2dWorkspace<T, typename ExecSpace::memory_space> m_workspace;
};

}  // namespace mcsc
