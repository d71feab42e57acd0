#pragma once
// Shared test helpers: the (scalar, execution space) configurations every typed test runs over,
// tolerances, and an independent dense (Eigen) matrix of the convolution operator.
#include <catch2/catch.hpp>

// Eigen is a host-side reference only: without EIGEN_NO_CUDA, nvcc compiles Eigen's own CUDA
// paths, whose host/device functions call host-only ones (a cross-execution-space error).
#ifndef EIGEN_NO_CUDA
#define EIGEN_NO_CUDA
#endif
#include <Eigen/Dense>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mcsc/mcsc.hpp"

namespace mcsc_test {

/// Sets the team kernels' thread count per team on host spaces (mcsc::Impl::team::host_team_size)
/// for a scope.
struct HostTeamSize {
  explicit HostTeamSize(int size) : saved(mcsc::Impl::team::host_team_size()) { mcsc::Impl::team::host_team_size() = size; }
  ~HostTeamSize() { mcsc::Impl::team::host_team_size() = saved; }
  HostTeamSize(const HostTeamSize&) = delete;
  HostTeamSize& operator=(const HostTeamSize&) = delete;
  int saved;
};

/// The shared data folder: $MCSC_SHARED_DIR (ctest sets it), else ../shared.
inline std::string shared_dir() {
  const char* env = std::getenv("MCSC_SHARED_DIR");
  return env ? env : "../shared";
}

/// Set by MCSC_SHARED_MISSING; test_main.cpp then makes the program exit with 77, which ctest
/// reports as "skipped" (SKIP_RETURN_CODE), when nothing failed.
bool& shared_data_skipped();

/// MCSC_REQUIRE_SHARED=1 (set by cmake/test.sh, i.e. the README's test command and CI): a test
/// that finds ../shared missing fails instead of skipping.
inline bool shared_data_required() {
  const char* env = std::getenv("MCSC_REQUIRE_SHARED");
  return env && *env && std::string(env) != "0";
}

template <class T, class Space>
struct Config {
  using scalar = T;
  using space = Space;
};

#if defined(KOKKOS_ENABLE_SERIAL)
using SerialConfigs = std::tuple<Config<float, Kokkos::Serial>, Config<double, Kokkos::Serial>>;
using SerialDouble = std::tuple<Config<double, Kokkos::Serial>>;
#else
using SerialConfigs = std::tuple<>;
using SerialDouble = std::tuple<>;
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
using OpenMPConfigs = std::tuple<Config<float, Kokkos::OpenMP>, Config<double, Kokkos::OpenMP>>;
using OpenMPDouble = std::tuple<Config<double, Kokkos::OpenMP>>;
#else
using OpenMPConfigs = std::tuple<>;
using OpenMPDouble = std::tuple<>;
#endif
#if defined(KOKKOS_ENABLE_CUDA)
using CudaConfigs = std::tuple<Config<float, Kokkos::Cuda>, Config<double, Kokkos::Cuda>>;
using CudaDouble = std::tuple<Config<double, Kokkos::Cuda>>;
#else
using CudaConfigs = std::tuple<>;
using CudaDouble = std::tuple<>;
#endif

#if defined(MCSC_TEST_FLOAT_CONFIGS)
// The sanitizer pass and the CUDA build of cmake/test.sh (MCSC_TEST_SPACES=float): float on the
// default space for the tests of every type, double where a test needs it (finite differences,
// dense references); memory errors and what compiles for a device do not depend on the type.
using AllConfigs = std::tuple<Config<float, Kokkos::DefaultExecutionSpace>>;
using DoubleConfigs = std::tuple<Config<double, Kokkos::DefaultExecutionSpace>>;
#elif defined(MCSC_TEST_DEFAULT_SPACE_ONLY)
// The default execution space only (MCSC_TEST_SPACES in tests/CMakeLists.txt: the sanitizer
// build, and in the release build the tests other than the kernel tests), to keep build time down.
using AllConfigs = std::tuple<Config<float, Kokkos::DefaultExecutionSpace>, Config<double, Kokkos::DefaultExecutionSpace>>;
using DoubleConfigs = std::tuple<Config<double, Kokkos::DefaultExecutionSpace>>;
#else
/// Every enabled execution space, float and double.
using AllConfigs = decltype(std::tuple_cat(std::declval<SerialConfigs>(), std::declval<OpenMPConfigs>(),
                                           std::declval<CudaConfigs>()));
/// Every enabled execution space, double only (finite differences, dense references).
using DoubleConfigs = decltype(std::tuple_cat(std::declval<SerialDouble>(), std::declval<OpenMPDouble>(),
                                              std::declval<CudaDouble>()));
#endif

/// Relative tolerance of an identity that holds exactly in exact arithmetic.
template <class T>
constexpr double exact_tolerance() {
  return std::is_same<T, float>::value ? 1e-5 : 1e-12;
}

/// Sparse test codes: normal entries (standard deviation `stddev`), each kept with probability
/// `density` and set to zero otherwise (host generators, seeded: seed for the values, seed + 1
/// for the choice).
template <class V>
void fill_sparse(const V& v, std::uint64_t seed, double density, double stddev = 1.0) {
  auto keep = mcsc::make_tensor_like("keep", v);
  mcsc::fill_normal(v, seed, 0.0, stddev);
  mcsc::fill_uniform(keep, seed + 1);
  auto hv = mcsc::to_host(v);
  auto hk = mcsc::to_host(keep);
  for (std::size_t i = 0; i < hv.span(); ++i)
    if (double(hk.data()[i]) >= density) hv.data()[i] = 0;
  Kokkos::deep_copy(v, hv);
}

/// The relative error |a - b| / max(|a|, |b|, tiny).
inline double relative_error(double a, double b) {
  const double scale = std::max({std::abs(a), std::abs(b), 1e-300});
  return std::abs(a - b) / scale;
}

/// Host copy of a tensor as a flat Eigen vector (LayoutRight order).
template <class V>
Eigen::VectorXd to_eigen(const V& v) {
  auto h = mcsc::to_host(v);
  Eigen::VectorXd out(h.span());
  for (std::size_t i = 0; i < h.span(); ++i) out(Eigen::Index(i)) = double(h.data()[i]);
  return out;
}

/// Writes a flat Eigen vector into a tensor (LayoutRight order).
template <class V>
void from_eigen(const V& v, const Eigen::VectorXd& e) {
  auto h = Kokkos::create_mirror_view(v);
  REQUIRE(std::size_t(e.size()) == h.span());
  for (std::size_t i = 0; i < h.span(); ++i) h.data()[i] = typename V::value_type(e(Eigen::Index(i)));
  Kokkos::deep_copy(v, h);
}

/// The dense matrix of x -> conv2d(x, w) for input (N, C, H, W), built entry by entry from the
/// definition (written independently of mcsc's kernels): row (n,o,i,j), column (n,c,r,s).
template <class Wt>
Eigen::MatrixXd dense_conv_matrix(const Wt& w, int N, int H, int W, mcsc::Boundary boundary) {
  auto hw = mcsc::to_host(w);
  const int O = int(hw.extent(0)), C = int(hw.extent(1)), KH = int(hw.extent(2)), KW = int(hw.extent(3));
  const int pt = (KH - 1) / 2, pl = (KW - 1) / 2;
  Eigen::MatrixXd M = Eigen::MatrixXd::Zero(N * O * H * W, N * C * H * W);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j)
          for (int c = 0; c < C; ++c)
            for (int p = 0; p < KH; ++p)
              for (int q = 0; q < KW; ++q) {
                int r = i + p - pt, s = j + q - pl;
                if (boundary == mcsc::Boundary::circular) {
                  r = ((r % H) + H) % H;
                  s = ((s % W) + W) % W;
                } else if (r < 0 || r >= H || s < 0 || s >= W) {
                  continue;
                }
                M(((n * O + o) * H + i) * W + j, ((n * C + c) * H + r) * W + s) += double(hw(o, c, p, q));
              }
  return M;
}

/// Central finite differences of loss() with respect to `count` entries of `view` (spread over
/// it, always including the first and last), compared with `analytic` (same shape). Doubles only.
/// loss() must recompute everything from the current value of view.
template <class V, class G, class Loss>
void check_gradient(const char* what, const V& view, const G& analytic, Loss&& loss, std::size_t count = 6,
                    double h = 1e-7, double tol = 1e-5) {
  auto hv = Kokkos::create_mirror_view(view);
  Kokkos::deep_copy(hv, view);
  auto hg = Kokkos::create_mirror_view(analytic);
  Kokkos::deep_copy(hg, analytic);
  const std::size_t n = hv.span();
  const std::size_t step = std::max<std::size_t>(1, n / std::max<std::size_t>(1, count));
  for (std::size_t k = 0; k < n; k += step) {
    const std::size_t i = (k + step >= n) ? n - 1 : k;
    const auto saved = hv.data()[i];
    hv.data()[i] = saved + h;
    Kokkos::deep_copy(view, hv);
    const double lp = loss();
    hv.data()[i] = saved - h;
    Kokkos::deep_copy(view, hv);
    const double lm = loss();
    hv.data()[i] = saved;
    Kokkos::deep_copy(view, hv);
    const double fd = (lp - lm) / (2 * h);
    const double an = double(hg.data()[i]);
    CAPTURE(what, i, fd, an);
    REQUIRE(std::abs(fd - an) <= tol * (1 + std::abs(fd)));
    if (i == n - 1) break;
  }
}

/// What the library does besides its kernels, counted through Kokkos' profiling hooks: memory
/// allocations, fills (deep_copy(view, scalar): a kernel, which Kokkos reports as a copy from a
/// host "Scalar"), deep copies between views (and those between different memory spaces, with the
/// label of each one's destination) and parallel_reduce launches (each one returns a scalar to the
/// host on a device), with the labels of the copies' destinations and of the reductions, in order.
struct KokkosEventCounts {
  int allocations = 0, fills = 0, deep_copies = 0, cross_space_copies = 0, reductions = 0;
  /// Bytes of labelled Kokkos allocations alive, counted from the start (frees of older
  /// allocations make it negative), and the most alive at once: what a call needs beyond what
  /// existed before it. Kokkos' own allocations (the OpenMP backend's team scratch, grown on first
  /// use and kept for the process: unlabelled in 3.4, "Kokkos::OpenMP::scratch_mem" in 4.x) are
  /// not counted.
  std::int64_t live_bytes = 0, peak_bytes = 0;
  /// "label: bytes" of every allocation, in order (for messages).
  std::vector<std::string> allocation_labels;
  std::vector<std::string> cross_space_destinations, copy_destinations, reduction_names;
};
inline KokkosEventCounts& kokkos_event_counts() {
  static KokkosEventCounts counts;
  return counts;
}

/// mcsc's memory budget (core/memory.hpp) set to `bytes` for a scope, back to the default on
/// every exit.
struct MemoryBudget {
  explicit MemoryBudget(std::uint64_t bytes) { mcsc::set_memory_budget(bytes); }
  ~MemoryBudget() { mcsc::set_memory_budget(0); }
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;
};

/// The events of f(), with the hooks installed only around it (they replace, and then clear, any
/// tool loaded through KOKKOS_TOOLS_LIBS for these four events).
template <class F>
KokkosEventCounts count_kokkos_events(F&& f) {
  namespace tools = Kokkos::Tools::Experimental;
  struct Hooks {  // installed for this scope, cleared on every exit (an exception included)
    static void allocation(Kokkos::Tools::SpaceHandle, const char* label, const void*, std::uint64_t size) {
      auto& c = kokkos_event_counts();
      ++c.allocations;
      c.allocation_labels.push_back(std::string(label) + ": " + std::to_string(size));
      if (unlabelled(label)) return;
      c.live_bytes += std::int64_t(size);
      c.peak_bytes = std::max(c.peak_bytes, c.live_bytes);
    }
    static void deallocation(Kokkos::Tools::SpaceHandle, const char* label, const void*, std::uint64_t size) {
      if (!unlabelled(label)) kokkos_event_counts().live_bytes -= std::int64_t(size);
    }
    // Kokkos' own: unlabelled (3.4) or named Kokkos::... (4.x: "Kokkos::OpenMP::scratch_mem").
    static bool unlabelled(const char* label) {
      const std::string l(label);
      return l.empty() || l == "[unlabeled]" || l.rfind("Kokkos::", 0) == 0;
    }
    static void deep_copy(Kokkos::Tools::SpaceHandle dst, const char* dst_label, const void*,
                          Kokkos::Tools::SpaceHandle src, const char* src_label, const void*, std::uint64_t) {
      auto& c = kokkos_event_counts();
      if (std::string(src_label) == "Scalar") {  // deep_copy(view, value)
        ++c.fills;
        return;
      }
      ++c.deep_copies;
      c.copy_destinations.emplace_back(dst_label);
      if (std::string(dst.name) != std::string(src.name)) {
        ++c.cross_space_copies;
        c.cross_space_destinations.emplace_back(dst_label);
      }
    }
    static void reduce(const char* name, std::uint32_t, std::uint64_t*) {
      ++kokkos_event_counts().reductions;
      kokkos_event_counts().reduction_names.emplace_back(name);
    }
    Hooks() {
      tools::set_allocate_data_callback(allocation);
      tools::set_deallocate_data_callback(deallocation);
      tools::set_begin_deep_copy_callback(deep_copy);
      tools::set_begin_parallel_reduce_callback(reduce);
    }
    ~Hooks() {
      tools::set_allocate_data_callback(nullptr);
      tools::set_deallocate_data_callback(nullptr);
      tools::set_begin_deep_copy_callback(nullptr);
      tools::set_begin_parallel_reduce_callback(nullptr);
    }
  };
  Kokkos::fence();
  kokkos_event_counts() = {};
  {
    const Hooks hooks;
    f();
    Kokkos::fence();
  }
  return kokkos_event_counts();
}

/// A stand-in for `copies` ranks (default 2) that all hold the same data as this one: its gather
/// returns this process' values `copies` times (so every sum over ranks is `copies` times this
/// rank's). A solver run over it must equal the one-process run over the data repeated; with
/// copies = 1 it is a communicator of this process alone. It counts its calls.
struct MirrorRanks : mcsc::Communicator {
  explicit MirrorRanks(int copies = 2) : m_copies(copies) {}
  int calls = 0;
  int rank() const override { return 0; }
  int size() const override { return m_copies; }
  void allgather(const float* local, float* all, std::size_t count) override { mirror(local, all, count); }
  void allgather(const double* local, double* all, std::size_t count) override { mirror(local, all, count); }

 private:
  template <class V>
  void mirror(const V* local, V* all, std::size_t count) {
    ++calls;
    for (int k = 0; k < m_copies; ++k) std::copy(local, local + count, all + std::size_t(k) * count);
  }
  int m_copies;
};

/// The batch y (N, C, H, W) twice over: (2N, C, H, W).
template <class T, class Space>
mcsc::Tensor4<T, Space> repeated_twice(const mcsc::Tensor4<T, Space>& y) {
  const mcsc::Shape4 s = mcsc::shape_of(y);
  auto twice = mcsc::make_tensor<T, Space>("twice", {2 * s.n, s.c, s.h, s.w});
  for (std::int64_t k = 0; k < 2; ++k)
    Kokkos::deep_copy(Kokkos::subview(twice, Kokkos::make_pair(k * s.n, (k + 1) * s.n), Kokkos::ALL, Kokkos::ALL,
                                      Kokkos::ALL),
                      y);
  return twice;
}

}  // namespace mcsc_test

/// A test case that needs a file of ../shared (or one made from it at configure time) which is
/// not there: fails under MCSC_REQUIRE_SHARED, else warns, returns, and has the program report
/// itself skipped to ctest (exit status 77) unless something failed.
#define MCSC_SHARED_MISSING(message)                                                    \
  do {                                                                                  \
    if (::mcsc_test::shared_data_required()) FAIL(message << " (MCSC_REQUIRE_SHARED is set)"); \
    ::mcsc_test::shared_data_skipped() = true;                                          \
    WARN(message << ": skipped");                                                       \
    return;                                                                             \
  } while (false)
