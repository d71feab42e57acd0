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
}
