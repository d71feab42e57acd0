#pragma once
/// \file bench_common.hpp
/// What mcsc's benchmark programs share: the timing helper (warm-up, fenced timed runs, median /
/// min / max), the same-run reference rate of a dense single-precision GEMM (Eigen, with as many
/// OpenMP threads as Kokkos has), version strings, /proc/loadavg, the command line, and JSON
/// string helpers.
///
/// Include it before any other header that includes Eigen: it silences one false GCC 12 warning
/// inside the AVX-512 intrinsics that Eigen's GEMM kernel inlines.
// GCC 12 reports a false -Wmaybe-uninitialized inside its own avx512fintrin.h when Eigen's
// AVX-512 GEMM kernel is inlined (_mm512_undefined_ps in _mm512_permutexvar_ps): silence that one
// warning for the intrinsics headers, which Eigen includes first here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// Eigen is a host-side reference only: without EIGEN_NO_CUDA, nvcc compiles Eigen's own CUDA
// paths, whose host/device functions call host-only ones (a cross-execution-space error).
#ifndef EIGEN_NO_CUDA
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <Kokkos_Core.hpp>
#include <boost/program_options.hpp>

#include "../examples/cli.hpp"  // mcsc_cli::option_error_text

namespace mcsc_bench {

/// How a measurement is repeated.
struct TimingOptions {
  int repeats = 7;        ///< at least this many timed runs
  int warmup = 1;         ///< untimed runs before them
  double min_time = 0.0;  ///< keep adding timed runs until they add up to this many seconds (<= 10000 runs)
};

/// Median, min and max of the samples of one measurement, in seconds.
struct Timing {
  double median = 0, min = 0, max = 0;
  int samples = 0;
  std::vector<double> values;  ///< the samples, sorted
};

/// Median / min / max of samples (seconds); an empty list gives zeros.
inline Timing summarize(std::vector<double> samples) {
  Timing r;
  if (samples.empty()) return r;
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  r.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  r.min = samples.front();
  r.max = samples.back();
  r.samples = int(n);
  r.values = std::move(samples);
  return r;
}

/// The timing of the samples of a and b together.
inline Timing merge(const Timing& a, const Timing& b) {
  std::vector<double> all = a.values;
  all.insert(all.end(), b.values.begin(), b.values.end());
  return summarize(std::move(all));
}

/// The one timing helper: `warmup` untimed calls, then timed calls (each fenced before and after)
/// until there are at least `repeats` samples and, with min_time > 0, their sum reaches min_time
/// (at most 10000 samples).
inline Timing time_kernel(const std::function<void()>& kernel, const TimingOptions& opt) {
  for (int i = 0; i < opt.warmup; ++i) kernel();
  Kokkos::fence();
  std::vector<double> samples;
  double total = 0;
  while (int(samples.size()) < opt.repeats || (total < opt.min_time && samples.size() < 10000)) {
    Kokkos::fence();
    const auto start = std::chrono::steady_clock::now();
    kernel();
    Kokkos::fence();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    samples.push_back(t);
    total += t;
  }
  return summarize(samples);
}

/// The same-run dense matrix-multiply reference.
struct GemmResult {
  int n = 0;
  int eigen_threads = 0;
  double flop = 0;
  Timing timing;
  double gflops = 0;
};

/// Ends a progress line on stderr with the figures of one measurement.
inline void report_progress(const Timing& t, double gflops) {
  std::cerr << " median " << std::fixed << std::setprecision(3) << t.median * 1e3 << " ms, " << std::setprecision(2)
            << gflops << " GFLOP/s" << std::defaultfloat << std::endl;
}

/// Times C.noalias() = A * B for n x n single-precision matrices with `threads` Eigen threads
/// (2 n^3 FLOP); progress on stderr. `program` names the caller in a warning.
inline GemmResult measure_gemm(int n, int threads, const TimingOptions& opt, const std::string& program) {
  Eigen::setNbThreads(threads);
  GemmResult r;
  r.n = n;
  r.eigen_threads = Eigen::nbThreads();
  const Eigen::Index size = n;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(size, size);
  Eigen::MatrixXf b = Eigen::MatrixXf::Random(size, size);
  Eigen::MatrixXf c(size, size);
  r.flop = 2.0 * double(n) * double(n) * double(n);
  std::cerr << "[gemm] " << n << "x" << n << " float, Eigen threads " << r.eigen_threads << " ..." << std::flush;
  r.timing = time_kernel([&] { c.noalias() = a * b; }, opt);
  r.gflops = r.flop / r.timing.median * 1e-9;
  report_progress(r.timing, r.gflops);
  if (!std::isfinite(double(c(0, 0)))) std::cerr << program << ": warning: GEMM result is not finite\n";
  if (r.eigen_threads != threads)
    std::cerr << program << ": warning: Eigen uses " << r.eigen_threads << " thread(s) but Kokkos has " << threads
              << " (was it built with -fopenmp?)\n";
  return r;
}

/// "GEMM 2048x2048 (C.noalias() = A * B): median ... ms (min ..., max ...), ... GFLOP/s"
inline std::string gemm_summary(const GemmResult& gemm) {
  std::ostringstream os;
  os << std::fixed << "GEMM " << gemm.n << "x" << gemm.n << " (C.noalias() = A * B): median " << std::setprecision(3)
     << gemm.timing.median * 1e3 << " ms (min " << gemm.timing.min * 1e3 << ", max " << gemm.timing.max * 1e3 << "), "
     << std::setprecision(1) << gemm.gflops << " GFLOP/s";
  return os.str();
}

inline std::string kokkos_version() {
  const int v = KOKKOS_VERSION;
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

inline std::string eigen_version() {
  return std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
         std::to_string(EIGEN_MINOR_VERSION);
}

/// The first line of /proc/loadavg (Linux), to show foreign load beside the figures; "n/a" elsewhere.
inline std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string line;
  if (!f || !std::getline(f, line)) return "n/a";
  return line;
}

/// argv joined by spaces (call before Kokkos::initialize removes the --kokkos-... arguments).
inline std::string command_line(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  return command;
}

/// s as a JSON string literal.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(ch)));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

/// A number as JSON (non-finite values as null).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream os;
  os << std::setprecision(10) << v;
  return os.str();
}

/// "\"median_s\": ..., \"min_s\": ..., \"max_s\": ..., \"samples\": n"
inline std::string json_timing(const Timing& t) {
  std::ostringstream os;
  os << std::setprecision(9) << "\"median_s\": " << t.median << ", \"min_s\": " << t.min << ", \"max_s\": " << t.max
     << ", \"samples\": " << t.samples;
  return os.str();
}

/// The GEMM figures as a JSON object.
inline std::string json_gemm(const GemmResult& gemm) {
  std::ostringstream os;
  os << std::setprecision(9) << "{\"n\": " << gemm.n << ", \"eigen_threads\": " << gemm.eigen_threads
     << ", \"flop\": " << gemm.flop << ", " << json_timing(gemm.timing) << ", \"gflops\": " << gemm.gflops << "}";
  return os.str();
}

/// Time per Kokkos kernel label, through Kokkos::Tools' parallel_for/reduce/scan callbacks (each
/// kernel between two fences, so that on a device the time is the kernel's own). On while
/// installed; what() lists the labels by total time.
namespace kernel_profile {

struct Entry {
  double seconds = 0;
  std::int64_t calls = 0;
};

struct State {
  std::map<std::string, Entry> entries;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> open;  // by kernel id
};

inline State& state() {
  static State s;
  return s;
}

inline void begin(const char* name, const std::uint32_t, std::uint64_t* id) {
  Kokkos::fence();
  State& s = state();
  *id = s.open.size();
  s.open.emplace_back(name ? name : "", std::chrono::steady_clock::now());
}

inline void end(const std::uint64_t id) {
  Kokkos::fence();
  State& s = state();
  if (id >= s.open.size()) return;
  Entry& e = s.entries[s.open[id].first];
  e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - s.open[id].second).count();
  ++e.calls;
  if (id + 1 == s.open.size()) s.open.pop_back();
}

/// Sets (or, with nulls, clears) the begin/end callbacks of parallel_for, _reduce and _scan.
inline void set_callbacks(void (*b)(const char*, std::uint32_t, std::uint64_t*), void (*e)(std::uint64_t)) {
  namespace kt = Kokkos::Tools::Experimental;
  kt::set_begin_parallel_for_callback(b);
  kt::set_begin_parallel_reduce_callback(b);
  kt::set_begin_parallel_scan_callback(b);
  kt::set_end_parallel_for_callback(e);
  kt::set_end_parallel_reduce_callback(e);
  kt::set_end_parallel_scan_callback(e);
}

/// Starts recording (and forgets what was recorded before).
inline void install() {
  state() = State();
  set_callbacks(begin, end);
}

inline void uninstall() { set_callbacks(nullptr, nullptr); }

/// The recorded labels, largest total first, as a table: per call of the workload (`calls`
/// workload calls were recorded) the milliseconds and kernel launches of each label, and its share
/// of `total_seconds` (the workload's own time for those calls); the rest is time outside kernels.
inline void print(std::ostream& os, const std::string& title, int calls, double total_seconds, int rows = 25) {
  std::vector<std::pair<std::string, Entry>> v(state().entries.begin(), state().entries.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double kernels = 0;
  for (const auto& e : v) kernels += e.second.seconds;
  const double per = calls > 0 ? 1.0 / calls : 1.0;
  os << "profile " << title << " (per call, " << calls << " call(s)):\n"
     << std::setw(12) << "ms" << std::setw(8) << "share" << std::setw(10) << "launches" << "  kernel\n";
  int shown = 0;
  for (const auto& e : v) {
    if (shown++ == rows) {
      os << "  ... " << (v.size() - std::size_t(rows)) << " more labels\n";
      break;
    }
    os << std::fixed << std::setprecision(3) << std::setw(12) << e.second.seconds * per * 1e3 << std::setprecision(1)
       << std::setw(7) << 100 * e.second.seconds / total_seconds << "%" << std::setw(10)
       << double(e.second.calls) * per << "  " << e.first << "\n";
  }
  os << std::fixed << std::setprecision(3) << std::setw(12) << (total_seconds - kernels) * per * 1e3
     << std::setprecision(1) << std::setw(7) << 100 * (total_seconds - kernels) / total_seconds << "%"
     << std::setw(10) << "" << "  (outside kernels)\n"
     << std::defaultfloat;
}

}  // namespace kernel_profile

/// Parses a benchmark's command line into vm. Returns -1 to go on, or the exit status: 0 after
/// --help (usage printed), 2 for a bad command line (message and usage on stderr).
inline int parse_command_line(const char* program, int argc, char** argv,
                              const boost::program_options::options_description& desc,
                              boost::program_options::variables_map& vm) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << program << ": " << mcsc_cli::option_error_text(e) << "\n\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  return -1;
}

/// The benchmarks' main(): records the command line, initialises Kokkos (which takes its own
/// --kokkos-... arguments), calls run(argc, argv, command) and turns an exception into a message
/// naming the program and exit status 1.
template <class Run>
int benchmark_main(const char* program, int argc, char** argv, Run&& run) {
  const std::string command = command_line(argc, argv);
  Kokkos::initialize(argc, argv);
  int status = 0;
  try {
    status = run(argc, argv, command);
  } catch (const std::exception& e) {
    std::cerr << program << ": error: " << e.what() << "\n";
    status = 1;
  }
  Kokkos::finalize();
  return status;
}

}  // namespace mcsc_bench
