/// \file csc_solve.cpp
/// mcsc-solve: convolutional sparse coding of one image with the classical solvers of mcsc.
///
/// Reads an image (PNG/JPEG/BMP, or a .npy / raw .f32 array), optionally a guide image of the
/// same size (the second modality), and a dictionary (a .npy or .f32 file in SPORCO's layouts, or
/// the built-in DCT dictionary); optionally removes a Tikhonov low-pass (--highpass, as SPORCO's
/// examples do) and codes the rest by
///   fista / ista  CBPDN   min_U 1/2 ||y - D*U||^2 + lambda ||U||_1              (fista.hpp)
///   admm          CBPDN, circular boundary, SPORCO-style ADMM                  (admm.hpp)
///   coupled       min_U 1/2 ||y - D*U||^2 + lambda (||U||_1 + ||U - Z||_1), Z the guide's
///                 codes (FISTA on the guide with the same dictionary)           (coupled_l1l1.hpp)
/// printing a per-iteration table (or a progress bar), and writes the reconstruction (low-pass +
/// D*U) and the code maps as PNG. --compare runs every applicable solver on the same problem
/// (circular boundary) and writes a summary table, a CSV of the objective curves and an SVG plot
/// of objective minus the best against time.
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

#include "cli.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/mcsc.hpp"
#include "mcsc/train/progress.hpp"
#include "solver_common.hpp"
#include "svg_plot.hpp"
#if __has_include("mcsc/solvers/common_unique.hpp")
#include "mcsc/solvers/common_unique.hpp"
#define CSC_SOLVE_HAVE_COMMON_UNIQUE 1
#endif
#if __has_include("mcsc/solvers/dictionary_learning.hpp")
#include "mcsc/solvers/dictionary_learning.hpp"
#define CSC_SOLVE_HAVE_LEARNING 1
#endif

namespace {

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

const SolverInfo kSolvers[] = {
    {"fista", "cbpdn", false, false, "FISTA on CBPDN (step 1/L, L from the filter spectra)"},
    {"ista", "cbpdn", false, false, "ISTA (proximal gradient without momentum) on CBPDN"},
    {"admm", "cbpdn", false, true, "ADMM on CBPDN (SPORCO's ConvBPDN: rho 50 lambda + 1, alpha 1.8, adaptive rho)"},
    {"coupled", "coupled-l1l1", true, false,
     "coupled l1-l1 with side information: the guide's codes (FISTA on the guide)"},
#ifdef CSC_SOLVE_HAVE_COMMON_UNIQUE
    {"common-unique", "common-unique", true, false,
     "common/unique codes of image and guide (CU-Net eq. 5; alternating FISTA blocks, all four "
     "dictionaries = the dictionary)"},
#endif
};

const SolverInfo* find_solver(const std::string& name) {
  for (const SolverInfo& s : kSolvers)
    if (name == s.name) return &s;
  return nullptr;
}

std::string solver_names(bool with_guide_note = false) {
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

po::options_description make_options(Settings& s) {
  po::options_description input("Input");
  // clang-format off
  input.add_options()
    ("help,h", "print this help and exit")
    ("image", po::value(&s.image)->value_name("PATH"),
     "image to code: PNG/JPEG/BMP (scaled to [0, 1], converted to grayscale for a one-channel "
     "dictionary), or a .npy / raw float32 .f32 array (H, W) or (C, H, W) taken as it is")
    ("image-shape", po::value(&s.image_shape)->value_name("HxW"),
     "shape of a raw .f32 image [default: from the file name, ..._256x256.f32]")
    ("synthetic", po::bool_switch(&s.synthetic), "code a generated test image (of --size, default 64) instead")
    ("guide", po::value(&s.guide)->value_name("PATH"),
     "guide image (second modality) of the same size, for the coupled solver; same formats")
    ("guide-shape", po::value(&s.guide_shape)->value_name("HxW"), "shape of a raw .f32 guide")
    ("synthetic-guide", po::bool_switch(&s.synthetic_guide),
     "use a generated guide: the synthetic scene with other intensities (with --synthetic)")
    ("size", with_default(s.size),
     "0: code the image as it is; N: centre crop and box-downsample it (and the guide) to N x N")
    ("highpass", po::bool_switch(&s.highpass),
     "remove SPORCO's Tikhonov low-pass before coding and add it back to the reconstruction")
    ("highpass-lambda", with_default(s.highpass_lambda), "lambda of the Tikhonov low-pass")
    ("highpass-pad", with_default(s.highpass_pad), "symmetric padding (pixels) of the Tikhonov low-pass")
    ("check-lowpass", po::value(&s.check_lowpass)->value_name("PATH"),
     "compare the Tikhonov low-pass with this reference array (.npy/.f32, e.g. SPORCO's); fail when "
     "the largest difference exceeds 1e-5");
  po::options_description dict("Dictionary");
  dict.add_options()
    ("dictionary", with_default(s.dictionary)->value_name("dct|random|PATH"),
     "'dct' (built-in DCT atoms without DC, unit norm), 'random' (Gaussian filters of unit norm, seeded; "
     "with --learn), or a .npy / raw .f32 file: (K, s, s), (s, s, K) or (m, K, s, s)")
    ("dictionary-shape", po::value(&s.dictionary_shape)->value_name("KxSxS"),
     "shape of a raw .f32 dictionary [default: from the file name, ..._32x8x8.f32]")
    ("dictionary-layout", with_default(s.dictionary_layout),
     "layout of a 3-d dictionary array: MHW = (K, s, s) or HWM = (s, s, K)")
    ("filter-convention", with_default(s.filter_convention),
     "'convolution': the file's filters d_k act by true convolution, as in SPORCO and the papers "
     "(flipped on reading, mcsc's conv2d being a cross-correlation); 'correlation': mcsc weights as "
     "they are")
    ("filters", with_default(s.filters), "number of DCT filters (with --dictionary dct)")
    ("filter-size", with_default(s.filter_size), "DCT filter side (with --dictionary dct)")
#ifdef CSC_SOLVE_HAVE_LEARNING
    ("learn", with_default(s.learn)->value_name("N"),
     "first learn the dictionary on the coded signal itself, starting from --dictionary: N outer "
     "iterations of mcsc::learn_dictionary (unit-norm filters); 0: use --dictionary as it is")
    ("learn-lambda", po::value(&s.learn_lambda)->value_name("X"),
     "lambda of the dictionary learning [default: --lambda]")
#endif
    ;
  po::options_description solve("Solver");
  solve.add_options()
    ("solver", po::value(&s.solver)->value_name("NAME"),
     ("one of " + solver_names(true) + " [default: fista]").c_str())
    ("lambda", with_default(s.lambda), "l1 weight lambda (>= 0)")
    ("guide-lambda", po::value(&s.guide_lambda)->value_name("X"),
     "lambda of the guide's FISTA coding (coupled) [default: --lambda]")
    ("iterations", with_default(s.iterations), "iterations of every solver (and of the guide's coding)")
#ifdef CSC_SOLVE_HAVE_COMMON_UNIQUE
    ("sweeps", with_default(s.sweeps), "common-unique: outer sweeps over the three code blocks")
    ("inner-iterations", with_default(s.inner_iterations), "common-unique: FISTA iterations per block and sweep")
#endif
    ("boundary", with_default(s.boundary),
     "'circular' (periodic, as SPORCO; the only one ADMM and --compare use) or 'zero'")
    ("lipschitz", with_default(s.lipschitz),
     "FISTA/ISTA/coupled step 1/L: L of D'D; 0: from the filter spectra (exact for the circular "
     "boundary, an upper bound for the zero boundary)")
    ("rho", with_default(s.rho), "ADMM initial penalty; 0: 50 lambda + 1 (SPORCO's default)")
    ("alpha", with_default(s.alpha), "ADMM over-relaxation, in (0, 2)")
    ("fixed-rho", po::bool_switch(&s.fixed_rho), "ADMM: keep rho fixed (no residual balancing)")
    ("rho-rule", with_default(s.rho_rule),
     "ADMM residual balancing: 'convbpdn' (SPORCO's ConvBPDN defaults, AdmmOptions::sporco_convbpdn) or "
     "'generic' (SPORCO's generic ADMM defaults, AdmmOptions' own: mu 10, tau 2)")
    ("compare", po::bool_switch(&s.compare),
     "run every applicable solver (those that need a guide only with one) on the same problem, "
     "circular boundary; summary table, compare.csv, compare.svg");
  po::options_description output("Output");
  output.add_options()
    ("print-every", po::value(&s.print_every)->value_name("K")->notifier([](int k) { mcsc_cli::require(k >= 0, "--print-every must be >= 0"); }),
     "print the per-iteration table every K-th iteration (and the last); 0: no table, a progress bar "
     "instead [default: 1, or 0 with --compare]")
    ("output-dir", with_default(s.output_dir)->value_name("DIR"),
     "where the PNG/CSV/SVG files are written (created if needed)");
  // clang-format on
  po::options_description all;
  all.add(input).add(dict).add(solve).add(output);
  return all;
}

void validate(const Settings& s) {
  using mcsc_cli::require;
  require(s.synthetic != !s.image.empty(), "give exactly one of --image PATH and --synthetic");
  require(!(s.synthetic_guide && !s.guide.empty()), "--guide and --synthetic-guide exclude each other");
  require(!s.synthetic_guide || s.synthetic, "--synthetic-guide goes with --synthetic");
  require(s.solver.empty() || find_solver(s.solver) != nullptr,
          "unknown solver '" + s.solver + "' (available: " + solver_names() + ")");
  require(!(s.compare && !s.solver.empty()), "--compare runs every solver: do not give --solver with it");
  require(std::isfinite(s.lambda) && s.lambda >= 0, "--lambda must be >= 0");
  require(s.guide_lambda < 0 || std::isfinite(s.guide_lambda), "--guide-lambda must be >= 0");
  require(s.iterations > 0, "--iterations must be > 0");
  require(s.sweeps > 0, "--sweeps must be > 0");
  require(s.inner_iterations > 0, "--inner-iterations must be > 0");
  require(s.learn >= 0, "--learn must be >= 0");
  require(s.learn_lambda < 0 || std::isfinite(s.learn_lambda), "--learn-lambda must be >= 0");
  require(s.learn > 0 || s.dictionary != "random", "--dictionary random needs --learn N");
  require(s.boundary == "circular" || s.boundary == "zero", "--boundary must be 'circular' or 'zero'");
  require(std::isfinite(s.lipschitz) && s.lipschitz >= 0, "--lipschitz must be >= 0");
  require(std::isfinite(s.rho) && s.rho >= 0, "--rho must be >= 0");
  require(s.alpha > 0 && s.alpha < 2, "--alpha must be in (0, 2)");
  require(s.rho_rule == "convbpdn" || s.rho_rule == "generic", "--rho-rule must be 'convbpdn' or 'generic'");
  require(s.size >= 0, "--size must be >= 0");
  require(std::isfinite(s.highpass_lambda) && s.highpass_lambda >= 0, "--highpass-lambda must be >= 0");
  require(s.highpass_pad >= 0, "--highpass-pad must be >= 0");
  require(s.check_lowpass.empty() || s.highpass, "--check-lowpass needs --highpass");
  require(s.dictionary_layout == "MHW" || s.dictionary_layout == "HWM", "--dictionary-layout must be MHW or HWM");
  require(s.filter_convention == "convolution" || s.filter_convention == "correlation",
          "--filter-convention must be 'convolution' or 'correlation'");
  require(s.filter_size >= 1, "--filter-size must be >= 1");
  require(s.filters >= 1 && s.filters < s.filter_size * s.filter_size,
          "--filters must be between 1 and filter-size^2 - 1 = " + std::to_string(s.filter_size * s.filter_size - 1));
  mcsc_cli::require_output_dir("--output-dir", s.output_dir);
  const SolverInfo& solver = *find_solver(s.solver_name());
  if (!s.compare) {
    require(!solver.needs_guide || s.has_guide(), "--solver " + s.solver_name() + " needs --guide");
    require(!solver.circular_only || s.boundary == "circular",
            "--solver " + s.solver_name() + " supports only --boundary circular");
  } else {
    require(s.boundary == "circular", "--compare uses the circular boundary for every solver (drop --boundary zero)");
  }
}

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

double since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string shape_text(const Tensor& t) {
  std::ostringstream os;
  os << t.extent(3) << "x" << t.extent(2) << (t.extent(1) > 1 ? " x " + std::to_string(t.extent(1)) + " channels" : "");
  return os.str();
}

/// Centre crop + box downsampling of every channel of a (1, C, H, W) tensor to size x size.
Tensor resize_square(const Tensor& t, int size) {
  const mcsc::Image cropped = mcsc_examples::crop_and_downsample(mcsc::tensor_to_image(t), size);
  return mcsc::image_to_tensor<T, ExecSpace>(cropped);
}

Tensor load_dictionary(const Settings& s, std::string& source) {
  if (s.dictionary == "dct") {
    source = std::to_string(s.filters) + " DCT filters " + std::to_string(s.filter_size) + "x" +
             std::to_string(s.filter_size) + " (DC excluded, unit norm)";
    return mcsc_examples::dct_dictionary(s.filters, s.filter_size);
  }
#ifdef CSC_SOLVE_HAVE_LEARNING
  if (s.dictionary == "random") {
    source = std::to_string(s.filters) + " random Gaussian filters " + std::to_string(s.filter_size) + "x" +
             std::to_string(s.filter_size) + " (unit norm, seed 1)";
    return mcsc::random_dictionary<T, ExecSpace>(1, s.filters, s.filter_size, 1);
  }
#endif
  mcsc_examples::DictionaryFileSpec spec;
  spec.path = s.dictionary;
  spec.shape = s.dictionary_shape;
  spec.layout = s.dictionary_layout;
  spec.convention = s.filter_convention;
  Tensor weights = mcsc_examples::read_dictionary(spec);
  std::ostringstream os;
  os << s.dictionary << ": " << weights.extent(1) << " filters " << weights.extent(2) << "x" << weights.extent(3)
     << (weights.extent(0) > 1 ? " x " + std::to_string(weights.extent(0)) + " channels" : "") << ", "
     << s.filter_convention << " convention" << (s.filter_convention == "convolution" ? " (flipped)" : "");
  source = os.str();
  return weights;
}

Tensor load_signal(const std::string& path, const std::string& shape, bool synthetic, int synthetic_variant,
                   const Settings& s, int channels, const char* what, std::string& source) {
  Tensor t;
  if (synthetic) {
    const int size = s.size > 0 ? s.size : 64;
    t = mcsc::image_to_tensor<T, ExecSpace>(mcsc_examples::synthetic_image(size, synthetic_variant));
    source = std::string("synthetic test image") + (synthetic_variant ? " (guide variant)" : "");
  } else {
    t = mcsc_examples::load_image(path, shape, channels, what);
    source = path + " (" + shape_text(t) + ")";
    if (s.size > 0) {
      t = resize_square(t, s.size);
      source += ", cropped/downsampled to " + std::to_string(s.size) + "x" + std::to_string(s.size);
    }
  }
  mcsc::require_finite(what, t);
  return t;
}

/// Splits `image` into low-pass and signal (image - low-pass).
void split(const Settings& s, const Tensor& image, Tensor& lowpass, Tensor& signal) {
  if (s.highpass) {
    lowpass = mcsc_examples::tikhonov_lowpass(image, s.highpass_lambda, s.highpass_pad);
  } else {
    lowpass = mcsc::make_tensor_like("lowpass", image);  // zero
  }
  signal = mcsc::make_tensor_like("signal", image);
  mcsc::lincomb(T(1), image, T(-1), lowpass, signal);
}

/// --learn N: learns the dictionary on the coded signal, starting from the loaded one (in place).
void learn(const Settings& s, Problem& pb) {
#ifdef CSC_SOLVE_HAVE_LEARNING
  mcsc::FftConvDictionary<T, ExecSpace> D(pb.weights, s.boundary_value());
  mcsc::DictionaryLearningOptions o;
  o.lambda = s.learn_lambda_value();
  o.max_iterations = s.learn;
  mcsc::ProgressBar progress("learning the dictionary", s.learn, "it", true);
  const auto start = std::chrono::steady_clock::now();
  const auto callback = [&](const mcsc::DictionaryLearningIterate<T, ExecSpace>& it) {
    progress.update(it.iteration, "objective " + mcsc_examples::scientific(it.objective, 6));
    return true;
  };
  const auto result = mcsc::learn_dictionary(D, pb.signal, o, callback);
  progress.finish();
  pb.learned = true;
  pb.dictionary_source += "; learned on the coded signal: " + std::to_string(result.iterations) +
                          " iterations of learn_dictionary (lambda " + mcsc_examples::fixed(o.lambda, 4) + ", " +
                          std::to_string(o.coding_iterations) + " FISTA + " + std::to_string(o.dictionary_iterations) +
                          " dictionary steps each, unit-norm filters), objective " +
                          mcsc_examples::scientific(result.initial_objective, 5) + " -> " +
                          mcsc_examples::scientific(result.objective.empty() ? result.initial_objective
                                                                              : result.objective.back(), 5) +
                          ", " + mcsc_examples::fixed(since(start), 2) + " s";
#else
  (void)s;
  (void)pb;
  throw UsageError("--learn needs mcsc/solvers/dictionary_learning.hpp");
#endif
}

Problem make_problem(const Settings& s) {
  Problem pb;
  // A built-in dictionary (one channel) is made after the image is known to fit its filters, so that
  // --filter-size 10000 is refused at once instead of after building a 12 GB dictionary.
  const bool built_in = s.dictionary == "dct" || s.dictionary == "random";
  if (!built_in) pb.weights = load_dictionary(s, pb.dictionary_source);
  const int m = built_in ? 1 : int(pb.weights.extent(0));
  pb.image = load_signal(s.image, s.image_shape, s.synthetic, 0, s, m, "--image", pb.image_source);
  const std::int64_t H = std::int64_t(pb.image.extent(2)), W = std::int64_t(pb.image.extent(3));
  if (built_in) {
    mcsc_cli::require(s.filter_size <= std::min(H, W), "--filter-size " + std::to_string(s.filter_size) +
                                                           " is larger than the image (" + shape_text(pb.image) + ")");
    pb.weights = load_dictionary(s, pb.dictionary_source);
  }
  mcsc_cli::require(!s.highpass || s.highpass_pad <= std::max(H, W),
                    "--highpass-pad " + std::to_string(s.highpass_pad) + " is more than the image's larger side (" +
                        shape_text(pb.image) + ")");
  MCSC_REQUIRE(int(pb.image.extent(1)) == m, "mcsc-solve",
               "the image has " << pb.image.extent(1) << " channel(s) but the dictionary has " << m);
  MCSC_REQUIRE(pb.weights.extent(2) <= pb.image.extent(2) && pb.weights.extent(3) <= pb.image.extent(3),
               "mcsc-solve",
               "the filters (" << pb.weights.extent(3) << "x" << pb.weights.extent(2) << ") are larger than the image ("
                               << shape_text(pb.image) << ")");
  pb.has_guide = s.has_guide();
  if (pb.has_guide) {
    pb.guide = load_signal(s.guide, s.guide_shape, s.synthetic_guide, 1, s, m, "--guide", pb.guide_source);
    MCSC_REQUIRE(mcsc::shape_of(pb.guide) == mcsc::shape_of(pb.image), "mcsc-solve",
                 "the guide is " << shape_text(pb.guide) << " but the image is " << shape_text(pb.image)
                                 << ": they must have the same size and channels");
  }
  const auto start = std::chrono::steady_clock::now();
  split(s, pb.image, pb.lowpass, pb.signal);
  if (pb.has_guide) split(s, pb.guide, pb.guide_lowpass, pb.guide_signal);
  pb.lowpass_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (s.learn > 0) learn(s, pb);
  return pb;
}

/// --check-lowpass: the low-pass against a reference array of the same shape.
void check_lowpass(const Settings& s, const Problem& pb) {
  const Tensor reference = mcsc_examples::load_image(s.check_lowpass, "", int(pb.lowpass.extent(1)), "--check-lowpass");
  MCSC_REQUIRE(mcsc::shape_of(reference) == mcsc::shape_of(pb.lowpass), "--check-lowpass",
               "the reference is " << shape_text(reference) << ", the low-pass " << shape_text(pb.lowpass));
  const double worst = mcsc::max_abs_diff(reference, pb.lowpass);
  const double rel = std::sqrt(mcsc::distance_squared(reference, pb.lowpass) / mcsc::sum_squares(reference));
  std::cout << "low-pass vs " << s.check_lowpass << ": max |difference| " << mcsc_examples::scientific(worst, 2)
            << ", relative l2 difference " << mcsc_examples::scientific(rel, 2) << "\n";
  MCSC_REQUIRE(worst <= 1e-5, "--check-lowpass",
               "the Tikhonov low-pass differs from the reference by up to " << worst << " (> 1e-5)");
  std::cout << "low-pass matches the reference (max |difference| <= 1e-5)\n";
}

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

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

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
    const double t = since(start);
    run.trace.objective.push_back(it.objective);
    for (auto* v : {&run.trace.primal, &run.trace.dual, &run.trace.rho}) v->push_back(nan_value);
    run.trace.seconds.push_back(t);
    reporter.iteration(it.iteration, it.objective, nan_value, nan_value, nan_value, t);
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

/// The guide's codes (side information of the coupled solver), computed once.
struct SideInformation {
  Tensor codes;
  double objective = 0, seconds = 0;
  int iterations = 0;
};

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
      const double t = since(start);
      run.trace.objective.push_back(it.objective);
      run.trace.primal.push_back(it.primal_residual);
      run.trace.dual.push_back(it.dual_residual);
      run.trace.rho.push_back(it.rho);
      run.trace.seconds.push_back(t);
      reporter.iteration(it.iteration, it.objective, it.primal_residual, it.dual_residual, it.rho, t);
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
#ifdef CSC_SOLVE_HAVE_COMMON_UNIQUE
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
          const double t = since(start);
          run.trace.objective.push_back(it.objective);
          for (auto* v : {&run.trace.primal, &run.trace.dual, &run.trace.rho}) v->push_back(nan_value);
          run.trace.seconds.push_back(t);
          reporter.iteration(it.iteration, it.objective, nan_value, nan_value, nan_value, t);
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
#endif
  throw UsageError("unknown solver '" + name + "'");
}

// ------------------------------------------------------------------------------------ outputs

/// low-pass + D*U.
Tensor full_reconstruction(const Problem& pb, const RunResult& run) {
  Tensor full = mcsc::make_tensor_like("reconstruction", pb.lowpass);
  mcsc::lincomb(T(1), pb.lowpass, T(1), run.reconstruction, full);
  return full;
}

/// Fraction of nonzero code entries.
double nonzero_fraction(const Tensor& codes) {
  auto h = mcsc::to_host(codes);
  std::size_t nz = 0;
  for (std::size_t i = 0; i < h.span(); ++i) nz += h.data()[i] != T(0) ? 1 : 0;
  return double(nz) / double(h.span());
}

class OutputDir {
 public:
  explicit OutputDir(const std::string& dir) : m_dir(dir) { fs::create_directories(dir); }
  std::string path(const std::string& name) {
    m_written.push_back((fs::path(m_dir) / name).string());
    return m_written.back();
  }
  void png(const std::string& name, const mcsc::Image& image) { mcsc::write_png(path(name), image); }
  const std::vector<std::string>& written() const { return m_written; }

 private:
  std::string m_dir;
  std::vector<std::string> m_written;
};

void write_images(OutputDir& out, const Problem& pb, const RunResult& run, const std::string& suffix) {
  out.png("reconstruction" + suffix + ".png", mcsc::tensor_to_image(full_reconstruction(pb, run)));
  out.png("codes" + suffix + ".png", mcsc_examples::tile_channels(mcsc::tensor_to_image(run.codes), 1, false));
  // The codes themselves, (N, K, H, W) float32 (bit-comparable between runs: the thread-count test).
  mcsc::write_npy_tensor(out.path("codes" + suffix + ".npy"), run.codes);
}

/// The best (smallest) objective per problem over all runs.
std::map<std::string, double> best_objectives(const std::vector<RunResult>& runs) {
  std::map<std::string, double> best;
  for (const RunResult& r : runs)
    for (double v : r.trace.objective) {
      auto it = best.find(r.problem);
      if (it == best.end() || v < it->second) best[r.problem] = v;
    }
  return best;
}

/// Index of the first iteration whose objective is within `rel` of `target` (relative), or -1.
int first_within(const Trace& trace, double target, double rel) {
  for (std::size_t i = 0; i < trace.objective.size(); ++i)
    if (trace.objective[i] - target <= rel * std::abs(target)) return int(i);
  return -1;
}

std::string csv_number(double v) {
  if (std::isnan(v)) return "";
  std::ostringstream os;
  os << std::setprecision(10) << v;
  return os.str();
}

void write_csv(const std::string& path, const std::vector<RunResult>& runs, const std::map<std::string, double>& best) {
  std::ofstream f(path);
  MCSC_REQUIRE(f.good(), "mcsc-solve", "cannot write '" << path << "'");
  f << "solver,problem,iteration,seconds,objective,objective_minus_best,primal_residual,dual_residual,rho\n";
  for (const RunResult& r : runs) {
    const double b = best.count(r.problem) ? best.at(r.problem) : nan_value;
    for (std::size_t i = 0; i < r.trace.objective.size(); ++i)
      f << r.solver << "," << r.problem << "," << i + 1 << "," << csv_number(r.trace.seconds[i]) << ","
        << csv_number(r.trace.objective[i]) << "," << csv_number(r.trace.objective[i] - b) << ","
        << csv_number(r.trace.primal[i]) << "," << csv_number(r.trace.dual[i]) << "," << csv_number(r.trace.rho[i])
        << "\n";
  }
  MCSC_REQUIRE(f.good(), "mcsc-solve", "write error in '" << path << "'");
}

/// The objective minus the best objective of its problem against time, log scale, one line per
/// run (svg_plot.hpp). Points at or below the best (the best run's last iterates) are not drawn.
void write_svg(const std::string& path, const std::vector<RunResult>& runs, const std::map<std::string, double>& best,
               const std::string& title) {
  std::vector<mcsc_examples::PlotSeries> series;
  for (const RunResult& r : runs) {
    mcsc_examples::PlotSeries line;
    line.name = r.solver + (r.problem != "cbpdn" ? " (" + r.problem + ")" : "");
    const double b = best.at(r.problem);
    for (std::size_t i = 0; i < r.trace.objective.size(); ++i) {
      line.x.push_back(r.trace.seconds[i]);
      line.y.push_back(r.trace.objective[i] - b);  // <= 0: not drawn on the log axis
    }
    series.push_back(std::move(line));
  }
  mcsc_examples::PlotOptions o;
  o.title = title;
  o.x_label = "time (s)";
  o.y_label = "objective - best (log scale)";
  o.log_y = true;
  mcsc_examples::write_svg_plot(path, series, o, "mcsc-solve");
}

void print_header(const Settings& s, const Problem& pb, const std::string& mode) {
  const auto norms = mcsc_examples::filter_norm_range(pb.weights);
  std::cout << "mcsc-solve (Kokkos " << ExecSpace::name() << ", " << ExecSpace().concurrency()
            << " thread(s), float32)\n"
            << "  image:      " << pb.image_source << "\n";
  if (pb.has_guide) std::cout << "  guide:      " << pb.guide_source << "\n";
  std::cout << "  dictionary: " << pb.dictionary_source << "; filter norms " << mcsc_examples::fixed(norms.first, 4)
            << ".." << mcsc_examples::fixed(norms.second, 4) << "\n";
  if (s.highpass)
    std::cout << "  high-pass:  image minus its Tikhonov low-pass (lambda " << s.highpass_lambda << ", pad "
              << s.highpass_pad << ", " << mcsc_examples::fixed(pb.lowpass_seconds, 3) << " s)\n";
  std::cout << "  problem:    lambda " << s.lambda << ", " << s.iterations << " iterations, "
            << (s.boundary_value() == mcsc::Boundary::circular ? "circular" : "zero") << " boundary\n"
            << "  " << mode << "\n";
}

void print_run_summary(const Problem& pb, const RunResult& run) {
  const Tensor full = full_reconstruction(pb, run);
  std::cout << "\n" << run.solver << ": " << run.detail << "\n"
            << "  final objective  " << mcsc_examples::scientific(run.trace.objective.back(), 8) << " after "
            << run.iterations << " iterations\n"
            << "  time             " << mcsc_examples::fixed(run.total_seconds, 3) << " s ("
            << mcsc_examples::fixed(1e3 * run.loop_seconds / run.iterations, 3) << " ms per iteration, set-up "
            << mcsc_examples::fixed(run.total_seconds - run.loop_seconds, 3) << " s)\n"
            << "  nonzero codes    " << mcsc_examples::fixed(100 * nonzero_fraction(run.codes), 2) << " %\n"
            << "  reconstruction   PSNR " << mcsc_examples::fixed(mcsc_examples::psnr(full, pb.image), 2)
            << " dB against the image (peak 1)\n";
}

/// dictionary.png, and the learned dictionary as .npy (m, K, s, s) in the --filter-convention, so
/// that --dictionary dictionary_learned.npy reads it back unchanged.
void write_dictionary(OutputDir& out, const Settings& s, const Problem& pb) {
  out.png("dictionary.png", mcsc_examples::dictionary_picture(pb.weights));
  if (!pb.learned) return;
  auto h = mcsc::to_host(pb.weights);
  const std::int64_t m = h.extent(0), K = h.extent(1), kh = h.extent(2), kw = h.extent(3);
  const bool flip = s.filter_convention == "convolution";
  std::vector<float> values;
  values.reserve(h.span());
  for (std::int64_t o = 0; o < m; ++o)
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t p = 0; p < kh; ++p)
        for (std::int64_t q = 0; q < kw; ++q)
          values.push_back(float(h(o, k, flip ? kh - 1 - p : p, flip ? kw - 1 - q : q)));
  mcsc::write_npy(out.path("dictionary_learned.npy"), {m, K, kh, kw}, values);
}

void print_written(const OutputDir& out) {
  std::cout << "\nwrote " << out.written().size() << " file(s):\n";
  for (const std::string& p : out.written()) std::cout << "  " << p << "\n";
}

int solve_one(const Settings& s, const Problem& pb) {
  const std::string name = s.solver_name();
  print_header(s, pb, "solver:     " + name + " - " + find_solver(name)->description);
  std::unique_ptr<SideInformation> side;
  const RunResult run = run_solver(name, s, pb, side);
  print_run_summary(pb, run);
  OutputDir out(s.output_dir);
  write_dictionary(out, s, pb);
  write_images(out, pb, run, "");
  const std::vector<RunResult> runs{run};
  write_csv(out.path("trace.csv"), runs, best_objectives(runs));
  print_written(out);
  return 0;
}

int compare(const Settings& s, const Problem& pb) {
  std::vector<std::string> names;
  for (const SolverInfo& info : kSolvers)
    if (!info.needs_guide || pb.has_guide) names.push_back(info.name);
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  print_header(s, pb, "compare:    " + list);
  std::unique_ptr<SideInformation> side;
  std::vector<RunResult> runs;
  for (const std::string& n : names) runs.push_back(run_solver(n, s, pb, side));
  const std::map<std::string, double> best = best_objectives(runs);
  constexpr double rel = 1e-3;

  std::cout << "\nsummary (time to 1e-3: first iterate within 1e-3 relative of the best objective of its problem "
               "over all runs; times include each solver's set-up)\n";
  const TextTable table(std::cout, {{"solver", 13},
                                    {"problem", 13},
                                    {"final objective", 15},
                                    {"iterations", 10},
                                    {"total s", 8},
                                    {"set-up s", 8},
                                    {"ms/iter", 8},
                                    {"time to 1e-3 s", 14},
                                    {"iter. to 1e-3", 13}});
  table.header();
  for (const RunResult& r : runs) {
    const int hit = first_within(r.trace, best.at(r.problem), rel);
    table.row({r.solver, r.problem, mcsc_examples::scientific(r.trace.objective.back(), 8),
               std::to_string(r.iterations),
               mcsc_examples::fixed(r.total_seconds, 3), mcsc_examples::fixed(r.total_seconds - r.loop_seconds, 3),
               mcsc_examples::fixed(1e3 * r.loop_seconds / r.iterations, 3),
               hit < 0 ? "not reached" : mcsc_examples::fixed(r.trace.seconds[std::size_t(hit)], 3),
               hit < 0 ? "-" : std::to_string(hit + 1)});
  }
  for (const auto& [problem, value] : best)
    std::cout << "best objective (" << problem << "): " << mcsc_examples::scientific(value, 8) << "\n";
  if (best.size() > 1)
    std::cout << "solvers of different problems (cbpdn, coupled-l1l1 with ||U - Z||_1, common-unique: eq. 5 of "
                 "CU-Net) are compared within their problem only\n";
  if (side)
    std::cout << "the coupled solver's side information (the guide's FISTA codes) took "
              << mcsc_examples::fixed(side->seconds, 3) << " s more\n";
  for (const RunResult& r : runs) std::cout << r.solver << ": " << r.detail << "\n";

  OutputDir out(s.output_dir);
  write_dictionary(out, s, pb);
  for (const RunResult& r : runs) write_images(out, pb, r, "_" + r.solver);
  write_csv(out.path("compare.csv"), runs, best);
  std::ostringstream title;
  title << "CSC, lambda " << s.lambda << ", " << pb.weights.extent(1) << " filters " << pb.weights.extent(2) << "x"
        << pb.weights.extent(3) << ", " << pb.image.extent(3) << "x" << pb.image.extent(2);
  write_svg(out.path("compare.svg"), runs, best, title.str());
  print_written(out);
  return 0;
}

int run_program(const Settings& s) {
  const Problem pb = make_problem(s);
  if (!s.check_lowpass.empty()) check_lowpass(s, pb);
  return s.compare ? compare(s, pb) : solve_one(s, pb);
}

}  // namespace

int main(int argc, char* argv[]) {
  Settings settings;
  const po::options_description desc = make_options(settings);
  return mcsc_cli::run(
      argc, argv, desc,
      "Convolutional sparse coding of an image with mcsc's classical solvers (FISTA, ISTA, ADMM, coupled\n"
      "l1-l1 with a guide image): per-iteration table, reconstruction and code-map PNGs; --compare runs\n"
      "them all on the same problem and plots objective against time (compare.svg, compare.csv).\n"
      "Example: mcsc-solve --image photo.png --size 256 --highpass --dictionary dict_32x8x8.npy --compare\n",
      [&] { validate(settings); }, [&] { return run_program(settings); });
}
