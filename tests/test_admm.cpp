#include "test_common.hpp"

#include <fstream>

#include <limits>
#include <map>

#include "mcsc/solvers/admm.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
double soft(double v, double t) { return v > t ? v - t : (v < -t ? v + t : 0.0); }

double dense_objective(const Eigen::MatrixXd& M, const Eigen::VectorXd& y, double lambda, const Eigen::VectorXd& u) {
  return 0.5 * (M * u - y).squaredNorm() + lambda * u.lpNorm<1>();
}

// Dense proximal gradient (FISTA momentum) with Eigen: the independent reference, as
// test_fista.cpp's dense ISTA. Returns the final objective; *halfway the objective at
// iterations / 2, to check that the reference has converged.
double dense_reference(const Eigen::MatrixXd& M, const Eigen::VectorXd& y, double lambda, int iterations,
                       double* halfway) {
  const Eigen::MatrixXd G = M.transpose() * M;
  const Eigen::VectorXd b = M.transpose() * y;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G, Eigen::EigenvaluesOnly);
  const double L = eig.eigenvalues().maxCoeff();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(M.cols()), x_prev = x, z = x, v(M.cols());
  double t = 1;
  for (int k = 0; k < iterations; ++k) {
    v.noalias() = z - (G * z - b) / L;
    x_prev = x;
    for (Eigen::Index i = 0; i < x.size(); ++i) x(i) = soft(v(i), lambda / L);
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    z = x + ((t - 1) / t_next) * (x - x_prev);
    t = t_next;
    if (k == iterations / 2) *halfway = dense_objective(M, y, lambda, x);
  }
  return dense_objective(M, y, lambda, x);
}

struct Case {
  int m, k, s, h, w, n;
  double lambda;
};
const Case cases[] = {{1, 2, 3, 8, 8, 1, 0.1}, {1, 3, 4, 6, 7, 2, 0.2}, {2, 3, 3, 7, 6, 1, 0.15},
                      {2, 2, 4, 8, 8, 2, 0.3}};
}  // namespace

TEMPLATE_LIST_TEST_CASE("ADMM reaches the dense reference objective and agrees with FISTA", "[admm]",
                        DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (const Case& c : cases) {
    CAPTURE(c.m, c.k, c.s, c.h, c.w, c.n, c.lambda);
    auto w = make_tensor<T, Space>("d", {c.m, c.k, c.s, c.s});
    auto y = make_tensor<T, Space>("y", {c.n, c.m, c.h, c.w});
    fill_normal(w, 81 + c.m, 0.0, 0.5);
    fill_normal(y, 91 + c.k);
    const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, c.n, c.h, c.w, Boundary::circular);
    const Eigen::VectorXd ye = mcsc_test::to_eigen(y);
    static std::map<int, double> references;  // per case, shared by every space
    const int key = int(&c - cases);
    if (!references.count(key)) {
      double halfway = 0;
      references[key] = dense_reference(M, ye, c.lambda, 20000, &halfway);
      REQUIRE(mcsc_test::relative_error(halfway, references[key]) < 1e-10);  // converged
    }
    const double reference = references[key];

    AdmmOptions opts;
    opts.lambda = c.lambda;
    opts.max_iterations = 600;
    const auto admm = admm_cbpdn(w, y, opts);
    REQUIRE(admm.iterations == 600);
    REQUIRE(admm.objective.size() == 600);
    CAPTURE(reference, admm.objective.back(), admm.rho.back());
    REQUIRE(mcsc_test::relative_error(admm.objective.back(), reference) < 1e-6);
    // The reported objective and reconstruction are those of the returned codes.
    const Eigen::VectorXd u = mcsc_test::to_eigen(admm.codes);
    REQUIRE(mcsc_test::relative_error(dense_objective(M, ye, c.lambda, u), admm.objective.back()) < 1e-10);
    REQUIRE((mcsc_test::to_eigen(admm.reconstruction) - M * u).cwiseAbs().maxCoeff() < 1e-10);

    FistaOptions fopts;
    fopts.lambda = c.lambda;
    fopts.max_iterations = 1200;
    const auto fista_result = fista(FftConvDictionary<T, Space>(w, Boundary::circular), y, fopts);
    CAPTURE(fista_result.objective.back());
    REQUIRE(mcsc_test::relative_error(fista_result.objective.back(), admm.objective.back()) < 1e-5);
  }
}

TEMPLATE_LIST_TEST_CASE("ADMM X-step solves (D'D + rho I) X = D'y + rho (V - W)", "[admm]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double tol = std::is_same<T, float>::value ? 5e-4 : 1e-12;  // rho = 0.05: condition ~1e3
  for (int m : {1, 2, 3}) {
    for (auto [h, wd] : {std::pair<int, int>{6, 8}, std::pair<int, int>{7, 5}}) {
      CAPTURE(m, h, wd);
      const int K = 3, N = 2;
      auto w = make_tensor<T, Space>("d", {m, K, 3, 3});
      auto y = make_tensor<T, Space>("y", {N, m, h, wd});
      auto v = make_tensor<T, Space>("v", {N, K, h, wd});
      auto u = make_tensor<T, Space>("u", {N, K, h, wd});
      auto x = make_tensor<T, Space>("x", {N, K, h, wd});
      fill_normal(w, 101 + m);
      fill_normal(y, 102);
      fill_normal(v, 103);
      fill_normal(u, 104);
      CbpdnFrequencySolver<T, Space> solver(w, y);
      for (double rho : {0.05, 3.0}) {
        CAPTURE(rho);
        solver.set_rho(rho);
        REQUIRE(solver.rho() == rho);
        solver.solve(v, u, x);
        // Spatial-domain check with the direct circular operators.
        ConvDictionary<T, Space> D(w, Boundary::circular);
        auto dx = make_tensor<T, Space>("dx", {N, m, h, wd});
        auto lhs = make_tensor<T, Space>("lhs", {N, K, h, wd});
        auto rhs = make_tensor<T, Space>("rhs", {N, K, h, wd});
        D.apply(x, dx);
        D.adjoint(dx, lhs);
        axpby(T(rho), x, T(1), lhs);  // lhs = D'D x + rho x
        D.adjoint(y, rhs);
        axpby(T(rho), v, T(1), rhs);
        axpby(T(-rho), u, T(1), rhs);  // rhs = D'y + rho (v - u)
        const double residual = std::sqrt(distance_squared(lhs, rhs) / sum_squares(rhs));
        CAPTURE(residual);
        REQUIRE(residual < tol);
      }
    }
  }
  // The solver reads v - w before writing x: x may alias v.
  auto w = make_tensor<T, Space>("d", {2, 2, 3, 3});
  auto y = make_tensor<T, Space>("y", {1, 2, 6, 6});
  auto v = make_tensor<T, Space>("v", {1, 2, 6, 6});
  auto u = make_tensor<T, Space>("u", {1, 2, 6, 6});
  auto x = make_tensor<T, Space>("x", {1, 2, 6, 6});
  fill_normal(w, 105);
  fill_normal(y, 106);
  fill_normal(v, 107);
  CbpdnFrequencySolver<T, Space> solver(w, y);
  REQUIRE_THROWS_WITH(solver.solve(v, u, x), Catch::Contains("set_rho"));
  solver.set_rho(0.5);
  solver.solve(v, u, x);
  solver.solve(v, u, v);
  REQUIRE(max_abs_diff(x, v) == 0);
}

TEMPLATE_LIST_TEST_CASE("ADMM residuals, adaptive rho, tolerance and callback", "[admm]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto y = make_tensor<T, Space>("y", {2, 1, 16, 16});
  fill_normal(w, 111, 0.0, 0.3);
  fill_normal(y, 112);
  AdmmOptions opts;
  opts.lambda = 0.1;
  opts.max_iterations = 200;
  const auto run = admm_cbpdn(w, y, opts);
  REQUIRE(run.iterations == 200);
  for (const auto* v : {&run.objective, &run.primal_residual, &run.dual_residual, &run.rho, &run.seconds})
    REQUIRE(v->size() == 200);
  REQUIRE(run.rho.front() == Approx(50 * 0.1 + 1));  // SPORCO's default
  REQUIRE(run.objective.back() < run.objective.front());
  const double r0 = *std::max_element(run.primal_residual.begin(), run.primal_residual.begin() + 5);
  const double s0 = *std::max_element(run.dual_residual.begin(), run.dual_residual.begin() + 5);
  CAPTURE(r0, s0, run.primal_residual.back(), run.dual_residual.back());
  REQUIRE(run.primal_residual.back() < 1e-2 * r0);
  REQUIRE(run.dual_residual.back() < 1e-2 * s0);
  REQUIRE(std::is_sorted(run.seconds.begin(), run.seconds.end()));

  // Badly scaled starts: residual balancing moves rho towards the balanced range.
  opts.max_iterations = 30;
  opts.rho = 1e-4;
  const auto low = admm_cbpdn(w, y, opts);
  REQUIRE(low.rho.front() == Approx(1e-4));
  REQUIRE(low.rho.back() > 100 * low.rho.front());
  opts.rho = 1e5;
  const auto high = admm_cbpdn(w, y, opts);
  REQUIRE(high.rho.back() < 0.01 * high.rho.front());
  opts.adaptive_rho = false;
  const auto fixed = admm_cbpdn(w, y, opts);
  REQUIRE(fixed.rho.back() == fixed.rho.front());

  // Relative tolerance stops early; the callback sees the reported iterate and can stop.
  opts = AdmmOptions{};
  opts.lambda = 0.1;
  opts.max_iterations = 600;
  opts.rel_tolerance = 1e-3;
  const auto tol = admm_cbpdn(w, y, opts);
  REQUIRE(tol.iterations < 600);  // about 200
  opts.rel_tolerance = 0;
  int calls = 0;
  const auto stopped = admm_cbpdn(w, y, opts, [&](const AdmmIterate<T, Space>& it) {
    REQUIRE(it.iteration == calls + 1);
    REQUIRE(it.objective == Approx(cbpdn_objective(it.reconstruction, y, it.codes, opts.lambda)).epsilon(1e-12));
    return ++calls < 9;
  });
  REQUIRE(stopped.iterations == 9);
  REQUIRE(stopped.rho.size() == 9);
}

TEMPLATE_LIST_TEST_CASE("ADMM warm start continues a run exactly", "[admm]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto y = make_tensor<T, Space>("y", {1, 1, 16, 16});
  fill_normal(w, 113, 0.0, 0.3);
  fill_normal(y, 114);
  AdmmOptions opts;
  opts.lambda = 0.1;
  opts.adaptive_rho = false;  // adaptive rho looks at the iteration count; fixed rho continues exactly
  opts.max_iterations = 40;
  const auto whole = admm_cbpdn(w, y, opts);
  opts.max_iterations = 25;
  const auto first = admm_cbpdn(w, y, opts);
  opts.max_iterations = 15;
  opts.rho = first.final_rho;
  const auto second = admm_cbpdn(w, y, opts, {}, first.codes, first.dual);
  REQUIRE(max_abs_diff(second.codes, whole.codes) <= 10 * mcsc_test::exact_tolerance<T>());
  REQUIRE(mcsc_test::relative_error(second.objective.back(), whole.objective.back()) <=
          10 * mcsc_test::exact_tolerance<T>());
  // codes alone (W = 0) start near the solution: better than a cold start after one iteration
  opts.max_iterations = 1;
  const auto warm = admm_cbpdn(w, y, opts, {}, first.codes);
  REQUIRE(warm.objective[0] < whole.objective[0]);
  // max_iterations = 0 returns the start and its reconstruction
  opts.max_iterations = 0;
  const auto start = admm_cbpdn(w, y, opts, {}, first.codes);
  REQUIRE(max_abs_diff(start.codes, first.codes) == 0);
  REQUIRE(max_abs_diff(start.reconstruction, first.reconstruction) <= 10 * mcsc_test::exact_tolerance<T>());
  auto bad = make_tensor<T, Space>("bad", {1, 3, 16, 16});
  REQUIRE_THROWS_WITH(admm_cbpdn(w, y, opts, {}, bad), Catch::Contains("initial codes"));
  REQUIRE_THROWS_WITH(admm_cbpdn(w, y, opts, {}, first.codes, bad), Catch::Contains("initial dual"));
}

namespace {
/// The benchmark problem of ../shared/bench (kodim23 high-pass 256x256, SPORCO's 32 8x8 filters):
/// false when its inputs are missing. SPORCO convolves; mcsc's conv2d correlates: the filters are
/// flipped (the circular shift this leaves changes no objective value).
bool load_sporco_problem(Tensor4<float, Kokkos::DefaultExecutionSpace>& y, Tensor4<float, Kokkos::DefaultExecutionSpace>& w) {
  const std::string dir = mcsc_test::shared_dir() + "/bench/inputs/";
  if (!std::ifstream(dir + "kodim23_gray_highpass_256x256.f32").good()) return false;
  const auto image = read_raw_f32(dir + "kodim23_gray_highpass_256x256.f32", 256 * 256);
  const auto filters = read_raw_f32(dir + "dict_sporco_G8x8x32_layout-MHW_32x8x8.f32", 32 * 8 * 8);
  y = make_tensor<float, Kokkos::DefaultExecutionSpace>("y", {1, 1, 256, 256});
  w = make_tensor<float, Kokkos::DefaultExecutionSpace>("d", {1, 32, 8, 8});
  auto hy = Kokkos::create_mirror_view(y);
  auto hw = Kokkos::create_mirror_view(w);
  for (int i = 0; i < 256 * 256; ++i) hy.data()[i] = image[std::size_t(i)];
  for (int k = 0; k < 32; ++k)
    for (int p = 0; p < 8; ++p)
      for (int q = 0; q < 8; ++q) hw(0, k, p, q) = filters[std::size_t((k * 8 + 7 - p) * 8 + 7 - q)];
  Kokkos::deep_copy(y, hy);
  Kokkos::deep_copy(w, hw);
  return true;
}
}  // namespace

TEST_CASE("ADMM with SPORCO ConvBPDN's settings reproduces SPORCO's objective on the benchmark problem",
          "[admm][.sporco]") {
  // lambda 0.05, 200 iterations from zero; SPORCO's ConvBPDN reports 28.96532 (objective at X,
  // ../shared/bench/README.md).
  Tensor4<float, Kokkos::DefaultExecutionSpace> y, w;
  if (!load_sporco_problem(y, w)) MCSC_SHARED_MISSING("no benchmark inputs in " << mcsc_test::shared_dir() << "/bench/inputs");
  AdmmOptions opts = AdmmOptions::sporco_convbpdn(0.05);
  opts.max_iterations = 200;
  const auto r = admm_cbpdn(w, y, opts);
  REQUIRE(r.objective_x.size() == 200);
  CAPTURE(r.objective_x.back(), r.objective.back(), r.rho.back());
  REQUIRE(std::abs(r.objective_x.back() - 28.96532) <= 1e-5 * 28.96532);
  REQUIRE(r.rho.back() != r.rho.front());  // ConvBPDN's rule moved rho on this problem
  REQUIRE(r.objective.back() < r.objective_x.back());  // V is the sparse solution: lower here
}

TEST_CASE("FISTA with the exact step reproduces SPORCO's FISTA objective on the benchmark problem",
          "[fista][.sporco]") {
  // The same problem; SPORCO's FISTA reports 28.98164 (../shared/bench/README.md), which it reaches
  // with L = lambda_max(D'D) (docs/solvers.md: with its default L = 500 it ends at 29.22).
  Tensor4<float, Kokkos::DefaultExecutionSpace> y, w;
  if (!load_sporco_problem(y, w)) MCSC_SHARED_MISSING("no benchmark inputs in " << mcsc_test::shared_dir() << "/bench/inputs");
  const FftConvDictionary<float, Kokkos::DefaultExecutionSpace> D(w, Boundary::circular);
  FistaOptions o;
  o.lambda = 0.05;
  o.max_iterations = 200;
  o.lipschitz = lipschitz_from_spectra(D.operator_for(D.code_shape(shape_of(y))));
  CAPTURE(o.lipschitz);
  REQUIRE(std::abs(o.lipschitz - 145.041) < 1e-3 * 145.041);
  const auto r = fista(D, y, o);
  REQUIRE(r.objective.size() == 200);
  CAPTURE(r.objective.back());
  REQUIRE(std::abs(r.objective.back() - 28.98164) <= 1e-6 * 28.98164);  // docs/solvers.md: +1.2e-7
}

TEMPLATE_LIST_TEST_CASE("ADMM rejects bad input", "[admm][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 2, 3, 3});
  fill_normal(w, 121);
  auto y = make_tensor<T, Space>("y", {1, 1, 8, 8});
  fill_normal(y, 122);
  const auto fails = [&](const AdmmOptions& o, const char* what) {
    REQUIRE_THROWS_WITH(admm_cbpdn(w, y, o), Catch::Contains("mcsc::admm_cbpdn") && Catch::Contains(what));
  };
  AdmmOptions opts;
  opts.lambda = -0.1;
  fails(opts, "lambda");
  opts.lambda = std::numeric_limits<double>::infinity();
  fails(opts, "lambda");
  opts.lambda = 0.1;
  opts.rho = -1;
  fails(opts, "rho");
  opts.rho = std::numeric_limits<double>::quiet_NaN();
  fails(opts, "rho");
  opts.rho = 0;
  opts.alpha = 2;
  fails(opts, "alpha");
  opts.alpha = 0;
  fails(opts, "alpha");
  opts.alpha = 1.8;
  opts.max_iterations = -1;
  fails(opts, "max_iterations");
  opts.max_iterations = 10;
  opts.rho_tau = 1;
  fails(opts, "rho_tau");
  opts.rho_tau = 2;
  auto y2 = make_tensor<T, Space>("y2", {1, 2, 8, 8});
  REQUIRE_THROWS_WITH(admm_cbpdn(w, y2, opts), Catch::Contains("mcsc::admm_cbpdn") &&
                                                   Catch::Contains("2 channels") && Catch::Contains("(1, 2, 3, 3)"));
  auto small = make_tensor<T, Space>("small", {1, 1, 2, 8});
  REQUIRE_THROWS_WITH(admm_cbpdn(w, small, opts),
                      Catch::Contains("mcsc::admm_cbpdn") && Catch::Contains("larger than the image"));
  auto h = Kokkos::create_mirror_view(y);
  Kokkos::deep_copy(h, y);
  h(0, 0, 3, 3) = std::numeric_limits<T>::quiet_NaN();
  Kokkos::deep_copy(y, h);
  REQUIRE_THROWS_WITH(admm_cbpdn(w, y, opts), Catch::Contains("mcsc::admm_cbpdn") && Catch::Contains("NaN"));
  // Zero iterations: zero codes, nothing reported.
  fill(y, T(1));
  opts.max_iterations = 0;
  const auto none = admm_cbpdn(w, y, opts);
  REQUIRE(none.iterations == 0);
  REQUIRE(none.objective.empty());
  REQUIRE(sum_abs(none.codes) == 0);
}

TEMPLATE_LIST_TEST_CASE("FISTA and ADMM refuse a problem beyond the memory budget before allocating anything",
                        "[admm][fista][memory]", AllConfigs) {
  // mcsc-solve --max-memory 100M on a 2048x2048 image with 63 filters used 9.4 GB (FISTA) and
  // more than 12 GB (ADMM) before this check. The estimate (core/memory.hpp) comes first.
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("w", {1, 16, 5, 5});
  auto y = make_tensor<T, Space>("y", {1, 1, 128, 128});
  fill_normal(w, 3);
  fill_normal(y, 4);
  FistaOptions f;
  f.lambda = 0.1;
  f.max_iterations = 2;
  AdmmOptions a;
  a.lambda = 0.1;
  a.max_iterations = 2;
  const ConvDictionary<T, Space> direct(w);
  const FftConvDictionary<T, Space> fft(w);
  {
    // 16 code planes of 128x128: 1 MiB (float) per code buffer; a 1 MiB budget fits none of the solvers.
    const mcsc_test::MemoryBudget budget(std::uint64_t(1) << 20);
    const auto refused = [](auto&& run) {
      const auto events = mcsc_test::count_kokkos_events([&] {
        REQUIRE_THROWS_WITH(run(), Catch::Contains("needs about") && Catch::Contains("coding a signal (1, 1, 128, 128)") &&
                                       Catch::Contains("memory budget"));
      });
      CHECK(events.allocations == 0);
    };
    refused([&] { fista(direct, y, f); });
    refused([&] { fista(fft, y, f); });
    refused([&] { admm_cbpdn(w, y, a); });
  }
  // Within the budget they run (the estimate is not far above what they use: 64 MiB is plenty),
  // and FISTA's Kokkos allocations stay within fista_memory_bytes (the FFT dictionary builds its
  // operator in the first call).
  const mcsc_test::MemoryBudget budget(std::uint64_t(64) << 20);
  for (const bool use_fft : {false, true}) {
    const double estimate = use_fft ? fista_memory_bytes(fft, shape_of(y)) : fista_memory_bytes(direct, shape_of(y));
    const auto events = mcsc_test::count_kokkos_events(
        [&] { REQUIRE((use_fft ? fista(fft, y, f) : fista(direct, y, f)).iterations == 2); });
    std::string labels;
    for (const auto& l : events.allocation_labels) labels += "\n  " + l;
    INFO((use_fft ? "FFT" : "direct") << ": peak " << events.peak_bytes << " bytes, estimate " << estimate
                                      << "; allocations:" << labels);
    CHECK(events.peak_bytes > 0);
    CHECK(double(events.peak_bytes) <= estimate);
  }
  REQUIRE(admm_cbpdn(w, y, a).objective.size() == 2);
}

TEMPLATE_LIST_TEST_CASE("admm_cbpdn_update is one over-relaxed shrink and dual step, entry by entry",
                        "[admm][step]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 s{2, 3, 4, 5};
  auto x = make_tensor<T, Space>("x", s), v = make_tensor<T, Space>("v", s), w = make_tensor<T, Space>("w", s),
       v_prev = make_tensor<T, Space>("v_prev", s);
  fill_normal(x, 1);
  fill_normal(v, 2);
  fill_normal(w, 3, 0.0, 0.3);
  auto copy = [](const Tensor4<T, Space>& t) {  // copies (to_host aliases a host tensor, which the step changes)
    auto h = Kokkos::create_mirror(t);
    Kokkos::deep_copy(h, t);
    return h;
  };
  const auto hx = copy(x), hv = copy(v), hw = copy(w);
  const T alpha = T(1.8), theta = T(0.4);
  admm_cbpdn_update(x, v, w, v_prev, alpha, theta);
  const auto nv = to_host(v), nw = to_host(w), np = to_host(v_prev);
  for (std::size_t i = 0; i < hx.span(); ++i) {
    const double xr = double(alpha) * double(hx.data()[i]) + (1 - double(alpha)) * double(hv.data()[i]);
    const double a = xr + double(hw.data()[i]);
    const double shrunk = a > double(theta) ? a - double(theta) : (a < -double(theta) ? a + double(theta) : 0.0);
    REQUIRE(std::abs(double(nv.data()[i]) - shrunk) <= 1e-5 * (1 + std::abs(shrunk)));
    REQUIRE(std::abs(double(nw.data()[i]) - (double(hw.data()[i]) + xr - shrunk)) <= 1e-5 * (1 + std::abs(xr)));
    REQUIRE(np.data()[i] == hv.data()[i]);
  }
  auto other = make_tensor<T, Space>("other", Shape4{2, 3, 4, 6});
  REQUIRE_THROWS_WITH(admm_cbpdn_update(x, v, other, v_prev, alpha, theta), Catch::Contains("mcsc::admm_cbpdn_update"));
}
