#pragma once
/// \file common_unique.hpp
/// The common/unique multimodal convolutional sparse coding problem of CU-Net (Deng & Dragotti,
/// "Deep Convolutional Neural Network for Multi-modal Image Restoration and Fusion", eq. 1-5):
/// two signals x (N, mx, H, W) and y (N, my, H, W) of the same scene share the common codes C and
/// have their own unique codes U and V,
///
///     x = Dc*C + Du*U,   y = Hc*C + Hv*V                                        (eq. 1-2)
///
///     min_{C,U,V}  1/2 ||x - Dc*C - Du*U||^2 + 1/2 ||y - Hc*C - Hv*V||^2
///                  + lambda_c ||C||_1 + lambda_u ||U||_1 + lambda_v ||V||_1      (eq. 5)
///
/// (the paper has one lambda for the three blocks, the default here). Solved, as in the paper, by
/// alternating over the three blocks; every block problem is a CBPDN solved by fista(), warm
/// started from the block's current value:
///     step 1: U = argmin 1/2 ||(x - Dc*C) - Du*U||^2 + lambda_u ||U||_1
///     step 2: V = argmin 1/2 ||(y - Hc*C) - Hv*V||^2 + lambda_v ||V||_1
///     step 3: C = argmin 1/2 ||p - [Dc; Hc]*C||^2 + lambda_c ||C||_1,
///             p = (x - Du*U, y - Hv*V) stacked on the channel axis (eq. 11-12)
/// with the stacked dictionary [Dc; Hc] ((mx + my, Kc, s, s) weights) made once.
///
/// Monotonicity: eq. 5 is convex in each block, but FISTA is not a descent method. So every
/// block update takes the best iterate of its FISTA run and is accepted only when it strictly
/// decreases eq. 5 (otherwise the block keeps its value). The objective is kept as five terms
/// (two residuals, three l1 norms) and every acceptance compares the same double-precision sum
/// that is reported, so the reported objective is non-increasing exactly, in any scalar type.
/// The first FISTA iterate is a proximal-gradient step from the current block with step 1/L, L
/// an upper estimate of the block's Lipschitz constant, which decreases the block objective
/// unless the block is already optimal given the others; a sweep that changes no block
/// therefore means a block-wise minimum, which for eq. 5 (a smooth convex term plus an l1 term
/// separable over the blocks) is a global minimum (Tseng 2001). The solver stops there.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "mcsc/solvers/fista.hpp"

namespace mcsc {

/// Options of common_unique().
struct CommonUniqueOptions {
  double lambda = 0.01;             ///< l1 weight of every block, >= 0 (eq. 5's lambda)
  std::optional<double> lambda_c;   ///< l1 weight of C; unset: lambda
  std::optional<double> lambda_u;   ///< l1 weight of U; unset: lambda
  std::optional<double> lambda_v;   ///< l1 weight of V; unset: lambda
  int max_iterations = 100;         ///< outer sweeps (steps 1-3), >= 0
  int inner_iterations = 10;        ///< fista() iterations per block and sweep, >= 1
  bool accelerate = true;           ///< false: the inner solver is plain ISTA
  /// Stop when a sweep decreases the objective by no more than tolerance times its previous
  /// value (0: never; the solver also stops when a sweep changes no block).
  double tolerance = 0;
  /// Step constants (L of [Dc; Hc]'[Dc; Hc], Du'Du, Hv'Hv); 0: 1.01 times a power-iteration
  /// estimate. Pass a previous result's lipschitz_* to skip the estimates on a warm restart.
  double lipschitz_c = 0, lipschitz_u = 0, lipschitz_v = 0;

  double lambda_common() const { return lambda_c.value_or(lambda); }
  double lambda_unique_x() const { return lambda_u.value_or(lambda); }
  double lambda_unique_y() const { return lambda_v.value_or(lambda); }
};

/// Codes of the three blocks; used for warm starts (an empty view: start from zeros).
template <class T, class ExecSpace>
struct CommonUniqueCodes {
  Tensor4<T, ExecSpace> C;  ///< common codes (N, Kc, H, W)
  Tensor4<T, ExecSpace> U;  ///< unique codes of x (N, Ku, H, W)
  Tensor4<T, ExecSpace> V;  ///< unique codes of y (N, Kv, H, W)
};

/// What common_unique() returns. Entry k of objective/seconds belongs to sweep k+1.
template <class T, class ExecSpace>
struct CommonUniqueResult {
  Tensor4<T, ExecSpace> C;  ///< common codes (N, Kc, H, W)
  Tensor4<T, ExecSpace> U;  ///< unique codes of x (N, Ku, H, W)
  Tensor4<T, ExecSpace> V;  ///< unique codes of y (N, Kv, H, W)
  std::vector<double> objective;   ///< eq. 5 after each sweep (non-increasing)
  std::vector<double> seconds;     ///< wall time since the call started, per sweep
  int iterations = 0;              ///< sweeps done
  double initial_objective = 0;    ///< eq. 5 at the initial codes
  double lipschitz_c = 0;          ///< the step constants used (given, or 1.01 times the
  double lipschitz_u = 0;          ///< power-iteration estimates of lambda_max of [Dc; Hc]'[Dc; Hc],
  double lipschitz_v = 0;          ///< Du'Du and Hv'Hv)
  int rejected_updates = 0;        ///< block updates not accepted (they would not decrease eq. 5)
  bool stalled = false;            ///< the last sweep changed no block (a block-wise minimum)
};

/// What common_unique() shows its callback after every sweep (views valid during the call only).
template <class T, class ExecSpace>
struct CommonUniqueIterate {
  int iteration;  ///< 1-based sweep number
  double objective;
  const Tensor4<T, ExecSpace>& C;
  const Tensor4<T, ExecSpace>& U;
  const Tensor4<T, ExecSpace>& V;
};

/// The parts of a target image z reconstructed from the codes (the paper's Fig. 10-11 show them).
template <class T, class ExecSpace>
struct CommonUniqueParts {
  Tensor4<T, ExecSpace> target;    ///< z = common + unique_x (+ unique_y)
  Tensor4<T, ExecSpace> common;    ///< Gc*C
  Tensor4<T, ExecSpace> unique_x;  ///< Gu*U
  Tensor4<T, ExecSpace> unique_y;  ///< Gv*V (fusion); empty for restoration
};

namespace Impl {

/// 1/2 ||x - a - b||^2 accumulated in double.
template <class X, class A, class B>
double half_residual_squared(const X& x, const A& a, const B& b) {
  require_same_shape("mcsc::common_unique", x, a);
  require_same_shape("mcsc::common_unique", x, b);
  auto fx = flat(x);
  auto fa = flat(a);
  auto fb = flat(b);
  double result = 0;
  Kokkos::parallel_reduce(
      "mcsc::common_unique::residual", Kokkos::RangePolicy<exec_of<X>>(0, fx.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& acc) {
        const double d = double(fx(i)) - double(fa(i)) - double(fb(i));
        acc += d * d;
      },
      result);
  return 0.5 * result;
}

/// The filters of a (ma, K, ha, wa) and b (mb, K, hb, wb) stacked on the signal-channel axis:
/// (ma + mb, K, max(ha, hb), max(wa, wb)). A smaller filter is zero-padded so that its "same"
/// centre (same_pad_before) stays where it was: the stacked operator maps codes to (a*C, b*C).
template <class T, class ExecSpace>
Tensor4<T, ExecSpace> stack_filters(const Tensor4<T, ExecSpace>& a, const Tensor4<T, ExecSpace>& b) {
  const Shape4 sa = shape_of(a), sb = shape_of(b);
  MCSC_REQUIRE(sa.c == sb.c, "mcsc::Impl::stack_filters",
               "cannot stack filters " << sa << " and " << sb << ": different numbers of filters");
  const int ma = int(sa.n), K = int(sa.c);
  const int kh = int(std::max(sa.h, sb.h)), kw = int(std::max(sa.w, sb.w));
  const int ha = int(sa.h), wa = int(sa.w), hb = int(sb.h), wb = int(sb.w);
  const int ta = same_pad_before(kh) - same_pad_before(ha), la = same_pad_before(kw) - same_pad_before(wa);
  const int tb = same_pad_before(kh) - same_pad_before(hb), lb = same_pad_before(kw) - same_pad_before(wb);
  auto out = make_tensor<T, ExecSpace>("mcsc::stacked_filters", Shape4{sa.n + sb.n, sa.c, kh, kw});
  auto fo = flat(out);
  Kokkos::parallel_for(
      "mcsc::stack_filters", Kokkos::RangePolicy<ExecSpace>(0, fo.extent(0)), KOKKOS_LAMBDA(const std::size_t i) {
        const int q = int(i % kw), p = int((i / kw) % kh), k = int((i / (std::size_t(kw) * kh)) % K),
                  o = int(i / (std::size_t(kw) * kh * K));
        T value = 0;
        if (o < ma) {
          const int r = p - ta, s = q - la;
          if (r >= 0 && r < ha && s >= 0 && s < wa) value = a(o, k, r, s);
        } else {
          const int r = p - tb, s = q - lb;
          if (r >= 0 && r < hb && s >= 0 && s < wb) value = b(o - ma, k, r, s);
        }
        fo(i) = value;
      });
  return out;
}

/// Checks a dictionary against a signal shape (channels, non-empty, filter not larger than the image).
template <class Dictionary>
void check_dictionary_for(const char* fn, const char* name, const Dictionary& D, const char* signal_name,
                          const Shape4& signal) {
  const Shape4 sw = shape_of(D.weights());
  MCSC_REQUIRE(sw.size() > 0, fn, "empty dictionary " << name << " " << sw);
  MCSC_REQUIRE(D.num_channels() == signal.c, fn,
               "dictionary " << name << " " << sw << " has " << D.num_channels() << " signal channels but "
                             << signal_name << " " << signal << " has " << signal.c);
  MCSC_REQUIRE(sw.h <= signal.h && sw.w <= signal.w, fn,
               "the " << sw.h << "x" << sw.w << " filters of " << name << " " << sw << " are larger than the "
                      << signal.h << "x" << signal.w << " image of " << signal_name << " " << signal);
}

/// Checks the inputs of eq. 5: x (N, mx, H, W) and y (N, my, H, W) against Dc, Du (mx
/// channels), Hc, Hv (my channels), Dc and Hc with the same Kc.
template <class Dictionary>
void check_common_unique_inputs(const char* fn, const Dictionary& Dc, const Dictionary& Du, const Dictionary& Hc,
                                const Dictionary& Hv, const typename Dictionary::tensor_type& x,
                                const typename Dictionary::tensor_type& y) {
  const Shape4 sx = shape_of(x), sy = shape_of(y);
  MCSC_REQUIRE(sx.size() > 0 && sy.size() > 0, fn, "zero-size signal: x " << sx << ", y " << sy);
  MCSC_REQUIRE(sx.n == sy.n, fn, "x " << sx << " and y " << sy << " have different batch sizes");
  MCSC_REQUIRE(sx.h == sy.h && sx.w == sy.w, fn,
               "x " << sx << " and y " << sy << " have different image sizes (" << sx.h << "x" << sx.w << " vs "
                    << sy.h << "x" << sy.w << ")");
  check_dictionary_for(fn, "Dc", Dc, "x", sx);
  check_dictionary_for(fn, "Du", Du, "x", sx);
  check_dictionary_for(fn, "Hc", Hc, "y", sy);
  check_dictionary_for(fn, "Hv", Hv, "y", sy);
  MCSC_REQUIRE(Dc.num_filters() == Hc.num_filters(), fn,
               "the common dictionaries must have the same number of filters Kc: Dc "
                   << shape_of(Dc.weights()) << " has " << Dc.num_filters() << ", Hc " << shape_of(Hc.weights())
                   << " has " << Hc.num_filters());
  MCSC_REQUIRE(Dc.boundary() == Hc.boundary(), fn,
               "Dc and Hc must have the same boundary (they are stacked into one dictionary), got "
                   << to_string(Dc.boundary()) << " and " << to_string(Hc.boundary()));
  require_finite(fn, x);
  require_finite(fn, y);
}

inline void check_common_unique_lambdas(const char* fn, const CommonUniqueOptions& o) {
  const double values[3] = {o.lambda_common(), o.lambda_unique_x(), o.lambda_unique_y()};
  const char* names[3] = {"lambda_c", "lambda_u", "lambda_v"};
  MCSC_REQUIRE(o.lambda >= 0 && std::isfinite(o.lambda), fn, "lambda must be finite and >= 0, got " << o.lambda);
  for (int i = 0; i < 3; ++i)
    MCSC_REQUIRE(values[i] >= 0 && std::isfinite(values[i]), fn,
                 names[i] << " must be finite and >= 0, got " << values[i]);
}

/// Copies an optional warm start into codes (checked), or leaves the zeros.
template <class V>
void warm_start_block(const char* fn, const char* name, const V& initial, const V& codes) {
  if (initial.data() == nullptr) return;
  MCSC_REQUIRE(shape_of(initial) == shape_of(codes), fn,
               "initial " << name << " " << shape_of(initial) << " should be " << shape_of(codes));
  require_finite(fn, initial);
  Kokkos::deep_copy(codes, initial);
}

/// eq. 5 from its five terms, always summed in this order (the acceptance test and the reported
/// objective are the same double).
inline double common_unique_sum(double residual_x, double residual_y, double l1_c, double l1_u, double l1_v,
                                double lambda_c, double lambda_u, double lambda_v) {
  return residual_x + residual_y + lambda_c * l1_c + lambda_u * l1_u + lambda_v * l1_v;
}

}  // namespace Impl

/// eq. 5 at (C, U, V), evaluated from scratch (allocates; for checks and reporting).
template <class Dictionary>
double common_unique_objective(const Dictionary& Dc, const Dictionary& Du, const Dictionary& Hc,
                               const Dictionary& Hv, const typename Dictionary::tensor_type& x,
                               const typename Dictionary::tensor_type& y, const typename Dictionary::tensor_type& C,
                               const typename Dictionary::tensor_type& U, const typename Dictionary::tensor_type& V,
                               const CommonUniqueOptions& options) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const char* fn = "mcsc::common_unique_objective";
  Impl::check_common_unique_lambdas(fn, options);
  Impl::check_common_unique_inputs(fn, Dc, Du, Hc, Hv, x, y);
  const Shape4 sx = shape_of(x), sy = shape_of(y);
  const std::pair<const char*, std::pair<Shape4, Shape4>> blocks[3] = {
      {"C", {shape_of(C), Dc.code_shape(sx)}}, {"U", {shape_of(U), Du.code_shape(sx)}},
      {"V", {shape_of(V), Hv.code_shape(sy)}}};
  for (const auto& b : blocks)
    MCSC_REQUIRE(b.second.first == b.second.second, fn, b.first << " " << b.second.first << " should be "
                                                                  << b.second.second);
  auto dc = make_tensor<T, ExecSpace>("mcsc::common_unique_objective::dc", sx);
  auto du = make_tensor<T, ExecSpace>("mcsc::common_unique_objective::du", sx);
  auto hc = make_tensor<T, ExecSpace>("mcsc::common_unique_objective::hc", sy);
  auto hv = make_tensor<T, ExecSpace>("mcsc::common_unique_objective::hv", sy);
  Dc.apply(C, dc);
  Du.apply(U, du);
  Hc.apply(C, hc);
  Hv.apply(V, hv);
  return Impl::common_unique_sum(Impl::half_residual_squared(x, dc, du), Impl::half_residual_squared(y, hc, hv),
                                 sum_abs(C), sum_abs(U), sum_abs(V), options.lambda_common(),
                                 options.lambda_unique_x(), options.lambda_unique_y());
}

/// Solves eq. 5 by alternating over U, V and C (see the file comment). Dc (mx, Kc, s, s),
/// Du (mx, Ku, s, s), Hc (my, Kc, s, s), Hv (my, Kv, s, s): dictionaries of one operator type
/// (ConvDictionary or FftConvDictionary; filter sizes may differ, Dc and Hc share a boundary).
/// x (N, mx, H, W), y (N, my, H, W). initial: optional warm start of any of the blocks.
/// `callback(iterate)` is called after every sweep when given; returning false stops.
namespace Impl {
/// common_unique_memory_bytes() with the stacked dictionary S = [Dc; Hc] at hand.
template <class Dictionary>
double common_unique_bytes(const Dictionary& Dc, const Dictionary& Du, const Dictionary& Hc, const Dictionary& Hv,
                           const Dictionary& S, const Shape4& sx, const Shape4& sy) {
  const Shape4 sc = Dc.code_shape(sx), su = Du.code_shape(sx), sv = Hv.code_shape(sy);
  const Shape4 sp{sx.n, sx.c + sy.c, sx.h, sx.w};
  const double own = double(sizeof(typename Dictionary::scalar_type)) *
                     (2.0 * (double(sc.size()) + double(su.size()) + double(sv.size())) +
                      5.0 * (double(sx.size()) + double(sy.size())) + 2.0 * double(sp.size()));
  // Every dictionary keeps its operator (FFT buffers) once built: all five at once.
  const double operators = Dc.operator_bytes(sc) + Du.operator_bytes(su) + Hc.operator_bytes(sc) +
                           Hv.operator_bytes(sv) + S.operator_bytes(sc);
  const double inner = std::max({fista_memory_bytes(Du, sx) - Du.operator_bytes(su),
                                 fista_memory_bytes(Hv, sy) - Hv.operator_bytes(sv),
                                 fista_memory_bytes(S, sp) - S.operator_bytes(sc)});
  return own + operators + inner;
}
}  // namespace Impl

/// The bytes common_unique() allocates for x of shape sx and y of shape sy (it checks them against
/// the memory budget before allocating; the stacked filters [Dc; Hc] it makes first are not
/// counted): two of each code block (the iterate and the candidate), 5 buffers of x's shape, 5 of
/// y's, 2 of the stacked signal, the operators of all five dictionaries (Dc, Du, Hc, Hv and the
/// stacked one: FFT buffers, if any), and what the largest of the three blocks' fista() runs
/// allocates beside them. test_common_unique "[memory]" checks that a run stays within it.
template <class Dictionary>
double common_unique_memory_bytes(const Dictionary& Dc, const Dictionary& Du, const Dictionary& Hc,
                                  const Dictionary& Hv, const Shape4& sx, const Shape4& sy) {
  const Dictionary S(Impl::stack_filters(Dc.weights(), Hc.weights()), Dc.boundary());
  return Impl::common_unique_bytes(Dc, Du, Hc, Hv, S, sx, sy);
}

template <class Dictionary>
CommonUniqueResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique(
    const Dictionary& Dc, const Dictionary& Du, const Dictionary& Hc, const Dictionary& Hv,
    const typename Dictionary::tensor_type& x, const typename Dictionary::tensor_type& y,
    const CommonUniqueOptions& options,
    const CommonUniqueCodes<typename Dictionary::scalar_type, typename Dictionary::execution_space>& initial = {},
    const std::function<bool(const CommonUniqueIterate<typename Dictionary::scalar_type,
                                                       typename Dictionary::execution_space>&)>& callback = {}) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  using tensor_type = typename Dictionary::tensor_type;
  const char* fn = "mcsc::common_unique";
  const auto start = std::chrono::steady_clock::now();
  Impl::check_common_unique_lambdas(fn, options);
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0, got " << options.max_iterations);
  MCSC_REQUIRE(options.inner_iterations >= 1, fn, "inner_iterations must be >= 1, got " << options.inner_iterations);
  MCSC_REQUIRE(options.tolerance >= 0 && std::isfinite(options.tolerance), fn,
               "tolerance must be finite and >= 0, got " << options.tolerance);
  Impl::check_common_unique_inputs(fn, Dc, Du, Hc, Hv, x, y);
  const double lc = options.lambda_common(), lu = options.lambda_unique_x(), lv = options.lambda_unique_y();
  const Shape4 sx = shape_of(x), sy = shape_of(y);
  const Shape4 sc = Dc.code_shape(sx), su = Du.code_shape(sx), sv = Hv.code_shape(sy);
  const Shape4 sp{sx.n, sx.c + sy.c, sx.h, sx.w};
  const Dictionary S(Impl::stack_filters(Dc.weights(), Hc.weights()), Dc.boundary());  // [Dc; Hc]

  {  // Memory, checked before anything large is allocated (core/memory.hpp).
    std::ostringstream what;
    what << "common/unique coding of " << sx << " and " << sy << " (codes " << sc << ", " << su << ", " << sv << ")";
    require_memory(fn, what.str(), Impl::common_unique_bytes(Dc, Du, Hc, Hv, S, sx, sy));
  }
  CommonUniqueResult<T, ExecSpace> result;
  auto make = [](const char* label, const Shape4& s) { return make_tensor<T, ExecSpace>(label, s); };
  // The state: the codes and their images under each dictionary.
  tensor_type C = make("mcsc::common_unique::C", sc), U = make("mcsc::common_unique::U", su),
              V = make("mcsc::common_unique::V", sv);
  Impl::warm_start_block(fn, "C", initial.C, C);
  Impl::warm_start_block(fn, "U", initial.U, U);
  Impl::warm_start_block(fn, "V", initial.V, V);
  tensor_type dcC = make("mcsc::common_unique::DcC", sx), duU = make("mcsc::common_unique::DuU", sx),
              hcC = make("mcsc::common_unique::HcC", sy), hvV = make("mcsc::common_unique::HvV", sy);
  Dc.apply(C, dcC);
  Du.apply(U, duU);
  Hc.apply(C, hcC);
  Hv.apply(V, hvV);
  // Buffers: the block signals and the best iterate of each block's FISTA run.
  tensor_type xhat = make("mcsc::common_unique::xhat", sx), yhat = make("mcsc::common_unique::yhat", sy),
              p = make("mcsc::common_unique::p", sp);
  tensor_type U_new = make("mcsc::common_unique::U_new", su), duU_new = make("mcsc::common_unique::DuU_new", sx),
              V_new = make("mcsc::common_unique::V_new", sv), hvV_new = make("mcsc::common_unique::HvV_new", sy),
              C_new = make("mcsc::common_unique::C_new", sc), p_new = make("mcsc::common_unique::p_new", sp),
              dcC_new = make("mcsc::common_unique::DcC_new", sx), hcC_new = make("mcsc::common_unique::HcC_new", sy);

  for (double L : {options.lipschitz_c, options.lipschitz_u, options.lipschitz_v})
    MCSC_REQUIRE(L >= 0 && std::isfinite(L), fn,
                 "a given Lipschitz constant is " << L << " (must be finite and >= 0; 0: estimate)");
  result.lipschitz_u = options.lipschitz_u > 0 ? options.lipschitz_u : 1.01 * power_iteration(Du, su);
  result.lipschitz_v = options.lipschitz_v > 0 ? options.lipschitz_v : 1.01 * power_iteration(Hv, sv);
  result.lipschitz_c = options.lipschitz_c > 0 ? options.lipschitz_c : 1.01 * power_iteration(S, sc);
  // A named array, not a braced list: nvcc 13's front end rejects this range-for over a braced
  // list of a local's members ("'begin' was not declared").
  const double computed[] = {result.lipschitz_c, result.lipschitz_u, result.lipschitz_v};
  for (double L : computed)
    MCSC_REQUIRE(L > 0 && std::isfinite(L), fn,
                 "a Lipschitz constant is " << L << " (all-zero dictionary?): Dc " << shape_of(Dc.weights()) << ", Du "
                                            << shape_of(Du.weights()) << ", Hc " << shape_of(Hc.weights())
                                            << ", Hv " << shape_of(Hv.weights()));

  // eq. 5 as five terms.
  double rx = Impl::half_residual_squared(x, dcC, duU), ry = Impl::half_residual_squared(y, hcC, hvV);
  double nc = sum_abs(C), nu = sum_abs(U), nv = sum_abs(V);
  double F = Impl::common_unique_sum(rx, ry, nc, nu, nv, lc, lu, lv);
  result.initial_objective = F;

  BestIterate<T, ExecSpace> best;
  const auto keep_best = best.callback();
  FistaOptions inner;
  inner.max_iterations = options.inner_iterations;
  inner.accelerate = options.accelerate;
  inner.tolerance = 0;

  for (int k = 0; k < options.max_iterations; ++k) {
    const double F_before = F;
    bool changed = false;
    // Steps 1 and 2: one part's codes (U of x with Du, V of y with Hv) coded against the signal
    // less its common part; kept when eq. 5 falls. `residual` and `norm` are that part's terms
    // of F (rx and nu, or ry and nv), updated in place.
    const auto unique_step = [&](const auto& dict, const tensor_type& signal, const tensor_type& common,
                                 tensor_type& hat, tensor_type& codes, tensor_type& codes_new, tensor_type& recon,
                                 tensor_type& recon_new, double lambda, double lipschitz, double& residual,
                                 double& norm) {
      lincomb(T(1), signal, T(-1), common, hat);
      best.reset(codes_new, recon_new);
      inner.lambda = lambda;
      inner.lipschitz = lipschitz;
      fista(dict, hat, inner, codes, keep_best);
      const double residual_old = residual, norm_old = norm;
      residual = Impl::half_residual_squared(signal, common, recon_new);
      norm = sum_abs(codes_new);
      const double F_new = Impl::common_unique_sum(rx, ry, nc, nu, nv, lc, lu, lv);
      if (F_new < F) {
        std::swap(codes, codes_new);
        std::swap(recon, recon_new);
        F = F_new;
        changed = true;
      } else {
        residual = residual_old;
        norm = norm_old;
        ++result.rejected_updates;
      }
    };
    unique_step(Du, x, dcC, xhat, U, U_new, duU, duU_new, lu, result.lipschitz_u, rx, nu);  // step 1
    unique_step(Hv, y, hcC, yhat, V, V_new, hvV, hvV_new, lv, result.lipschitz_v, ry, nv);  // step 2
    // Step 3: C, the CSC of p = (x - Du*U, y - Hv*V) with [Dc; Hc] (eq. 11-12).
    lincomb(T(1), x, T(-1), duU, xhat);
    lincomb(T(1), y, T(-1), hvV, yhat);
    concat_channels(xhat, yhat, p);
    best.reset(C_new, p_new);
    inner.lambda = lc;
    inner.lipschitz = result.lipschitz_c;
    fista(S, p, inner, C, keep_best);
    split_channels(p_new, dcC_new, hcC_new);
    {
      const double rx_new = Impl::half_residual_squared(x, dcC_new, duU);
      const double ry_new = Impl::half_residual_squared(y, hcC_new, hvV), nc_new = sum_abs(C_new);
      const double F_new = Impl::common_unique_sum(rx_new, ry_new, nc_new, nu, nv, lc, lu, lv);
      if (F_new < F) {
        std::swap(C, C_new);
        std::swap(dcC, dcC_new);
        std::swap(hcC, hcC_new);
        rx = rx_new, ry = ry_new, nc = nc_new, F = F_new, changed = true;
      } else {
        ++result.rejected_updates;
      }
    }
    ExecSpace().fence();
    result.objective.push_back(F);
    result.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    result.iterations = k + 1;
    result.stalled = !changed;
    bool stop = !changed;
    if (callback && !callback(CommonUniqueIterate<T, ExecSpace>{k + 1, F, C, U, V})) stop = true;
    if (options.tolerance > 0 && F_before - F <= options.tolerance * std::abs(F_before)) stop = true;
    if (stop) break;
  }
  result.C = C;
  result.U = U;
  result.V = V;
  return result;
}

namespace Impl {
/// Checks codes against a reconstruction dictionary G: filters, batch and image size, filter size.
template <class Dictionary>
void check_codes_for(const char* fn, const char* name, const Dictionary& G, const char* code_name,
                     const typename Dictionary::tensor_type& codes, const Shape4& reference) {
  const Shape4 sw = shape_of(G.weights()), s = shape_of(codes);
  MCSC_REQUIRE(sw.size() > 0, fn, "empty dictionary " << name << " " << sw);
  MCSC_REQUIRE(s.size() > 0, fn, "zero-size codes " << code_name << " " << s);
  MCSC_REQUIRE(s.c == G.num_filters(), fn,
               code_name << " " << s << " has " << s.c << " channels but " << name << " " << sw << " has "
                         << G.num_filters() << " filters");
  MCSC_REQUIRE(s.n == reference.n && s.h == reference.h && s.w == reference.w, fn,
               code_name << " " << s << " and C " << reference << " differ in batch or image size");
  MCSC_REQUIRE(sw.h <= s.h && sw.w <= s.w, fn,
               "the " << sw.h << "x" << sw.w << " filters of " << name << " " << sw << " are larger than the "
                      << s.h << "x" << s.w << " codes " << code_name << " " << s);
}

template <class Dictionary>
CommonUniqueParts<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique_parts(
    const char* fn, const Dictionary& Gc, const Dictionary& Gu, const Dictionary* Gv,
    const typename Dictionary::tensor_type& C, const typename Dictionary::tensor_type& U,
    const typename Dictionary::tensor_type* V) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const Shape4 sc = shape_of(C);
  check_codes_for(fn, "Gc", Gc, "C", C, sc);
  check_codes_for(fn, "Gu", Gu, "U", U, sc);
  MCSC_REQUIRE(Gu.num_channels() == Gc.num_channels(), fn,
               "Gc " << shape_of(Gc.weights()) << " and Gu " << shape_of(Gu.weights())
                     << " make targets with different numbers of channels");
  if (Gv) {
    check_codes_for(fn, "Gv", *Gv, "V", *V, sc);
    MCSC_REQUIRE(Gv->num_channels() == Gc.num_channels(), fn,
                 "Gc " << shape_of(Gc.weights()) << " and Gv " << shape_of(Gv->weights())
                       << " make targets with different numbers of channels");
  }
  const Shape4 sz{sc.n, Gc.num_channels(), sc.h, sc.w};
  CommonUniqueParts<T, ExecSpace> parts;
  parts.target = make_tensor<T, ExecSpace>("mcsc::common_unique::z", sz);
  parts.common = make_tensor<T, ExecSpace>("mcsc::common_unique::z_common", sz);
  parts.unique_x = make_tensor<T, ExecSpace>("mcsc::common_unique::z_unique_x", sz);
  Gc.apply(C, parts.common);
  Gu.apply(U, parts.unique_x);
  lincomb(T(1), parts.common, T(1), parts.unique_x, parts.target);
  if (Gv) {
    parts.unique_y = make_tensor<T, ExecSpace>("mcsc::common_unique::z_unique_y", sz);
    Gv->apply(*V, parts.unique_y);
    axpby(T(1), parts.unique_y, T(1), parts.target);
  }
  return parts;
}
}  // namespace Impl

/// Restoration target, eq. 3: z = Gc*C + Gu*U (the unique content of the guide y is left out),
/// with its common and unique parts. Gc (mz, Kc, s, s), Gu (mz, Ku, s, s).
template <class Dictionary>
CommonUniqueParts<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique_restoration(
    const Dictionary& Gc, const Dictionary& Gu, const typename Dictionary::tensor_type& C,
    const typename Dictionary::tensor_type& U) {
  return Impl::common_unique_parts<Dictionary>("mcsc::common_unique_restoration", Gc, Gu, nullptr, C, U, nullptr);
}

/// Fusion target, eq. 4: z = Gc*C + Gu*U + Gv*V, with its three parts. Gv (mz, Kv, s, s).
template <class Dictionary>
CommonUniqueParts<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique_fusion(
    const Dictionary& Gc, const Dictionary& Gu, const Dictionary& Gv, const typename Dictionary::tensor_type& C,
    const typename Dictionary::tensor_type& U, const typename Dictionary::tensor_type& V) {
  return Impl::common_unique_parts("mcsc::common_unique_fusion", Gc, Gu, &Gv, C, U, &V);
}

/// eq. 3 from a solver result.
template <class Dictionary>
CommonUniqueParts<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique_restoration(
    const Dictionary& Gc, const Dictionary& Gu,
    const CommonUniqueResult<typename Dictionary::scalar_type, typename Dictionary::execution_space>& codes) {
  return common_unique_restoration(Gc, Gu, codes.C, codes.U);
}

/// eq. 4 from a solver result.
template <class Dictionary>
CommonUniqueParts<typename Dictionary::scalar_type, typename Dictionary::execution_space> common_unique_fusion(
    const Dictionary& Gc, const Dictionary& Gu, const Dictionary& Gv,
    const CommonUniqueResult<typename Dictionary::scalar_type, typename Dictionary::execution_space>& codes) {
  return common_unique_fusion(Gc, Gu, Gv, codes.C, codes.U, codes.V);
}

}  // namespace mcsc
