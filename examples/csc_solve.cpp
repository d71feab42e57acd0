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
#include "solve/solve.hpp"

namespace {
using namespace mcsc_solve;

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
