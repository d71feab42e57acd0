/// \file solve_options.cpp
/// mcsc-solve: the command line (make_options) and its checks (validate).
#include "solve.hpp"

namespace mcsc_solve {

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
    ("learn", with_default(s.learn)->value_name("N"),
     "first learn the dictionary on the coded signal itself, starting from --dictionary: N outer "
     "iterations of mcsc::learn_dictionary (unit-norm filters); 0: use --dictionary as it is")
    ("learn-lambda", po::value(&s.learn_lambda)->value_name("X"),
     "lambda of the dictionary learning [default: --lambda]")
    ;
  po::options_description solve("Solver");
  solve.add_options()
    ("solver", po::value(&s.solver)->value_name("NAME"),
     ("one of " + solver_names(true) + " [default: fista]").c_str())
    ("lambda", with_default(s.lambda), "l1 weight lambda (>= 0)")
    ("guide-lambda", po::value(&s.guide_lambda)->value_name("X"),
     "lambda of the guide's FISTA coding (coupled) [default: --lambda]")
    ("iterations", with_default(s.iterations), "iterations of every solver (and of the guide's coding)")
    ("sweeps", with_default(s.sweeps), "common-unique: outer sweeps over the three code blocks")
    ("inner-iterations", with_default(s.inner_iterations), "common-unique: FISTA iterations per block and sweep")
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

}  // namespace mcsc_solve
