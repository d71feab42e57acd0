/// \file bench_solvers.cpp
/// Classical solvers benchmark (BENCHMARKS.md, section "Classical solvers").
///
/// Convolutional basis pursuit denoising
///     min_U 1/2 ||y - sum_k d_k * u_k||^2 + lambda sum_k ||u_k||_1
/// on the 256x256 high-passed kodim23 (../shared/bench/inputs, SPORCO's Tikhonov split) with
/// SPORCO's 8x8 dictionaries of 32 and 64 filters (true convolutions: flipped into mcsc's
/// cross-correlation weights), circular boundary, float32, 200 iterations from zero, for
///   fista  mcsc::fista with mcsc::FftConvDictionary (circular), step 1/L with L the exact
///          lambda_max(D'D) from the filter spectra (mcsc::lipschitz_from_spectra);
///   fista-direct  the same with mcsc::ConvDictionary (circular): the blocked direct kernels,
///          same L (the same iterates up to rounding);
///   admm   mcsc::admm_cbpdn with AdmmOptions::sporco_convbpdn(): SPORCO's ConvBPDN defaults
///          (rho = 50 lambda + 1, alpha = 1.8, ConvBPDN's adaptive rho), the objective at V only;
/// and, on the configuration with a SPORCO reference (32 filters, lambda 0.05), also
///   fista-L500  FISTA with SPORCO's default fixed step parameter L = 500.
/// lambda = 0.01 (BENCHMARKS.md) and 0.05 (the reference objectives of bench/README.md:
/// SPORCO ADMM 28.96532, FISTA 28.98164).
///
/// Per run: median (min, max) time per iteration over the timed repeats, the median total time
/// of a solver call (set-up included), the objective reached, the time and iterations until the
/// objective is within 1e-3 (relative) of the other solver's final objective and of the SPORCO
/// reference, a model GFLOP/s (FFT and pointwise operation counts, see flop_per_iteration), the
/// same-run SGEMM rate and the thread count. Table on stdout, JSON with --json.
#include "bench_common.hpp"  // first: it includes Eigen

#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mcsc/io/raw.hpp"
#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/ops/lipschitz.hpp"
#include "mcsc/solvers/admm.hpp"
#include "mcsc/solvers/fista.hpp"

#ifndef MCSC_DEFAULT_BENCH_INPUTS
#define MCSC_DEFAULT_BENCH_INPUTS "../shared/bench/inputs"
#endif

namespace po = boost::program_options;

namespace {

using Real = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<Real, ExecSpace>;
using mcsc_bench::GemmResult;
using mcsc_bench::json_number;
using mcsc_bench::json_string;
using mcsc_bench::Timing;

constexpr int kSide = 256;
constexpr int kFilterSide = 8;
constexpr double kTargetRelative = 1e-3;
/// bench/README.md: SPORCO, 32 filters, lambda 0.05, 200 iterations from zero, 2 threads.
constexpr double kSporcoAdmm = 28.96532;
constexpr double kSporcoFista = 28.98164;
/// SPORCO's fista.cbpdn.ConvBPDN default L (Options 'L': 500, no backtracking).
constexpr double kSporcoFistaL = 500;

struct Options {
  std::string inputs = MCSC_DEFAULT_BENCH_INPUTS;
  int iterations = 200;
  int repeats = 3;
  int warmup = 1;
  int gemm_size = 2048;
  bool quick = false;
  bool no_flip = false;
  std::vector<int> filters = {32, 64};
  std::vector<double> lambdas = {0.01, 0.05};
  std::string json_path = "bench_solvers.json";
};

// ------------------------------------------------------------------ inputs

/// A SPORCO dictionary file (K, s, s), "MHW" layout, as mcsc weights (1, K, s, s); SPORCO's
/// filters act by true convolution, mcsc's conv2d is a cross-correlation: flipped unless no_flip.
Tensor read_dictionary(const std::string& path, int filters, bool no_flip) {
  const std::vector<float> d = mcsc::read_raw_f32(path, std::size_t(filters) * kFilterSide * kFilterSide);
  Tensor w = mcsc::make_tensor<Real, ExecSpace>("dictionary", {1, filters, kFilterSide, kFilterSide});
  auto h = Kokkos::create_mirror_view(w);
  for (int k = 0; k < filters; ++k)
    for (int p = 0; p < kFilterSide; ++p)
      for (int q = 0; q < kFilterSide; ++q) {
        const int tp = no_flip ? p : kFilterSide - 1 - p, tq = no_flip ? q : kFilterSide - 1 - q;
        h(0, k, tp, tq) = d[std::size_t((k * kFilterSide + p) * kFilterSide + q)];
      }
  Kokkos::deep_copy(w, h);
  mcsc::require_finite("bench_solvers", w);
  return w;
}

std::string dictionary_path(const Options& opt, int filters) {
  return opt.inputs + "/dict_sporco_G8x8x" + std::to_string(filters) + "_layout-MHW_" + std::to_string(filters) +
         "x8x8.f32";
}

// ------------------------------------------------------------------ runs

/// Model operation count of one iteration (FLOP), for an H x W image (n = H W pixels, F = H (W/2+1)
/// half-spectrum frequencies) and K filters, m = 1: a real FFT of n points counted 2.5 n log2 n;
/// complex multiply 6, multiply-add 8; elementwise work per code entry as listed.
///   FISTA: D'r (1 forward + K inverse FFTs, K complex products per frequency) and D U (K forward
///          + 1 inverse FFTs, K multiply-adds): (2K + 2) FFTs + 14 K F + ~10 K n (prox step,
///          extrapolation of U and D U, objective).
///   ADMM:  X-step (K forward + K inverse FFTs, ~26 K per frequency for the Sherman-Morrison
///          solve), D V for the objective (K + 1 FFTs, 8 K F), ~20 K n (relaxation, shrinkage,
///          dual update, residual and norm reductions): (3K + 1) FFTs + 34 K F + 20 K n.
///   FISTA with direct convolutions: D'r and D U, 2 s^2 K n each (s x s filters), + ~10 K n.
double flop_per_iteration(const std::string& solver, int K) {
  const double n = double(kSide) * kSide, F = double(kSide) * (kSide / 2 + 1);
  const double fft = 2.5 * n * std::log2(n);
  if (solver == "fista-direct") return 4.0 * kFilterSide * kFilterSide * K * n + 10.0 * K * n;
  if (solver == "admm") return (3.0 * K + 1) * fft + 34.0 * K * F + 20.0 * K * n;
  return (2.0 * K + 2) * fft + 14.0 * K * F + 10.0 * K * n;
}

/// One timed solver call.
struct Sample {
  double total = 0;                ///< the call, set-up included (fenced)
  double loop = 0;                 ///< its iterations (the solver's clock)
  std::vector<double> seconds;     ///< per iteration, since the loop started
  std::vector<double> objective;   ///< per iteration
  double lipschitz = 0, final_rho = 0;
};

struct SolverRun {
  std::string solver, detail;
  int filters = 0;
  double lambda = 0;
  int iterations = 0;
  Timing per_iteration, total;
  Sample median_sample;  ///< the repeat with the median total time
  double objective = 0;
  double gflop_per_iteration = 0, gflops = 0, ratio_to_gemm = 0;
  // time-to-objective (seconds since the call, set-up included) and iterations; -1: not reached
  double target_other = NAN, time_to_other = -1;
  int iterations_to_other = -1;
  double reference = NAN, time_to_reference = -1;
  int iterations_to_reference = -1;
  double same_solver_reference = NAN;  ///< SPORCO's objective for this solver type (if any)
  double ratio_to_admm = NAN;          ///< median time per iteration over admm's, same configuration
};

Sample run_once(const std::string& solver, const Tensor& weights, const Tensor& y, double lambda, int iterations,
                double lipschitz) {
  Sample s;
  Kokkos::fence();
  const auto start = std::chrono::steady_clock::now();
  if (solver == "admm") {
    // SPORCO's ConvBPDN defaults: rho 50 lambda + 1, alpha 1.8, its AutoRho; the objective only
    // at V (SPORCO evaluates one objective per iteration too, at X)
    mcsc::AdmmOptions o = mcsc::AdmmOptions::sporco_convbpdn(lambda);
    o.report_objective_x = false;
    o.max_iterations = iterations;
    const auto r = mcsc::admm_cbpdn(weights, y, o);
    Kokkos::fence();
    s.total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.seconds = r.seconds;
    s.objective = r.objective;
    s.final_rho = r.rho.back();
  } else {
    const mcsc::FftConvDictionary<Real, ExecSpace> D(weights, mcsc::Boundary::circular);
    mcsc::FistaOptions o;
    o.lambda = lambda;
    o.max_iterations = iterations;
    // L: given, or exact from the filter spectra (inside the timing: part of the set-up)
    o.lipschitz = lipschitz > 0 ? lipschitz
                                : mcsc::lipschitz_from_spectra(D.operator_for(D.code_shape(mcsc::shape_of(y))));
    const auto r = solver == "fista-direct"
                       ? mcsc::fista(mcsc::ConvDictionary<Real, ExecSpace>(weights, mcsc::Boundary::circular), y, o)
                       : mcsc::fista(D, y, o);
    Kokkos::fence();
    s.total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.seconds = r.seconds;
    s.objective = r.objective;
    s.lipschitz = r.lipschitz;
  }
  s.loop = s.seconds.empty() ? 0 : s.seconds.back();
  return s;
}

/// One solver of a configuration: its name in the table, the solver run and a fixed L (0: exact).
struct Variant {
  std::string name, solver;
  double lipschitz = 0;
};

/// Measures the variants of one configuration (dictionary, lambda). The calls are interleaved
/// (warm-up calls of every variant, then repeat r of every variant, r = 1..repeats), so that
/// foreign load on the shared machine hits all variants alike and their ratios stay meaningful.
std::vector<SolverRun> measure(const std::vector<Variant>& variants, const Tensor& weights, const Tensor& y,
                               double lambda, const Options& opt, double gemm_gflops) {
  const int K = int(weights.extent(1));
  std::cerr << "[K=" << K << " lambda=" << lambda << "]" << std::flush;
  for (int i = 0; i < opt.warmup; ++i)
    for (const Variant& v : variants) run_once(v.solver, weights, y, lambda, opt.iterations, v.lipschitz);
  std::vector<std::vector<Sample>> samples(variants.size());
  for (int i = 0; i < opt.repeats; ++i)
    for (std::size_t j = 0; j < variants.size(); ++j) {
      samples[j].push_back(run_once(variants[j].solver, weights, y, lambda, opt.iterations, variants[j].lipschitz));
      std::cerr << "." << std::flush;
    }
  std::vector<SolverRun> runs;
  for (std::size_t j = 0; j < variants.size(); ++j) {
    const Variant& v = variants[j];
    SolverRun run;
    run.solver = v.name;
    run.filters = K;
    run.lambda = lambda;
    run.iterations = opt.iterations;
    std::vector<double> per_iteration, totals;
    for (const Sample& s : samples[j]) {
      per_iteration.push_back(s.loop / opt.iterations);
      totals.push_back(s.total);
    }
    run.per_iteration = mcsc_bench::summarize(per_iteration);
    run.total = mcsc_bench::summarize(totals);
    std::vector<std::size_t> order(totals.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return totals[a] < totals[b]; });
    run.median_sample = samples[j][order[order.size() / 2]];
    run.objective = run.median_sample.objective.back();
    run.gflop_per_iteration = flop_per_iteration(v.solver, K) * 1e-9;
    run.gflops = run.gflop_per_iteration / run.per_iteration.median;
    run.ratio_to_gemm = run.gflops / gemm_gflops;
    std::ostringstream detail;
    if (v.solver == "admm")
      detail << "rho0 " << 50 * lambda + 1 << ", alpha 1.8, ConvBPDN's adaptive rho (AdmmOptions::sporco_convbpdn: mu "
             << mcsc::AdmmOptions::sporco_convbpdn(lambda).rho_mu << ", factor <= "
             << mcsc::AdmmOptions::sporco_convbpdn(lambda).rho_tau << " autoscaled, xi " << std::setprecision(4)
             << mcsc::AdmmOptions::sporco_convbpdn(lambda).residual_target() << "), final rho "
             << std::setprecision(4) << run.median_sample.final_rho;
    else
      detail << "L " << std::setprecision(6) << run.median_sample.lipschitz
             << (v.lipschitz > 0 ? " (fixed, SPORCO's default)" : " (exact, filter spectra)");
    run.detail = detail.str();
    std::cerr << " " << v.name << " " << std::fixed << std::setprecision(3) << run.per_iteration.median * 1e3
              << " ms/it, objective " << std::setprecision(6) << run.objective << std::defaultfloat;
    runs.push_back(run);
  }
  std::cerr << std::endl;
  return runs;
}

/// Seconds since the call (set-up included) and iteration at which the objective first comes
/// within kTargetRelative of target; (-1, -1) if never.
std::pair<double, int> time_to(const Sample& s, double target) {
  const double setup = s.total - s.loop;
  for (std::size_t i = 0; i < s.objective.size(); ++i)
    if (s.objective[i] - target <= kTargetRelative * std::abs(target)) return {setup + s.seconds[i], int(i) + 1};
  return {-1, -1};
}

// ------------------------------------------------------------------ SPORCO's ADMM, re-implemented

/// The final values of one re-implemented SPORCO ADMM run.
struct SporcoAdmmResult {
  std::string rule;               ///< "generic" or "convbpdn" residual balancing
  double objective_x = 0;         ///< 1/2 ||D X - y||^2 + lambda ||X||_1, X the X-step's solution
  double objective_y = 0;         ///< ... at Y, the sparse (shrunk) variable: what admm_cbpdn reports
  double final_rho = 0;
  int stop_iteration = -1;        ///< where SPORCO's default RelStopTol 1e-3 test would have stopped (-1: never)
};

/// SPORCO's admm.cbpdn.ConvBPDN iteration rebuilt from mcsc's parts (CbpdnFrequencySolver and the
/// elementwise update of admm_cbpdn), to find out what SPORCO's reference figure measures (it
/// found the two differences below; admm_cbpdn now has both as options, see
/// AdmmOptions::sporco_convbpdn()). Same X-step, relaxation (1.8), shrinkage and dual update as
/// admm_cbpdn, with the penalty rule fixed here:
/// - rule "convbpdn": SPORCO's ConvBPDN AutoRho defaults (residual balancing with AutoScaling:
///   RsdlRatio mu = 1.2, Scaling tau <= 1000, RsdlTarget xi = 1 + 18.3^(log10 lambda + 1), every
///   iteration, normalised residuals); rule "generic": SPORCO's generic ADMM AutoRho defaults
///   (mu = 10, tau = 2, xi = 1, no AutoScaling), AdmmOptions' defaults;
/// - it evaluates the objective both at Y (as admm_cbpdn) and at X (SPORCO's default: ConvBPDN's
///   AuxVarObj = False sets fEvalX = True, gEvalY = False, so ObjFun = 1/2 ||D X - s||^2 +
///   lambda ||X||_1 with the unshrunk X);
/// - it records where SPORCO's default stopping test (RelStopTol 1e-3 on both normalised residuals)
///   would have ended the run (it does not stop).
SporcoAdmmResult sporco_admm(const Tensor& weights, const Tensor& y, double lambda, int iterations,
                             const std::string& rule) {
  using mcsc::admm_cbpdn_update;
  mcsc::CbpdnFrequencySolver<Real, ExecSpace> xstep(weights, y);
  const auto& D = xstep.dictionary();
  const mcsc::Shape4 sc = xstep.code_shape();
  double rho = 50 * lambda + 1;
  const double alpha = 1.8;
  const bool sporco = rule == "convbpdn";
  const double mu = sporco ? 1.2 : 10, tau = sporco ? 1000 : 2;
  const double xi = sporco && lambda > 0 ? 1 + std::pow(18.3, std::log10(lambda) + 1) : 1;
  xstep.set_rho(rho);
  Tensor x = mcsc::make_tensor<Real, ExecSpace>("x", sc), v = mcsc::make_tensor<Real, ExecSpace>("y", sc);
  Tensor w = mcsc::make_tensor<Real, ExecSpace>("u", sc), v_prev = mcsc::make_tensor<Real, ExecSpace>("y_prev", sc);
  Tensor dx = mcsc::make_tensor_like("dx", y), dv = mcsc::make_tensor_like("dv", y);
  SporcoAdmmResult out;
  out.rule = rule;
  for (int k = 0; k < iterations; ++k) {
    xstep.solve(v, w, x);
    admm_cbpdn_update(x, v, w, v_prev, Real(alpha), Real(lambda / rho));
    D.apply(x, dx);
    D.apply(v, dv);
    out.objective_x = mcsc::cbpdn_objective(dx, y, x, lambda);
    out.objective_y = mcsc::cbpdn_objective(dv, y, v, lambda);
    const double r = std::sqrt(mcsc::distance_squared(x, v)), s = rho * std::sqrt(mcsc::distance_squared(v, v_prev));
    const double rn = std::max(std::sqrt(mcsc::sum_squares(x)), std::sqrt(mcsc::sum_squares(v)));
    const double sn = rho * std::sqrt(mcsc::sum_squares(w));
    const double r_rel = r / (rn > 0 ? rn : 1), s_rel = s / (sn > 0 ? sn : 1);
    if (out.stop_iteration < 0 && r_rel < 1e-3 && s_rel < 1e-3) out.stop_iteration = k + 1;
    if (k != 0) {
      double mult = tau;
      if (sporco && r_rel > 0 && s_rel > 0)
        mult = std::min(tau, std::sqrt(r_rel > s_rel * xi ? r_rel / (s_rel * xi) : (s_rel * xi) / r_rel));
      double factor = 1;
      if (r_rel > xi * mu * s_rel) {
        factor = mult;
      } else if (s_rel > (mu / xi) * r_rel) {
        factor = 1 / mult;
      }
      if (factor != 1) {
        rho *= factor;
        mcsc::scale(w, Real(1 / factor));
        xstep.set_rho(rho);
      }
    }
  }
  out.final_rho = rho;
  return out;
}

// ------------------------------------------------------------------ output

struct RunInfo {
  std::string command;
  int threads = 0;
  std::string load_before, load_after;
  double power_iteration_L32 = NAN, spectra_L32 = NAN, power_iteration_seconds = NAN;
  std::vector<SporcoAdmmResult> sporco_admm;  ///< the re-implementation, 32 filters, lambda 0.05
};

std::string cell_time(double t) {
  if (t < 0) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << t;
  return os.str();
}

void print_table(std::ostream& os, const Options& opt, const RunInfo& info, const GemmResult& gemm,
                 const std::vector<SolverRun>& runs) {
  os << "bench_solvers: float32, Kokkos " << mcsc_bench::kokkos_version() << " (" << ExecSpace::name() << "), "
     << info.threads << " thread(s); Eigen " << mcsc_bench::eigen_version() << " with " << gemm.eigen_threads
     << " thread(s)\n"
     << "CBPDN on kodim23 high-pass " << kSide << "x" << kSide << ", SPORCO 8x8 dictionaries"
     << (opt.no_flip ? " NOT flipped (--no-flip)" : " (flipped: true convolution)") << ", circular boundary, "
     << opt.iterations << " iterations from zero, repeats " << opt.repeats << " after " << opt.warmup
     << " warm-up\n"
     << "/proc/loadavg before: " << info.load_before << "; after: " << info.load_after << "\n"
     << mcsc_bench::gemm_summary(gemm) << "\n";
  if (!std::isnan(info.power_iteration_L32))
    os << "L (32 filters): " << std::setprecision(7) << info.spectra_L32 << " from the filter spectra (used), "
       << info.power_iteration_L32 << " by power iteration (x 1.01 = fista()'s default; took " << std::setprecision(3)
       << info.power_iteration_seconds << " s)\n";
  os << "\n"
     << std::left << std::setw(11) << "solver" << std::right << std::setw(3) << "K" << std::setw(7) << "lambda"
     << std::setw(10) << "ms/iter" << std::setw(9) << "min" << std::setw(9) << "max" << std::setw(7) << "/admm"
     << std::setw(9) << "total s"
     << std::setw(15) << "objective" << std::setw(17) << "t->other s (it)" << std::setw(18) << "t->SPORCO s (it)"
     << std::setw(9) << "GFLOP/s" << std::setw(8) << "/GEMM" << "\n";
  for (const SolverRun& r : runs) {
    const auto with_it = [](double t, int it) {
      return t < 0 ? std::string("not reached") : cell_time(t) + " (" + std::to_string(it) + ")";
    };
    os << std::left << std::setw(11) << r.solver << std::right << std::setw(3) << r.filters << std::setw(7)
       << r.lambda << std::fixed << std::setprecision(3) << std::setw(10) << r.per_iteration.median * 1e3
       << std::setw(9) << r.per_iteration.min * 1e3 << std::setw(9) << r.per_iteration.max * 1e3
       << std::setprecision(2) << std::setw(7) << r.ratio_to_admm << std::setprecision(3) << std::setw(9)
       << r.total.median << std::setprecision(7) << std::setw(15) << r.objective << std::setw(17)
       << with_it(r.time_to_other, r.iterations_to_other) << std::setw(18)
       << (std::isnan(r.reference) ? std::string("-") : with_it(r.time_to_reference, r.iterations_to_reference))
       << std::setprecision(2) << std::setw(9) << r.gflops << std::setprecision(4) << std::setw(8) << r.ratio_to_gemm
       << std::defaultfloat << "\n";
  }
  os << "\nsolver details:\n";
  for (const SolverRun& r : runs)
    os << "  " << std::left << std::setw(11) << r.solver << std::right << " K=" << r.filters << " lambda=" << r.lambda
       << ": " << r.detail << "\n";
  os << "\nt->other: time (set-up included) until the objective is within 1e-3 relative of the other solver's final "
        "objective (fista <-> admm)\nt->SPORCO: ... within 1e-3 of SPORCO's ADMM objective "
     << std::setprecision(7) << kSporcoAdmm << " (32 filters, lambda 0.05)\n\nagainst SPORCO (32 filters, lambda 0.05, "
     << opt.iterations
     << " iterations; SPORCO's figures are for 200):\n";
  for (const SolverRun& r : runs)
    if (!std::isnan(r.same_solver_reference))
      os << "  " << std::left << std::setw(11) << r.solver << std::right << " objective " << std::setprecision(7)
         << r.objective << " vs SPORCO " << r.same_solver_reference << ": relative difference " << std::showpos
         << std::scientific << std::setprecision(2) << (r.objective - r.same_solver_reference) / r.same_solver_reference
         << std::noshowpos << std::defaultfloat << "\n";
  if (!info.sporco_admm.empty()) {
    os << "\nSPORCO's ADMM re-implemented on mcsc's parts (32 filters, lambda 0.05, " << opt.iterations
       << " iterations): objective at X (SPORCO's default ObjFun) and at Y (admm_cbpdn's), per penalty rule\n";
    for (const SporcoAdmmResult& r : info.sporco_admm)
      os << "  rho rule " << std::left << std::setw(8) << r.rule << std::right << std::setprecision(7)
         << " objective(X) " << r.objective_x << " (" << std::showpos << std::scientific << std::setprecision(2)
         << (r.objective_x - kSporcoAdmm) / kSporcoAdmm << std::noshowpos << std::defaultfloat << std::setprecision(7)
         << " vs SPORCO)  objective(Y) " << r.objective_y << " (" << std::showpos << std::scientific
         << std::setprecision(2) << (r.objective_y - kSporcoAdmm) / kSporcoAdmm << std::noshowpos << std::defaultfloat
         << std::setprecision(4) << ")  final rho " << r.final_rho << ", RelStopTol 1e-3 test met at iteration "
         << (r.stop_iteration < 0 ? std::string("never") : std::to_string(r.stop_iteration)) << "\n";
  }
}

void write_json(std::ostream& f, const Options& opt, const RunInfo& info, const GemmResult& gemm,
                const std::vector<SolverRun>& runs) {
  f << std::setprecision(10);
  f << "{\n  \"benchmark\": \"bench_solvers\",\n  \"command\": " << json_string(info.command) << ",\n"
    << "  \"precision\": \"float32\",\n  \"kokkos_version\": " << json_string(mcsc_bench::kokkos_version())
    << ",\n  \"execution_space\": " << json_string(ExecSpace::name()) << ",\n  \"threads\": " << info.threads
    << ",\n  \"loadavg_before\": " << json_string(info.load_before)
    << ",\n  \"loadavg_after\": " << json_string(info.load_after)
    << ",\n  \"eigen_version\": " << json_string(mcsc_bench::eigen_version()) << ",\n"
    << "  \"options\": {\"inputs\": " << json_string(opt.inputs) << ", \"iterations\": " << opt.iterations
    << ", \"repeats\": " << opt.repeats << ", \"warmup\": " << opt.warmup << ", \"quick\": "
    << (opt.quick ? "true" : "false") << ", \"flipped_dictionary\": " << (opt.no_flip ? "false" : "true")
    << ", \"image\": \"kodim23_gray_highpass_256x256.f32\", \"boundary\": \"circular\"},\n"
    << "  \"target_relative\": " << kTargetRelative << ",\n  \"sporco_reference\": {\"filters\": 32, \"lambda\": 0.05, "
    << "\"iterations\": 200, \"admm\": " << kSporcoAdmm << ", \"fista\": " << kSporcoFista << "},\n"
    << "  \"lipschitz_32\": {\"spectra\": " << json_number(info.spectra_L32)
    << ", \"power_iteration_x1.01\": " << json_number(info.power_iteration_L32)
    << ", \"power_iteration_seconds\": " << json_number(info.power_iteration_seconds) << "},\n"
    << "  \"flop_model\": \"per iteration; real FFT of n points = 2.5 n log2 n; FISTA (2K+2) FFTs + 14 K F + 10 K n; "
       "ADMM (3K+1) FFTs + 34 K F + 20 K n (n = H W, F = H (W/2+1))\",\n"
    << "  \"sporco_admm_reimplementation\": [";
  for (std::size_t i = 0; i < info.sporco_admm.size(); ++i) {
    const SporcoAdmmResult& r = info.sporco_admm[i];
    f << (i ? ", " : "") << "{\"rho_rule\": " << json_string(r.rule) << ", \"objective_x\": " << r.objective_x
      << ", \"objective_y\": " << r.objective_y << ", \"final_rho\": " << r.final_rho
      << ", \"reltol_stop_iteration\": " << r.stop_iteration << "}";
  }
  f << "],\n  \"gemm\": " << mcsc_bench::json_gemm(gemm) << ",\n  \"runs\": [\n";
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const SolverRun& r = runs[i];
    f << "    {\"solver\": " << json_string(r.solver) << ", \"filters\": " << r.filters << ", \"lambda\": " << r.lambda
      << ", \"iterations\": " << r.iterations << ", \"detail\": " << json_string(r.detail)
      << ",\n     \"seconds_per_iteration\": {" << mcsc_bench::json_timing(r.per_iteration) << "}"
      << ", \"total_seconds\": {" << mcsc_bench::json_timing(r.total) << "}"
      << ", \"ratio_to_admm_per_iteration\": " << json_number(r.ratio_to_admm)
      << ",\n     \"objective\": " << json_number(r.objective) << ", \"gflop_per_iteration_model\": "
      << r.gflop_per_iteration << ", \"gflops_model\": " << r.gflops << ", \"ratio_to_gemm\": " << r.ratio_to_gemm
      << ",\n     \"target_other\": " << json_number(r.target_other)
      << ", \"time_to_other_s\": " << (r.time_to_other < 0 ? "null" : json_number(r.time_to_other))
      << ", \"iterations_to_other\": " << (r.iterations_to_other < 0 ? "null" : std::to_string(r.iterations_to_other))
      << ", \"reference\": " << json_number(r.reference)
      << ", \"time_to_reference_s\": " << (r.time_to_reference < 0 ? "null" : json_number(r.time_to_reference))
      << ", \"iterations_to_reference\": "
      << (r.iterations_to_reference < 0 ? "null" : std::to_string(r.iterations_to_reference))
      << ", \"same_solver_sporco_objective\": " << json_number(r.same_solver_reference)
      << ",\n     \"objective_curve\": [";
    for (std::size_t k = 0; k < r.median_sample.objective.size(); ++k)
      f << (k ? ", " : "") << json_number(r.median_sample.objective[k]);
    f << "],\n     \"seconds_curve\": [";
    for (std::size_t k = 0; k < r.median_sample.seconds.size(); ++k)
      f << (k ? ", " : "") << json_number(r.median_sample.seconds[k]);
    f << "]}" << (i + 1 < runs.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
}

// ------------------------------------------------------------------ command line

po::options_description make_options(Options& opt) {
  po::options_description desc(
      "Usage: bench_solvers [options] [--kokkos-... options]\n"
      "Times FISTA and ADMM on SPORCO's CBPDN benchmark problem (BENCHMARKS.md, \"Classical solvers\") against\n"
      "this machine's Eigen SGEMM rate. Run with OMP_NUM_THREADS and OMP_PROC_BIND=false set.\n\n"
      "Options");
  desc.add_options()("help,h", "print this help and exit")(
      "inputs", po::value<std::string>(&opt.inputs)->default_value(opt.inputs),
      "folder of the benchmark inputs (../shared/bench/inputs)")(
      "iterations", po::value<int>(&opt.iterations)->default_value(opt.iterations),
      "iterations per solver call (--quick: 10)")(
      "repeats,r", po::value<int>(&opt.repeats)->default_value(opt.repeats),
      "timed solver calls per configuration (--quick: 1)")(
      "warmup", po::value<int>(&opt.warmup)->default_value(opt.warmup),
      "untimed calls before them (--quick: 0)")(
      "gemm-size", po::value<int>(&opt.gemm_size)->default_value(opt.gemm_size),
      "side of the square GEMM reference (--quick: 512)")(
      "no-flip", po::bool_switch(&opt.no_flip),
      "use SPORCO's filters unflipped (as cross-correlation weights): a different problem, for the record")(
      "filters", po::value<std::vector<int>>(&opt.filters)->multitoken()->default_value(opt.filters, "32 64"),
      "dictionaries to run (32 and/or 64 filters; --quick: 32)")(
      "lambdas", po::value<std::vector<double>>(&opt.lambdas)->multitoken()->default_value(opt.lambdas, "0.01 0.05"),
      "lambda values to run")(
      "json", po::value<std::string>(&opt.json_path)->default_value(opt.json_path), "where to write the JSON results")(
      "quick", po::bool_switch(&opt.quick),
      "smoke run: 32 filters only, 10 iterations, 1 timed call, no warm-up, small GEMM");
  return desc;
}

int usage_error(const std::string& message, const po::options_description& desc) {
  std::cerr << "bench_solvers: " << message << "\n\n" << desc << "\n";
  return 2;
}

int run(int argc, char** argv, const std::string& command) {
  Options opt;
  const po::options_description desc = make_options(opt);
  po::variables_map vm;
  if (const int status = mcsc_bench::parse_command_line("bench_solvers", argc, argv, desc, vm); status >= 0) return status;
  if (opt.quick) {
    if (vm["iterations"].defaulted()) opt.iterations = 10;
    if (vm["repeats"].defaulted()) opt.repeats = 1;
    if (vm["warmup"].defaulted()) opt.warmup = 0;
    if (vm["gemm-size"].defaulted()) opt.gemm_size = 512;
    if (vm["filters"].defaulted()) opt.filters = {32};
  }
  if (opt.iterations < 1) return usage_error("--iterations must be at least 1", desc);
  if (opt.repeats < 1) return usage_error("--repeats must be at least 1", desc);
  if (opt.warmup < 0) return usage_error("--warmup must not be negative", desc);
  if (opt.gemm_size < 1) return usage_error("--gemm-size must be at least 1", desc);
  for (int f : opt.filters)
    if (f != 32 && f != 64) return usage_error("--filters takes 32 and/or 64", desc);
  for (double l : opt.lambdas)
    if (!(l >= 0) || !std::isfinite(l)) return usage_error("--lambdas must be >= 0", desc);

  // Inputs first: a missing file fails before the long measurements.
  const Tensor y = mcsc::read_raw_tensor<Real, ExecSpace>(opt.inputs + "/kodim23_gray_highpass_256x256.f32",
                                                          mcsc::Shape4{1, 1, kSide, kSide});
  const Tensor d32 = read_dictionary(dictionary_path(opt, 32), 32, opt.no_flip);
  const Tensor d64 = read_dictionary(dictionary_path(opt, 64), 64, opt.no_flip);
  std::ofstream json(opt.json_path);
  if (!json) throw std::runtime_error("cannot write '" + opt.json_path + "'");

  RunInfo info;
  info.command = command;
  info.threads = int(ExecSpace().concurrency());
  info.load_before = mcsc_bench::load_average();
  std::cerr << "bench_solvers: Kokkos " << mcsc_bench::kokkos_version() << " " << ExecSpace::name() << ", "
            << info.threads << " thread(s)\n";
  mcsc_bench::TimingOptions gemm_timing;
  gemm_timing.repeats = opt.quick ? 1 : 5;
  gemm_timing.warmup = 1;
  const GemmResult gemm = mcsc_bench::measure_gemm(opt.gemm_size, info.threads, gemm_timing, "bench_solvers");

  {  // the step size: exact from the spectra (used) against fista()'s default power iteration
    const mcsc::FftConvDictionary<Real, ExecSpace> D(d32, mcsc::Boundary::circular);
    const mcsc::Shape4 codes = D.code_shape(mcsc::shape_of(y));
    info.spectra_L32 = mcsc::lipschitz_from_spectra(D.operator_for(codes));
    if (!opt.quick) {
      const auto start = std::chrono::steady_clock::now();
      info.power_iteration_L32 = 1.01 * mcsc::power_iteration(D, codes);
      info.power_iteration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }

  std::vector<SolverRun> runs;
  for (int filters : opt.filters)
    for (double lambda : opt.lambdas) {
      const Tensor& d = filters == 32 ? d32 : d64;
      const std::size_t first = runs.size();
      const bool referenced = filters == 32 && lambda == 0.05;
      std::vector<Variant> variants = {{"fista", "fista", 0}, {"admm", "admm", 0}};
      if (referenced) variants.push_back({"fista-L500", "fista", kSporcoFistaL});
      variants.push_back({"fista-direct", "fista-direct", 0});
      for (SolverRun& r : measure(variants, d, y, lambda, opt, gemm.gflops)) runs.push_back(std::move(r));
      if (referenced && !opt.quick)
        for (const char* rule : {"generic", "convbpdn"}) {
          std::cerr << "[admm re-implementation, rho rule " << rule << "] ..." << std::flush;
          info.sporco_admm.push_back(sporco_admm(d, y, lambda, opt.iterations, rule));
          std::cerr << " objective(X) " << info.sporco_admm.back().objective_x << std::endl;
        }
      const double fista_objective = runs[first].objective, admm_objective = runs[first + 1].objective;
      for (std::size_t i = first; i < runs.size(); ++i)
        runs[i].ratio_to_admm = runs[i].per_iteration.median / runs[first + 1].per_iteration.median;
      for (std::size_t i = first; i < runs.size(); ++i) {
        SolverRun& r = runs[i];
        r.target_other = i == first + 1 ? fista_objective : admm_objective;
        if (referenced) r.same_solver_reference = i == first + 1 ? kSporcoAdmm : kSporcoFista;
      }
      for (std::size_t i = first; i < runs.size(); ++i) {
        SolverRun& r = runs[i];
        std::tie(r.time_to_other, r.iterations_to_other) = time_to(r.median_sample, r.target_other);
        if (referenced) {
          r.reference = kSporcoAdmm;
          std::tie(r.time_to_reference, r.iterations_to_reference) = time_to(r.median_sample, r.reference);
        }
      }
    }
  info.load_after = mcsc_bench::load_average();
  std::cout << "command: " << command << "\n";
  print_table(std::cout, opt, info, gemm, runs);
  write_json(json, opt, info, gemm, runs);
  json.close();
  if (!json) throw std::runtime_error("error while writing '" + opt.json_path + "'");
  std::cerr << "bench_solvers: wrote " << opt.json_path << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return mcsc_bench::benchmark_main("bench_solvers", argc, argv, run); }
