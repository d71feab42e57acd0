#include "test_common.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;

namespace {
struct ConvCase {
  int n, c, o, h, w, kh, kw;
};
const ConvCase cases[] = {
    {1, 1, 1, 6, 7, 3, 3}, {2, 1, 4, 9, 8, 4, 4}, {3, 2, 3, 7, 10, 5, 2},
    {2, 3, 1, 8, 8, 8, 8}, {1, 4, 5, 11, 6, 1, 6}, {2, 2, 2, 16, 13, 9, 9},
};
template <class T>
double fft_tolerance() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-12;
}
}  // namespace

TEST_CASE("fft_good_size returns 2,3,5,7-smooth sizes", "[fft]") {
  REQUIRE(fft_good_size(1) == 1);
  REQUIRE(fft_good_size(11) == 12);
  REQUIRE(fft_good_size(71) == 72);
  REQUIRE(fft_good_size(73) == 75);
  REQUIRE(fft_good_size(128) == 128);
  REQUIRE(fft_good_size(521) == 525);
}

TEMPLATE_LIST_TEST_CASE("FFT convolution equals the direct one (forward, adjoint, weight gradient)", "[fft][conv2d]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (auto boundary : {Boundary::zero, Boundary::circular}) {
    for (const auto& k : cases) {
      CAPTURE(k.n, k.c, k.o, k.h, k.w, k.kh, k.kw, to_string(boundary));
      auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
      auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
      auto y = make_tensor<T, Space>("y", {k.n, k.o, k.h, k.w});
      fill_normal(x, 21);
      fill_normal(w, 22);
      fill_normal(y, 23);
      FftConv2d<T, Space> op(shape_of(x), k.o, k.kh, k.kw, boundary);
      if (boundary == Boundary::zero) {
        REQUIRE(op.fft_rows() >= k.h + k.kh - 1);
        REQUIRE(op.fft_cols() >= k.w + k.kw - 1);
      } else {
        REQUIRE(op.fft_rows() == k.h);
      }
      op.set_weights(w);
      const Conv2dOptions opts{boundary};

      auto direct = make_tensor_like("direct", y), fast = make_tensor_like("fast", y);
      conv2d(x, w, direct, opts);
      op.forward(x, fast);
      const double scale_y = std::sqrt(sum_squares(direct) / double(direct.size()));
      REQUIRE(max_abs_diff(direct, fast) <= fft_tolerance<T>() * (1 + 10 * scale_y));

      auto direct_t = make_tensor_like("direct_t", x), fast_t = make_tensor_like("fast_t", x);
      conv2d_adjoint(y, w, direct_t, opts);
      op.adjoint(y, fast_t);
      const double scale_x = std::sqrt(sum_squares(direct_t) / double(direct_t.size()));
      REQUIRE(max_abs_diff(direct_t, fast_t) <= fft_tolerance<T>() * (1 + 10 * scale_x));

      auto direct_gw = make_tensor_like("direct_gw", w), fast_gw = make_tensor_like("fast_gw", w);
      conv2d_weight_grad(x, y, direct_gw, opts);
      op.weight_grad(x, y, fast_gw);
      const double scale_w = std::sqrt(sum_squares(direct_gw) / double(direct_gw.size()));
      REQUIRE(max_abs_diff(direct_gw, fast_gw) <= fft_tolerance<T>() * (1 + 10 * scale_w));

      // Adjoint identity of the FFT operator itself.
      REQUIRE(mcsc_test::relative_error(dot(fast, y), dot(x, fast_t)) < 10 * mcsc_test::exact_tolerance<T>());

      // accumulate adds; plans are reused across calls (second call gives the same result).
      op.forward(x, fast, true);
      auto twice = make_tensor_like("twice", y);
      lincomb(T(2), direct, T(0), direct, twice);
      REQUIRE(max_abs_diff(twice, fast) <= 2 * fft_tolerance<T>() * (1 + 10 * scale_y));
    }
  }
}

TEMPLATE_LIST_TEST_CASE("FftConvDictionary and ConvDictionary give the same D*U and D'R", "[fft][dictionary]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto w = make_tensor<T, Space>("d", {2, 5, 8, 8});  // m = 2 channels, K = 5 filters, 8x8
  fill_normal(w, 31);
  ConvDictionary<T, Space> direct(w);
  FftConvDictionary<T, Space> fft(w);
  for (int side : {16, 21}) {  // the FFT operator is remade when the size changes
    auto u = make_tensor<T, Space>("u", {3, 5, side, side});
    auto r = make_tensor<T, Space>("r", {3, 2, side, side});
    fill_normal(u, 32);
    fill_normal(r, 33);
    auto a = make_tensor_like("a", r), b = make_tensor_like("b", r);
    direct.apply(u, a);
    fft.apply(u, b);
    REQUIRE(max_abs_diff(a, b) <= fft_tolerance<T>() * 100);
    auto at = make_tensor_like("at", u), bt = make_tensor_like("bt", u);
    direct.adjoint(r, at);
    fft.adjoint(r, bt);
    REQUIRE(max_abs_diff(at, bt) <= fft_tolerance<T>() * 100);
    // weight gradient: <D U, r> is linear in D, so <gradient, E> = <E * U, r> for any E
    auto ga = make_tensor_like("ga", w), gb = make_tensor_like("gb", w);
    direct.weight_gradient(u, r, ga);
    fft.weight_gradient(u, r, gb);
    REQUIRE(max_abs_diff(ga, gb) <= fft_tolerance<T>() * 1000);
    auto e = make_tensor_like("e", w);
    fill_normal(e, 34);
    auto eu = make_tensor_like("eu", r);
    ConvDictionary<T, Space>(e).apply(u, eu);
    REQUIRE(dot(ga, e) == Approx(dot(eu, r)).epsilon(fft_tolerance<T>() * 100));
  }
  // weights changed in place: the FFT dictionary refreshes its spectra on weights_changed()
  auto u = make_tensor<T, Space>("u", {1, 5, 16, 16});
  fill_normal(u, 35);
  auto a = make_tensor<T, Space>("a", {1, 2, 16, 16}), b = make_tensor_like("b", a);
  fft.apply(u, b);  // operator cached for this shape
  scale(w, T(-2));
  direct.weights_changed();
  fft.weights_changed();
  direct.apply(u, a);
  fft.apply(u, b);
  REQUIRE(max_abs_diff(a, b) <= fft_tolerance<T>() * 200);
}

TEMPLATE_LIST_TEST_CASE("FFT operator rejects bad input", "[fft][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Op = FftConv2d<T, Space>;
  REQUIRE_THROWS_WITH(Op(Shape4{1, 1, 4, 4}, 1, 5, 5), Catch::Contains("mcsc::FftConv2d") &&
                                                           Catch::Contains("larger than the image"));
  REQUIRE_THROWS_WITH(Op(Shape4{0, 1, 4, 4}, 1, 3, 3), Catch::Contains("zero-size"));
  Op op(Shape4{2, 3, 8, 8}, 4, 3, 3);
  auto x = make_tensor<T, Space>("x", {2, 3, 8, 8});
  auto y = make_tensor<T, Space>("y", {2, 4, 8, 8});
  REQUIRE_THROWS_WITH(op.forward(x, y), Catch::Contains("set_weights() was not called"));
  auto w_bad = make_tensor<T, Space>("w", {4, 3, 5, 5});
  REQUIRE_THROWS_WITH(op.set_weights(w_bad), Catch::Contains("mcsc::FftConv2d::set_weights") &&
                                                 Catch::Contains("(4, 3, 5, 5)") && Catch::Contains("(4, 3, 3, 3)"));
  op.set_weights(make_tensor<T, Space>("w", {4, 3, 3, 3}));
  auto x_bad = make_tensor<T, Space>("x", {1, 3, 8, 8});
  REQUIRE_THROWS_WITH(op.forward(x_bad, y), Catch::Contains("mcsc::FftConv2d::forward") &&
                                                Catch::Contains("(1, 3, 8, 8)") && Catch::Contains("(2, 3, 8, 8)"));
  FftConvDictionary<T, Space> dict(make_tensor<T, Space>("d", {1, 4, 3, 3}));
  auto u_bad = make_tensor<T, Space>("u", {1, 5, 8, 8});
  auto s = make_tensor<T, Space>("s", {1, 1, 8, 8});
  REQUIRE_THROWS_WITH(dict.apply(u_bad, s), Catch::Contains("filters"));
}
