// Optimisers and losses: Adam and SGD against independent host implementations of the update
// rules, clipping, step decay, and the losses' gradients by finite differences.
#include "test_common.hpp"

#include <cmath>
#include <cstdint>
#include <limits>


#include "mcsc/train/loss.hpp"
#include "mcsc/train/optim.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
template <class P>
void fill_params(P& params, std::uint64_t seed) {
  for (const auto& e : params.entries()) fill_normal(e.value, seed++);
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("Adam matches the bias-corrected update rule step by step", "[optim][adam]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  Parameters<T, Space> params;
  params.add("w", {2, 3, 3, 3});
  params.add("lam", {1, 1, 1, 1});
  params.allocate();
  fill_params(params, 1);
  AdamOptions opts;
  opts.learning_rate = 0.01;
  opts.weight_decay = 0.1;
  Adam<T, Space> adam(params, opts);
  // Host reference over the same flat buffers.
  const std::size_t n = params.flat_size();
  std::vector<double> w(n), m(n, 0), v(n, 0);
  auto hw0 = to_host(params.values());
  for (std::size_t i = 0; i < n; ++i) w[i] = hw0(i);
  for (int t = 1; t <= 5; ++t) {
    for (const auto& e : params.entries()) fill_normal(e.grad, 100 + t);
    auto hg = to_host(params.grads());
    for (std::size_t i = 0; i < n; ++i) {
      const double g = hg(i) + opts.weight_decay * w[i];
      m[i] = opts.beta1 * m[i] + (1 - opts.beta1) * g;
      v[i] = opts.beta2 * v[i] + (1 - opts.beta2) * g * g;
      const double mhat = m[i] / (1 - std::pow(opts.beta1, t)), vhat = v[i] / (1 - std::pow(opts.beta2, t));
      w[i] -= opts.learning_rate * mhat / (std::sqrt(vhat) + opts.eps);
    }
    adam.step();
    auto hw = to_host(params.values());
    for (std::size_t i = 0; i < n; ++i) REQUIRE(double(hw(i)) == Approx(w[i]).epsilon(1e-5).margin(1e-6));
  }
  REQUIRE(adam.steps() == 5);
}

TEMPLATE_LIST_TEST_CASE("SGD with momentum matches its update rule; Adam minimises a quadratic", "[optim]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  Parameters<T, Space> params;
  const int w = params.add("w", {1, 1, 4, 4});
  params.allocate();
  fill_params(params, 2);
  SgdOptions so;
  so.learning_rate = 0.1;
  so.momentum = 0.9;
  Sgd<T, Space> sgd(params, so);
  std::vector<double> x(16), b(16);
  auto h0 = to_host(params.value(w));
  for (int i = 0; i < 16; ++i) x[i] = h0.data()[i];
  for (int t = 0; t < 4; ++t) {
    // gradient of 1/2 ||w||^2 is w
    Kokkos::deep_copy(params.grad(w), params.value(w));
    for (int i = 0; i < 16; ++i) {
      b[i] = t == 0 ? x[i] : so.momentum * b[i] + x[i];
      x[i] -= so.learning_rate * b[i];
    }
    sgd.step();
  }
  auto h = to_host(params.value(w));
  for (int i = 0; i < 16; ++i) REQUIRE(double(h.data()[i]) == Approx(x[i]).epsilon(1e-5));
  // Adam drives 1/2 ||w - 3||^2 to its minimum.
  AdamOptions ao;
  ao.learning_rate = 0.1;
  Adam<T, Space> adam(params, ao);
  auto target = make_tensor_like("target", params.value(w));
  fill(target, T(3));
  for (int t = 0; t < 500; ++t) {
    lincomb(T(1), params.value(w), T(-1), target, params.grad(w));
    adam.step();
  }
  REQUIRE(max_abs_diff(params.value(w), target) < 1e-2);
}

TEMPLATE_LIST_TEST_CASE("gradient clipping and step decay", "[optim]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  Parameters<T, Space> params;
  params.add("a", {1, 1, 1, 3});
  params.add("b", {1, 1, 1, 1});
  params.allocate();
  fill(params.grad(0), T(2));  // norm^2 = 3 * 4 + 4 = 16
  fill(params.grad(1), T(2));
  REQUIRE(clip_gradient_norm(params, 1.0) == Approx(4.0));
  REQUIRE(std::sqrt(sum_squares(params.grads())) == Approx(1.0).epsilon(1e-5));
  REQUIRE(clip_gradient_norm(params, 10.0) == Approx(1.0).epsilon(1e-5));  // below the bound: unchanged
  REQUIRE(std::sqrt(sum_squares(params.grads())) == Approx(1.0).epsilon(1e-5));
  REQUIRE_THROWS_WITH(clip_gradient_norm(params, 0.0), Catch::Contains("max_norm"));
  StepDecay decay{1e-4, 50, 0.9};
  REQUIRE(decay.at_epoch(0) == Approx(1e-4));
  REQUIRE(decay.at_epoch(49) == Approx(1e-4));
  REQUIRE(decay.at_epoch(50) == Approx(0.9e-4));
  REQUIRE(decay.at_epoch(120) == Approx(0.81e-4));
  AdamOptions bad;
  bad.beta1 = 1.0;
  REQUIRE_THROWS_WITH((Adam<T, Space>(params, bad)), Catch::Contains("mcsc::Adam"));
}

TEMPLATE_LIST_TEST_CASE("MSE and L1 losses and their gradients", "[loss][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto p = make_tensor<T, Space>("p", {2, 1, 4, 5});
  auto q = make_tensor_like("q", p);
  auto g = make_tensor_like("g", p);
  fill_normal(p, 1);
  fill_normal(q, 2);
  const auto ep = mcsc_test::to_eigen(p), eq = mcsc_test::to_eigen(q);
  REQUIRE(mse_loss(p, q, g) == Approx((ep - eq).squaredNorm() / 40));
  mcsc_test::check_gradient("mse", p, g, [&]() { return mse_loss(p, q, Tensor4<T, Space>()); }, 40);
  REQUIRE(l1_loss(p, q, g) == Approx((ep - eq).cwiseAbs().sum() / 40));
  mcsc_test::check_gradient("l1", p, g, [&]() { return l1_loss(p, q, Tensor4<T, Space>()); }, 40);
  auto wrong = make_tensor<T, Space>("wrong", {2, 1, 4, 4});
  REQUIRE_THROWS_WITH(mse_loss(p, wrong, g), Catch::Contains("mcsc::mse_loss"));
}

TEMPLATE_LIST_TEST_CASE("edge-weighted losses: the weights against a host computation, the gradient by finite differences",
                        "[loss][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto p = make_tensor<T, Space>("p", {2, 2, 5, 6});
  auto q = make_tensor_like("q", p), g = make_tensor_like("g", p), w = make_tensor_like("w", p);
  fill_normal(p, 1);
  fill_normal(q, 2);
  scale(q, T(0.05));  // neighbour differences around the edge scale: weights between 1 and 1 + gain
  const EdgeLossWeighting e{3.0, 0.06};
  edge_loss_weights(e, q, w);
  // Host reference: 1 + gain min(1, max over the in-image 4-neighbours of |q - q_neighbour| / scale).
  auto hq = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), q);
  auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), w);
  int full = 0, partial = 0;
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 6; ++j) {
          double edge = 0;
          const int di[] = {-1, 1, 0, 0}, dj[] = {0, 0, -1, 1};
          for (int k = 0; k < 4; ++k) {
            const int a = i + di[k], b = j + dj[k];
            if (a >= 0 && a < 5 && b >= 0 && b < 6) edge = std::max(edge, std::abs(double(hq(n, c, a, b) - hq(n, c, i, j))));
          }
          const double want = 1 + 3.0 * std::min(1.0, edge / 0.06);
          (want == 4.0 ? full : partial) += 1;
          CAPTURE(n, c, i, j);
          REQUIRE(double(hw(n, c, i, j)) == Approx(want).epsilon(1e-12));
        }
  REQUIRE(full > 0);  // the data reach both regimes of the clamp
  REQUIRE(partial > 0);
  auto params = make_tensor<T, Space>("params", {1, 1, 1, 3});
  Kokkos::View<int, typename Space::memory_space> flag("flag");
  const auto ep = mcsc_test::to_eigen(p), eq = mcsc_test::to_eigen(q), ew = mcsc_test::to_eigen(w);
  const double n = double(ep.size());
  for (const auto kind : {LossKind::mse, LossKind::l1}) {
    CAPTURE(int(kind));
    const auto value = [&]() { return loss_unless_nonfinite(kind, p, q, params, flag, w); };
    const double want = kind == LossKind::mse ? (ew.array() * (ep - eq).array().square()).sum() / n
                                              : (ew.array() * (ep - eq).array().abs()).sum() / n;
    REQUIRE(value() == Approx(want).epsilon(1e-12));
    loss_gradient(kind, p, q, g, w);
    mcsc_test::check_gradient("weighted loss", p, g, value, 40);
  }
  // Unit weights are the unweighted loss, and a zero gain gives unit weights.
  edge_loss_weights(EdgeLossWeighting{0.0, 0.06}, q, w);
  REQUIRE(loss_unless_nonfinite(LossKind::mse, p, q, params, flag, w) == Approx(mse_loss(p, q, g)).epsilon(1e-12));
  REQUIRE_THROWS_WITH(edge_loss_weights(EdgeLossWeighting{1.0, 0.0}, q, w), Catch::Contains("scale"));
  auto wrong = make_tensor<T, Space>("wrong", {2, 2, 5, 5});
  REQUIRE_THROWS_WITH(loss_gradient(LossKind::mse, p, q, g, wrong), Catch::Contains("mcsc::loss_gradient"));
}

TEMPLATE_LIST_TEST_CASE("a training step's loss read-back: the loss itself, or NaN for a non-finite parameter",
                        "[loss]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto p = make_tensor<T, Space>("p", {2, 3, 17, 19});
  auto q = make_tensor_like("q", p);
  auto g = make_tensor_like("g", p), g_ref = make_tensor_like("g_ref", p);  // g_ref: the loss functions' own
  auto params = make_tensor<T, Space>("params", {1, 1, 1, 301});
  fill_normal(p, 3);
  fill_normal(q, 4);
  fill_normal(params, 5);
  Kokkos::View<int, typename Space::memory_space> flag("flag");
  // On host spaces the read-back is the loss functions' own reduction, the same value to the bit;
  // a device may split a two-value reduction differently: equal to rounding there.
  constexpr bool host = Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible;
  const auto same = [&](double a, double b) { return host ? a == b : std::abs(a - b) <= 1e-12 * std::abs(b); };
  const auto hp = mcsc_test::to_eigen(p), hq = mcsc_test::to_eigen(q);
  const double n = double(hp.size());
  for (const auto kind : {LossKind::mse, LossKind::l1}) {
    CAPTURE(int(kind));
    const double loss = kind == LossKind::mse ? mse_loss(p, q, g_ref) : l1_loss(p, q, g_ref);
    // The gradient against an independent host computation: 2 (p - q) / n, sign(p - q) / n.
    loss_gradient(kind, p, q, g);
    const auto hg = mcsc_test::to_eigen(g);
    for (Eigen::Index i = 0; i < hg.size(); ++i) {
      const double d = double(hp(i)) - double(hq(i));
      const double want = kind == LossKind::mse ? 2 * d / n : (d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0)) / n;
      // (mse in T: each of 2p/n and 2q/n rounded, so the bound scales with |p| + |q|)
      const double bound = 1e-6 * (2 / n) * (std::abs(double(hp(i))) + std::abs(double(hq(i)))) + 1e-12;
      REQUIRE(std::abs(double(hg(i)) - want) <= bound);
    }
    REQUIRE(same(loss_unless_nonfinite(kind, p, q, params, flag), loss));
    // A NaN or Inf parameter anywhere (first, middle, last) turns it into NaN, once: the flag is cleared.
    for (const std::int64_t at : {std::int64_t(0), std::int64_t(150), std::int64_t(300)}) {
      for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
        CAPTURE(at, bad);
        auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params);
        const T saved = h.data()[at];
        h.data()[at] = T(bad);
        Kokkos::deep_copy(params, h);
        REQUIRE(std::isnan(loss_unless_nonfinite(kind, p, q, params, flag)));
        h.data()[at] = saved;
        Kokkos::deep_copy(params, h);
        REQUIRE(same(loss_unless_nonfinite(kind, p, q, params, flag), loss));
      }
    }
  }
  // A NaN prediction gives a NaN loss, as the loss functions do.
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), p);
  h.data()[7] = T(std::numeric_limits<double>::quiet_NaN());
  Kokkos::deep_copy(p, h);
  REQUIRE(std::isnan(loss_unless_nonfinite(LossKind::mse, p, q, params, flag)));
  auto wrong = make_tensor<T, Space>("wrong", {2, 3, 17, 18});
  REQUIRE_THROWS_WITH(loss_unless_nonfinite(LossKind::mse, p, wrong, params, flag),
                      Catch::Contains("mcsc::loss_unless_nonfinite"));
  REQUIRE_THROWS_WITH(loss_gradient(LossKind::l1, p, q, wrong), Catch::Contains("mcsc::loss_gradient"));
}
