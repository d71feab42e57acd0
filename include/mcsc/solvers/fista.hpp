#pragma once
/// \file fista.hpp
/// FISTA (Beck & Teboulle 2009) and ISTA for convolutional basis pursuit denoising
///
///     min_U  1/2 ||y - sum_k d_k * u_k||^2 + lambda sum_k ||u_k||_1
///
/// y (N, m, H, W), U (N, K, H, W), with any dictionary operator (ConvDictionary or
/// FftConvDictionary). One iteration is the ISTA step of an LCSC stage,
///     U <- S_{lambda/L}(Z - D'(D Z - y) / L),
/// taken at the extrapolated point Z. D*Z is kept by linearity, so an iteration costs one D
/// and one D' and the objective at every iterate comes for free.
#include <chrono>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/core/communicator.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/ops/broadcast.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/power_iteration.hpp"
#include "mcsc/ops/prox.hpp"
#include "mcsc/ops/prox_step.hpp"
#include "mcsc/solvers/objective.hpp"

namespace mcsc {

/// Momentum restart of FISTA (O'Donoghue & Candes, "Adaptive restart for accelerated gradient
/// schemes", 2015): the momentum is reset (t = 1, no extrapolation) when
/// - `function`: the objective increased, F(U_k) > F(U_{k-1});
/// - `gradient`: the step went against the momentum, <Z_k - U_k, U_k - U_{k-1}> > 0.
enum class FistaRestart { none, function, gradient };

inline const char* to_string(FistaRestart r) {
  return r == FistaRestart::none ? "none" : (r == FistaRestart::function ? "function" : "gradient");
}

/// Options of fista() and coupled_l1l1().
struct FistaOptions {
  double lambda = 0.01;          ///< l1 weight, >= 0
  int max_iterations = 100;
  double tolerance = 0;          ///< stop when ||U_k - U_{k-1}|| <= tolerance ||U_k|| (0: never)
  /// Stop when the proximal-gradient residual L ||U_k - Z_k|| (zero exactly at a minimiser;
  /// FistaResult::residual) is <= residual_tolerance (0: never).
  double residual_tolerance = 0;
  /// L of D'D (times the largest squared mask value, with a mask). 0: estimated by power
  /// iteration (times 1.01), or, with backtracking, started from a cheap lower estimate.
  double lipschitz = 0;
  bool accelerate = true;        ///< false: plain ISTA (no momentum), the iteration LCSC unrolls
  FistaRestart restart = FistaRestart::none;  ///< momentum restart (accelerated runs only)
  /// Beck & Teboulle's backtracking: L is multiplied by backtracking_factor until
  /// f(U) <= f(Z) + <U - Z, grad f(Z)> + L/2 ||U - Z||^2 holds (f the smooth part); each trial
  /// costs one more D. L never decreases.
  bool backtracking = false;
  double backtracking_factor = 2;  ///< > 1
  bool nonnegative = false;        ///< fista() only: constrain U >= 0 (the prox becomes max(v - theta, 0))
  /// false: the objective is not evaluated (FistaResult::objective stays empty, FistaIterate's
  /// objective is NaN), which saves a kernel and a reduction per iteration: one reduction into a
  /// host scalar per iteration is left, the proximal step's (the residual, and the divergence
  /// check on it). Backtracking and the function restart need the objective; with either, it is
  /// evaluated and recorded anyway.
  bool objective = true;
  /// Data-parallel solves: the ranks of `communicator` (mcsc::mpi::Communicator, or any) each
  /// hold some images of one problem (every rank's signal of the same channels, height and width;
  /// the same dictionary, options and mask shape) and together solve it for all their images,
  /// iterate by iterate: every sum over the batch (the objective, the step's sums, the stopping
  /// and restart tests, backtracking's) is summed over the ranks (sum_over_ranks, in rank order),
  /// so every rank takes the same decisions and step sizes. The estimated step size then comes
  /// from a power iteration over one image (the same on every rank) times the largest mask value
  /// over the ranks. Every call is collective. Null: this process alone (docs/distributed.md).
  std::shared_ptr<Communicator> communicator;
};

/// What fista() returns. Entry k of each vector belongs to iterate k+1.
template <class T, class ExecSpace>
struct FistaResult {
  Tensor4<T, ExecSpace> codes;           ///< U (N, K, H, W)
  Tensor4<T, ExecSpace> reconstruction;  ///< D*U (N, m, H, W)
  std::vector<double> objective;         ///< empty with FistaOptions::objective = false
  std::vector<double> residual;          ///< L ||U_k - Z_k||, the proximal-gradient residual
  std::vector<double> seconds;           ///< wall time since the start, per iteration
  int iterations = 0;
  double lipschitz = 0;                  ///< the L used last (grown by backtracking, if on)
  int restarts = 0;                      ///< momentum restarts taken
  int backtracks = 0;                    ///< times L was increased by backtracking
};

/// What fista() shows its callback after every iteration (views valid during the call only).
template <class T, class ExecSpace>
struct FistaIterate {
  int iteration;                                ///< 1-based
  double objective;                             ///< NaN when not evaluated (FistaOptions::objective)
  const Tensor4<T, ExecSpace>& codes;           ///< U_k
  const Tensor4<T, ExecSpace>& reconstruction;  ///< D*U_k
  double residual = 0;                          ///< L ||U_k - Z_k||
  double lipschitz = 0;                         ///< L of this iteration
};

/// Keeps the iterate of smallest objective of a fista() or coupled_l1l1() run, in buffers the
/// caller owns: pass callback() as the run's callback, and the codes of every iterate that beats
/// the best so far (and its reconstruction, when a buffer for it was given) are copied there.
/// Never stops a run. Needs the objective (FistaOptions::objective, on by default): an iterate
/// without one is refused. Not copyable (its callback refers to it).
template <class T, class ExecSpace>
class BestIterate {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  BestIterate() = default;
  BestIterate(const BestIterate&) = delete;
  BestIterate& operator=(const BestIterate&) = delete;
  /// New buffers (of the codes' and the signal's shape), and the objective an iterate must beat
  /// to be kept (by default none: the first iterate is).
  void reset(const tensor_type& codes, const tensor_type& reconstruction = {},
             double to_beat = std::numeric_limits<double>::infinity()) {
    m_codes = codes;
    m_reconstruction = reconstruction;
    m_value = to_beat;
    m_improved = false;
  }
  bool operator()(const FistaIterate<T, ExecSpace>& it) {
    MCSC_REQUIRE(!std::isnan(it.objective), "mcsc::BestIterate",
                 "iteration " << it.iteration << " has no objective (FistaOptions::objective is off)");
    if (it.objective < m_value) {
      m_value = it.objective;
      Kokkos::deep_copy(m_codes, it.codes);
      if (m_reconstruction.data()) Kokkos::deep_copy(m_reconstruction, it.reconstruction);
      m_improved = true;
    }
    return true;
  }
  /// The callback for a run (this tracker must outlive it).
  std::function<bool(const FistaIterate<T, ExecSpace>&)> callback() {
    return [this](const FistaIterate<T, ExecSpace>& it) { return (*this)(it); };
  }
  double value() const { return m_value; }       ///< the best objective so far (or the one to beat)
  bool improved() const { return m_improved; }   ///< whether some iterate was kept since reset()

 private:
  tensor_type m_codes, m_reconstruction;
  double m_value = std::numeric_limits<double>::infinity();
  bool m_improved = false;
};

namespace Impl {
/// r = mask ⊙ (d - y) (mask null: r = d - y); returns 1/2 ||r||^2, or NaN without the reduction
/// (and its read-back) when `want_sum` is false.
template <class V, class M>
double masked_residual(const V& d, const V& y, const Broadcast<M>& mask, const V& r, bool want_sum = true) {
  using T = typename V::value_type;
  auto fd = flat(d);
  auto fy = flat(y);
  auto fr = flat(r);
  const bool masked = mask.present();
  const auto residual = KOKKOS_LAMBDA(const std::int64_t i) {
    double v = double(fd(i)) - double(fy(i));  // in double, as distance_squared()
    if (masked) v *= double(mask.at(i));
    fr(i) = T(v);
    return v;
  };
  const Kokkos::RangePolicy<exec_of<V>> all(0, fr.extent(0));
  if (!want_sum) {
    Kokkos::parallel_for("mcsc::masked_residual", all, KOKKOS_LAMBDA(const std::int64_t i) { (void)residual(i); });
    return std::numeric_limits<double>::quiet_NaN();
  }
  double half_sq = 0;
  Kokkos::parallel_reduce(
      "mcsc::masked_residual", all,
      KOKKOS_LAMBDA(const std::int64_t i, double& acc) {
        const double v = residual(i);
        acc += 0.5 * v * v;
      },
      half_sq);
  return half_sq;
}

/// r *= mask, elementwise (mask null: nothing).
template <class V, class M>
void apply_mask(const Broadcast<M>& mask, const V& r) {
  if (!mask.present()) return;
  auto fr = flat(r);
  Kokkos::parallel_for(
      "mcsc::apply_mask", Kokkos::RangePolicy<exec_of<V>>(0, fr.extent(0)),
      KOKKOS_LAMBDA(const std::int64_t i) { fr(i) *= mask.at(i); });
}

}  // namespace Impl

/// The bytes fista() and ista() allocate to code a signal of shape `signal` with D (they check
/// them against the memory budget before allocating): 4 code-sized and 4 signal-sized buffers,
/// 2 code-sized and 1 signal-sized more for the power iteration, and the dictionary's operator
/// (its FFT buffers, if any). test_admm "[memory]" checks that a run stays within it.
template <class Dictionary>
double fista_memory_bytes(const Dictionary& D, const Shape4& signal) {
  const Shape4 codes = D.code_shape(signal);
  return D.operator_bytes(codes) +
         double(sizeof(typename Dictionary::scalar_type)) * (6.0 * double(codes.size()) + 5.0 * double(signal.size()));
}

namespace Impl {
/// "coding a signal (N, C, H, W) with codes (N, K, H, W)", for the memory estimates' messages.
inline std::string coding_what(const Shape4& signal, const Shape4& codes) {
  std::ostringstream what;
  what << "coding a signal " << signal << " with codes " << codes;
  return what.str();
}

/// <z - x, x - x_prev>, the gradient-restart test.
template <class V>
double restart_product(const V& z, const V& x, const V& x_prev) {
  auto fz = flat(z);
  auto fx = flat(x);
  auto fp = flat(x_prev);
  double acc = 0;
  Kokkos::parallel_reduce(
      "mcsc::restart_product", Kokkos::RangePolicy<exec_of<V>>(0, fx.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& a) {
        a += (double(fz(i)) - double(fx(i))) * (double(fx(i)) - double(fp(i)));
      },
      acc);
  return acc;
}

/// The largest value of a nonnegative tensor (null: 1).
template <class V>
double max_value_or_one(const V& v) {
  if (v.data() == nullptr) return 1;
  auto fv = flat(v);
  double m = 0;
  Kokkos::parallel_reduce(
      "mcsc::max_value", Kokkos::RangePolicy<exec_of<V>>(0, fv.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i, double& a) { a = double(fv(i)) > a ? double(fv(i)) : a; },
      Kokkos::Max<double>(m));
  return m;
}

/// The proximal-gradient loop shared by fista() and coupled_l1l1(), for
///     min_U  1/2 ||mask ⊙ (y - D U)||^2 + g(U):
///     U_k = prox_{g/L}(Z_k - D'(mask² ⊙ (D Z_k - y)) / L),  Z_{k+1} = U_k + beta_k (U_k - U_{k-1})
/// (beta_k = 0 without acceleration or after a restart), D*Z kept by linearity so that an
/// iteration costs one D and one D' (plus one D per backtracking trial).
/// The proximal step is prox_gradient_step() with `penalty` (ops/prox_step.hpp): one kernel and
/// one reduction. Checks the inputs common to both solvers (fn names the caller).
///
/// Reductions read back per iteration (each a synchronisation on a device): without backtracking
/// two, the data term at the new iterate and the step's sums (the objective and the residual of
/// the history), or only the step's sums with options.objective = false; with backtracking, one
/// more for the data term at Z and two per trial. The stopping test options.tolerance adds two
/// (||U_k - U_{k-1}||, ||U_k||), the gradient restart one; residual_tolerance adds none.
template <class Dictionary>
FistaResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> proximal_gradient(
    const char* fn, const Dictionary& D, const typename Dictionary::tensor_type& y, const FistaOptions& options,
    const typename Dictionary::tensor_type& initial_codes,
    const std::function<bool(const FistaIterate<typename Dictionary::scalar_type,
                                                typename Dictionary::execution_space>&)>& callback,
    const typename Dictionary::tensor_type& mask, const ProxPenalty<typename Dictionary::tensor_type>& penalty) {
  using T = typename Dictionary::scalar_type;
  using ExecSpace = typename Dictionary::execution_space;
  const Shape4 sy = shape_of(y);
  MCSC_REQUIRE(options.lambda >= 0 && std::isfinite(options.lambda), fn, "lambda must be finite and >= 0, got "
                                                                             << options.lambda);
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0");
  MCSC_REQUIRE(options.tolerance >= 0 && options.residual_tolerance >= 0, fn,
               "tolerances must be >= 0, got " << options.tolerance << ", " << options.residual_tolerance);
  MCSC_REQUIRE(options.lipschitz >= 0 && std::isfinite(options.lipschitz), fn,
               "lipschitz must be finite and >= 0 (0: estimated), got " << options.lipschitz);
  MCSC_REQUIRE(!options.backtracking || options.backtracking_factor > 1, fn,
               "backtracking_factor must be > 1, got " << options.backtracking_factor);
  MCSC_REQUIRE(sy.size() > 0, fn, "zero-size signal " << sy);
  MCSC_REQUIRE(sy.c == D.num_channels(), fn, "signal " << sy << " has " << sy.c << " channels but the dictionary "
                                                       << shape_of(D.weights()) << " has " << D.num_channels());
  const Shape4 sw = shape_of(D.weights());
  MCSC_REQUIRE(sw.h <= sy.h && sw.w <= sy.w, fn,
               "filters " << sw.h << "x" << sw.w << " of dictionary " << sw << " are larger than the image " << sy.h
                          << "x" << sy.w << " of signal " << sy);
  require_finite(fn, y);
  const auto m = broadcast_to(fn, "mask", mask, sy);
  const Shape4 sc = D.code_shape(sy);
  // Memory, checked before anything is allocated (core/memory.hpp).
  require_memory(fn, Impl::coding_what(sy, sc), fista_memory_bytes(D, sy));

  FistaResult<T, ExecSpace> result;
  result.codes = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::codes", sc);
  result.reconstruction = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::reconstruction", sy);
  if (initial_codes.data() != nullptr) {
    MCSC_REQUIRE(shape_of(initial_codes) == sc, fn, "initial codes " << shape_of(initial_codes) << " should be " << sc);
    require_finite(fn, initial_codes);
    Kokkos::deep_copy(result.codes, initial_codes);
  }

  auto x = result.codes;                      // U_k
  auto dx = result.reconstruction;            // D U_k
  auto x_prev = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::codes_prev", sc);
  auto dx_prev = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::reconstruction_prev", sy);
  auto z = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::extrapolated", sc);
  auto dz = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::extrapolated_reconstruction", sy);
  auto g = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::gradient", sc);
  auto r = make_tensor<T, ExecSpace>("mcsc::proximal_gradient::residual", sy);
  D.apply(x, dx);
  Kokkos::deep_copy(z, x);
  Kokkos::deep_copy(dz, dx);

  // With a communicator, every sum over the batch is summed over the ranks too (one gather for
  // the values given together; at most 4 here).
  Communicator* const ranks = options.communicator.get();
  const auto over_ranks = [ranks](std::initializer_list<double*> values) {
    if (!ranks) return;
    double v[4];
    std::size_t n = 0;
    for (double* p : values) v[n++] = *p;
    sum_over_ranks(*ranks, v, n);
    n = 0;
    for (double* p : values) *p = v[n++];
  };
  // The step size. Without backtracking L must bound lambda_max(D' mask² D) <= max(mask)²
  // lambda_max(D'D); with it, a lower estimate (a Rayleigh quotient at the first gradient) is
  // enough to start from.
  double L = options.lipschitz;
  if (L == 0 && options.backtracking) {
    masked_residual(dz, y, m, r, false);
    apply_mask(m, r);
    D.adjoint(r, g);
    double gg = sum_squares(g), rr = 0;
    if (gg > 0) {
      D.apply(g, r);
      apply_mask(m, r);
      rr = sum_squares(r);
    }
    over_ranks({&gg, &rr});
    if (gg > 0) L = rr / gg;  // ||mask ⊙ D g||² / ||g||² <= lambda_max(D' mask² D)
  }
  if (L == 0) {
    double mmax = max_value_or_one(mask);
    if (ranks) max_over_ranks(*ranks, &mmax, 1);
    // (alone: over the codes' shape, as always; over ranks: one image, the same on every rank)
    L = 1.01 * mmax * mmax * power_iteration(D, ranks ? Shape4{1, sc.c, sc.h, sc.w} : sc);
  }
  MCSC_REQUIRE(L > 0 && std::isfinite(L), fn, "the Lipschitz constant is " << L << " (all-zero dictionary or mask?)");

  // The objective at the new iterate: asked for, or needed by backtracking or the function restart.
  const bool evaluate = options.objective || options.backtracking ||
                        (options.accelerate && options.restart == FistaRestart::function);
  double t = 1;
  double previous_objective = std::numeric_limits<double>::infinity();
  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < options.max_iterations; ++k) {
    Kokkos::deep_copy(x_prev, x);
    Kokkos::deep_copy(dx_prev, dx);
    // r = mask ⊙ (D Z - y), and f(Z) when the backtracking test needs it.
    double fz = masked_residual(dz, y, m, r, options.backtracking);
    if (options.backtracking) over_ranks({&fz});
    apply_mask(m, r);  // r = mask² ⊙ (D Z - y)
    D.adjoint(r, g);   // gradient at Z: D' mask² (D Z - y)
    double fx = 0;
    StepSums sums;
    for (;;) {
      sums = prox_gradient_step(penalty, z, g, T(1.0 / L), x);
      D.apply(x, dx);
      if (evaluate) fx = masked_residual(dx, y, m, r);
      over_ranks({&sums.penalty, &sums.change, &sums.inner, &fx});
      if (!evaluate || !options.backtracking) break;
      // the quadratic upper bound, with a little slack for rounding
      const double bound = fz + sums.inner + 0.5 * L * sums.change;
      if (fx <= bound + 1e-12 * std::abs(bound) || !std::isfinite(fx)) break;
      L *= options.backtracking_factor;
      ++result.backtracks;
      MCSC_REQUIRE_NUMERIC(std::isfinite(L), fn, "backtracking made L infinite");
    }
    const double value = evaluate ? fx + sums.penalty : std::numeric_limits<double>::quiet_NaN();
    const double residual = L * std::sqrt(sums.change);
    ExecSpace().fence();
    if (evaluate) result.objective.push_back(value);
    result.residual.push_back(residual);
    result.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    result.iterations = k + 1;
    result.lipschitz = L;
    if (evaluate) MCSC_REQUIRE_NUMERIC(std::isfinite(value), fn, "objective became " << value << " at iteration " << k + 1);
    MCSC_REQUIRE_NUMERIC(std::isfinite(residual), fn, "the residual became " << residual << " at iteration " << k + 1);
    bool restart = false;
    if (options.accelerate && k > 0) {
      if (options.restart == FistaRestart::function) restart = value > previous_objective;
      if (options.restart == FistaRestart::gradient) {
        double product = restart_product(z, x, x_prev);
        over_ranks({&product});
        restart = product > 0;
      }
    }
    previous_objective = value;
    if (restart) {
      ++result.restarts;
      t = 1;
    }
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    const T beta = options.accelerate && !restart ? T((t - 1) / t_next) : T(0);
    t = restart ? 1 : t_next;
    lincomb(T(1) + beta, x, -beta, x_prev, z);
    lincomb(T(1) + beta, dx, -beta, dx_prev, dz);
    bool stop = callback && !callback(FistaIterate<T, ExecSpace>{k + 1, value, x, dx, residual, L});
    if (options.tolerance > 0) {
      double change2 = distance_squared(x, x_prev), norm2 = sum_squares(x);
      over_ranks({&change2, &norm2});
      stop = stop || std::sqrt(change2) <= options.tolerance * std::sqrt(norm2);
    }
    if (options.residual_tolerance > 0) stop = stop || residual <= options.residual_tolerance;
    if (stop) break;
  }
  return result;
}
}  // namespace Impl

/// Solves CBPDN by FISTA (or ISTA with options.accelerate = false),
///
///     min_U  1/2 ||mask ⊙ (y - D*U)||^2 + lambda sum w ⊙ |U|   (U >= 0 with options.nonnegative)
///
/// y: (N, m, H, W) signal; initial_codes: optional warm start (N, K, H, W). `callback(iterate)`
/// (a FistaIterate: iteration, objective, codes, D*codes, residual, L) is called after every
/// iteration when given; returning false stops early.
/// l1_weights (optional): w >= 0 broadcast to the code shape, e.g. (1, K, 1, 1) per filter,
/// (N, K, H, W) or (1, 1, H, W) per pixel. mask (optional): >= 0 broadcast to the signal shape,
/// e.g. (1, 1, H, W); 0 excludes a pixel from the data term (a cropped boundary, missing pixels).
template <class Dictionary>
FistaResult<typename Dictionary::scalar_type, typename Dictionary::execution_space> fista(
    const Dictionary& D, const typename Dictionary::tensor_type& y, const FistaOptions& options,
    const typename Dictionary::tensor_type& initial_codes = {},
    const std::function<bool(const FistaIterate<typename Dictionary::scalar_type,
                                                typename Dictionary::execution_space>&)>& callback = {},
    const typename Dictionary::tensor_type& l1_weights = {}, const typename Dictionary::tensor_type& mask = {}) {
  const char* fn = "mcsc::fista";
  MCSC_REQUIRE(shape_of(y).size() > 0, fn, "zero-size signal " << shape_of(y));
  const auto weights = broadcast_to(fn, "l1 weights", l1_weights, D.code_shape(shape_of(y)));
  return Impl::proximal_gradient(fn, D, y, options, initial_codes, callback, mask,
                                 l1_penalty(options.lambda, weights, options.nonnegative));
}

}  // namespace mcsc
