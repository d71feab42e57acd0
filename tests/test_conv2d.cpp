#include "test_common.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
struct ConvCase {
  int n, c, o, h, w, kh, kw;
};
// Odd, even and rectangular kernels; one and several channels; N > 1; odd image sides.
const ConvCase cases[] = {
    {1, 1, 1, 6, 7, 3, 3}, {2, 1, 4, 9, 8, 4, 4}, {3, 2, 3, 7, 10, 5, 2},
    {2, 3, 1, 8, 8, 8, 8}, {1, 4, 5, 11, 6, 1, 6}, {2, 2, 2, 5, 5, 5, 5},
};
}  // namespace

TEMPLATE_LIST_TEST_CASE("conv2d adjoint identity <Ax, y> = <x, A'y>", "[conv2d][adjoint]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (auto boundary : {Boundary::zero, Boundary::circular}) {
    for (const auto& k : cases) {
      CAPTURE(k.n, k.c, k.o, k.h, k.w, k.kh, k.kw, to_string(boundary));
      auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
      auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
      auto y = make_tensor<T, Space>("y", {k.n, k.o, k.h, k.w});
      auto ax = make_tensor_like("ax", y);
      auto aty = make_tensor_like("aty", x);
      fill_normal(x, 1);
      fill_normal(w, 2);
      fill_normal(y, 3);
      conv2d(x, w, ax, {boundary});
      conv2d_adjoint(y, w, aty, {boundary});
      REQUIRE(mcsc_test::relative_error(dot(ax, y), dot(x, aty)) < mcsc_test::exact_tolerance<T>());
    }
  }
}

TEMPLATE_LIST_TEST_CASE("conv2d equals an independently built dense Toeplitz matrix", "[conv2d][dense]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
  for (auto boundary : {Boundary::zero, Boundary::circular}) {
    for (const auto& k : cases) {
      CAPTURE(k.n, k.c, k.o, k.h, k.w, k.kh, k.kw, to_string(boundary));
      auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
      auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
      auto y = make_tensor<T, Space>("y", {k.n, k.o, k.h, k.w});
      auto out = make_tensor_like("out", y);
      auto back = make_tensor_like("back", x);
      fill_normal(x, 4);
      fill_normal(w, 5);
      fill_normal(y, 6);
      const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, k.n, k.h, k.w, boundary);
      conv2d(x, w, out, {boundary});
      const Eigen::VectorXd ref = M * mcsc_test::to_eigen(x);
      REQUIRE((mcsc_test::to_eigen(out) - ref).cwiseAbs().maxCoeff() <= tol * (1 + ref.cwiseAbs().maxCoeff()));
      conv2d_adjoint(y, w, back, {boundary});
      const Eigen::VectorXd ref_t = M.transpose() * mcsc_test::to_eigen(y);
      REQUIRE((mcsc_test::to_eigen(back) - ref_t).cwiseAbs().maxCoeff() <= tol * (1 + ref_t.cwiseAbs().maxCoeff()));
      // accumulate adds instead of overwriting
      conv2d(x, w, out, {boundary, true});
      REQUIRE((mcsc_test::to_eigen(out) - 2 * ref).cwiseAbs().maxCoeff() <= 2 * tol * (1 + ref.cwiseAbs().maxCoeff()));
    }
  }
}

TEMPLATE_LIST_TEST_CASE("conv2d of a centred delta reproduces the kernel (PyTorch 'same' placement)", "[conv2d]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // With x a delta at (r0, s0), y[i, j] = w[p, q] where i = r0 - p + pt: the kernel appears
  // flipped around the delta, its element (pt, pl) at the delta (even kernel: one more row/col
  // of it above/left of the delta, as PyTorch's padding='same').
  for (int ks : {3, 4}) {
    auto x = make_tensor<T, Space>("x", {1, 1, 9, 9});
    auto w = make_tensor<T, Space>("w", {1, 1, ks, ks});
    auto y = make_tensor_like("y", x);
    fill_normal(w, 11);
    auto hx = to_host(x);
    hx(0, 0, 4, 4) = 1;
    Kokkos::deep_copy(x, hx);
    conv2d(x, w, y);
    auto hy = to_host(y);
    auto hw = to_host(w);
    const int pt = (ks - 1) / 2;
    for (int p = 0; p < ks; ++p)
      for (int q = 0; q < ks; ++q) REQUIRE(hy(0, 0, 4 - p + pt, 4 - q + pt) == hw(0, 0, p, q));
  }
}

TEMPLATE_LIST_TEST_CASE("conv2d weight gradient by central finite differences", "[conv2d][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (auto boundary : {Boundary::zero, Boundary::circular}) {
    for (const auto& k : cases) {
      CAPTURE(k.n, k.c, k.o, k.h, k.w, k.kh, k.kw, to_string(boundary));
      auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
      auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
      auto target = make_tensor<T, Space>("t", {k.n, k.o, k.h, k.w});
      auto y = make_tensor_like("y", target);
      auto gw = make_tensor_like("gw", w);
      fill_normal(x, 7);
      fill_normal(w, 8);
      fill_normal(target, 9);
      // loss(w) = 1/2 ||conv2d(x, w) - t||^2, gradient = weight_grad(x, conv2d(x, w) - t)
      auto loss = [&]() {
        conv2d(x, w, y, {boundary});
        return 0.5 * distance_squared(y, target);
      };
      loss();
      axpby(T(-1), target, T(1), y);
      conv2d_weight_grad(x, y, gw, {boundary});
      mcsc_test::check_gradient("weight", w, gw, loss, 17, 1e-6, 1e-6);
      auto hg = to_host(gw);
      // accumulate adds (y is the residual again: the loop above overwrote it)
      // (to_host may alias gw on host spaces: keep the value, not the view)
      const double g0 = hg.data()[0];
      loss();
      axpby(T(-1), target, T(1), y);
      conv2d_weight_grad(x, y, gw, {boundary, true});
      REQUIRE(std::abs(to_host(gw).data()[0] - 2 * g0) <= 1e-12 * (1 + std::abs(g0)));
    }
  }
}

TEMPLATE_LIST_TEST_CASE("conv2d rejects bad shapes with a message naming the function and shapes", "[conv2d][errors]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto x = make_tensor<T, Space>("x", {2, 3, 8, 8});
  auto w = make_tensor<T, Space>("w", {4, 3, 3, 3});
  auto y = make_tensor<T, Space>("y", {2, 4, 8, 8});
  auto gw = make_tensor_like("gw", w);
  REQUIRE_NOTHROW(conv2d(x, w, y));
  auto w_bad_c = make_tensor<T, Space>("w", {4, 2, 3, 3});
  REQUIRE_THROWS_WITH(conv2d(x, w_bad_c, y), Catch::Contains("mcsc::conv2d") && Catch::Contains("(4, 2, 3, 3)") &&
                                                 Catch::Contains("(2, 3, 8, 8)"));
  auto y_bad = make_tensor<T, Space>("y", {2, 4, 8, 7});
  REQUIRE_THROWS_WITH(conv2d(x, w, y_bad), Catch::Contains("mcsc::conv2d") && Catch::Contains("(2, 4, 8, 7)"));
  REQUIRE_THROWS_WITH(conv2d_adjoint(y_bad, w, x), Catch::Contains("mcsc::conv2d_adjoint"));
  REQUIRE_THROWS_WITH(conv2d_weight_grad(x, y_bad, gw), Catch::Contains("mcsc::conv2d_weight_grad"));
  auto x_empty = make_tensor<T, Space>("x", {0, 3, 8, 8});
  auto y_empty = make_tensor<T, Space>("y", {0, 4, 8, 8});
  REQUIRE_THROWS_WITH(conv2d(x_empty, w, y_empty), Catch::Contains("zero-size"));
  auto x_small = make_tensor<T, Space>("x", {2, 3, 2, 8});
  auto y_small = make_tensor<T, Space>("y", {2, 4, 2, 8});
  REQUIRE_THROWS_WITH(conv2d(x_small, w, y_small), Catch::Contains("larger than the image"));
  using Dict = ConvDictionary<T, Space>;
  REQUIRE_THROWS_AS(Dict(make_tensor<T, Space>("empty", {1, 0, 3, 3})), mcsc::Error);
}
