#pragma once
/// \file solve.hpp
/// mcsc-solve's parts (examples/csc_solve.cpp is the program): the solver registry, the settings
/// (solve_options.cpp: command line and checks), the problem (solve_problem.cpp: image, guide,
/// dictionary, low-pass, --learn) and the runs with their traces (solve_run.cpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "../cli.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/mcsc.hpp"
#include "mcsc/train/progress.hpp"
#include "../solver_common.hpp"
#include "../svg_plot.hpp"
#include "mcsc/solvers/common_unique.hpp"
#include "mcsc/solvers/dictionary_learning.hpp"

namespace mcsc_solve {

namespace fs = std::filesystem;
namespace po = mcsc_cli::po;
using mcsc_cli::UsageError;
using mcsc_cli::with_default;
using mcsc_examples::ExecSpace;
using mcsc_examples::T;
using mcsc_examples::Tensor;
using mcsc_examples::TextTable;

// ------------------------------------------------------------------------------------ solvers

/// The solvers mcsc-solve knows. `problem` groups the solvers that minimise the same objective
/// (their curves are compared with each other); a solver that needs the guide is run in
/// --compare mode only when a guide is given.
struct SolverInfo {
  const char* name;
  const char* problem;
  bool needs_guide;
  bool circular_only;
  const char* description;
};

inline const SolverInfo kSolvers[] = {
    {"fista", "cbpdn", false, false, "FISTA on CBPDN (step 1/L, L from the filter spectra)"},
    {"ista", "cbpdn", false, false, "ISTA (proximal gradient without momentum) on CBPDN"},
    {"admm", "cbpdn", false, true, "ADMM on CBPDN (SPORCO's ConvBPDN: rho 50 lambda + 1, alpha 1.8, adaptive rho)"},
    {"coupled", "coupled-l1l1", true, false,
     "coupled l1-l1 with side information: the guide's codes (FISTA on the guide)"},
    {"common-unique", "common-unique", true, false,
     "common/unique codes of image and guide (CU-Net eq. 5; alternating FISTA blocks, all four "
     "dictionaries = the dictionary)"},
};

inline const SolverInfo* find_solver(const std::string& name) {
  for (const SolverInfo& s : kSolvers)
    if (name == s.name) return &s;
  return nullptr;
}

inline std::string solver_names(bool with_guide_note = false) {
  std::string names;
  for (const SolverInfo& s : kSolvers)
    names += (names.empty() ? "" : ", ") + std::string(s.name) +
             (with_guide_note && s.needs_guide ? " (needs a guide)" : "");
  return names;
}

// ------------------------------------------------------------------------------------ options

struct Settings {
  std::string image, image_shape;
  bool synthetic = false;
  std::string guide, guide_shape;
  bool synthetic_guide = false;
  int size = 0;
  std::string dictionary = "dct";
  std::string dictionary_shape;
  std::string dictionary_layout = "MHW";
  std::string filter_convention = "convolution";
  int filters = 32;
  int filter_size = 8;
  std::string solver;  ///< empty: fista
  double lambda = 0.05;
  double guide_lambda = -1;  ///< < 0: lambda
  int iterations = 200;
  int sweeps = 20;
  int inner_iterations = 10;
  int learn = 0;
  double learn_lambda = -1;  ///< < 0: lambda
  std::string boundary = "circular";
  double lipschitz = 0;
  double rho = 0;
  double alpha = 1.8;
  bool fixed_rho = false;
  std::string rho_rule = "convbpdn";
  bool highpass = false;
  double highpass_lambda = 10;
  int highpass_pad = 16;
  std::string check_lowpass;
  int print_every = -1;  ///< -1: 1 for one solver, 0 with --compare
  bool compare = false;
  std::string output_dir = "mcsc-solve-output";

  std::string solver_name() const { return solver.empty() ? "fista" : solver; }
  double guide_lambda_value() const { return guide_lambda < 0 ? lambda : guide_lambda; }
  double learn_lambda_value() const { return learn_lambda < 0 ? lambda : learn_lambda; }
  int print_interval() const { return print_every >= 0 ? print_every : (compare ? 0 : 1); }
  bool has_guide() const { return !guide.empty() || synthetic_guide; }
  mcsc::Boundary boundary_value() const {
    return boundary == "zero" ? mcsc::Boundary::zero : mcsc::Boundary::circular;
  }
};

po::options_description make_options(Settings& s);
/// Throws mcsc_cli::UsageError naming the option.
void validate(const Settings& s);

// ------------------------------------------------------------------------------------ the problem

/// What is coded: the signal y = image - low-pass (low-pass 0 without --highpass), the same for
/// the guide, and the dictionary.
struct Problem {
  Tensor weights;  ///< (m, K, s, s)
  std::string dictionary_source;
  Tensor image, lowpass, signal;
  std::string image_source;
  bool has_guide = false;
  Tensor guide, guide_lowpass, guide_signal;
  std::string guide_source;
  double lowpass_seconds = 0;
  bool learned = false;  ///< the dictionary was learned (--learn)
};

inline double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string shape_text(const Tensor& t);
/// Loads the image, guide and dictionary, splits off the low-pass, learns (--learn).
Problem make_problem(const Settings& s);
/// --check-lowpass: the low-pass against a reference array of the same shape.
void check_lowpass(const Settings& s, const Problem& pb);

// ------------------------------------------------------------------------------------ running

/// Per-iteration values of one run; entry k belongs to iteration k+1. Times are seconds since the
/// solver was called (its set-up included). NaN where a solver has no such value.
struct Trace {
  std::vector<double> objective, primal, dual, rho, seconds;
};

struct RunResult {
  std::string solver, problem, detail;
  Trace trace;
  Tensor codes, reconstruction;  ///< U and D*U (without the low-pass)
  int iterations = 0;
  double total_seconds = 0;  ///< the solver call, set-up included
  double loop_seconds = 0;   ///< its iterations (the solver's own clock)
};

inline constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

/// The guide's codes (side information of the coupled solver), computed once.
struct SideInformation {
  Tensor codes;
  double objective = 0, seconds = 0;
  int iterations = 0;
};

/// Runs solver `name` on the problem (the coupled solver computes the guide's codes into `side`
/// once).
RunResult run_solver(const std::string& name, const Settings& s, const Problem& pb,
                     std::unique_ptr<SideInformation>& side);

}  // namespace mcsc_solve
