#pragma once
/// \file conv2d_prox.hpp
/// The stage update of the unrolled encoders (LCSC, LMCSC, CU-Net) as one operation:
///
///     v   = sign * conv2d(x, w) + a + b          a, b: like the output, each optional
///     out = S_theta(v)                           no side information: soft threshold
///     out = xi_theta(v; side)                    with side information: the l1-l1 prox
///
/// theta has one entry per output channel, or one for all (prox.hpp). With
/// ConvProxOptions::keep_pre, `pre` receives v (backward needs it).
///
/// On the host (the blocked kernels of conv2d_blocked.hpp, Boundary::zero) the elementwise part
/// runs in the convolution's store, while the sums are still in registers: one pass over the
/// codes instead of four (convolution, two combinations, prox) and no pre-activation written
/// when it is not kept. Elsewhere the unfused sequence runs, conv2d into `pre` then one
/// elementwise kernel: that is also the reference the fused path is tested against
/// (tests/test_conv2d.cpp, "conv2d_prox").
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/prox.hpp"

namespace mcsc {

struct ConvProxOptions {
  double sign = 1;                   ///< factor of the convolution in v (1 or -1 in the networks)
  bool keep_pre = true;              ///< write v to pre (else pre is scratch, its contents unspecified)
  bool require_nonnegative = false;  ///< refuse negative thresholds (learned ones may be negative)
  bool fused = true;                 ///< false: always the unfused sequence (the reference)
  bool check_values = true;          ///< false: thresholds' values unchecked (a network's stage: no read-back)
};

/// out = prox(sign * conv2d(x, w) + a + b) as in the file comment. x (N, C, H, W), w (O, C, s, s);
/// a, b, side (N, O, H, W) or empty views; pre and out (N, O, H, W); pre distinct from every other
/// operand, out from x; out may be a or b (each element is read before it is written). theta (O)
/// or (1).
template <class X, class Wt, class Y, class Theta>
void conv2d_prox(const X& x, const Wt& w, const Y& a, const Y& b, const Theta& theta, const Y& side, const Y& pre,
                 const Y& out, ConvProxOptions options = {}) {
  static_assert(is_tensor4_v<X> && is_tensor4_v<Wt> && is_tensor4_v<Y>,
                "mcsc::conv2d_prox: x, w and the outputs must be rank-4 LayoutRight views (N, C, H, W)");
  const char* fn = "mcsc::conv2d_prox";
  using T = typename Y::non_const_value_type;
  using ExecSpace = typename Y::execution_space;
  Impl::check_conv_shapes(fn, x, w, out);
  Impl::require_same_shape(fn, out, pre);
  if (a.data()) Impl::require_same_shape(fn, out, a);
  if (b.data()) Impl::require_same_shape(fn, out, b);
  if (side.data()) Impl::require_same_shape(fn, out, side);
  MCSC_REQUIRE(pre.data() != out.data() && pre.data() != x.data() && out.data() != x.data() &&
                   pre.data() != a.data() && pre.data() != b.data() && pre.data() != side.data(),
               fn, "pre must be distinct from x, a, b, side and out, and out from x");
  MCSC_REQUIRE(options.sign == 1 || options.sign == -1, fn, "sign is " << options.sign << ", not 1 or -1");
  Impl::check_per_channel(fn, out, theta, side.data() ? "mu" : "threshold", options.require_nonnegative,
                          options.check_values);
  const T sign = T(options.sign);
  if constexpr (Impl::blocked_conv_types_v<Y, X, Wt> &&
                std::is_same<typename Theta::non_const_value_type, T>::value) {
    if (options.fused && theta.span_is_contiguous()) {
      auto args = Impl::forward_correlation_args(x, w, out);
      auto& e = args.epilogue;
      e.active = true;
      e.sign = sign;
      e.a = a.data();
      e.b = b.data();
      e.pre = options.keep_pre ? pre.data() : nullptr;
      e.side = side.data();
      e.param = theta.data();
      e.param_broadcast = theta.extent(0) == 1;
      if (Impl::blocked::correlation<ExecSpace>(fn, args)) return;
    }
  }
  conv2d(x, w, pre);
  const std::int64_t C = out.extent(1), HW = std::int64_t(out.extent(2)) * out.extent(3);
  auto fp = Impl::flat(pre);
  auto fo = Impl::flat(out);
  // empty views stay empty (flat() of an empty view is an empty view)
  const bool has_a = a.data() != nullptr, has_b = b.data() != nullptr, has_side = side.data() != nullptr;
  auto fa = has_a ? Impl::flat(a) : decltype(Impl::flat(a))();
  auto fb = has_b ? Impl::flat(b) : decltype(Impl::flat(b))();
  auto fs = has_side ? Impl::flat(side) : decltype(Impl::flat(side))();
  const Impl::ChannelParameter<Theta> th(theta);
  Impl::for_each_in_planes<ExecSpace>(
      "mcsc::conv2d_prox::update", std::int64_t(out.extent(0)) * C, int(HW),
      KOKKOS_LAMBDA(const std::int64_t p, const int k) {
        const std::int64_t i = p * HW + k;
        T v = sign * fp(i);
        if (has_a) v += fa(i);
        if (has_b) v += fb(i);
        fp(i) = v;
        const T t = T(th(p % C));
        fo(i) = has_side ? l1l1_prox_value(v, T(fs(i)), t) : soft_threshold_value(v, t);
      });
}

}  // namespace mcsc
