#include "test_common.hpp"

#include <map>

#include "mcsc/solvers/coupled_l1l1.hpp"

using namespace mcsc;
using mcsc_test::fill_sparse;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
// argmin_u 1/2 (u - v)^2 + mu (|u| + |u - s|), written from the optimality conditions without
// mcsc's case split: the minimiser of a convex piecewise quadratic is the candidate (the two kinks
// 0 and s, and the stationary point of each linear piece's quadratic) of smallest value.
double xi(double v, double s, double mu) {
  auto f = [&](double u) { return 0.5 * (u - v) * (u - v) + mu * (std::abs(u) + std::abs(u - s)); };
  double best = 0, best_value = f(0);
  for (double u : {s, v - 2 * mu, v + 2 * mu, v}) {
    const double value = f(u);
    if (value < best_value) best = u, best_value = value;
  }
  return best;
}

double dense_objective(const Eigen::MatrixXd& M, const Eigen::VectorXd& y, const Eigen::VectorXd& z, double lambda,
                       const Eigen::VectorXd& u) {
  return 0.5 * (M * u - y).squaredNorm() + lambda * (u.lpNorm<1>() + (u - z).lpNorm<1>());
}

// Dense FISTA on the matrix of the dictionary, with its own prox: the independent reference.
// Returns the final objective; *halfway gets the one at half the iterations.
double dense_coupled(const Eigen::MatrixXd& M, const Eigen::VectorXd& y, const Eigen::VectorXd& z, double lambda,
                     int iterations, double* halfway) {
  const Eigen::MatrixXd G = M.transpose() * M;
  const Eigen::VectorXd b = M.transpose() * y;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G, Eigen::EigenvaluesOnly);
  const double L = eig.eigenvalues().maxCoeff();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(M.cols()), x_prev = x, v = x, w(M.cols());
  double t = 1;
  for (int k = 0; k < iterations; ++k) {
    x_prev = x;
    w.noalias() = v - (G * v - b) / L;
    for (Eigen::Index i = 0; i < x.size(); ++i) x(i) = xi(w(i), z(i), lambda / L);
    const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    v = x + ((t - 1) / t_next) * (x - x_prev);
    t = t_next;
    if (k + 1 == iterations / 2) *halfway = dense_objective(M, y, z, lambda, x);
  }
  return dense_objective(M, y, z, lambda, x);
}

}  // namespace

TEST_CASE("the l1-l1 reference prox agrees with mcsc's closed form", "[coupled_l1l1]") {
  // Guards the test's own reference (cheap, host only).
  for (double s : {-1.3, -0.2, 0.0, 0.4, 2.0})
    for (double mu : {0.0, 0.1, 0.7})
      for (double v = -4; v <= 4; v += 0.05) {
        CAPTURE(v, s, mu);
        REQUIRE(xi(v, s, mu) == Approx(l1l1_prox_value(v, s, mu)).margin(1e-12));
      }
}

TEMPLATE_LIST_TEST_CASE("coupled l1-l1 with Z = 0 is CBPDN with 2 lambda", "[coupled_l1l1]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto y = make_tensor<T, Space>("y", {2, 1, 12, 12});
  fill_normal(w, 81, 0.0, 0.2);
  fill_normal(y, 82);
  auto zero = make_tensor<T, Space>("z", {2, 4, 12, 12});
  const double lambda = 0.05;
  for (bool accelerate : {true, false}) {
    CAPTURE(accelerate);
    ConvDictionary<T, Space> D(w);
    CoupledL1L1Options opts;
    opts.lambda = lambda;
    opts.max_iterations = 60;
    opts.accelerate = accelerate;
    const auto coupled = coupled_l1l1(D, y, zero, opts);
    FistaOptions fopts;
    fopts.lambda = 2 * lambda;
    fopts.max_iterations = 60;
    fopts.accelerate = accelerate;
    fopts.lipschitz = coupled.lipschitz;
    const auto plain = fista(D, y, fopts);
    REQUIRE(coupled.iterations == 60);
    REQUIRE(plain.objective.size() == coupled.objective.size());
    const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-6;
    for (std::size_t k = 0; k < plain.objective.size(); ++k) {
      CAPTURE(k, plain.objective[k], coupled.objective[k]);
      REQUIRE(mcsc_test::relative_error(plain.objective[k], coupled.objective[k]) < tol);
    }
    // The two objectives are the same function when Z = 0.
    for (const auto* r : {&coupled, &plain}) {
      const double a = coupled_l1l1_objective(r->reconstruction, y, r->codes, zero, lambda);
      const double b = cbpdn_objective(r->reconstruction, y, r->codes, 2 * lambda);
      REQUIRE(mcsc_test::relative_error(a, b) < mcsc_test::exact_tolerance<T>());
    }
  }
}

TEMPLATE_LIST_TEST_CASE("coupled l1-l1 reaches the objective of a long dense run", "[coupled_l1l1]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  struct Case { int m, k, s, side; double lambda; Boundary boundary; };
  for (auto c : {Case{1, 2, 3, 8, 0.1, Boundary::zero}, Case{2, 3, 3, 6, 0.2, Boundary::zero},
                 Case{1, 3, 3, 7, 0.15, Boundary::circular}}) {
    CAPTURE(c.m, c.k, c.s, c.side, c.lambda, to_string(c.boundary));
    auto w = make_tensor<T, Space>("d", {c.m, c.k, c.s, c.s});
    auto y = make_tensor<T, Space>("y", {1, c.m, c.side, c.side});
    auto z = make_tensor<T, Space>("z", {1, c.k, c.side, c.side});
    fill_normal(w, 91);
    fill_normal(y, 92);
    fill_sparse(z, 93, 0.5, 0.5);
    const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, 1, c.side, c.side, c.boundary);
    const Eigen::VectorXd ye = mcsc_test::to_eigen(y), ze = mcsc_test::to_eigen(z);
    // The dense reference depends only on the case: computed once, shared by every space.
    static std::map<int, std::pair<double, double>> references;
    const int key = c.m * 1000 + c.k * 100 + c.side;
    if (!references.count(key)) {
      double halfway = 0;
      const double reference = dense_coupled(M, ye, ze, c.lambda, 40000, &halfway);
      references[key] = {reference, halfway};
    }
    const auto [reference, halfway] = references[key];
    CAPTURE(reference, halfway);
    REQUIRE(mcsc_test::relative_error(halfway, reference) < 1e-9);  // the reference has converged
    CoupledL1L1Options opts;
    opts.lambda = c.lambda;
    opts.max_iterations = 3000;
    const auto direct = coupled_l1l1(ConvDictionary<T, Space>(w, c.boundary), y, z, opts);
    const auto fft = coupled_l1l1(FftConvDictionary<T, Space>(w, c.boundary), y, z, opts);
    CAPTURE(direct.objective.back(), fft.objective.back());
    REQUIRE(mcsc_test::relative_error(direct.objective.back(), reference) < 1e-6);
    REQUIRE(mcsc_test::relative_error(fft.objective.back(), reference) < 1e-6);
    // The reported objective is that of the returned codes and reconstruction.
    const Eigen::VectorXd u = mcsc_test::to_eigen(direct.codes);
    REQUIRE(mcsc_test::relative_error(dense_objective(M, ye, ze, c.lambda, u), direct.objective.back()) < 1e-10);
    REQUIRE((mcsc_test::to_eigen(direct.reconstruction) - M * u).cwiseAbs().maxCoeff() < 1e-10);
  }
}

TEMPLATE_LIST_TEST_CASE("coupled l1-l1 without acceleration never increases the objective", "[coupled_l1l1]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {2, 3, 5, 5});
  auto y = make_tensor<T, Space>("y", {1, 2, 16, 16});
  auto z = make_tensor<T, Space>("z", {1, 3, 16, 16});
  fill_normal(w, 101, 0.0, 0.3);
  fill_normal(y, 102);
  fill_sparse(z, 103, 0.3);
  CoupledL1L1Options opts;
  opts.lambda = 0.1;
  opts.max_iterations = 150;
  opts.accelerate = false;
  const auto r = coupled_l1l1(FftConvDictionary<T, Space>(w), y, z, opts);
  REQUIRE(r.iterations == 150);
  const double slack = std::is_same<T, float>::value ? 1e-6 : 1e-12;
  for (std::size_t k = 1; k < r.objective.size(); ++k) {
    CAPTURE(k, r.objective[k - 1], r.objective[k]);
    REQUIRE(r.objective[k] <= r.objective[k - 1] * (1 + slack));
  }
  REQUIRE(r.objective.back() < r.objective.front());
}

TEMPLATE_LIST_TEST_CASE("exact side information keeps the codes close to it", "[coupled_l1l1]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  auto z = make_tensor<T, Space>("z", {1, 4, 16, 16});
  auto y = make_tensor<T, Space>("y", {1, 1, 16, 16});
  fill_normal(w, 111, 0.0, 0.3);
  fill_sparse(z, 112, 0.05);
  ConvDictionary<T, Space> D(w);
  D.apply(z, y);  // y = D*Z: U = Z is a minimiser for every lambda (0 is in the subdifferential)
  const double lambda = 0.02;
  CoupledL1L1Options opts;
  opts.lambda = lambda;
  opts.max_iterations = 500;
  const auto coupled = coupled_l1l1(D, y, z, opts);
  FistaOptions fopts;
  fopts.lambda = 2 * lambda;
  fopts.max_iterations = 500;
  const auto plain = fista(D, y, fopts);
  const double coupled_error = std::sqrt(distance_squared(coupled.codes, z));
  const double plain_error = std::sqrt(distance_squared(plain.codes, z));
  const double norm = std::sqrt(sum_squares(z));
  CAPTURE(coupled_error, plain_error, norm);
  REQUIRE(coupled_error < 0.5 * plain_error);
  REQUIRE(coupled_error < 0.05 * norm);
  // The objective at Z itself is lambda ||Z||_1, and the solver gets there.
  REQUIRE(coupled.objective.back() <= lambda * sum_abs(z) * (1 + 1e-4));
}

TEMPLATE_LIST_TEST_CASE("coupled l1-l1 options: callback, warm start, tolerance", "[coupled_l1l1]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 3, 5, 5});
  auto y = make_tensor<T, Space>("y", {1, 1, 12, 12});
  auto z = make_tensor<T, Space>("z", {1, 3, 12, 12});
  fill_normal(w, 121, 0.0, 0.3);
  fill_normal(y, 122);
  fill_sparse(z, 123, 0.3);
  ConvDictionary<T, Space> D(w);
  CoupledL1L1Options opts;
  opts.lambda = 0.1;
  opts.max_iterations = 40;
  const auto first = coupled_l1l1(D, y, z, opts);
  REQUIRE(first.iterations == 40);
  REQUIRE(first.objective.back() < first.objective.front());
  opts.max_iterations = 1;
  const auto warm = coupled_l1l1(D, y, z, opts, first.codes);
  REQUIRE(warm.objective[0] <= first.objective.back() * (1 + 1e-5));
  opts.max_iterations = 100;
  int calls = 0;
  const auto stopped = coupled_l1l1(D, y, z, opts, {}, [&](const CoupledL1L1Iterate<T, Space>& it) {
    REQUIRE(it.objective == Approx(coupled_l1l1_objective(it.reconstruction, y, it.codes, z, opts.lambda))
                                .epsilon(1e-12));
    return ++calls < 5;
  });
  REQUIRE(stopped.iterations == 5);
  opts.max_iterations = 5000;
  opts.tolerance = 1e-3;
  opts.lipschitz = first.lipschitz;
  const auto tol = coupled_l1l1(D, y, z, opts);
  REQUIRE(tol.iterations < 5000);
  REQUIRE(tol.lipschitz == first.lipschitz);
}

TEMPLATE_LIST_TEST_CASE("coupled l1-l1 rejects bad input", "[coupled_l1l1][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 2, 3, 3});
  fill_normal(w, 131);
  auto y = make_tensor<T, Space>("y", {1, 1, 8, 8});
  auto z = make_tensor<T, Space>("z", {1, 2, 8, 8});
  ConvDictionary<T, Space> D(w);
  CoupledL1L1Options opts;
  opts.lambda = -0.1;
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, z, opts), Catch::Contains("mcsc::coupled_l1l1") && Catch::Contains("lambda"));
  opts.lambda = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, z, opts), Catch::Contains("lambda"));
  opts.lambda = 0.1;
  // Side information of the wrong shape: both shapes named.
  for (Shape4 bad : {Shape4{1, 3, 8, 8}, Shape4{1, 2, 8, 7}, Shape4{2, 2, 8, 8}}) {
    auto zb = make_tensor<T, Space>("zb", bad);
    std::ostringstream expected;
    expected << bad;
    REQUIRE_THROWS_WITH(coupled_l1l1(D, y, zb, opts),
                        Catch::Contains("mcsc::coupled_l1l1") && Catch::Contains("side information") &&
                            Catch::Contains(expected.str()) && Catch::Contains("(1, 2, 8, 8)"));
  }
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, Tensor4<T, Space>{}, opts), Catch::Contains("side information"));
  auto y2 = make_tensor<T, Space>("y2", {1, 2, 8, 8});
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y2, z, opts),
                      Catch::Contains("mcsc::coupled_l1l1") && Catch::Contains("2 channels") &&
                          Catch::Contains("(1, 2, 3, 3)"));
  auto hz = Kokkos::create_mirror_view(z);
  Kokkos::deep_copy(hz, z);
  hz(0, 1, 2, 2) = std::numeric_limits<T>::quiet_NaN();
  Kokkos::deep_copy(z, hz);
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, z, opts), Catch::Contains("mcsc::coupled_l1l1") && Catch::Contains("NaN"));
  fill(z, T(0));
  auto hy = Kokkos::create_mirror_view(y);
  Kokkos::deep_copy(hy, y);
  hy(0, 0, 3, 3) = std::numeric_limits<T>::quiet_NaN();
  Kokkos::deep_copy(y, hy);
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, z, opts), Catch::Contains("mcsc::coupled_l1l1") && Catch::Contains("NaN"));
  fill(y, T(0));
  auto bad_init = make_tensor<T, Space>("init", {1, 3, 8, 8});
  REQUIRE_THROWS_WITH(coupled_l1l1(D, y, z, opts, bad_init), Catch::Contains("initial codes"));
  ConvDictionary<T, Space> zero_dict(make_tensor<T, Space>("zeros", {1, 2, 3, 3}));
  REQUIRE_THROWS_WITH(coupled_l1l1(zero_dict, y, z, opts), Catch::Contains("Lipschitz"));
  // The objective checks its shapes too.
  auto zb = make_tensor<T, Space>("zb", {1, 3, 8, 8});
  REQUIRE_THROWS_WITH(coupled_l1l1_objective(y, y, z, zb, 0.1), Catch::Contains("mcsc::coupled_l1l1_objective"));
}
