/// \file bench_conv.cpp
/// Convolution kernels benchmark (BENCHMARKS.md, section "Convolution kernels").
///
/// For every conv shape the networks use (N = 16 images of 64x64; K->1, 1->K and 2->K with
/// K = 64 for s = 8 and 9, K = 85 for s = 5), times the forward (conv2d), adjoint
/// (conv2d_adjoint) and weight gradient (conv2d_weight_grad): "direct" (the dispatched kernel:
/// on host spaces the register-blocked kernels of conv2d_blocked.hpp), "fft" (FftConv2d, plans
/// built once outside the timing) and "reference" (the generic gather kernels conv2d_reference,
/// ..., against which the blocked ones are tested; --no-reference leaves them out), in float32 on
/// Kokkos::DefaultExecutionSpace. The same run measures this machine's dense matrix-multiply rate
/// (a large single-precision Eigen GEMM with as many OpenMP threads as Kokkos has), and every
/// kernel's rate is reported as a ratio to it.
///
/// For the encoder shapes (1->K, 2->K) it also times the stage update of the unrolled encoders,
/// out = S_theta(p1 + U - conv2d(x, w)) ("stage_update"): "direct" is the fused conv2d_prox (the
/// combination and the soft threshold in the convolution's store), "unfused" the same as four
/// kernels (conv2d, lincomb, axpby, soft_threshold), as the networks ran it before.
///
/// FLOP of one pass: 2 * N * O * C * H * W * s * s for all operators (a multiply-add is 2
/// FLOP; the stage update's elementwise work is not counted); the FFT path is charged the same
/// nominal count ("effective GFLOP/s").
#include "bench_common.hpp"  // first: it includes Eigen

#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iterator>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/core/tensor.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/ops/conv2d_prox.hpp"
#include "mcsc/ops/prox.hpp"

namespace po = boost::program_options;

namespace {

using mcsc_bench::eigen_version;
using mcsc_bench::GemmResult;
using mcsc_bench::json_string;
using mcsc_bench::json_timing;
using mcsc_bench::kokkos_version;
using mcsc_bench::load_average;
using mcsc_bench::report_progress;
using mcsc_bench::Timing;

using Real = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<Real, ExecSpace>;

// ------------------------------------------------------------------ the workloads

/// One convolution shape: weight (out_ch, in_ch, kernel, kernel), "same" padding, stride 1.
struct ConvShape {
  int in_ch;
  int out_ch;
  int kernel;
  const char* used_by;
};

/// The conv shapes of BENCHMARKS.md's networks (in_ch -> out_ch, kernel s x s).
///   s = 9, K = 64: CU-Net, official configuration (published weights).
///   s = 8, K = 64: CU-Net, paper configuration, and the LCSC network.
///   s = 5, K = 85: the LMCSC network.
/// K->1 is a decoder D_i (K->c) or an output conv; 1->K an encoder E_i / P / Q on one
/// modality; 2->K the CU-Net c-module's encoder on the concatenated residuals.
constexpr ConvShape kShapes[] = {
    // in  out   s  used by
    {64, 1, 9, "CU-Net official: D_i, G_u, G_c, conv_u/v"},
    {1, 64, 9, "CU-Net official: E_i (u/v-modules)"},
    {2, 64, 9, "CU-Net official: E_i (c-module)"},
    {64, 1, 8, "CU-Net paper, LCSC: D_i, decoder"},
    {1, 64, 8, "CU-Net paper, LCSC: E_i"},
    {2, 64, 8, "CU-Net paper: E_i (c-module)"},
    {85, 1, 5, "LMCSC: R, D, decoder"},
    {1, 85, 5, "LMCSC: P, Q, E"},
    {2, 85, 5, "(LMCSC has no 2-channel input; measured for completeness)"},
};

constexpr int kImageSide = 64;

enum class Op { forward, adjoint, weight_grad, stage_update };
enum class Method { direct, fft, reference, unfused };
constexpr Op kOps[] = {Op::forward, Op::adjoint, Op::weight_grad, Op::stage_update};
constexpr Method kMethods[] = {Method::direct, Method::fft, Method::reference, Method::unfused};
constexpr int kNumOps = int(std::size(kOps));
constexpr int kNumMethods = int(std::size(kMethods));

const char* name_of(Op op) {
  switch (op) {
    case Op::forward: return "forward";
    case Op::adjoint: return "adjoint";
    case Op::weight_grad: return "weight_grad";
    case Op::stage_update: return "stage_update";
  }
  return "?";
}
const char* name_of(Method m) {
  switch (m) {
    case Method::direct: return "direct";
    case Method::fft: return "fft";
    case Method::reference: return "reference";
    case Method::unfused: return "unfused";
  }
  return "?";
}

std::string shape_label(const ConvShape& s) {
  return std::to_string(s.in_ch) + "->" + std::to_string(s.out_ch);
}

// ------------------------------------------------------------------ timing

struct Options {
  int batch = 16;
  int repeats = 7;
  int warmup = 1;
  double min_time = 0.0;
  int gemm_size = 2048;
  bool quick = false;
  bool reference = true;
  std::string json_path = "bench_conv.json";

  mcsc_bench::TimingOptions timing() const { return {repeats, warmup, min_time}; }
};

// ------------------------------------------------------------------ results

struct ConvResult {
  ConvShape shape{};
  Op op = Op::forward;
  Method method = Method::direct;
  double flop = 0;
  Timing timing;
  double gflops = 0;
  double ratio_to_gemm = 0;
  /// ||out - direct|| / ||direct|| of this operator's output (FFT and reference rows; -1 for direct).
  double rel_diff = -1;
};

// ------------------------------------------------------------------ convolutions

/// Inputs and per-method outputs of one conv shape.
struct ConvProblem {
  ConvShape shape;
  Tensor x, w, y;    // input (N, C, H, W), weight (O, C, s, s), output-side (N, O, H, W)
  Tensor p1, u, pre;  // the stage update's operands (N, O, H, W)
  Kokkos::View<Real*, ExecSpace> theta;
  Tensor out[kNumOps][kNumMethods];  // [op][method]: y', x', gw' or U'
  mcsc::FftConv2d<Real, ExecSpace> fft;

  ConvProblem(const ConvShape& s, int batch, std::uint64_t seed)
      : shape(s),
        x(mcsc::make_tensor<Real, ExecSpace>("x", {batch, s.in_ch, kImageSide, kImageSide})),
        w(mcsc::make_tensor<Real, ExecSpace>("w", {s.out_ch, s.in_ch, s.kernel, s.kernel})),
        y(mcsc::make_tensor<Real, ExecSpace>("y", {batch, s.out_ch, kImageSide, kImageSide})),
        fft(mcsc::Shape4{batch, s.in_ch, kImageSide, kImageSide}, s.out_ch, s.kernel, s.kernel) {
    mcsc::fill_normal(x, seed);
    mcsc::fill_normal(w, seed + 1, 0.0, 1.0 / (s.kernel * std::sqrt(double(s.in_ch))));
    mcsc::fill_normal(y, seed + 2);
    p1 = mcsc::make_tensor_like("p1", y);
    u = mcsc::make_tensor_like("u", y);
    pre = mcsc::make_tensor_like("pre", y);
    mcsc::fill_normal(p1, seed + 3);
    mcsc::fill_normal(u, seed + 4);
    theta = Kokkos::View<Real*, ExecSpace>("theta", s.out_ch);
    Kokkos::deep_copy(theta, Real(0.5));
    for (Op op : kOps)
      for (Method m : kMethods) {
        const std::string label = std::string(name_of(op)) + "_" + name_of(m);
        out[int(op)][int(m)] =
            mcsc::make_tensor_like(label, op == Op::forward || op == Op::stage_update ? y : op == Op::adjoint ? x : w);
      }
    fft.set_weights(w);  // weight spectra: part of the plan, outside the timing
    Kokkos::fence();
  }

  double flop() const {
    return 2.0 * double(x.extent(0)) * shape.out_ch * shape.in_ch * double(kImageSide) * kImageSide * shape.kernel *
           shape.kernel;
  }

  std::function<void()> kernel(Op op, Method m) {
    const Tensor& o = out[int(op)][int(m)];
    switch (op) {
      case Op::forward:
        if (m == Method::direct) return [this, o] { mcsc::conv2d(x, w, o); };
        if (m == Method::reference) return [this, o] { mcsc::conv2d_reference(x, w, o); };
        return [this, o] { fft.forward(x, o); };
      case Op::adjoint:
        if (m == Method::direct) return [this, o] { mcsc::conv2d_adjoint(y, w, o); };
        if (m == Method::reference) return [this, o] { mcsc::conv2d_adjoint_reference(y, w, o); };
        return [this, o] { fft.adjoint(y, o); };
      case Op::weight_grad:
        if (m == Method::direct) return [this, o] { mcsc::conv2d_weight_grad(x, y, o); };
        if (m == Method::reference) return [this, o] { mcsc::conv2d_weight_grad_reference(x, y, o); };
        return [this, o] { fft.weight_grad(x, y, o); };
      case Op::stage_update:
        if (m == Method::direct)
          return [this, o] {
            mcsc::ConvProxOptions fused;
            fused.sign = -1;
            fused.keep_pre = false;
            mcsc::conv2d_prox(x, w, p1, u, theta, Tensor(), pre, o, fused);
          };
        return [this, o] {
          mcsc::conv2d(x, w, pre);
          mcsc::lincomb(Real(1), u, Real(-1), pre, pre);
          mcsc::axpby(Real(1), p1, Real(1), pre);
          mcsc::soft_threshold(pre, theta, o, false);
        };
    }
    return {};
  }

  /// Whether the run measures op with method m on this shape.
  static bool applies(const ConvShape& s, Op op, Method m, bool reference) {
    if (op == Op::stage_update) return s.in_ch <= 2 && (m == Method::direct || m == Method::unfused);
    if (m == Method::unfused) return false;
    return m != Method::reference || reference;
  }

  /// ||out(m) - out(direct)|| / ||out(direct)|| of operator op.
  double relative_difference(Op op, Method m) const {
    const Tensor& d = out[int(op)][int(Method::direct)];
    const double ref = mcsc::sum_squares(d);
    return ref > 0 ? std::sqrt(mcsc::distance_squared(out[int(op)][int(m)], d) / ref) : -1.0;
  }
};

std::vector<ConvResult> measure_convs(const Options& opt, double gemm_gflops) {
  std::vector<ConvResult> results;
  int total = 0;
  for (const ConvShape& s : kShapes)
    for (Op op : kOps)
      for (Method m : kMethods) total += ConvProblem::applies(s, op, m, opt.reference) ? 1 : 0;
  std::uint64_t seed = 1234;
  for (const ConvShape& s : kShapes) {
    ConvProblem problem(s, opt.batch, seed);
    seed += 10;
    for (Op op : kOps) {
      for (Method m : kMethods) {
        if (!ConvProblem::applies(s, op, m, opt.reference)) continue;
        ConvResult r;
        r.shape = s;
        r.op = op;
        r.method = m;
        r.flop = problem.flop();
        std::cerr << "[" << std::setw(2) << results.size() + 1 << "/" << total << "] " << shape_label(s)
                  << " s=" << s.kernel << " " << name_of(op) << " " << name_of(m) << " ..." << std::flush;
        r.timing = mcsc_bench::time_kernel(problem.kernel(op, m), opt.timing());
        r.gflops = r.flop / r.timing.median * 1e-9;
        r.ratio_to_gemm = r.gflops / gemm_gflops;
        if (m != Method::direct) r.rel_diff = problem.relative_difference(op, m);
        report_progress(r.timing, r.gflops);
        results.push_back(r);
      }
    }
  }
  return results;
}

// ------------------------------------------------------------------ output

/// What the run saw of the machine besides its own figures.
struct RunInfo {
  std::string command;
  int threads = 0;
  std::string load_before, load_after;
};

void print_table(std::ostream& os, const Options& opt, const RunInfo& info, const GemmResult& gemm,
                 const std::vector<ConvResult>& results) {
  os << "bench_conv: float32, Kokkos " << kokkos_version() << " (" << ExecSpace::name() << "), " << info.threads
     << " thread(s); Eigen " << eigen_version() << " with " << gemm.eigen_threads << " thread(s)\n"
     << "N = " << opt.batch << ", " << kImageSide << "x" << kImageSide << ", repeats >= " << opt.repeats
     << ", warm-up " << opt.warmup << ", min-time " << opt.min_time << " s\n"
     << "/proc/loadavg before: " << info.load_before << "; after: " << info.load_after << "\n"
     << mcsc_bench::gemm_summary(gemm) << "\n\n" << std::fixed;
  os << std::left << std::setw(7) << "shape" << std::right << std::setw(3) << "s" << "  " << std::left
     << std::setw(13) << "op" << std::setw(10) << "method" << std::right << std::setw(8) << "GFLOP" << std::setw(11)
     << "median ms" << std::setw(10) << "min ms" << std::setw(10) << "max ms" << std::setw(9) << "GFLOP/s"
     << std::setw(9) << "/GEMM" << std::setw(10) << "rel.diff" << "\n";
  for (const ConvResult& r : results) {
    os << std::left << std::setw(7) << shape_label(r.shape) << std::right << std::setw(3) << r.shape.kernel << "  "
       << std::left << std::setw(13) << name_of(r.op) << std::setw(10) << name_of(r.method) << std::right
       << std::setprecision(3) << std::setw(8) << r.flop * 1e-9 << std::setw(11) << r.timing.median * 1e3
       << std::setw(10) << r.timing.min * 1e3 << std::setw(10) << r.timing.max * 1e3 << std::setprecision(2)
       << std::setw(9) << r.gflops << std::setprecision(4) << std::setw(9) << r.ratio_to_gemm;
    if (r.rel_diff >= 0)
      os << std::scientific << std::setprecision(1) << std::setw(10) << r.rel_diff << std::fixed;
    else
      os << std::setw(10) << "-";
    os << "\n";
  }
  os << std::defaultfloat;
}

void write_json(std::ostream& f, const Options& opt, const RunInfo& info, const GemmResult& gemm,
                const std::vector<ConvResult>& results) {
  f << std::setprecision(9);
  f << "{\n  \"benchmark\": \"bench_conv\",\n  \"command\": " << json_string(info.command) << ",\n"
    << "  \"precision\": \"float32\",\n  \"kokkos_version\": " << json_string(kokkos_version())
    << ",\n  \"execution_space\": " << json_string(ExecSpace::name()) << ",\n  \"threads\": " << info.threads
    << ",\n  \"loadavg_before\": " << json_string(info.load_before)
    << ",\n  \"loadavg_after\": " << json_string(info.load_after)
    << ",\n  \"eigen_version\": " << json_string(eigen_version()) << ",\n"
    << "  \"options\": {\"batch\": " << opt.batch << ", \"height\": " << kImageSide << ", \"width\": " << kImageSide
    << ", \"repeats\": " << opt.repeats << ", \"warmup\": " << opt.warmup << ", \"min_time_s\": " << opt.min_time
    << ", \"quick\": " << (opt.quick ? "true" : "false") << ", \"reference\": " << (opt.reference ? "true" : "false")
    << "},\n"
    << "  \"flop_convention\": \"2 * N * O * C * H * W * s * s per pass (multiply-add = 2 FLOP); FFT charged the "
       "same nominal count\",\n"
    << "  \"gemm\": " << mcsc_bench::json_gemm(gemm) << ",\n  \"conv\": [\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    const ConvResult& r = results[i];
    f << "    {\"shape\": " << json_string(shape_label(r.shape)) << ", \"in_channels\": " << r.shape.in_ch
      << ", \"out_channels\": " << r.shape.out_ch << ", \"kernel\": " << r.shape.kernel
      << ", \"used_by\": " << json_string(r.shape.used_by) << ", \"op\": " << json_string(name_of(r.op))
      << ", \"method\": " << json_string(name_of(r.method)) << ", \"flop\": " << r.flop << ", "
      << json_timing(r.timing) << ", \"gflops\": " << r.gflops << ", \"ratio_to_gemm\": " << r.ratio_to_gemm
      << ", \"rel_diff_vs_direct\": ";
    if (r.rel_diff >= 0)
      f << r.rel_diff;
    else
      f << "null";
    f << "}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
}

// ------------------------------------------------------------------ command line

po::options_description make_options(Options& opt) {
  po::options_description desc(
      "Usage: bench_conv [options] [--kokkos-... options]\n"
      "Times conv2d / conv2d_adjoint / conv2d_weight_grad for the networks' conv shapes: direct (the\n"
      "dispatched kernels), FFT and the generic reference kernels, and the encoders' stage update (fused\n"
      "conv2d_prox against the unfused kernels), against this machine's Eigen SGEMM rate.\n"
      "Run with OMP_NUM_THREADS and OMP_PROC_BIND=false set.\n\n"
      "Options");
  desc.add_options()("help,h", "print this help and exit")(
      "repeats,r", po::value<int>(&opt.repeats)->default_value(opt.repeats),
      "timed runs per measurement (at least 1; --quick: 1)")(
      "warmup", po::value<int>(&opt.warmup)->default_value(opt.warmup), "untimed runs before the timed ones")(
      "min-time", po::value<double>(&opt.min_time)->default_value(opt.min_time),
      "keep timing each measurement until its samples add up to this many seconds")(
      "batch", po::value<int>(&opt.batch)->default_value(opt.batch), "images per batch N (--quick: 2)")(
      "gemm-size", po::value<int>(&opt.gemm_size)->default_value(opt.gemm_size),
      "side of the square GEMM reference (--quick: 512)")(
      "json", po::value<std::string>(&opt.json_path)->default_value(opt.json_path), "where to write the JSON results")(
      "quick", po::bool_switch(&opt.quick), "smoke run: N = 2, 1 timed run, small GEMM")(
      "no-reference", "leave out the (slow) generic reference kernels' rows");
  return desc;
}

int usage_error(const std::string& message, const po::options_description& desc) {
  std::cerr << "bench_conv: " << message << "\n\n" << desc << "\n";
  return 2;
}

int run(int argc, char** argv, const std::string& command) {
  Options opt;
  const po::options_description desc = make_options(opt);
  po::variables_map vm;
  if (const int status = mcsc_bench::parse_command_line("bench_conv", argc, argv, desc, vm); status >= 0) return status;
  if (opt.quick) {
    if (vm["repeats"].defaulted()) opt.repeats = 1;
    if (vm["batch"].defaulted()) opt.batch = 2;
    if (vm["gemm-size"].defaulted()) opt.gemm_size = 512;
  }
  opt.reference = vm.count("no-reference") == 0;
  if (opt.repeats < 1) return usage_error("--repeats must be at least 1", desc);
  if (opt.warmup < 0) return usage_error("--warmup must not be negative", desc);
  if (!(opt.min_time >= 0)) return usage_error("--min-time must not be negative", desc);
  if (opt.batch < 1) return usage_error("--batch must be at least 1", desc);
  if (opt.gemm_size < 1) return usage_error("--gemm-size must be at least 1", desc);

  std::ofstream json(opt.json_path);  // opened first: a bad path fails before the long measurements
  if (!json) throw std::runtime_error("cannot write '" + opt.json_path + "'");
  RunInfo info;
  info.command = command;
  info.threads = int(ExecSpace().concurrency());
  info.load_before = load_average();
  const int threads = info.threads;
  std::cerr << "bench_conv: Kokkos " << kokkos_version() << " " << ExecSpace::name() << ", " << threads
            << " thread(s)\n";
  const GemmResult gemm = mcsc_bench::measure_gemm(opt.gemm_size, threads, opt.timing(), "bench_conv");
  const std::vector<ConvResult> results = measure_convs(opt, gemm.gflops);
  info.load_after = load_average();
  std::cout << "command: " << command << "\n";
  print_table(std::cout, opt, info, gemm, results);
  write_json(json, opt, info, gemm, results);
  json.close();
  if (!json) throw std::runtime_error("error while writing '" + opt.json_path + "'");
  std::cerr << "bench_conv: wrote " << opt.json_path << "\n";
  // The run's own correctness check: every FFT, reference and unfused result equals the direct
  // kernel's to float32 accuracy, or the figures above time a wrong computation (status 1).
  constexpr double tolerance = 1e-4;
  int wrong = 0;
  for (const ConvResult& r : results)
    if (r.rel_diff > tolerance || std::isnan(r.rel_diff)) {
      std::cerr << "bench_conv: FAILED: " << shape_label(r.shape) << " s=" << r.shape.kernel << " " << name_of(r.op) << " "
                << name_of(r.method) << " differs from direct by " << r.rel_diff << " (relative), more than " << tolerance
                << "\n";
      ++wrong;
    }
  return wrong ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) { return mcsc_bench::benchmark_main("bench_conv", argc, argv, run); }
