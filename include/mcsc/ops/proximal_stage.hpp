#pragma once
/// \file proximal_stage.hpp
/// One stage of the iteration that ISTA and the unrolled encoders share (paper form):
///
///     U_{j+1} = prox_theta( p1 + U_j - E * (D * U_j) ),     p1 = E0 * x
///
/// with D (c, K, s, s) the dictionary, E (K, c, s, s) the analysis filters, theta the threshold
/// (one, or one per code channel) and prox the soft threshold or the l1-l1 operator with side
/// information (ops/prox.hpp). A ProximalStage holds views of these operators, so it is the same
/// object whether they are fixed or learned:
///
/// - ISTA for CBPDN (min 1/2 ||D*U - x||^2 + lambda ||U||_1, step 1/L): E = E0 = D'/L,
///   theta = lambda / L, fixed (ProximalStage::ista builds it from a dictionary);
/// - a stage of LcscEncoder (LCSC, LMCSC, CU-Net): E, D and theta are the network's parameters
///   (LcscEncoder::stage(j) is a ProximalStage on the parameters' own memory), and its forward
///   pass calls apply() once per stage.
///
/// apply() is a convolution (D * U) and one fused convolution-plus-prox (conv2d_prox: E * r,
/// the sums and the prox in the convolution's store on the host), whose epilogue uses the scalar
/// prox functions of ops/prox.hpp, the same ones as the classical solvers' prox_gradient_step
/// (ops/prox_step.hpp). tests/test_unfolding.cpp checks that ISTA stages equal fista() with
/// accelerate = false, and that an encoder's stages are these objects.
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/conv2d_prox.hpp"
#include "mcsc/ops/prox.hpp"

namespace mcsc {

/// e (K, c, s, s) = D' / L for a dictionary d (c, K, s, s): e[k, m, p, q] = d[m, k, s-1-p, s-1-q] / L,
/// the filters whose "same" convolution is the adjoint of d's, scaled. Odd s only: for an even s
/// the transpose of a "same" convolution is not a "same" convolution of that size (it is shifted
/// by one pixel).
template <class D, class E>
void transposed_dictionary(const D& d, double lipschitz, const E& e) {
  const char* fn = "mcsc::transposed_dictionary";
  const int c = int(d.extent(0)), K = int(d.extent(1)), s = int(d.extent(2));
  const Shape4 expected{K, c, s, s};
  MCSC_REQUIRE(shape_of(e) == expected && int(d.extent(3)) == s, fn,
               "dictionary " << shape_of(d) << " and its transpose " << shape_of(e) << " (should be " << expected << ")");
  MCSC_REQUIRE(s % 2 == 1, fn, "kernel size " << s << " is even; the transpose of an even 'same' convolution "
                                                  "is not a 'same' convolution of that size");
  MCSC_REQUIRE(lipschitz > 0, fn, "L = " << lipschitz);
  using T = typename E::non_const_value_type;
  const T inv_l = T(1.0 / lipschitz);
  Kokkos::parallel_for(
      "mcsc::transposed_dictionary", Kokkos::RangePolicy<typename E::execution_space>(0, std::int64_t(e.size())),
      KOKKOS_LAMBDA(const std::int64_t i) {
        const int q = int(i % s), p = int((i / s) % s), m = int((i / (s * s)) % c), k = int(i / (s * s * c));
        e(k, m, p, q) = inv_l * d(m, k, s - 1 - p, s - 1 - q);
      });
}

/// One stage U_{j+1} = prox_theta(p1 + U_j - E * (D * U_j)) (see the file comment): views of its
/// operators, no storage of its own.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
struct ProximalStage {
  using tensor_type = Tensor4<T, ExecSpace>;
  using vector_type = Vector<T, ExecSpace>;

  tensor_type dictionary;  ///< D (c, K, s, s)
  tensor_type analysis;    ///< E (K, c, s, s)
  vector_type threshold;   ///< theta: (K) or (1)
  ProxKind prox = ProxKind::soft_threshold;

  /// out = prox(p1 + u - E * (D * u)); r (N, c, H, W) receives D * u; pre (N, K, H, W) receives
  /// the argument of the prox when keep_pre (backward needs it; else it is scratch). side: the
  /// side information (ProxKind::l1l1), else empty. out must differ from u, p1 and pre.
  /// Thresholds are not read back (a learned threshold may be negative).
  void apply(const tensor_type& u, const tensor_type& p1, const tensor_type& side, const tensor_type& r,
             const tensor_type& pre, const tensor_type& out, bool keep_pre = false) const {
    MCSC_REQUIRE(prox == ProxKind::soft_threshold || side.data() != nullptr, "mcsc::ProximalStage::apply",
                 "the l1-l1 prox needs side information");
    conv2d(u, dictionary, r);  // r = D U
    ConvProxOptions o;
    o.sign = -1;
    o.keep_pre = keep_pre;
    o.check_values = false;
    conv2d_prox(r, analysis, p1, u, threshold, prox == ProxKind::l1l1 ? side : tensor_type(), pre, out, o);
  }

  /// The first step, U_0 = prox_theta0(p1) with p1 = E0 * x written to `p1` (the paper form's
  /// start; for ISTA from U = 0 it is the first iterate).
  static void first(const tensor_type& x, const tensor_type& e0, const vector_type& theta0, ProxKind prox,
                    const tensor_type& side, const tensor_type& p1, const tensor_type& out) {
    ConvProxOptions o;
    o.check_values = false;
    const tensor_type none;
    conv2d_prox(x, e0, none, none, theta0, prox == ProxKind::l1l1 ? side : none, p1, out, o);
  }

  /// The ISTA stage of CBPDN with dictionary d (c, K, s, s, odd s), weight lambda and step 1/L:
  /// D = d (the same view), E = d'/L (allocated), theta = lambda/L. Also E0 = E.
  static ProximalStage ista(const tensor_type& d, double lambda, double lipschitz) {
    MCSC_REQUIRE(lambda >= 0 && lipschitz > 0, "mcsc::ProximalStage::ista", "lambda = " << lambda << ", L = " << lipschitz);
    ProximalStage stage;
    stage.dictionary = d;
    stage.analysis = make_tensor<T, ExecSpace>(
        "mcsc::ProximalStage::analysis",
        Shape4{std::int64_t(d.extent(1)), std::int64_t(d.extent(0)), std::int64_t(d.extent(2)), std::int64_t(d.extent(3))});
    transposed_dictionary(d, lipschitz, stage.analysis);
    stage.threshold = vector_type("mcsc::ProximalStage::threshold", 1);
    Kokkos::deep_copy(stage.threshold, T(lambda / lipschitz));
    return stage;
  }
};

}  // namespace mcsc
