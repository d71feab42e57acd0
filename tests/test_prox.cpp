#include "test_common.hpp"

#include <random>

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
// Minimises f(u) = 1/2 (u - v)^2 + mu (|u| + |u - s|) by a fine grid then ternary search
// (f is convex), independently of the closed form.
double brute_force_l1l1(double v, double s, double mu) {
  auto f = [&](double u) { return 0.5 * (u - v) * (u - v) + mu * (std::abs(u) + std::abs(u - s)); };
  const double lo = std::min({v, s, 0.0}) - 2 * mu - 1, hi = std::max({v, s, 0.0}) + 2 * mu + 1;
  double best = lo;
  for (double u = lo; u <= hi; u += 1e-3)
    if (f(u) < f(best)) best = u;
  double a = best - 2e-3, b = best + 2e-3;
  for (int it = 0; it < 200; ++it) {
    const double m1 = a + (b - a) / 3, m2 = b - (b - a) / 3;
    if (f(m1) < f(m2)) b = m2; else a = m1;
  }
  return 0.5 * (a + b);
}

// Random values kept at least `gap` away from every kink of both operators.
template <class V, class P>
void fill_away_from_kinks(const V& v, const V& s, const P& param, double gap, std::uint64_t seed) {
  auto hv = Kokkos::create_mirror_view(v);
  auto hs = Kokkos::create_mirror_view(s);
  auto hp = to_host(param);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(-2, 2);
  const int C = int(v.extent(1)), HW = int(v.extent(2) * v.extent(3));
  for (std::size_t i = 0; i < hv.span(); ++i) {
    const double mu = hp((i / HW) % C);
    double x, side;
    bool ok;
    do {
      x = dist(gen);
      side = dist(gen);
      const double sg = side < 0 ? -1 : 1, a = sg * x, b = sg * side;
      // kinks of xi (in the reduced s >= 0 frame) and of the soft threshold with theta = mu
      ok = std::abs(a + 2 * mu) > gap && std::abs(a) > gap && std::abs(a - b) > gap && std::abs(a - b - 2 * mu) > gap &&
           std::abs(std::abs(x) - mu) > gap && std::abs(side) > gap;
    } while (!ok);
    hv.data()[i] = x;
    hs.data()[i] = side;
  }
  Kokkos::deep_copy(v, hv);
  Kokkos::deep_copy(s, hs);
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("soft threshold matches sign(v) max(|v| - theta, 0) per channel", "[prox]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto v = make_tensor<T, Space>("v", {2, 3, 5, 4});
  auto out = make_tensor_like("out", v);
  Vector<T, Space> theta("theta", 3);
  fill_normal(v, 41);
  fill_uniform(theta, 42, 0.0, 1.0);
  soft_threshold(v, theta, out);
  auto hv = to_host(v);
  auto ho = to_host(out);
  auto ht = to_host(theta);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 5; ++i)
        for (int j = 0; j < 4; ++j) {
          const double x = hv(n, c, i, j), t = ht(c);
          const double expect = (x > 0 ? 1 : -1) * std::max(std::abs(x) - t, 0.0);
          REQUIRE(double(ho(n, c, i, j)) == Approx(expect).margin(1e-6));
        }
  soft_threshold(v, theta, v);  // in place
  REQUIRE(max_abs_diff(v, out) == 0.0);
  // NaN is never turned into a number.
  hv = to_host(v);
  hv(1, 2, 3, 3) = std::numeric_limits<T>::quiet_NaN();
  Kokkos::deep_copy(v, hv);
  soft_threshold(v, theta, out);
  REQUIRE(count_nonfinite(out) == 1);
}

TEMPLATE_LIST_TEST_CASE("soft threshold with a negative (learned) threshold is sign(v) relu(|v| - theta)", "[prox]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // The clamp form p - clamp(p, -t, t) and max(p - t, 0) + min(p + t, 0) differ from this for t < 0.
  const std::vector<double> values = {-1.0, -0.01, -1e-6, 0.0, 1e-6, 0.02, 0.5};
  auto v = make_tensor<T, Space>("v", {1, 1, 1, int(values.size())});
  auto out = make_tensor_like("out", v);
  Vector<T, Space> theta("theta", 1);
  fill(theta, T(-0.05));
  auto hv = Kokkos::create_mirror_view(v);
  for (std::size_t i = 0; i < values.size(); ++i) hv(0, 0, 0, i) = T(values[i]);
  Kokkos::deep_copy(v, hv);
  soft_threshold(v, theta, out, /*require_nonnegative=*/false);
  auto ho = to_host(out);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = double(T(values[i]));
    const double expect = (x > 0 ? 1 : (x < 0 ? -1 : 0)) * std::max(std::abs(x) + 0.05, 0.0);
    CAPTURE(x);
    REQUIRE(double(ho(0, 0, 0, i)) == Approx(expect).margin(1e-7));
  }
}

TEMPLATE_LIST_TEST_CASE("xi_mu equals a brute-force 1-D minimisation on a grid of v, s, mu", "[prox][l1l1]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const std::vector<double> vs = {-3.1, -1.7, -0.9, -0.45, -0.1, 0.0, 0.05, 0.3, 0.8, 1.25, 1.9, 2.6, 3.3};
  const std::vector<double> ss = {-2.0, -0.6, -0.05, 0.0, 0.2, 0.7, 1.6};
  const std::vector<double> mus = {0.0, 0.1, 0.35, 1.0};
  const int count = int(vs.size() * ss.size());
  auto v = make_tensor<T, Space>("v", {1, int(mus.size()), count, 1});
  auto s = make_tensor_like("s", v);
  auto out = make_tensor_like("out", v);
  Vector<T, Space> mu("mu", mus.size());
  auto hv = Kokkos::create_mirror_view(v);
  auto hs = Kokkos::create_mirror_view(s);
  auto hm = Kokkos::create_mirror_view(mu);
  for (std::size_t c = 0; c < mus.size(); ++c) {
    hm(c) = T(mus[c]);
    for (int k = 0; k < count; ++k) {
      hv(0, c, k, 0) = T(vs[k % vs.size()]);
      hs(0, c, k, 0) = T(ss[k / vs.size()]);
    }
  }
  Kokkos::deep_copy(v, hv);
  Kokkos::deep_copy(s, hs);
  Kokkos::deep_copy(mu, hm);
  l1l1_prox(v, s, mu, out);
  auto ho = to_host(out);
  for (std::size_t c = 0; c < mus.size(); ++c)
    for (int k = 0; k < count; ++k) {
      const double x = hv(0, c, k, 0), side = hs(0, c, k, 0);
      CAPTURE(x, side, mus[c]);
      REQUIRE(double(ho(0, c, k, 0)) == Approx(brute_force_l1l1(x, side, mus[c])).margin(1e-5));
    }
  // s = 0: xi_mu is the soft threshold with 2 mu.
  fill(s, T(0));
  Vector<T, Space> two_mu("two_mu", mus.size());
  auto h2 = Kokkos::create_mirror_view(two_mu);
  for (std::size_t c = 0; c < mus.size(); ++c) h2(c) = T(2 * mus[c]);
  Kokkos::deep_copy(two_mu, h2);
  auto st = make_tensor_like("st", v);
  l1l1_prox(v, s, mu, out);
  soft_threshold(v, two_mu, st);
  REQUIRE(max_abs_diff(out, st) <= 1e-6);
}

TEMPLATE_LIST_TEST_CASE("the proximal-gradient step: each penalty's prox at z - step grad, and its sums",
                        "[prox][step]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 shape{2, 3, 5, 4};
  auto z = make_tensor<T, Space>("z", shape);
  auto g = make_tensor_like("g", z), x = make_tensor_like("x", z), side = make_tensor_like("side", z);
  auto w = make_tensor<T, Space>("w", {1, 3, 1, 1});    // per-channel weights
  auto w2 = make_tensor<T, Space>("w2", {2, 1, 5, 1});  // per image and row
  fill_normal(z, 401);
  fill_normal(g, 402);
  fill_normal(side, 403);
  fill_normal(w, 404, 1.0, 0.3);
  fill_normal(w2, 405, 1.0, 0.3);
  const double lambda = 0.4, step = 0.7;
  const auto hz = to_host(z), hg = to_host(g), hs = to_host(side), hw = to_host(w), hw2 = to_host(w2);
  const auto weights = broadcast_to("test", "w", w, shape), weights2 = broadcast_to("test", "w2", w2, shape);
  REQUIRE(weights.present());
  struct Case {
    const char* name;
    ProxPenalty<Tensor4<T, Space>> penalty;
    int weighting;  // 0: none, 1: w, 2: w2
  };
  const Case cases[] = {{"l1", l1_penalty<Tensor4<T, Space>>(lambda), 0},
                        {"weighted l1", l1_penalty(lambda, weights), 1},
                        {"non-negative weighted l1", l1_penalty(lambda, weights, true), 1},
                        {"l1 weighted per image and row", l1_penalty(lambda, weights2), 2},
                        {"l1-l1", l1l1_penalty(lambda, side), 0}};
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const StepSums sums = prox_gradient_step(c.penalty, z, g, T(step), x);
    const auto hx = to_host(x);
    double penalty = 0, change = 0, inner = 0;
    for (int n = 0; n < shape.n; ++n)
      for (int k = 0; k < shape.c; ++k)
        for (int i = 0; i < shape.h; ++i)
          for (int j = 0; j < shape.w; ++j) {
            const double v = double(hz(n, k, i, j)) - step * double(hg(n, k, i, j));
            const double wk = c.weighting == 1 ? double(hw(0, k, 0, 0)) : (c.weighting == 2 ? double(hw2(n, 0, i, 0)) : 1.0);
            const double th = lambda * step * wk, s = hs(n, k, i, j);
            double u;
            if (c.penalty.kind == ProxKind::l1l1) {
              u = brute_force_l1l1(v, s, lambda * step);
              penalty += std::abs(u) + std::abs(u - s);
            } else {
              u = c.penalty.nonnegative ? std::max(v - th, 0.0) : (v > th ? v - th : (v < -th ? v + th : 0.0));
              penalty += wk * std::abs(u);
            }
            CAPTURE(n, k, i, j, v);
            REQUIRE(double(hx(n, k, i, j)) == Approx(u).margin(1e-5));
            const double d = u - double(hz(n, k, i, j));
            change += d * d;
            inner += d * double(hg(n, k, i, j));
          }
    CHECK(sums.penalty == Approx(lambda * penalty).epsilon(1e-5));
    CHECK(sums.change == Approx(change).epsilon(1e-5));
    CHECK(sums.inner == Approx(inner).epsilon(1e-4).margin(1e-5));
  }
}

TEMPLATE_LIST_TEST_CASE("prox derivatives by central finite differences", "[prox][gradient]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 shape{2, 3, 4, 5};
  auto v = make_tensor<T, Space>("v", shape);
  auto s = make_tensor_like("s", v);
  auto g = make_tensor_like("g", v);  // upstream gradient: loss = <g, prox(v)>
  auto out = make_tensor_like("out", v);
  auto gv = make_tensor_like("gv", v), gs = make_tensor_like("gs", v);
  Vector<T, Space> param("param", 3), gparam("gparam", 3);
  fill_uniform(param, 51, 0.1, 0.6);
  fill_away_from_kinks(v, s, param, 1e-3, 52);
  fill_normal(g, 53);
  // Finite differences over about 23 entries of a view, step 1e-6, tolerance 1e-6.
  auto check = [](auto& view, auto&& loss, auto&& analytic, const char* what) {
    mcsc_test::check_gradient(what, view, analytic, loss, 23, 1e-6, 1e-6);
  };

  SECTION("soft threshold: d/dv and d/dtheta") {
    auto loss = [&]() {
      soft_threshold(v, param, out);
      return dot(g, out);
    };
    fill(gparam, T(0));
    soft_threshold_backward(v, param, g, gv, gparam);
    check(v, loss, gv, "v");
    check(param, loss, gparam, "theta");
  }
  SECTION("soft threshold with negative thresholds: d/dv and d/dtheta") {
    fill_uniform(param, 54, -0.4, -0.1);
    auto loss = [&]() {
      soft_threshold(v, param, out, false);
      return dot(g, out);
    };
    fill(gparam, T(0));
    soft_threshold_backward(v, param, g, gv, gparam);
    check(v, loss, gv, "v");
    check(param, loss, gparam, "theta");
  }
  SECTION("one threshold / mu for all channels: same values as per-channel, gradients by FD") {
    Vector<T, Space> one("one", 1), gone("gone", 1);
    fill(one, T(0.3));
    fill(param, T(0.3));
    auto per_channel = make_tensor_like("per_channel", v);
    soft_threshold(v, param, per_channel);
    soft_threshold(v, one, out);
    REQUIRE(max_abs_diff(out, per_channel) == 0.0);
    l1l1_prox(v, s, param, per_channel);
    l1l1_prox(v, s, one, out);
    REQUIRE(max_abs_diff(out, per_channel) == 0.0);
    auto soft_loss = [&]() {
      soft_threshold(v, one, out);
      return dot(g, out);
    };
    fill(gone, T(0));
    soft_threshold_backward(v, one, g, gv, gone);
    check(one, soft_loss, gone, "scalar theta");
    auto l1l1_loss = [&]() {
      l1l1_prox(v, s, one, out);
      return dot(g, out);
    };
    fill(gone, T(0));
    l1l1_prox_backward(v, s, one, g, gv, gs, gone);
    check(one, l1l1_loss, gone, "scalar mu");
    // A network's stage: no value check and a workspace of C sums, nothing read back to the host;
    // the same gradients (summed per channel first, so to rounding), accumulated the same way.
    Kokkos::View<double*, typename Space::memory_space> sums("sums", 3);
    auto gv2 = make_tensor_like("gv2", v), gs2 = make_tensor_like("gs2", v);
    Vector<T, Space> gone2("gone2", 1);
    const double seeded = 0.25;
    fill(gone2, T(seeded));
    soft_threshold_backward(v, one, g, gv2, gone2, false, sums);
    fill(gone, T(0));
    soft_threshold_backward(v, one, g, gv, gone);  // gone = the reduction path's gradient
    REQUIRE(max_abs_diff(gv, gv2) == 0.0);
    CHECK(to_host(gone2)(0) - seeded == Approx(to_host(gone)(0)).epsilon(1e-12));
    fill(gone, T(0));
    fill(gone2, T(seeded));
    l1l1_prox_backward(v, s, one, g, gv2, gs2, gone2, false, sums);
    l1l1_prox_backward(v, s, one, g, gv, gs, gone);
    REQUIRE(max_abs_diff(gv, gv2) == 0.0);
    REQUIRE(max_abs_diff(gs, gs2) == 0.0);
    CHECK(to_host(gone2)(0) - seeded == Approx(to_host(gone)(0)).epsilon(1e-12));
    Kokkos::View<double*, typename Space::memory_space> small("small", 2);
    REQUIRE_THROWS_WITH(soft_threshold_backward(v, one, g, gv2, gone2, false, small), Catch::Contains("workspace"));
  }
  SECTION("l1-l1 prox: d/dv, d/ds and d/dmu") {
    auto loss = [&]() {
      l1l1_prox(v, s, param, out);
      return dot(g, out);
    };
    fill(gparam, T(0));
    l1l1_prox_backward(v, s, param, g, gv, gs, gparam);
    check(v, loss, gv, "v");
    check(s, loss, gs, "s");
    check(param, loss, gparam, "mu");
    // the mu gradient accumulates
    auto first = to_host(gparam);
    const double g0 = first(0);
    l1l1_prox_backward(v, s, param, g, gv, gs, gparam);
    REQUIRE(to_host(gparam)(0) == Approx(2 * g0));
  }
}

TEMPLATE_LIST_TEST_CASE("prox operators reject bad parameters", "[prox][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto v = make_tensor<T, Space>("v", {1, 2, 3, 3});
  auto s = make_tensor_like("s", v);
  Vector<T, Space> theta("theta", 2), wrong("wrong", 3);
  fill(theta, T(-0.5));
  REQUIRE_THROWS_WITH(soft_threshold(v, theta, v), Catch::Contains("mcsc::soft_threshold") &&
                                                       Catch::Contains(">= 0") && Catch::Contains("-0.5"));
  REQUIRE_NOTHROW(soft_threshold(v, theta, v, /*require_nonnegative=*/false));
  REQUIRE_THROWS_WITH(l1l1_prox(v, s, theta, v), Catch::Contains("mcsc::l1l1_prox") && Catch::Contains("mu"));
  REQUIRE_THROWS_WITH(soft_threshold(v, wrong, v), Catch::Contains("3 entries") && Catch::Contains("2 channels"));
  fill(theta, std::numeric_limits<T>::quiet_NaN());
  REQUIRE_THROWS_WITH(soft_threshold(v, theta, v, false), Catch::Contains("NaN"));
  // check_values = false (a network's stage, whose parameters are checked elsewhere): the values
  // are not read, the shapes still are.
  REQUIRE_NOTHROW(soft_threshold(v, theta, v, false, /*check_values=*/false));
  REQUIRE_THROWS_WITH(soft_threshold(v, wrong, v, false, false), Catch::Contains("3 entries"));
  fill(theta, T(0.1));
  auto s_bad = make_tensor<T, Space>("s_bad", {1, 2, 3, 4});
  REQUIRE_THROWS_WITH(l1l1_prox(v, s_bad, theta, v), Catch::Contains("shape mismatch"));
  auto empty = make_tensor<T, Space>("empty", {0, 2, 3, 3});
  REQUIRE_THROWS_WITH(soft_threshold(empty, theta, empty), Catch::Contains("zero-size"));
}
