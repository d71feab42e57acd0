#include "test_common.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
// lambda_max(M'M) of the dense operator, by Eigen's symmetric eigensolver.
double dense_lambda_max(const Eigen::MatrixXd& M) {
  const Eigen::MatrixXd G = M.rows() <= M.cols() ? Eigen::MatrixXd(M * M.transpose()) : Eigen::MatrixXd(M.transpose() * M);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G, Eigen::EigenvaluesOnly);
  return eig.eigenvalues().maxCoeff();
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("power iteration agrees with the dense eigenvalue", "[lipschitz]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  struct Case { int m, k, s, side; };
  for (auto c : {Case{1, 3, 3, 6}, Case{2, 3, 4, 7}, Case{1, 4, 5, 9}}) {
    for (auto boundary : {Boundary::zero, Boundary::circular}) {
      CAPTURE(c.m, c.k, c.s, c.side, to_string(boundary));
      auto w = make_tensor<T, Space>("d", {c.m, c.k, c.s, c.s});
      fill_normal(w, 61);
      const double expect = dense_lambda_max(mcsc_test::dense_conv_matrix(w, 1, c.side, c.side, boundary));
      PowerIterationOptions opts;
      opts.max_iterations = 20000;
      opts.tolerance = 1e-13;
      const Shape4 codes{1, c.k, c.side, c.side};
      REQUIRE(mcsc_test::relative_error(power_iteration(ConvDictionary<T, Space>(w, boundary), codes, opts), expect) <
              1e-6);
      REQUIRE(mcsc_test::relative_error(power_iteration(FftConvDictionary<T, Space>(w, boundary), codes, opts),
                                        expect) < 1e-6);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("the warm-started power iteration: same estimate, fewer iterations from a converged vector",
                        "[lipschitz][warm]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 4, 5, 5});
  fill_normal(w, 62);
  const ConvDictionary<T, Space> D(w);
  const Shape4 codes{1, 4, 9, 9};
  const double expect = dense_lambda_max(mcsc_test::dense_conv_matrix(w, 1, 9, 9, Boundary::zero));
  auto v = make_tensor<T, Space>("v", codes), tmp = make_tensor<T, Space>("tmp", codes);
  auto r = make_tensor<T, Space>("r", {1, 1, 9, 9});
  int applications = 0;
  const auto normal = [&](const Tensor4<T, Space>& in, const Tensor4<T, Space>& out) {
    ++applications;
    D.apply(in, r);
    D.adjoint(r, out);
  };
  PowerIterationOptions o;
  o.max_iterations = 20000;
  o.tolerance = 1e-13;
  // A zero vector starts from the seeded random one: the cold power_iteration's estimate, bit for bit.
  const double cold = power_iteration_warm(normal, v, tmp, o);
  CHECK(cold == power_iteration(D, codes, o));
  CHECK(mcsc_test::relative_error(cold, expect) < 1e-6);
  // With a looser tolerance, from scratch and then again from the vector that run left: the
  // same estimate within the tolerance, in two iterations instead of many.
  o.tolerance = 1e-8;
  fill(v, T(0));
  applications = 0;
  const double loose = power_iteration_warm(normal, v, tmp, o);
  const int cold_applications = applications;
  applications = 0;
  const double warm = power_iteration_warm(normal, v, tmp, o);
  CHECK(mcsc_test::relative_error(warm, loose) < 1e-7);
  CHECK(mcsc_test::relative_error(warm, expect) < 1e-4);  // the Rayleigh quotient lags at a loose tolerance
  CHECK(applications <= 3);
  CHECK(cold_applications > 10);
  o.tolerance = 1e-13;
  // A vector that is not finite restarts from the seed.
  fill(v, std::numeric_limits<T>::quiet_NaN());
  CHECK(power_iteration_warm(normal, v, tmp, o) == cold);
  o.max_iterations = 0;
  CHECK_THROWS_WITH(power_iteration_warm(normal, v, tmp, o), Catch::Contains("max_iterations"));
}

TEMPLATE_LIST_TEST_CASE("Lipschitz constant from the spectra", "[lipschitz][fft]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-9;
  struct Case { int m, k, s, side; };
  // m = 1 (closed form), and m, K > 1 both ways round (per-frequency power iteration).
  for (auto c : {Case{1, 3, 3, 6}, Case{2, 3, 4, 7}, Case{3, 2, 3, 5}, Case{1, 8, 5, 10}}) {
    CAPTURE(c.m, c.k, c.s, c.side);
    auto w = make_tensor<T, Space>("d", {c.m, c.k, c.s, c.s});
    fill_normal(w, 62);
    // The codes are the operator's input: FftConv2d(codes shape, m outputs).
    FftConv2d<T, Space> circular(Shape4{1, c.k, c.side, c.side}, c.m, c.s, c.s, Boundary::circular);
    circular.set_weights(w);
    const double exact = dense_lambda_max(mcsc_test::dense_conv_matrix(w, 1, c.side, c.side, Boundary::circular));
    REQUIRE(mcsc_test::relative_error(lipschitz_from_spectra(circular), exact) < tol);
    // Zero boundary: the padded circulant's constant bounds the cropped operator's from above.
    FftConv2d<T, Space> zero(Shape4{1, c.k, c.side, c.side}, c.m, c.s, c.s, Boundary::zero);
    zero.set_weights(w);
    const double cropped = dense_lambda_max(mcsc_test::dense_conv_matrix(w, 1, c.side, c.side, Boundary::zero));
    const double bound = lipschitz_from_spectra(zero);
    REQUIRE(bound >= cropped * (1 - tol));
    REQUIRE(bound <= 2 * cropped);
  }
}

TEMPLATE_LIST_TEST_CASE("Lipschitz routines reject bad input", "[lipschitz][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {1, 2, 3, 3});
  ConvDictionary<T, Space> D(w);
  REQUIRE_THROWS_WITH(power_iteration(D, Shape4{0, 2, 5, 5}), Catch::Contains("mcsc::power_iteration"));
  FftConv2d<T, Space> op(Shape4{1, 2, 5, 5}, 1, 3, 3);
  REQUIRE_THROWS_WITH(lipschitz_from_spectra(op), Catch::Contains("set_weights"));
  REQUIRE(power_iteration(D, Shape4{1, 2, 5, 5}) == 0.0);  // all-zero dictionary
}
