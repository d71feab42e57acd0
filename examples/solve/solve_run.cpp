/// \file solve_run.cpp
/// mcsc-solve: running the solvers with a per-iteration trace (table or progress bar).
#include "solve.hpp"

namespace mcsc_solve {

/// Prints the per-iteration table (every `every`-th iteration and the last) or, with every = 0,
/// drives a progress bar on stderr.
class Reporter {
 public:
  Reporter(const std::string& name, int iterations, int every)
      : m_every(every),
        m_iterations(iterations),
        m_table(std::cout, {{"iteration", 9}, {"objective", 15}, {"primal res.", 11}, {"dual res.", 11},
                            {"rho", 10}, {"time s", 9}}),
        m_progress(name, iterations, "it", every == 0) {
    if (m_every > 0) {
      std::cout << "\n[" << name << "]\n";
      m_table.header();
    }
  }
  void iteration(int k, double objective, double primal, double dual, double rho, double seconds) {
    if (m_every > 0) {
      if (k % m_every == 0 || k == m_iterations || k == 1)
        m_table.row({std::to_string(k), mcsc_examples::scientific(objective, 8), cell(primal), cell(dual),
                     std::isnan(rho) ? "-" : mcsc_examples::scientific(rho, 2), mcsc_examples::fixed(seconds, 3)});
    } else {
      m_progress.update(k, "objective " + mcsc_examples::scientific(objective, 6));
    }
  }
  void finish(int iterations, double objective) {
    if (m_every == 0) m_progress.finish("objective " + mcsc_examples::scientific(objective, 6) + " after " +
                                        std::to_string(iterations) + " iterations");
  }

 private:
  static std::string cell(double v) { return std::isnan(v) ? "-" : mcsc_examples::scientific(v, 3); }
  int m_every, m_iterations;
  TextTable m_table;
  mcsc::ProgressBar m_progress;
};

/// One iteration into the run's trace (NaN where the solver has no such value) and the reporter.
void record(RunResult& run, Reporter& reporter, int iteration, double objective, double primal, double dual,
            double rho, double seconds) {
  run.trace.objective.push_back(objective);
  run.trace.primal.push_back(primal);
  run.trace.dual.push_back(dual);
  run.trace.rho.push_back(rho);
  run.trace.seconds.push_back(seconds);
  reporter.iteration(iteration, objective, primal, dual, rho, seconds);
}

/// FISTA-family options from the settings.
mcsc::FistaOptions fista_options(const Settings& s, double lambda, bool accelerate) {
  mcsc::FistaOptions o;
  o.lambda = lambda;
  o.max_iterations = s.iterations;
  o.lipschitz = s.lipschitz;
  o.accelerate = accelerate;
  return o;
}

std::string lipschitz_detail(const Settings& s, double used) {
  const char* how = s.lipschitz > 0                ? " (given)"
                    : s.boundary == "circular" ? " (from the filter spectra: exact for the circular boundary)"
                                               : " (from the filter spectra: an upper bound for the zero boundary)";
  return "step 1/L, L = " + mcsc_examples::scientific(used, 4) + how;
}

/// L of D'D: --lipschitz, or max over frequencies of the filter spectra's Gram matrix (exact for
/// the circular boundary, an upper bound of the zero-boundary operator's; much cheaper than a
/// power iteration).
double lipschitz_constant(const Settings& s, const mcsc::FftConvDictionary<T, ExecSpace>& D, const Tensor& signal) {
  if (s.lipschitz > 0) return s.lipschitz;
  return mcsc::lipschitz_from_spectra(D.operator_for(D.code_shape(mcsc::shape_of(signal))));
}

/// Runs a FISTA-family solver (fista(), or coupled_l1l1() with side information) with a trace.
template <class Solve>
RunResult run_proximal(const std::string& name, const char* problem, const Settings& s, const Solve& solve) {
  RunResult run;
  run.solver = name;
  run.problem = problem;
  Reporter reporter(name, s.iterations, s.print_interval());
  const auto start = std::chrono::steady_clock::now();
  const auto callback = [&](const mcsc::FistaIterate<T, ExecSpace>& it) {
    record(run, reporter, it.iteration, it.objective, nan_value, nan_value, nan_value, since(start));
    return true;
  };
  const mcsc::FistaResult<T, ExecSpace> result = solve(callback);
  run.total_seconds = since(start);
  run.loop_seconds = result.seconds.empty() ? 0 : result.seconds.back();
  run.codes = result.codes;
  run.reconstruction = result.reconstruction;
  run.iterations = result.iterations;
  run.detail = lipschitz_detail(s, result.lipschitz);
  reporter.finish(run.iterations, run.trace.objective.empty() ? nan_value : run.trace.objective.back());
  return run;
}

SideInformation guide_codes(const Settings& s, const Problem& pb) {
  const mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, s.boundary_value());
  const auto start = std::chrono::steady_clock::now();
  mcsc::ProgressBar progress("guide codes (fista)", s.iterations, "it", s.print_interval() == 0);
  mcsc::FistaOptions options = fista_options(s, s.guide_lambda_value(), true);
  options.lipschitz = lipschitz_constant(s, D, pb.guide_signal);
  const auto result = mcsc::fista(D, pb.guide_signal, options, Tensor{},
                                  [&](const mcsc::FistaIterate<T, ExecSpace>& it) {
                                    progress.update(it.iteration);
                                    return true;
                                  });
  progress.finish();
  SideInformation side;
  side.codes = result.codes;
  side.objective = result.objective.back();
  side.iterations = result.iterations;
  side.seconds = since(start);
  std::cout << "guide codes (side information): FISTA on the guide, lambda " << s.guide_lambda_value() << ", "
            << side.iterations << " iterations, objective " << mcsc_examples::scientific(side.objective, 8) << ", "
            << mcsc_examples::fixed(side.seconds, 3) << " s\n";
  return side;
}

RunResult run_solver(const std::string& name, const Settings& s, const Problem& pb,
                     std::unique_ptr<SideInformation>& side) {
  const mcsc::Boundary boundary = s.boundary_value();
  if (name == "fista" || name == "ista") {
    const mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, boundary);
    return run_proximal(name, "cbpdn", s, [&](const auto& callback) {
      mcsc::FistaOptions options = fista_options(s, s.lambda, name == "fista");
      options.lipschitz = lipschitz_constant(s, D, pb.signal);
      return mcsc::fista(D, pb.signal, options, Tensor{}, callback);
    });
  }
  if (name == "coupled") {
    if (!side) side = std::make_unique<SideInformation>(guide_codes(s, pb));
    const mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, boundary);
    return run_proximal(name, "coupled-l1l1", s, [&](const auto& callback) {
      mcsc::FistaOptions options = fista_options(s, s.lambda, true);
      options.lipschitz = lipschitz_constant(s, D, pb.signal);
      return mcsc::coupled_l1l1(D, pb.signal, side->codes, options, Tensor{}, callback);
    });
  }
  if (name == "admm") {
    RunResult run;
    run.solver = name;
    run.problem = "cbpdn";
    mcsc::AdmmOptions o =
        s.rho_rule == "convbpdn" ? mcsc::AdmmOptions::sporco_convbpdn(s.lambda) : mcsc::AdmmOptions{};
    o.report_objective_x = false;  // the table and the curves show the objective at V
    o.lambda = s.lambda;
    o.rho = s.rho;
    o.alpha = s.alpha;
    o.max_iterations = s.iterations;
    o.adaptive_rho = !s.fixed_rho;
    Reporter reporter(name, s.iterations, s.print_interval());
    const auto start = std::chrono::steady_clock::now();
    const auto result = mcsc::admm_cbpdn(pb.weights, pb.signal, o, [&](const mcsc::AdmmIterate<T, ExecSpace>& it) {
      record(run, reporter, it.iteration, it.objective, it.primal_residual, it.dual_residual, it.rho, since(start));
      return true;
    });
    run.total_seconds = since(start);
    run.loop_seconds = result.seconds.empty() ? 0 : result.seconds.back();
    run.codes = result.codes;
    run.reconstruction = result.reconstruction;
    run.iterations = result.iterations;
    run.detail = "rho0 = " + mcsc_examples::scientific(result.rho.front(), 3) + ", alpha " +
                 mcsc_examples::fixed(o.alpha, 2) +
                 (o.adaptive_rho ? ", adaptive rho (" + s.rho_rule + " rule)" : ", fixed rho") +
                 ", final rho " + mcsc_examples::scientific(result.rho.back(), 3);
    reporter.finish(run.iterations, result.objective.back());
    return run;
  }
  if (name == "common-unique") {
    RunResult run;
    run.solver = name;
    run.problem = "common-unique";
    const mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, boundary);
    mcsc::CommonUniqueOptions o;
    o.lambda = s.lambda;
    o.max_iterations = s.sweeps;
    o.inner_iterations = s.inner_iterations;
    Reporter reporter(name + " (one row per sweep)", s.sweeps, s.print_interval());
    const auto start = std::chrono::steady_clock::now();
    const auto result = mcsc::common_unique(
        D, D, D, D, pb.signal, pb.guide_signal, o, {}, [&](const mcsc::CommonUniqueIterate<T, ExecSpace>& it) {
          record(run, reporter, it.iteration, it.objective, nan_value, nan_value, nan_value, since(start));
          return true;
        });
    run.total_seconds = since(start);
    run.loop_seconds = run.total_seconds;  // its clock starts with the call
    const auto parts = mcsc::common_unique_restoration(D, D, result);
    run.reconstruction = parts.target;
    mcsc::Shape4 code_shape = mcsc::shape_of(result.C);
    code_shape.c += mcsc::shape_of(result.U).c;
    run.codes = mcsc::make_tensor<T, ExecSpace>("codes", code_shape);
    mcsc::concat_channels(result.C, result.U, run.codes);
    run.iterations = result.iterations;
    run.detail = std::to_string(result.iterations) + " sweeps of " + std::to_string(o.inner_iterations) +
                 " FISTA iterations per block (C, U, V), " + std::to_string(result.rejected_updates) +
                 " block updates rejected" + (result.stalled ? ", stopped at a block-wise minimum" : "") +
                 "; reconstruction = D*C + D*U (the image's part), codes.png = C then U";
    reporter.finish(run.iterations, result.objective.empty() ? result.initial_objective : result.objective.back());
    MCSC_REQUIRE(!run.trace.objective.empty(), "mcsc-solve", "common-unique made no sweep");
    return run;
  }
  throw UsageError("unknown solver '" + name + "'");
}

}  // namespace mcsc_solve
