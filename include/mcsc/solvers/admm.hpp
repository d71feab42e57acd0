#pragma once
/// \file admm.hpp
/// ADMM for convolutional basis pursuit denoising with a circular boundary,
///
///     min_U  1/2 ||y - sum_k d_k * u_k||^2 + lambda sum_k ||u_k||_1,
///
/// as SPORCO's ConvBPDN (B. Wohlberg, "Efficient algorithms for convolutional sparse
/// representations", IEEE TIP 25(1), 2016). The variable splitting U = V gives, with the scaled
/// dual W and penalty rho,
///
///     X    = argmin 1/2 ||y - D X||^2 + rho/2 ||X - V + W||^2
///          = (D'D + rho I)^{-1} (D'y + rho (V - W))          (solved per frequency, see below)
///     X_r  = alpha X + (1 - alpha) V                          (over-relaxation, alpha = 1.8)
///     V    = S_{lambda/rho}(X_r + W)
///     W   += X_r - V
///
/// With the circular boundary the DFT diagonalises D: at each frequency D is the m x K matrix A
/// of filter spectra, and the X-step is the K x K system (A^H A + rho I) x = b. It is solved
/// through the push-through identity
///
///     (A^H A + rho I)^{-1} b = (b - A^H (rho I_m + A A^H)^{-1} A b) / rho,
///
/// i.e. an m x m Hermitian positive definite system per frequency, whose Cholesky factor is
/// computed once per value of rho (CbpdnFrequencySolver::set_rho). For m = 1 this is exactly
/// the Sherman-Morrison formula x = (b - d (d^H b) / (rho + d^H d)) / rho of the paper
/// (d = conj(A)^T, the K filter spectra). Real signals: only the half spectrum (W/2 + 1 columns)
/// is stored and solved.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <vector>

#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/ops/prox.hpp"
#include "mcsc/ops/prox_step.hpp"
#include "mcsc/solvers/fista.hpp"

namespace mcsc {

/// Options of admm_cbpdn(). Defaults are SPORCO's where SPORCO has one (see admm_cbpdn()).
struct AdmmOptions {
  double lambda = 0.01;        ///< l1 weight, >= 0
  double rho = 0;              ///< initial penalty, > 0; 0: 50 lambda + 1 (SPORCO's ConvBPDN default)
  double alpha = 1.8;          ///< over-relaxation, in (0, 2); 1: none
  int max_iterations = 100;
  /// Stop when ||X - V|| <= sqrt(n) abs_tolerance + rel_tolerance max(||X||, ||V||) and
  /// rho ||V - V_prev|| <= sqrt(n) abs_tolerance + rel_tolerance rho ||W|| (Boyd et al. 2011,
  /// SPORCO's test; n the number of code entries). Both 0: run max_iterations.
  double abs_tolerance = 0;
  double rel_tolerance = 0;
  /// Residual balancing (SPORCO's AutoRho). The defaults are SPORCO's generic ADMM ones
  /// (RsdlRatio 10, Scaling 2, no AutoScaling, RsdlTarget 1); sporco_convbpdn() gives those of
  /// SPORCO's ConvBPDN (1.2, 1000, AutoScaling, 1 + 18.3^(log10 lambda + 1)).
  bool adaptive_rho = true;
  double rho_mu = 10;           ///< rebalance when r > xi mu s (rho up) or s > (mu / xi) r (rho down)
  double rho_tau = 2;           ///< ... by this factor (the largest factor with rho_autoscaling)
  bool rho_autoscaling = false; ///< the factor is sqrt(r / (xi s)) (or its inverse), at most rho_tau
  double rho_target = 1;        ///< xi, the target ratio r / s; 0: 1 + 18.3^(log10 lambda + 1) (1 for lambda 0)
  int rho_period = 1;           ///< consider a change every rho_period iterations
  /// Also report the objective at X, the X-step's non-sparse solution (AdmmResult::objective_x),
  /// as SPORCO's ConvBPDN does by default; costs one more D per iteration.
  bool report_objective_x = false;

  /// SPORCO's ConvBPDN defaults for this lambda: rho 50 lambda + 1, alpha 1.8, AutoRho with
  /// RsdlRatio 1.2, Scaling 1000, AutoScaling and RsdlTarget 1 + 18.3^(log10 lambda + 1),
  /// objective reported at X as well.
  static AdmmOptions sporco_convbpdn(double lambda) {
    AdmmOptions o;
    o.lambda = lambda;
    o.rho_mu = 1.2;
    o.rho_tau = 1000;
    o.rho_autoscaling = true;
    o.rho_target = 0;
    o.report_objective_x = true;
    return o;
  }

  /// The target ratio xi used: rho_target, or ConvBPDN's rule for this lambda.
  double residual_target() const {
    if (rho_target > 0) return rho_target;
    return lambda > 0 ? 1 + std::pow(18.3, std::log10(lambda) + 1) : 1.0;
  }
};

/// What admm_cbpdn() returns. Entry k of each vector belongs to iteration k+1.
template <class T, class ExecSpace>
struct AdmmResult {
  Tensor4<T, ExecSpace> codes;           ///< V (N, K, H, W), the sparse variable
  Tensor4<T, ExecSpace> reconstruction;  ///< D*V (N, m, H, W), circular boundary
  std::vector<double> objective;         ///< 1/2 ||y - D V||^2 + lambda ||V||_1
  std::vector<double> objective_x;       ///< the same at X (with options.report_objective_x)
  std::vector<double> primal_residual;   ///< ||X - V||
  std::vector<double> dual_residual;     ///< rho ||V - V_prev||
  std::vector<double> rho;               ///< the penalty used in the iteration
  std::vector<double> seconds;           ///< wall time since the start
  int iterations = 0;
  Tensor4<T, ExecSpace> dual;            ///< the scaled dual W at the end (for a warm start)
  double final_rho = 0;                  ///< the penalty at the end (for a warm start)
};

/// What admm_cbpdn() shows its callback after every iteration (views valid during the call only).
template <class T, class ExecSpace>
struct AdmmIterate {
  int iteration;  ///< 1-based
  double objective, primal_residual, dual_residual, rho;
  const Tensor4<T, ExecSpace>& codes;           ///< V
  const Tensor4<T, ExecSpace>& reconstruction;  ///< D*V
};

/// The X-step of ADMM for CBPDN with a circular boundary: X = (D'D + rho I)^{-1} (D'y + rho Z)
/// for the y given to the constructor, computed per frequency (see the file comment). Owns the
/// FFT plan and every buffer it needs, so solve() allocates nothing. Non-copyable.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class CbpdnFrequencySolver {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using plan_type = FftPlan2d<ExecSpace, T>;
  using spectrum_view = typename plan_type::spectrum_view;
  using complex_type = Kokkos::complex<T>;
  /// (rows, cols/2 + 1, m, m): the Cholesky factor L of rho I + A A^H per frequency (lower part).
  using factor_view = Kokkos::View<complex_type****, Kokkos::LayoutRight, DeviceOf<ExecSpace>>;
  /// (N * rows * (cols/2 + 1), m): per-frequency scratch of the m x m solves.
  using work_view = Kokkos::View<complex_type**, Kokkos::LayoutRight, DeviceOf<ExecSpace>>;

  /// Bytes a solver for weights (m, K, s, s) and a signal (N, m, H, W) allocates: the circular
  /// dictionary's FFT operator, its own plan, right-hand side, factors, scratch and D'y.
  static double bytes(const Shape4& weights, const Shape4& signal) {
    const Shape4 codes{signal.n, weights.c, signal.h, signal.w};
    const double N = double(signal.n), K = double(weights.c), M = double(weights.n), R = double(signal.h),
                 F = std::floor(double(signal.w) / 2) + 1, c = sizeof(complex_type);
    return FftConv2d<T, ExecSpace>::bytes(codes, int(weights.n), int(weights.h), int(weights.w), Boundary::circular) +
           plan_type::bytes(N * K, R, double(signal.w)) + N * K * R * F * c + R * F * M * M * c + N * R * F * M * c +
           double(codes.size()) * sizeof(T);
  }

  /// weights (m, K, s, s), y (N, m, H, W).
  CbpdnFrequencySolver(const tensor_type& weights, const tensor_type& y)
      : m_dictionary(weights, Boundary::circular),
        m_signal(shape_of(y)),
        m_codes(m_dictionary.code_shape(m_signal)),
        m_plan(int(m_codes.n * m_codes.c), int(m_codes.h), int(m_codes.w)) {
    const char* fn = "mcsc::CbpdnFrequencySolver";
    MCSC_REQUIRE(m_signal.c == m_dictionary.num_channels(), fn,
                 "signal " << m_signal << " has " << m_signal.c << " channels but the dictionary "
                           << shape_of(weights) << " has " << m_dictionary.num_channels());
    m_spectra = m_dictionary.operator_for(m_codes, fn).weight_spectra();
    const int R = int(m_codes.h), F = int(m_codes.w) / 2 + 1, M = int(m_signal.c);
    m_rhs = spectrum_view("mcsc::CbpdnFrequencySolver::rhs", m_codes.n * m_codes.c, R, F);
    m_factor = factor_view("mcsc::CbpdnFrequencySolver::factor", R, F, M, M);
    m_work = work_view("mcsc::CbpdnFrequencySolver::work", m_codes.n * R * F, M);
    // The spectrum of D'y, computed once.
    auto dty = make_tensor<T, ExecSpace>("mcsc::CbpdnFrequencySolver::dty", m_codes);
    m_dictionary.adjoint(y, dty);
    Kokkos::deep_copy(Impl::flat(m_plan.real()), Impl::flat(dty));
    m_plan.forward();
    Kokkos::deep_copy(m_rhs, m_plan.spectrum());
  }
  CbpdnFrequencySolver(const CbpdnFrequencySolver&) = delete;
  CbpdnFrequencySolver& operator=(const CbpdnFrequencySolver&) = delete;

  /// The dictionary (circular boundary) whose operator supplies the filter spectra.
  const FftConvDictionary<T, ExecSpace>& dictionary() const { return m_dictionary; }
  const Shape4& signal_shape() const { return m_signal; }
  const Shape4& code_shape() const { return m_codes; }
  double rho() const { return m_rho; }

  /// Sets rho and refactors rho I + A A^H at every frequency.
  void set_rho(double rho) {
    MCSC_REQUIRE(rho > 0 && std::isfinite(rho), "mcsc::CbpdnFrequencySolver::set_rho",
                 "rho must be finite and > 0, got " << rho);
    m_rho = rho;
    factor(m_spectra, m_factor, int(m_codes.c), T(rho));
  }

  /// x = (D'D + rho I)^{-1} (D'y + rho (v - w)); v, w, x (N, K, H, W); x may alias v or w.
  void solve(const tensor_type& v, const tensor_type& w, const tensor_type& x) const {
    const char* fn = "mcsc::CbpdnFrequencySolver::solve";
    MCSC_REQUIRE(m_rho > 0, fn, "set_rho() was not called");
    MCSC_REQUIRE(shape_of(v) == m_codes && shape_of(w) == m_codes && shape_of(x) == m_codes, fn,
                 "v " << shape_of(v) << ", w " << shape_of(w) << ", x " << shape_of(x) << " should all be "
                      << m_codes);
    difference(v, w, m_plan.real());
    m_plan.forward();
    solve_spectrum(m_spectra, m_factor, m_rhs, m_plan.spectrum(), m_work, int(m_codes.n), int(m_codes.c),
                   T(m_rho));
    m_plan.inverse();
    unscale(m_plan.real(), x);
  }

  // The kernels below are public only because nvcc does not allow KOKKOS_LAMBDA in private
  // member functions; they are not part of the API.

  /// real = v - w (same flat layout).
  static void difference(const tensor_type& v, const tensor_type& w, const typename plan_type::real_view& real) {
    auto fv = Impl::flat(v);
    auto fw = Impl::flat(w);
    auto fr = Impl::flat(real);
    Kokkos::parallel_for(
        "mcsc::CbpdnFrequencySolver::difference", Kokkos::RangePolicy<ExecSpace>(0, fr.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { fr(i) = fv(i) - fw(i); });
  }

  /// x = real / (rows * cols) (the inverse FFT is unnormalised).
  static void unscale(const typename plan_type::real_view& real, const tensor_type& x) {
    auto fr = Impl::flat(real);
    auto fx = Impl::flat(x);
    const T s = T(1) / (T(real.extent(1)) * T(real.extent(2)));
    Kokkos::parallel_for(
        "mcsc::CbpdnFrequencySolver::unscale", Kokkos::RangePolicy<ExecSpace>(0, fx.extent(0)),
        KOKKOS_LAMBDA(const std::size_t i) { fx(i) = s * fr(i); });
  }

  /// L L^H = rho I + A A^H per frequency, A(o, k) = spectra(o * K + k) (m x K); lower triangle.
  static void factor(const spectrum_view& spectra, const factor_view& L, int K, T rho) {
    const int R = int(L.extent(0)), F = int(L.extent(1)), M = int(L.extent(2));
    Kokkos::parallel_for(
        "mcsc::CbpdnFrequencySolver::factor", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(R) * F),
        KOKKOS_LAMBDA(const std::int64_t idx) {
          const int f = int(idx % F), r = int(idx / F);
          for (int i = 0; i < M; ++i)
            for (int j = 0; j <= i; ++j) {
              complex_type acc(i == j ? rho : T(0), T(0));
              for (int k = 0; k < K; ++k) acc += spectra(i * K + k, r, f) * Kokkos::conj(spectra(j * K + k, r, f));
              L(r, f, i, j) = acc;
            }
          for (int j = 0; j < M; ++j) {
            T d = L(r, f, j, j).real();
            for (int p = 0; p < j; ++p) {
              const complex_type l = L(r, f, j, p);
              d -= l.real() * l.real() + l.imag() * l.imag();
            }
            const T ljj = math::sqrt(d);  // d >= rho > 0 in exact arithmetic
            L(r, f, j, j) = complex_type(ljj, T(0));
            for (int i = j + 1; i < M; ++i) {
              complex_type acc = L(r, f, i, j);
              for (int p = 0; p < j; ++p) acc -= L(r, f, i, p) * Kokkos::conj(L(r, f, j, p));
              L(r, f, i, j) = acc / ljj;
            }
          }
        });
  }

  /// s <- (A^H A + rho I)^{-1} (rhs + rho s) in place, per (n, frequency); s, rhs (N * K, R, F).
  static void solve_spectrum(const spectrum_view& spectra, const factor_view& L, const spectrum_view& rhs,
                             const spectrum_view& s, const work_view& work, int N, int K, T rho) {
    const int R = int(s.extent(1)), F = int(s.extent(2)), M = int(L.extent(2));
    const T inv_rho = T(1) / rho;
    Kokkos::parallel_for(
        "mcsc::CbpdnFrequencySolver::solve_spectrum", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(N) * R * F),
        KOKKOS_LAMBDA(const std::int64_t idx) {
          const int f = int(idx % F), r = int((idx / F) % R), n = int(idx / (std::int64_t(F) * R));
          // c = A b, b = rhs + rho s
          for (int o = 0; o < M; ++o) {
            complex_type c(0, 0);
            for (int k = 0; k < K; ++k)
              c += spectra(o * K + k, r, f) * (rhs(n * K + k, r, f) + rho * s(n * K + k, r, f));
            work(idx, o) = c;
          }
          // t = (rho I + A A^H)^{-1} c: L z = c, then L^H t = z
          for (int o = 0; o < M; ++o) {
            complex_type z = work(idx, o);
            for (int p = 0; p < o; ++p) z -= L(r, f, o, p) * work(idx, p);
            work(idx, o) = z / L(r, f, o, o).real();
          }
          for (int o = M - 1; o >= 0; --o) {
            complex_type t = work(idx, o);
            for (int p = o + 1; p < M; ++p) t -= Kokkos::conj(L(r, f, p, o)) * work(idx, p);
            work(idx, o) = t / L(r, f, o, o).real();
          }
          // x = (b - A^H t) / rho
          for (int k = 0; k < K; ++k) {
            complex_type acc = rhs(n * K + k, r, f) + rho * s(n * K + k, r, f);
            for (int o = 0; o < M; ++o) acc -= Kokkos::conj(spectra(o * K + k, r, f)) * work(idx, o);
            s(n * K + k, r, f) = acc * inv_rho;
          }
        });
  }

 private:
  FftConvDictionary<T, ExecSpace> m_dictionary;
  Shape4 m_signal, m_codes;
  plan_type m_plan;
  spectrum_view m_spectra, m_rhs;
  factor_view m_factor;
  work_view m_work;
  double m_rho = 0;
};

namespace Impl {
template <class F>
struct non_deduced {
  using type = F;
};

}  // namespace Impl

/// Over-relaxation, shrinkage and dual update of one ADMM iteration for CBPDN, elementwise over
/// tensors of one shape (admm_cbpdn's sparse step; public for solvers and benchmarks that drive
/// their own ADMM loop, as bench_solvers' SPORCO replica does):
/// v_prev = v; x_r = alpha x + (1 - alpha) v; v = S_theta(x_r + w); w += x_r - v.
template <class V>
void admm_cbpdn_update(const V& x, const V& v, const V& w, const V& v_prev, typename V::value_type alpha,
                       typename V::value_type theta) {
  using T = typename V::value_type;
  Impl::require_same_shape("mcsc::admm_cbpdn_update", x, v);
  Impl::require_same_shape("mcsc::admm_cbpdn_update", x, w);
  Impl::require_same_shape("mcsc::admm_cbpdn_update", x, v_prev);
  auto fx = Impl::flat(x);
  auto fv = Impl::flat(v);
  auto fw = Impl::flat(w);
  auto fp = Impl::flat(v_prev);
  const auto penalty = l1_penalty<V>(1.0);  // the l1 prox, with the threshold theta given
  Kokkos::parallel_for(
      "mcsc::admm_cbpdn_update", Kokkos::RangePolicy<typename V::execution_space>(0, fv.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) {
        const T v_old = fv(i);
        const T xr = alpha * fx(i) + (T(1) - alpha) * v_old;
        const T v_new = penalty.prox(std::int64_t(i), xr + fw(i), theta);
        fw(i) += xr - v_new;
        fv(i) = v_new;
        fp(i) = v_old;
      });
}

/// Solves CBPDN with a circular boundary by ADMM, as SPORCO's admm.cbpdn.ConvBPDN.
/// weights (m, K, s, s), y (N, m, H, W); returns V (N, K, H, W) and D*V.
///
/// Starts from V = W = 0, or warm: V = initial_codes (N, K, H, W) and, when given, W =
/// initial_dual (same shape; continuing a run exactly takes its codes, dual and final_rho as
/// options.rho). Adaptive rho (options.adaptive_rho) follows SPORCO's AutoRho with
/// StdResiduals = False (AdmmOptions::sporco_convbpdn() sets ConvBPDN's parameters): with the relative residuals
/// r = ||X - V|| / max(||X||, ||V||) and s = rho ||V - V_prev|| / (rho ||W||), every rho_period
/// iterations (from the second) rho is multiplied by a factor f when r > xi mu s and divided by
/// it when s > (mu / xi) r, f = min(tau, sqrt(r / (xi s)) or its inverse) with rho_autoscaling,
/// tau otherwise (mu = rho_mu, tau = rho_tau, xi = residual_target()); W is divided by the same
/// factor and the per-frequency factorisation is redone. The objective is reported at V, the
/// sparse variable, and also at X with options.report_objective_x (as SPORCO's ConvBPDN reports it). `callback(iterate)` (an AdmmIterate) is called after
/// every iteration when given; returning false stops early.
template <class T, class ExecSpace>
AdmmResult<T, ExecSpace> admm_cbpdn(
    const Tensor4<T, ExecSpace>& weights, const Tensor4<T, ExecSpace>& y, const AdmmOptions& options,
    const typename Impl::non_deduced<std::function<bool(const AdmmIterate<T, ExecSpace>&)>>::type& callback = {},
    const Tensor4<T, ExecSpace>& initial_codes = {}, const Tensor4<T, ExecSpace>& initial_dual = {}) {
  const char* fn = "mcsc::admm_cbpdn";
  const Shape4 sw = shape_of(weights), sy = shape_of(y);
  MCSC_REQUIRE(options.lambda >= 0 && std::isfinite(options.lambda), fn,
               "lambda must be finite and >= 0, got " << options.lambda);
  MCSC_REQUIRE(options.rho >= 0 && std::isfinite(options.rho), fn,
               "rho must be finite and > 0 (or 0 for 50 lambda + 1), got " << options.rho);
  MCSC_REQUIRE(options.alpha > 0 && options.alpha < 2, fn, "alpha must be in (0, 2), got " << options.alpha);
  MCSC_REQUIRE(options.max_iterations >= 0, fn, "max_iterations must be >= 0, got " << options.max_iterations);
  MCSC_REQUIRE(options.abs_tolerance >= 0 && options.rel_tolerance >= 0, fn,
               "tolerances must be >= 0, got abs " << options.abs_tolerance << ", rel " << options.rel_tolerance);
  MCSC_REQUIRE(!options.adaptive_rho || (options.rho_mu >= 1 && options.rho_tau > 1 && options.rho_period >= 1 &&
                                          options.rho_target >= 0 && std::isfinite(options.rho_target)),
               fn, "adaptive rho needs rho_mu >= 1, rho_tau > 1, rho_period >= 1, rho_target >= 0, got "
                       << options.rho_mu << ", " << options.rho_tau << ", " << options.rho_period << ", "
                       << options.rho_target);
  MCSC_REQUIRE(sw.size() > 0, fn, "empty dictionary " << sw);
  MCSC_REQUIRE(sy.size() > 0, fn, "zero-size signal " << sy);
  MCSC_REQUIRE(sy.c == sw.n, fn,
               "signal " << sy << " has " << sy.c << " channels but the dictionary " << sw << " has " << sw.n);
  MCSC_REQUIRE(sw.h <= sy.h && sw.w <= sy.w, fn,
               "filters " << sw.h << "x" << sw.w << " of dictionary " << sw << " are larger than the image "
                          << sy.h << "x" << sy.w << " of signal " << sy);
  require_finite(fn, weights);
  require_finite(fn, y);
  // Memory, checked before anything is allocated: the frequency-domain solver, and 4 code-sized
  // and 2 or 3 signal-sized buffers of the iteration.
  const Shape4 codes{sy.n, sw.c, sy.h, sy.w};
  require_memory(fn, Impl::coding_what(sy, codes),
                 CbpdnFrequencySolver<T, ExecSpace>::bytes(sw, sy) +
                     sizeof(T) * (4.0 * double(codes.size()) + (options.report_objective_x ? 3.0 : 2.0) * double(sy.size())));

  CbpdnFrequencySolver<T, ExecSpace> xstep(weights, y);
  const auto& D = xstep.dictionary();
  const Shape4 sc = xstep.code_shape();
  double rho = options.rho > 0 ? options.rho : 50 * options.lambda + 1;
  xstep.set_rho(rho);

  AdmmResult<T, ExecSpace> result;
  result.codes = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::codes", sc);
  result.reconstruction = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::reconstruction", sy);
  auto v = result.codes;
  auto x = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::x", sc);
  auto w = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::dual", sc);
  result.dual = w;
  if (initial_codes.data() != nullptr) {
    MCSC_REQUIRE(shape_of(initial_codes) == sc, fn, "initial codes " << shape_of(initial_codes) << " should be " << sc);
    require_finite(fn, initial_codes);
    Kokkos::deep_copy(v, initial_codes);
  }
  if (initial_dual.data() != nullptr) {
    MCSC_REQUIRE(shape_of(initial_dual) == sc, fn, "initial dual " << shape_of(initial_dual) << " should be " << sc);
    require_finite(fn, initial_dual);
    Kokkos::deep_copy(w, initial_dual);
  }
  result.final_rho = rho;
  D.apply(v, result.reconstruction);  // D V of the start (for max_iterations = 0)
  auto v_prev = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::codes_prev", sc);
  Tensor4<T, ExecSpace> dx;  // D X, only to report the objective at X
  if (options.report_objective_x) dx = make_tensor<T, ExecSpace>("mcsc::admm_cbpdn::dx", sy);
  const int n_max = options.max_iterations;
  for (auto* vec : {&result.objective, &result.primal_residual, &result.dual_residual, &result.rho, &result.seconds})
    vec->reserve(std::size_t(n_max));
  const bool check_tolerance = options.abs_tolerance > 0 || options.rel_tolerance > 0;
  const double sqrt_n = std::sqrt(double(sc.size()));

  const auto start = std::chrono::steady_clock::now();
  for (int k = 0; k < n_max; ++k) {
    xstep.solve(v, w, x);
    admm_cbpdn_update(x, v, w, v_prev, T(options.alpha), T(options.lambda / rho));
    D.apply(v, result.reconstruction);
    const double objective = cbpdn_objective(result.reconstruction, y, v, options.lambda);
    if (options.report_objective_x) {
      D.apply(x, dx);
      result.objective_x.push_back(cbpdn_objective(dx, y, x, options.lambda));
    }
    const double primal = std::sqrt(distance_squared(x, v));
    const double dual = rho * std::sqrt(distance_squared(v, v_prev));
    double norm_x = 0, norm_v = 0, norm_w = 0;
    if (check_tolerance || options.adaptive_rho) {
      norm_x = std::sqrt(sum_squares(x));
      norm_v = std::sqrt(sum_squares(v));
      norm_w = std::sqrt(sum_squares(w));
    }
    ExecSpace().fence();
    result.objective.push_back(objective);
    result.primal_residual.push_back(primal);
    result.dual_residual.push_back(dual);
    result.rho.push_back(rho);
    result.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    result.iterations = k + 1;
    MCSC_REQUIRE_NUMERIC(std::isfinite(objective), fn, "objective became " << objective << " at iteration " << k + 1);
    bool stop = callback && !callback(AdmmIterate<T, ExecSpace>{k + 1, objective, primal, dual, rho, v,
                                                                result.reconstruction});
    if (check_tolerance) {
      const double eps_primal = sqrt_n * options.abs_tolerance + options.rel_tolerance * std::max(norm_x, norm_v);
      const double eps_dual = sqrt_n * options.abs_tolerance + options.rel_tolerance * rho * norm_w;
      stop = stop || (primal <= eps_primal && dual <= eps_dual);
    }
    if (stop) break;
    if (options.adaptive_rho && k != 0 && (k + 1) % options.rho_period == 0) {
      const double rn = std::max(norm_x, norm_v), sn = rho * norm_w;
      const double r_rel = primal / (rn > 0 ? rn : 1.0), s_rel = dual / (sn > 0 ? sn : 1.0);
      const double xi = options.residual_target(), mu = options.rho_mu;
      double mult = options.rho_tau;
      if (options.rho_autoscaling && r_rel > 0 && s_rel > 0)
        mult = std::min(options.rho_tau, std::sqrt(r_rel > xi * s_rel ? r_rel / (xi * s_rel) : (xi * s_rel) / r_rel));
      double factor = 1;
      if (r_rel > xi * mu * s_rel) {
        factor = mult;
      } else if (s_rel > (mu / xi) * r_rel) {
        factor = 1 / mult;
      }
      if (factor != 1) {
        rho *= factor;
        scale(w, T(1 / factor));
        xstep.set_rho(rho);
        result.final_rho = rho;
      }
    }
  }
  return result;
}

}  // namespace mcsc
