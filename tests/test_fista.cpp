#include "test_common.hpp"

#include <map>

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
double soft(double v, double t) { return v > t ? v - t : (v < -t ? v + t : 0.0); }

// Plain dense ISTA with Eigen: the independent reference. Returns the final objective.
double dense_ista(const Eigen::MatrixXd& M, const Eigen::VectorXd& y, double lambda, int iterations,
                  double* halfway = nullptr) {
  const Eigen::MatrixXd G = M.transpose() * M;
  const Eigen::VectorXd b = M.transpose() * y;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G, Eigen::EigenvaluesOnly);
  const double L = eig.eigenvalues().maxCoeff();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(M.cols()), v(M.cols());
  auto objective = [&](const Eigen::VectorXd& u) { return 0.5 * (M * u - y).squaredNorm() + lambda * u.lpNorm<1>(); };
  for (int k = 0; k < iterations; ++k) {
    v.noalias() = x - (G * x - b) / L;  // x - M'(M x - y) / L
    for (Eigen::Index i = 0; i < x.size(); ++i) x(i) = soft(v(i), lambda / L);
    if (halfway && k == iterations / 2) *halfway = objective(x);
  }
  return objective(x);
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("FISTA reaches the objective of a long dense ISTA run", "[fista]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  struct Case { int m, k, s, side; double lambda; Boundary boundary; };
  for (auto c : {Case{1, 2, 3, 8, 0.1, Boundary::zero}, Case{2, 3, 4, 7, 0.3, Boundary::zero},
                 Case{1, 3, 3, 6, 0.2, Boundary::circular}}) {
    CAPTURE(c.m, c.k, c.s, c.side, c.lambda, to_string(c.boundary));
    auto w = make_tensor<T, Space>("d", {c.m, c.k, c.s, c.s});
    auto y = make_tensor<T, Space>("y", {1, c.m, c.side, c.side});
    fill_normal(w, 71);
    fill_normal(y, 72);
    const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, 1, c.side, c.side, c.boundary);
    // The dense reference depends only on the case: computed once, shared by every space.
    static std::map<int, std::pair<double, double>> references;
    const int key = c.m * 1000 + c.k * 100 + c.side;
    if (!references.count(key)) {
      double halfway = 0;
      const double reference = dense_ista(M, mcsc_test::to_eigen(y), c.lambda, 200000, &halfway);
      references[key] = {reference, halfway};
    }
    const auto [reference, halfway] = references[key];
    REQUIRE(mcsc_test::relative_error(halfway, reference) < 1e-8);  // the reference has converged
    FistaOptions opts;
    opts.lambda = c.lambda;
    opts.max_iterations = 3000;
    const auto direct = fista(ConvDictionary<T, Space>(w, c.boundary), y, opts);
    const auto fft = fista(FftConvDictionary<T, Space>(w, c.boundary), y, opts);
    CAPTURE(reference, direct.objective.back(), fft.objective.back());
    REQUIRE(mcsc_test::relative_error(direct.objective.back(), reference) < 1e-6);
    REQUIRE(mcsc_test::relative_error(fft.objective.back(), reference) < 1e-6);
    // The reported objective is that of the returned codes and reconstruction.
    const Eigen::VectorXd u = mcsc_test::to_eigen(direct.codes);
    const double recomputed = 0.5 * (M * u - mcsc_test::to_eigen(y)).squaredNorm() + c.lambda * u.lpNorm<1>();
    REQUIRE(mcsc_test::relative_error(recomputed, direct.objective.back()) < 1e-10);
    REQUIRE((mcsc_test::to_eigen(direct.reconstruction) - M * u).cwiseAbs().maxCoeff() < 1e-10);
  }
}

TEMPLATE_LIST_TEST_CASE("FISTA options: tolerance stop, callback, warm start, given L", "[fista]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto y = make_tensor<T, Space>("y", {2, 1, 16, 16});
  fill_normal(w, 73, 0.0, 0.2);
  fill_normal(y, 74);
  ConvDictionary<T, Space> D(w);
  FistaOptions opts;
  opts.lambda = 0.1;
  opts.max_iterations = 40;
  const auto first = fista(D, y, opts);
  REQUIRE(first.iterations == 40);
  REQUIRE(first.objective.size() == 40);
  REQUIRE(first.objective.back() < first.objective.front());
  REQUIRE(first.lipschitz > 0);
  // Warm start from the first run continues from where it stopped.
  opts.max_iterations = 1;
  const auto warm = fista(D, y, opts, first.codes);
  REQUIRE(warm.objective[0] <= first.objective.back() * (1 + 1e-6));
  // Callback can stop the run.
  opts.max_iterations = 100;
  int calls = 0;
  double last_objective = 0;
  const auto stopped = fista(D, y, opts, {}, [&](const FistaIterate<T, Space>& it) {
    // the iterate shown is the one whose objective is reported
    last_objective = cbpdn_objective(it.reconstruction, y, it.codes, opts.lambda);
    REQUIRE(it.objective == Approx(last_objective).epsilon(1e-12));
    return ++calls < 7;
  });
  REQUIRE(stopped.iterations == 7);
  REQUIRE(stopped.objective.back() == Approx(last_objective).epsilon(1e-12));
  // Tolerance stops before max_iterations; the given Lipschitz constant is used as is.
  opts.max_iterations = 5000;
  opts.tolerance = 1e-3;
  opts.lipschitz = first.lipschitz;
  const auto tol = fista(D, y, opts);
  REQUIRE(tol.iterations < 5000);
  REQUIRE(tol.lipschitz == first.lipschitz);
}

namespace {
// The general problem min 1/2 ||m ⊙ (M u - y)||^2 + lambda sum w_i |u_i| (u >= 0 if nonnegative),
// solved densely by FISTA in Eigen with its own prox: the independent reference of the variants.
struct DenseProblem {
  Eigen::MatrixXd M;
  Eigen::VectorXd y, weights, mask;
  double lambda = 0.1;
  bool nonnegative = false;
  double objective(const Eigen::VectorXd& u) const {
    const Eigen::VectorXd r = mask.cwiseProduct(M * u - y);
    return 0.5 * r.squaredNorm() + lambda * weights.cwiseProduct(u.cwiseAbs()).sum();
  }
  double lipschitz() const {
    const Eigen::MatrixXd A = mask.asDiagonal() * M;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(A.transpose() * A, Eigen::EigenvaluesOnly);
    return eig.eigenvalues().maxCoeff();
  }
  // Returns the final objective; *halfway the one at half the iterations.
  double solve(int iterations, double* halfway) const {
    const Eigen::MatrixXd A = mask.asDiagonal() * M;
    const Eigen::MatrixXd G = A.transpose() * A;
    const Eigen::VectorXd b = A.transpose() * mask.cwiseProduct(y);
    const double L = lipschitz();
    Eigen::VectorXd x = Eigen::VectorXd::Zero(M.cols()), x_prev = x, v = x, g(M.cols());
    double t = 1;
    for (int k = 0; k < iterations; ++k) {
      x_prev = x;
      g.noalias() = v - (G * v - b) / L;
      for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double th = lambda * weights(i) / L;
        x(i) = nonnegative ? std::max(g(i) - th, 0.0) : soft(g(i), th);
      }
      const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
      v = x + ((t - 1) / t_next) * (x - x_prev);
      t = t_next;
      if (k + 1 == iterations / 2) *halfway = objective(x);
    }
    return objective(x);
  }
};

// A tensor broadcast to (n, c, h, w) as a flat Eigen vector (LayoutRight order).
template <class V>
Eigen::VectorXd broadcast_eigen(const V& v, int n, int c, int h, int w) {
  auto hv = to_host(v);
  Eigen::VectorXd out(n * c * h * w);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < c; ++b)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j)
          out((((a * c) + b) * h + i) * w + j) =
              double(hv(hv.extent(0) == 1 ? 0 : a, hv.extent(1) == 1 ? 0 : b, hv.extent(2) == 1 ? 0 : i,
                        hv.extent(3) == 1 ? 0 : j));
  return out;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("FISTA variants reach the dense reference: non-negativity, l1 weights, mask, backtracking, restart",
                        "[fista][variants]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int K = 3, S = 3, side = 7;
  auto w = make_tensor<T, Space>("d", {1, K, S, S});
  auto y = make_tensor<T, Space>("y", {1, 1, side, side});
  fill_normal(w, 81);
  fill_normal(y, 82);
  // per-filter weights, per-pixel weights, and a mask: a cropped boundary band, a hole, half weights
  auto per_filter = make_tensor<T, Space>("per_filter", {1, K, 1, 1});
  auto per_pixel = make_tensor<T, Space>("per_pixel", {1, K, side, side});
  auto mask = make_tensor<T, Space>("mask", {1, 1, side, side});
  {
    auto h = to_host(per_filter);
    h(0, 0, 0, 0) = 0.5, h(0, 1, 0, 0) = 1, h(0, 2, 0, 0) = 2;
    from_host(per_filter, h);
    fill_uniform(per_pixel, 83, 0.2, 2.0);
    auto m = to_host(mask);
    for (int i = 0; i < side; ++i)
      for (int j = 0; j < side; ++j)
        m(0, 0, i, j) = (i == 0 || j == 0 || i == side - 1 || j == side - 1) ? 0.0 : (i == 3 && j == 2 ? 0.0 : 1.0);
    m(0, 0, 2, 4) = 0.5;
    from_host(mask, m);
  }
  const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, 1, side, side, Boundary::zero);
  const int n_codes = K * side * side;
  struct Case {
    const char* name;
    bool nonnegative;
    int weights;  // 0 none, 1 per filter, 2 per pixel
    bool masked;
    bool backtracking;
    FistaRestart restart;
  };
  for (auto c : {Case{"backtracking", false, 0, false, true, FistaRestart::none},
                 Case{"function restart", false, 0, false, false, FistaRestart::function},
                 Case{"gradient restart + backtracking", false, 0, false, true, FistaRestart::gradient},
                 // with restart, which converges in a quarter of the iterations here
                 Case{"non-negative", true, 0, false, false, FistaRestart::function},
                 Case{"per-filter weights", false, 1, false, false, FistaRestart::function},
                 Case{"per-pixel weights, non-negative", true, 2, false, false, FistaRestart::gradient},
                 Case{"mask", false, 0, true, false, FistaRestart::function},
                 Case{"mask, per-pixel weights, backtracking", false, 2, true, true, FistaRestart::function}}) {
    CAPTURE(c.name);
    const auto weights = c.weights == 0 ? Tensor4<T, Space>() : (c.weights == 1 ? per_filter : per_pixel);
    const auto m = c.masked ? mask : Tensor4<T, Space>();
    DenseProblem p;
    p.M = M;
    p.y = mcsc_test::to_eigen(y);
    p.weights = c.weights == 0 ? Eigen::VectorXd::Ones(n_codes) : broadcast_eigen(weights, 1, K, side, side);
    p.mask = c.masked ? broadcast_eigen(mask, 1, 1, side, side) : Eigen::VectorXd::Ones(side * side);
    p.lambda = 0.15;
    p.nonnegative = c.nonnegative;
    double halfway = 0;
    const double reference = p.solve(40000, &halfway);
    REQUIRE(mcsc_test::relative_error(halfway, reference) < 1e-9);
    FistaOptions opts;
    opts.lambda = p.lambda;
    opts.max_iterations = 4000;
    opts.residual_tolerance = 1e-5;  // converged: stop early (keeps the OpenMP runs short)
    opts.nonnegative = c.nonnegative;
    opts.backtracking = c.backtracking;
    opts.restart = c.restart;
    if (c.backtracking) opts.lipschitz = 1e-3;  // far too small: backtracking must grow it
    for (int fft = 0; fft < 2; ++fft) {
      CAPTURE(fft);
      const auto r = fft ? fista(FftConvDictionary<T, Space>(w), y, opts, {}, {}, weights, m)
                         : fista(ConvDictionary<T, Space>(w), y, opts, {}, {}, weights, m);
      CAPTURE(reference, r.objective.back(), r.iterations, r.restarts, r.backtracks, r.lipschitz);
      REQUIRE(mcsc_test::relative_error(r.objective.back(), reference) < 1e-6);
      // the reported objective is that of the returned codes
      REQUIRE(mcsc_test::relative_error(p.objective(mcsc_test::to_eigen(r.codes)), r.objective.back()) < 1e-10);
      REQUIRE(r.residual.back() <= 1e-5);
      if (c.nonnegative) REQUIRE(mcsc_test::to_eigen(r.codes).minCoeff() >= 0);
      if (c.backtracking) {
        // L grew from 1e-3 by doublings and stopped below twice the true constant
        REQUIRE(r.backtracks > 0);
        REQUIRE(r.lipschitz <= 2 * p.lipschitz() * (1 + 1e-9));
      }
      if (c.restart != FistaRestart::none) REQUIRE(r.restarts > 0);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("FISTA mask and weights: masked pixels are ignored, uniform weights scale lambda",
                        "[fista][variants]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 3, 4, 4});
  auto y = make_tensor<T, Space>("y", {2, 1, 12, 12});
  fill_normal(w, 84, 0.0, 0.3);
  fill_normal(y, 85);
  ConvDictionary<T, Space> D(w);
  FistaOptions opts;
  opts.lambda = 0.1;
  opts.max_iterations = 30;
  // a cropped boundary: 0 on the outer two rows/columns
  auto mask = make_tensor<T, Space>("mask", {1, 1, 12, 12});
  auto hm = to_host(mask);
  for (int i = 0; i < 12; ++i)
    for (int j = 0; j < 12; ++j) hm(0, 0, i, j) = (i < 2 || j < 2 || i >= 10 || j >= 10) ? 0 : 1;
  from_host(mask, hm);
  const auto a = fista(D, y, opts, {}, {}, {}, mask);
  auto hy = to_host(y);
  hy(0, 0, 0, 5) += 100, hy(1, 0, 11, 11) -= 50;  // changes only masked-out pixels
  from_host(y, hy);
  const auto b = fista(D, y, opts, {}, {}, {}, mask);
  REQUIRE(max_abs_diff(a.codes, b.codes) == 0);
  REQUIRE(a.objective.back() == b.objective.back());
  // weights all 2 == lambda doubled
  auto two = make_tensor<T, Space>("two", {1, 1, 1, 1});
  fill(two, T(2));
  const auto weighted = fista(D, y, opts, {}, {}, two);
  opts.lambda = 0.2;
  const auto doubled = fista(D, y, opts);
  REQUIRE(mcsc_test::relative_error(weighted.objective.back(), doubled.objective.back()) <
          100 * mcsc_test::exact_tolerance<T>());
  REQUIRE(max_abs_diff(weighted.codes, doubled.codes) <= 1e-4);
  // residual tolerance stops the run once the proximal-gradient residual is small
  opts.max_iterations = 5000;
  opts.residual_tolerance = 1e-2;
  const auto stopped = fista(D, y, opts);
  REQUIRE(stopped.iterations < 5000);
  REQUIRE(stopped.residual.back() <= 1e-2);
}

TEMPLATE_LIST_TEST_CASE("FISTA rejects bad input", "[fista][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 2, 3, 3});
  fill_normal(w, 75);
  auto y = make_tensor<T, Space>("y", {1, 1, 8, 8});
  ConvDictionary<T, Space> D(w);
  FistaOptions opts;
  opts.lambda = -0.1;
  REQUIRE_THROWS_WITH(fista(D, y, opts), Catch::Contains("mcsc::fista") && Catch::Contains("lambda"));
  opts.lambda = 0.1;
  auto y2 = make_tensor<T, Space>("y2", {1, 2, 8, 8});
  REQUIRE_THROWS_WITH(fista(D, y2, opts), Catch::Contains("2 channels") && Catch::Contains("(1, 2, 3, 3)"));
  auto h = Kokkos::create_mirror_view(y);
  Kokkos::deep_copy(h, y);
  h(0, 0, 3, 3) = std::numeric_limits<T>::quiet_NaN();
  Kokkos::deep_copy(y, h);
  REQUIRE_THROWS_WITH(fista(D, y, opts), Catch::Contains("NaN"));
  fill(y, T(0));
  auto small = make_tensor<T, Space>("small", {1, 1, 2, 2});
  REQUIRE_THROWS_WITH(fista(D, small, opts), Catch::Contains("larger than the image"));
  auto bad_init = make_tensor<T, Space>("init", {1, 3, 8, 8});
  REQUIRE_THROWS_WITH(fista(D, y, opts, bad_init), Catch::Contains("initial codes"));
  ConvDictionary<T, Space> zero_dict(make_tensor<T, Space>("zeros", {1, 2, 3, 3}));
  REQUIRE_THROWS_WITH(fista(zero_dict, y, opts), Catch::Contains("Lipschitz"));
  // l1 weights and mask: shapes that do not broadcast, negative values, NaN
  auto bad_weights = make_tensor<T, Space>("bad_weights", {1, 3, 1, 1});
  REQUIRE_THROWS_WITH(fista(D, y, opts, {}, {}, bad_weights), Catch::Contains("l1 weights") && Catch::Contains("broadcast"));
  auto weights = make_tensor<T, Space>("weights", {1, 2, 1, 1});
  fill(weights, T(-1));
  REQUIRE_THROWS_WITH(fista(D, y, opts, {}, {}, weights), Catch::Contains("l1 weights must be >= 0"));
  auto bad_mask = make_tensor<T, Space>("bad_mask", {1, 1, 4, 8});
  REQUIRE_THROWS_WITH(fista(D, y, opts, {}, {}, {}, bad_mask), Catch::Contains("mask") && Catch::Contains("broadcast"));
  auto mask = make_tensor<T, Space>("mask", {1, 1, 8, 8});
  auto hm = Kokkos::create_mirror_view(mask);
  hm(0, 0, 1, 1) = std::numeric_limits<T>::infinity();
  Kokkos::deep_copy(mask, hm);
  REQUIRE_THROWS_WITH(fista(D, y, opts, {}, {}, {}, mask), Catch::Contains("Inf"));
  fill(mask, T(0));
  REQUIRE_THROWS_WITH(fista(D, y, opts, {}, {}, {}, mask), Catch::Contains("Lipschitz"));
  opts.backtracking = true;
  opts.backtracking_factor = 1;
  REQUIRE_THROWS_WITH(fista(D, y, opts), Catch::Contains("backtracking_factor"));
  opts.backtracking = false;
  opts.lipschitz = -1;
  REQUIRE_THROWS_WITH(fista(D, y, opts), Catch::Contains("lipschitz"));
  opts.lipschitz = 0;
  opts.residual_tolerance = -1;
  REQUIRE_THROWS_WITH(fista(D, y, opts), Catch::Contains("tolerances"));
}

// ------------------------------------------------------------------ residency (issue 13)

// A 4-filter 5x5 dictionary and one 16x16 signal, N(0, 1) from two seeds (the residency and
// BestIterate tests' problem).
template <class T, class Space>
struct SmallProblem {
  Tensor4<T, Space> w = make_tensor<T, Space>("d", {1, 4, 5, 5}), y = make_tensor<T, Space>("y", {1, 1, 16, 16});
  SmallProblem(std::uint64_t seed_w, std::uint64_t seed_y) {
    fill_normal(w, seed_w);
    fill_normal(y, seed_y);
  }
};


TEMPLATE_LIST_TEST_CASE("a steady-state FISTA iteration allocates nothing and copies nothing between memory spaces",
                        "[fista][residency]", AllConfigs) {
  // Per iteration = (events of a 9-iteration run) - (events of a 5-iteration run) over 4: the
  // set-up (buffers, power iteration) is the same in both.
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const SmallProblem<T, Space> problem(81, 82);
  const auto& w = problem.w;
  const auto& y = problem.y;
  const ConvDictionary<T, Space> D(w);
  FistaOptions o;
  o.lambda = 0.1;
  o.lipschitz = 1.01 * power_iteration(D, D.code_shape(shape_of(y)));
  auto run = [&](int iterations) {
    o.max_iterations = iterations;
    return mcsc_test::count_kokkos_events([&] { fista(D, y, o); });
  };
  const auto a = run(5), b = run(9);
  const double allocations = (b.allocations - a.allocations) / 4.0, copies = (b.deep_copies - a.deep_copies) / 4.0,
               cross = (b.cross_space_copies - a.cross_space_copies) / 4.0,
               reductions = (b.reductions - a.reductions) / 4.0;
  INFO("per iteration: " << allocations << " allocations, " << copies << " deep copies (" << cross
                         << " between spaces), " << reductions << " reductions");
  // The hooks see the solver's work (set-up allocations, the per-iteration copies, reductions).
  CHECK(a.allocations > 0);
  CHECK(a.deep_copies > 0);
  CHECK(a.reductions > 0);
  CHECK(allocations == 0);
  // (Fills, deep_copy(view, scalar), are kernels: counted apart, as fills, not as copies.)
  CHECK(cross == 0);
  // Copies within one memory space (the momentum's previous iterate) are device-side memcpys.
  CHECK(copies <= 2);
  // Two scalars read back per iteration (on a device each is a synchronisation): the data term at
  // the new iterate, and the step kernel's sums (penalty, change, backtracking product). Was 4
  // (data terms at Z and at U, the penalty, the change, each its own reduction).
  CHECK(reductions == 2);

  // Without the objective one scalar is left: the step kernel's sums, whose residual is what the
  // stopping test residual_tolerance reads.
  o.objective = false;
  const auto c = run(5), d = run(9);
  const double lean = (d.reductions - c.reductions) / 4.0;
  INFO("without the objective: " << lean << " reductions per iteration");
  CHECK(lean == 1);
  CHECK((d.allocations - c.allocations) == 0);
  CHECK((d.cross_space_copies - c.cross_space_copies) == 0);
}

TEMPLATE_LIST_TEST_CASE("FISTA without the objective takes the same iterates and stops on the residual",
                        "[fista][residency]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const SmallProblem<T, Space> problem(83, 84);
  const auto& w = problem.w;
  const auto& y = problem.y;
  const ConvDictionary<T, Space> D(w);
  FistaOptions o;
  o.lambda = 0.1;
  o.max_iterations = 200;
  // stop at the residual the run reaches at iteration 60
  o.residual_tolerance = fista(D, y, o).residual.at(59);
  const auto with = fista(D, y, o);
  o.objective = false;
  int seen = 0;
  bool nan_objective = true;
  const auto without = fista(D, y, o, {}, [&](const FistaIterate<T, Space>& it) {
    ++seen;
    nan_objective = nan_objective && std::isnan(it.objective);
    return true;
  });
  CHECK(with.objective.size() == std::size_t(with.iterations));
  CHECK(without.objective.empty());
  CHECK(nan_objective);
  CHECK(seen == without.iterations);
  // it stopped on the residual, before max_iterations, at the same iteration
  CHECK(with.iterations < o.max_iterations);
  CHECK(without.iterations == with.iterations);
  REQUIRE(without.residual.size() == with.residual.size());
  for (std::size_t k = 0; k < with.residual.size(); ++k) CHECK(without.residual[k] == with.residual[k]);
  CHECK(max_abs_diff(with.codes, without.codes) == 0);
  CHECK(max_abs_diff(with.reconstruction, without.reconstruction) == 0);

  // Backtracking and the function restart need the objective: evaluated and recorded anyway.
  o.backtracking = true;
  o.lipschitz = 0;
  CHECK(fista(D, y, o).objective.size() > 0);
  o.backtracking = false;
  o.restart = FistaRestart::function;
  CHECK(fista(D, y, o).objective.size() > 0);

  // A diverging run (a step 100 times too long) still stops with an error, on the residual.
  o.restart = FistaRestart::none;
  o.residual_tolerance = 0;
  o.max_iterations = 2000;
  o.lipschitz = 0.01 * power_iteration(D, D.code_shape(shape_of(y)));
  CHECK_THROWS_WITH(fista(D, y, o), Catch::Contains("residual became"));
  // ... of its own type: a breakdown on valid input, not bad input (error.hpp).
  CHECK_THROWS_AS(fista(D, y, o), NumericalError);
  o.lipschitz = -1;
  try {
    fista(D, y, o);
    FAIL("a negative Lipschitz constant was accepted");
  } catch (const NumericalError&) {
    FAIL("bad input reported as a numerical breakdown");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("lipschitz"));
  }
}

TEMPLATE_LIST_TEST_CASE("BestIterate keeps the iterate of smallest objective", "[fista][best]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const SmallProblem<T, Space> problem(85, 86);
  const auto& w = problem.w;
  const auto& y = problem.y;
  const ConvDictionary<T, Space> D(w);
  FistaOptions o;
  o.lambda = 0.05;
  o.max_iterations = 40;
  // A step 1.4 times too long: the objective goes up and down, and the last iterate is not the best.
  o.lipschitz = 0.7 * power_iteration(D, D.code_shape(shape_of(y)));
  const auto reference = fista(D, y, o);
  const auto lowest = std::min_element(reference.objective.begin(), reference.objective.end());
  const int best_k = int(lowest - reference.objective.begin()) + 1;
  INFO("best iterate " << best_k << " of " << reference.iterations);
  REQUIRE(best_k < reference.iterations);
  auto codes = make_tensor<T, Space>("best", D.code_shape(shape_of(y)));
  auto reconstruction = make_tensor_like("best_reconstruction", y);
  BestIterate<T, Space> best;
  best.reset(codes, reconstruction);
  fista(D, y, o, {}, best.callback());
  CHECK(best.improved());
  CHECK(best.value() == *lowest);
  // the kept codes are iterate best_k's: a run stopped there ends on them
  o.max_iterations = best_k;
  const auto stopped = fista(D, y, o);
  CHECK(max_abs_diff(stopped.codes, codes) == 0);
  CHECK(max_abs_diff(stopped.reconstruction, reconstruction) == 0);
  // an objective to beat that no iterate beats: nothing is kept
  best.reset(codes, {}, *lowest);
  fill(codes, T(7));
  o.max_iterations = 40;
  fista(D, y, o, {}, best.callback());
  CHECK_FALSE(best.improved());
  CHECK(max_abs_diff(codes, stopped.codes) > 1);
  // without the objective there is nothing to compare: refused, not silently ignored
  o.objective = false;
  best.reset(codes);
  CHECK_THROWS_WITH(fista(D, y, o, {}, best.callback()), Catch::Contains("no objective"));
}

TEST_CASE("FISTA over ranks sums every batch scalar through the communicator", "[fista][ranks]") {
  // (Two real ranks against one process: tests/mpi/test_mpi.cpp, scenario fista.) Here over
  // mcsc_test::MirrorRanks: the run must be the one-process run over the batch repeated, [y; y],
  // objective for objective and iterate for iterate, with L the one-image estimate.
  using T = double;
  using Space = Kokkos::DefaultExecutionSpace;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto y = make_tensor<T, Space>("y", {3, 1, 16, 16});
  fill_normal(w, 73, 0.0, 0.2);
  fill_normal(y, 74);
  const auto twice = mcsc_test::repeated_twice(y);
  ConvDictionary<T, Space> D(w);
  for (const bool backtracking : {false, true}) {
    CAPTURE(backtracking);
    FistaOptions opts;
    opts.lambda = 0.1;
    opts.max_iterations = 500;
    opts.tolerance = 1e-3;
    opts.backtracking = backtracking;
    opts.restart = backtracking ? FistaRestart::function : FistaRestart::gradient;
    auto mirror = std::make_shared<mcsc_test::MirrorRanks>();
    opts.communicator = mirror;
    const auto over_ranks = fista(D, y, opts);
    opts.communicator = nullptr;
    if (!backtracking) opts.lipschitz = 1.01 * power_iteration(D, Shape4{1, 4, 16, 16});
    const auto alone = fista(D, twice, opts);
    CHECK(mirror->calls >= over_ranks.iterations);  // at least one sum per iteration went through it
    REQUIRE(over_ranks.iterations == alone.iterations);
    REQUIRE(over_ranks.iterations < opts.max_iterations);  // stopped by the tolerance, on the sums over ranks
    REQUIRE(over_ranks.lipschitz == Approx(alone.lipschitz).epsilon(1e-12));
    REQUIRE(over_ranks.objective.size() == alone.objective.size());
    for (std::size_t k = 0; k < alone.objective.size(); ++k)
      REQUIRE(over_ranks.objective[k] == Approx(alone.objective[k]).epsilon(1e-12));
    auto first = Kokkos::subview(alone.codes, Kokkos::make_pair(0, 3), Kokkos::ALL, Kokkos::ALL, Kokkos::ALL);
    auto copy = make_tensor<T, Space>("first", shape_of(over_ranks.codes));
    Kokkos::deep_copy(copy, first);
    const auto zeros = make_tensor<T, Space>("zeros", shape_of(copy));
    const double largest = max_abs_diff(copy, zeros);
    CHECK(largest > 0);
    CHECK(max_abs_diff(over_ranks.codes, copy) <= 1e-10 * largest);
  }
}
