#include "test_common.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;

TEMPLATE_LIST_TEST_CASE("tensor helpers: create, fill, copy, reductions", "[tensor]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 s{2, 3, 5, 7};
  auto a = make_tensor<T, Space>("a", s);
  REQUIRE(shape_of(a) == s);
  REQUIRE(sum_squares(a) == 0.0);
  fill(a, T(2));
  REQUIRE(sum_abs(a) == Approx(2.0 * s.size()));
  auto b = make_tensor_like("b", a);
  fill_normal(b, 7);
  const auto eb = mcsc_test::to_eigen(b);
  REQUIRE(dot(a, b) == Approx(2.0 * eb.sum()).epsilon(1e-5));
  REQUIRE(sum_squares(b) == Approx(eb.squaredNorm()).epsilon(1e-5));
  REQUIRE(max_abs_diff(b, b) == 0.0);
  // Same seed, same values whatever the execution space.
  auto c = make_tensor_like("c", a);
  fill_normal(c, 7);
  REQUIRE(max_abs_diff(b, c) == 0.0);
  // y = 2 a - b
  lincomb(T(2), a, T(-1), b, c);
  REQUIRE((mcsc_test::to_eigen(c) - (4.0 - eb.array()).matrix()).cwiseAbs().maxCoeff() < 1e-5);
  axpby(T(1), b, T(1), c);  // c = 2a - b + b = 4
  REQUIRE(max_abs_diff(c, a) == Approx(2.0).epsilon(1e-5));  // c = 4, a = 2
  scale(c, T(0.5));
  REQUIRE(max_abs_diff(c, a) < 1e-5);
  REQUIRE(count_nonfinite(a) == 0);
  auto h = to_host(a);
  h(1, 2, 4, 6) = std::numeric_limits<T>::quiet_NaN();
  h(0, 0, 0, 0) = std::numeric_limits<T>::infinity();
  Kokkos::deep_copy(a, h);
  REQUIRE(count_nonfinite(a) == 2);
  REQUIRE_THROWS_WITH(require_finite("my_function", a), Catch::Contains("my_function") && Catch::Contains("2 NaN/Inf"));
}

TEMPLATE_LIST_TEST_CASE("tensor helpers reject mismatched shapes", "[tensor][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto a = make_tensor<T, Space>("a", {1, 2, 3, 4});
  auto b = make_tensor<T, Space>("b", {1, 2, 4, 3});
  REQUIRE_THROWS_AS(dot(a, b), mcsc::Error);
  REQUIRE_THROWS_WITH(copy(a, b), Catch::Contains("mcsc::copy") && Catch::Contains("(1, 2, 3, 4)") &&
                                      Catch::Contains("(1, 2, 4, 3)"));
  REQUIRE_THROWS_WITH((make_tensor<T, Space>("neg", {1, -1, 2, 2})), Catch::Contains("negative extent"));
}

TEST_CASE("mcsc's exceptions: one base, bad input apart from numerical and backend failures", "[errors]") {
  static_assert(std::is_base_of<std::runtime_error, mcsc::Error>::value, "mcsc::Error is a std::runtime_error");
  static_assert(std::is_base_of<mcsc::Error, mcsc::NumericalError>::value, "NumericalError is an mcsc::Error");
  static_assert(std::is_base_of<mcsc::Error, mcsc::BackendError>::value, "BackendError is an mcsc::Error");
  static_assert(!std::is_base_of<std::invalid_argument, mcsc::Error>::value, "not every mcsc::Error is bad input");
  auto bad_input = [] { MCSC_REQUIRE(false, "f", "bad " << 1); };
  auto breakdown = [] { MCSC_REQUIRE_NUMERIC(false, "g", "objective became " << 2.5); };
  REQUIRE_THROWS_AS(breakdown(), mcsc::NumericalError);
  REQUIRE_THROWS_WITH(breakdown(), Catch::StartsWith("g: objective became 2.5 ["));
  REQUIRE_THROWS_WITH(bad_input(), Catch::StartsWith("f: bad 1 ["));
  bool numerical = false;
  try {
    bad_input();
  } catch (const mcsc::NumericalError&) {
    numerical = true;
  } catch (const mcsc::Error&) {
  }
  REQUIRE_FALSE(numerical);
}
