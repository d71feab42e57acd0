// Finite-difference gradient checks (double) of the learned stages and whole models: every
// parameter group, thresholds and mu included, and the input gradients.
#include "test_common.hpp"

#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"

using namespace mcsc;
using mcsc_test::DoubleConfigs;

namespace {
// Random weights (std 0.3) and thresholds in [lo, hi].
template <class P>
void randomize(P& params, double lo, double hi, std::uint64_t seed) {
  for (const auto& e : params.entries()) {
    if (e.name.find("lam") != std::string::npos) fill_uniform(e.value, seed++, lo, hi);
    else fill_normal(e.value, seed++, 0.0, 0.3);
  }
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("LcscEncoder gradients by finite differences", "[nn][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  struct Case { LcscForm form; ProxKind prox; bool tied; bool per_channel; int kernel; double lo, hi; };
  const Case cases[] = {
      {LcscForm::paper, ProxKind::soft_threshold, false, false, 3, 0.05, 0.2},
      {LcscForm::paper, ProxKind::soft_threshold, false, true, 4, -0.2, -0.05},  // negative thresholds
      {LcscForm::residual, ProxKind::soft_threshold, true, true, 3, 0.05, 0.2},
      {LcscForm::paper, ProxKind::l1l1, true, true, 3, 0.05, 0.2},
      {LcscForm::residual, ProxKind::l1l1, false, false, 2, 0.05, 0.2},
  };
  int case_number = 0;
  for (const auto& c : cases) {
    CAPTURE(case_number++);
    LcscConfig config;
    config.in_channels = 2;
    config.filters = 3;
    config.kernel = c.kernel;
    config.stages = 2;
    config.form = c.form;
    config.prox = c.prox;
    config.tied = c.tied;
    config.per_channel_threshold = c.per_channel;
    Parameters<T, Space> params;
    LcscEncoder<T, Space> encoder(params, "enc.", config);
    params.allocate();
    randomize(params, c.lo, c.hi, 100);
    auto x = make_tensor<T, Space>("x", {2, 2, 7, 6});
    auto side = make_tensor<T, Space>("z", {2, 3, 7, 6});
    auto g = make_tensor<T, Space>("g", {2, 3, 7, 6});
    fill_normal(x, 1);
    fill_normal(side, 2, 0.0, 0.5);
    fill_normal(g, 3);
    const bool l1l1 = c.prox == ProxKind::l1l1;
    auto z = l1l1 ? side : Tensor4<T, Space>();
    auto loss = [&]() { return dot(g, encoder.forward(x, z, false)); };
    // Training and inference forward give the same codes.
    auto u_infer = make_tensor_like("u", g);
    Kokkos::deep_copy(u_infer, encoder.forward(x, z, false));
    encoder.forward(x, z, true);
    REQUIRE(max_abs_diff(u_infer, encoder.forward(x, z, true)) == 0.0);
    params.zero_grad();
    auto gx = make_tensor_like("gx", x);
    auto gz = make_tensor_like("gz", side);
    encoder.backward(g, gx, l1l1 ? gz : Tensor4<T, Space>());
    for (const auto& e : params.entries()) mcsc_test::check_gradient(e.name.c_str(), e.value, e.grad, loss);
    mcsc_test::check_gradient("x", x, gx, loss, 10);
    if (l1l1) mcsc_test::check_gradient("side information", side, gz, loss, 10);
  }
}

TEMPLATE_LIST_TEST_CASE("CuNet gradients by finite differences", "[nn][gradient][cunet]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    CuNetConfig config;
    config.residual = fusion;  // both variants, with and without the residual
    config.channels = 2;
    config.filters = 3;
    config.kernel = 3;
    config.stages = 2;
    config.fusion = fusion;
    CuNet<T, Space> net(config);
    randomize(net.parameters(), 0.02, 0.1, 200);
    auto x = make_tensor<T, Space>("x", {2, 2, 6, 7});
    auto y = make_tensor_like("y", x);
    auto g = make_tensor_like("g", x);
    auto out = make_tensor_like("out", x);
    fill_normal(x, 4);
    fill_normal(y, 5);
    fill_normal(g, 6);
    auto loss = [&]() {
      net.forward(x, y, out, false);
      return dot(g, out);
    };
    net.forward(x, y, out, true);
    net.parameters().zero_grad();
    auto gx = make_tensor_like("gx", x), gy = make_tensor_like("gy", x);
    net.backward(g, gx, gy);
    for (const auto& e : net.parameters().entries())
      mcsc_test::check_gradient(e.name.c_str(), e.value, e.grad, loss, 4);
    mcsc_test::check_gradient("x", x, gx, loss, 8);
    mcsc_test::check_gradient("y", y, gy, loss, 8);
  }
}

TEMPLATE_LIST_TEST_CASE("learned models reject bad input", "[nn][errors]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  CuNetConfig config;
  config.filters = 3;
  config.kernel = 3;
  config.stages = 1;
  CuNet<T, Space> net(config);
  auto x = make_tensor<T, Space>("x", {1, 1, 8, 8});
  auto y_bad = make_tensor<T, Space>("y", {1, 1, 8, 9});
  auto out = make_tensor_like("out", x);
  REQUIRE_THROWS_WITH(net.forward(x, y_bad, out), Catch::Contains("mcsc::CuNet::forward") &&
                                                      Catch::Contains("(1, 1, 8, 9)") && Catch::Contains("(1, 1, 8, 8)"));
  auto x3 = make_tensor<T, Space>("x3", {1, 3, 8, 8});
  REQUIRE_THROWS_WITH(net.forward(x3, x3, x3), Catch::Contains("channels"));
  REQUIRE_THROWS_WITH(net.backward(out), Catch::Contains("training = true"));
  Parameters<T, Space> params;
  LcscConfig lm;
  lm.prox = ProxKind::l1l1;
  lm.filters = 3;
  lm.kernel = 3;
  LcscEncoder<T, Space> encoder(params, "e.", lm);
  params.allocate();
  REQUIRE_THROWS_WITH(encoder.forward(x, {}, false), Catch::Contains("side information"));
  REQUIRE_THROWS_WITH(params.add("late", {1, 1, 1, 1}), Catch::Contains("after allocate"));
}

TEMPLATE_LIST_TEST_CASE("LcscNet and LmcscNet gradients by finite differences", "[nn][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool residual : {false, true}) {
    CAPTURE(residual);
    UnrolledNetConfig config;
    config.channels = 1;
    config.filters = 3;
    config.kernel = 3;
    config.stages = 2;
    config.residual = residual;
    config.tied = !residual;  // both ways
    auto run = [&](auto& net, double lo, double hi) {
      randomize(net.parameters(), lo, hi, 300);
      auto x = make_tensor<T, Space>("x", {2, 1, 7, 6});
      auto y = make_tensor_like("y", x), g = make_tensor_like("g", x), out = make_tensor_like("out", x);
      fill_normal(x, 7);
      fill_normal(y, 8);
      fill_normal(g, 9);
      auto loss = [&]() {
        net.forward(x, y, out, false);
        return dot(g, out);
      };
      net.forward(x, y, out, true);
      net.parameters().zero_grad();
      auto gx = make_tensor_like("gx", x), gy = make_tensor_like("gy", x);
      net.backward(g, gx, gy);
      for (const auto& e : net.parameters().entries())
        mcsc_test::check_gradient(e.name.c_str(), e.value, e.grad, loss, 4);
      mcsc_test::check_gradient("x", x, gx, loss, 8);
      return std::make_pair(y, gy);
    };
    LcscNet<T, Space> lcsc(config);
    run(lcsc, 0.05, 0.2);
    LmcscNet<T, Space> lmcsc(config);
    auto [y, gy] = run(lmcsc, 0.05, 0.3);
    auto loss = [&, y = y]() {
      auto x = make_tensor<T, Space>("x", {2, 1, 7, 6});
      auto g = make_tensor_like("g", x), out = make_tensor_like("out", x);
      fill_normal(x, 7);
      fill_normal(g, 9);
      lmcsc.forward(x, y, out, false);
      return dot(g, out);
    };
    mcsc_test::check_gradient("y (through the side information)", y, gy, loss, 8);
  }
}

TEMPLATE_LIST_TEST_CASE("initialisation: Gaussian, Xavier, thresholds", "[nn][init]", mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  UnrolledNetConfig config;
  config.filters = 16;
  LmcscNet<T, Space> net(config);
  InitOptions init;
  init.threshold = 0.2;
  initialize(net.parameters(), init);
  for (const auto& e : net.parameters().entries()) {
    CAPTURE(e.name);
    const double n = double(e.shape.size());
    if (is_threshold_name(e.name)) {
      REQUIRE(max_abs_diff(e.value, make_tensor_like("z", e.value)) == Approx(0.2));
    } else {
      const double rms = std::sqrt(sum_squares(e.value) / n);
      REQUIRE(rms == Approx(0.01).epsilon(0.15));
    }
  }
  init.weights = WeightInit::xavier_uniform;
  initialize(net.parameters(), init);
  const auto& d = net.parameters().entry(net.parameters().find("decoder.weight"));
  const double bound = std::sqrt(6.0 / (64.0 * 16 + 64.0 * 1));
  REQUIRE(max_abs_diff(d.value, make_tensor_like("z", d.value)) <= bound);
  REQUIRE(std::sqrt(sum_squares(d.value) / double(d.shape.size())) == Approx(bound / std::sqrt(3.0)).epsilon(0.15));
}


TEMPLATE_LIST_TEST_CASE("a network refuses an image whose buffers exceed the memory budget", "[nn][errors][memory]",
                        DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  CuNetConfig config;
  config.filters = 8;
  config.kernel = 3;
  config.stages = 2;
  CuNet<T, Space> net(config);
  if constexpr (!is_host_space_v<Space>) return;  // device memory is not checked (yet)
  auto x = make_tensor<T, Space>("x", {1, 1, 256, 256}), y = make_tensor_like("y", x), out = make_tensor_like("out", x);
  {
    const mcsc_test::MemoryBudget budget(1 << 20);  // 1 MiB: one code buffer alone is 8 x 256 x 256 x 8 bytes = 4 MiB
    REQUIRE_THROWS_WITH(net.forward(x, y, out, false),
                        Catch::Contains("inference on (1, 1, 256, 256) (codes (1, 8, 256, 256)) needs about") &&
                            Catch::Contains("of the memory budget set"));
  }
  // Back to the machine's memory: the same call works.
  net.forward(x, y, out, false);
  REQUIRE(std::isfinite(sum_squares(out)));
}
