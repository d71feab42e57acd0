#include "test_common.hpp"

#include <map>

#include "mcsc/solvers/common_unique.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {

// The dense matrix of the joint operator of eq. 5, (C, U, V) -> (x, y):
//     [[Dc, Du, 0 ],
//      [Hc, 0,  Hv]]
// built from mcsc_test::dense_conv_matrix (independent of mcsc's kernels). Columns: C, U, V
// flattened in LayoutRight order; rows: x then y.
template <class W>
Eigen::MatrixXd joint_matrix(const W& dc, const W& du, const W& hc, const W& hv, int N, int H, int Wd,
                             Boundary boundary) {
  const Eigen::MatrixXd Dc = mcsc_test::dense_conv_matrix(dc, N, H, Wd, boundary);
  const Eigen::MatrixXd Du = mcsc_test::dense_conv_matrix(du, N, H, Wd, boundary);
  const Eigen::MatrixXd Hc = mcsc_test::dense_conv_matrix(hc, N, H, Wd, boundary);
  const Eigen::MatrixXd Hv = mcsc_test::dense_conv_matrix(hv, N, H, Wd, boundary);
  const Eigen::Index rx = Dc.rows(), ry = Hc.rows(), kc = Dc.cols(), ku = Du.cols(), kv = Hv.cols();
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(rx + ry, kc + ku + kv);
  A.block(0, 0, rx, kc) = Dc;
  A.block(0, kc, rx, ku) = Du;
  A.block(rx, 0, ry, kc) = Hc;
  A.block(rx, kc + ku, ry, kv) = Hv;
  return A;
}

double dense_objective(const Eigen::MatrixXd& A, const Eigen::VectorXd& b, double lambda, const Eigen::VectorXd& u) {
  return 0.5 * (A * u - b).squaredNorm() + lambda * u.lpNorm<1>();
}

// eq. 5 as one lasso in (C, U, V), solved by dense FISTA with the gradient restart of
// O'Donoghue & Candes (2015) (momentum reset when it points uphill), which converges linearly
// here: the independent reference. Returns the final objective; *halfway gets the one at half the
// iterations.
double dense_lasso(const Eigen::MatrixXd& A, const Eigen::VectorXd& b, double lambda, int iterations,
                   double* halfway) {
  const Eigen::MatrixXd G = A.transpose() * A;
  const Eigen::VectorXd Atb = A.transpose() * b;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(G, Eigen::EigenvaluesOnly);
  const double L = eig.eigenvalues().maxCoeff();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(A.cols()), x_prev = x, v = x, w(A.cols());
  double t = 1;
  for (int k = 0; k < iterations; ++k) {
    x_prev = x;
    w.noalias() = v - (G * v - Atb) / L;
    for (Eigen::Index i = 0; i < x.size(); ++i)
      x(i) = std::copysign(std::max(std::abs(w(i)) - lambda / L, 0.0), w(i));
    if ((v - x).dot(x - x_prev) > 0) {  // restart the momentum
      t = 1;
      v = x;
    } else {
      const double t_next = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
      v = x + ((t - 1) / t_next) * (x - x_prev);
      t = t_next;
    }
    if (k + 1 == iterations / 2) *halfway = dense_objective(A, b, lambda, x);
  }
  return dense_objective(A, b, lambda, x);
}

// Unit-norm random filters (m, K, s, s): every (channel, filter) pair normalised.
template <class V>
void fill_unit_filters(const V& w, std::uint64_t seed) {
  fill_normal(w, seed);
  auto h = Kokkos::create_mirror_view(w);
  Kokkos::deep_copy(h, w);
  for (std::size_t o = 0; o < h.extent(0); ++o)
    for (std::size_t k = 0; k < h.extent(1); ++k) {
      double n = 0;
      for (std::size_t p = 0; p < h.extent(2); ++p)
        for (std::size_t q = 0; q < h.extent(3); ++q) n += double(h(o, k, p, q)) * double(h(o, k, p, q));
      const double scale = 1 / std::sqrt(n);
      for (std::size_t p = 0; p < h.extent(2); ++p)
        for (std::size_t q = 0; q < h.extent(3); ++q) h(o, k, p, q) = typename V::value_type(h(o, k, p, q) * scale);
    }
  Kokkos::deep_copy(w, h);
}

struct Spike {
  int k, i, j;
  double value;
};

template <class V>
void plant(const V& codes, const std::vector<Spike>& spikes) {
  auto h = Kokkos::create_mirror_view(codes);
  Kokkos::deep_copy(h, typename V::value_type(0));
  for (const auto& s : spikes) h(0, s.k, s.i, s.j) = typename V::value_type(s.value);
  Kokkos::deep_copy(codes, h);
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("common/unique MCSC reaches the objective of a dense joint lasso", "[common_unique]",
                        DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // Case 0 is the paper's setting (one channel each, equal K, one filter size). Case 1 has a
  // 2-channel y, different Kc, Ku, Kv and filter sizes (the 3x3 Dc and 4x4 Hc are stacked by
  // zero-padding Dc asymmetrically) and the circular boundary.
  struct Case {
    int mx, my, kc, ku, kv, sdc, sdu, shc, shv;
    Boundary boundary;
  };
  const Case cases[2] = {{1, 1, 2, 2, 2, 3, 3, 3, 3, Boundary::zero}, {1, 2, 2, 1, 3, 3, 3, 4, 5, Boundary::circular}};
  const int H = 8, W = 8;
  const double lambda = 1.0;
  for (int ci = 0; ci < 2; ++ci) {
    const Case c = cases[ci];
    CAPTURE(ci);
    auto dc = make_tensor<T, Space>("dc", {c.mx, c.kc, c.sdc, c.sdc});
    auto du = make_tensor<T, Space>("du", {c.mx, c.ku, c.sdu, c.sdu});
    auto hc = make_tensor<T, Space>("hc", {c.my, c.kc, c.shc, c.shc});
    auto hv = make_tensor<T, Space>("hv", {c.my, c.kv, c.shv, c.shv});
    auto x = make_tensor<T, Space>("x", {1, c.mx, H, W});
    auto y = make_tensor<T, Space>("y", {1, c.my, H, W});
    fill_normal(dc, 11, 0.0, 0.4);
    fill_normal(du, 12, 0.0, 0.4);
    fill_normal(hc, 13, 0.0, 0.4);
    fill_normal(hv, 14, 0.0, 0.4);
    fill_normal(x, 15);
    fill_normal(y, 16);
    const Eigen::MatrixXd A = joint_matrix(dc, du, hc, hv, 1, H, W, c.boundary);
    Eigen::VectorXd b(A.rows());
    b << mcsc_test::to_eigen(x), mcsc_test::to_eigen(y);
    // The dense reference depends only on the case: computed once, shared by every space.
    static std::map<int, std::pair<double, double>> references;
    if (!references.count(ci)) {
      double halfway = 0;
      const double reference = dense_lasso(A, b, lambda, 1500, &halfway);
      references[ci] = {reference, halfway};
    }
    const double reference = references[ci].first, halfway = references[ci].second;  // (captured below)
    CAPTURE(reference, halfway);
    REQUIRE(mcsc_test::relative_error(halfway, reference) < 1e-11);  // the reference has converged

    CommonUniqueOptions opts;
    opts.lambda = lambda;
    opts.max_iterations = 100;
    opts.inner_iterations = 10;
    opts.tolerance = 1e-9;  // ~20-35 sweeps, within ~1e-9 of the optimum
    auto check = [&](const auto& Dc, const auto& Du, const auto& Hc, const auto& Hv) {
      const auto r = common_unique(Dc, Du, Hc, Hv, x, y, opts);
      Eigen::VectorXd u(A.cols());
      u << mcsc_test::to_eigen(r.C), mcsc_test::to_eigen(r.U), mcsc_test::to_eigen(r.V);
      const auto nonzeros = (u.array() != 0).count();
      CAPTURE(r.iterations, r.objective.back(), r.rejected_updates, r.stalled, nonzeros, u.size());
      REQUIRE(nonzeros >= 40);  // not a trivial solution (53 and 103 of 384 here)
      REQUIRE(mcsc_test::relative_error(r.objective.back(), reference) < 1e-6);
      // The reported objective is eq. 5 at the returned codes, by the dense matrix.
      REQUIRE(mcsc_test::relative_error(dense_objective(A, b, lambda, u), r.objective.back()) < 1e-12);
      REQUIRE(mcsc_test::relative_error(common_unique_objective(Dc, Du, Hc, Hv, x, y, r.C, r.U, r.V, opts),
                                        r.objective.back()) < 1e-12);
    };
    using DD = ConvDictionary<T, Space>;
    using FD = FftConvDictionary<T, Space>;
    check(DD(dc, c.boundary), DD(du, c.boundary), DD(hc, c.boundary), DD(hv, c.boundary));
    check(FD(dc, c.boundary), FD(du, c.boundary), FD(hc, c.boundary), FD(hv, c.boundary));
  }
}
TEMPLATE_LIST_TEST_CASE("the eq. 5 objective never increases across sweeps", "[common_unique]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // A random problem (x, y not from the model), FISTA inner solver with few iterations: the
  // regime where FISTA alone would be non-monotone.
  auto dc = make_tensor<T, Space>("dc", {1, 3, 5, 5});
  auto du = make_tensor<T, Space>("du", {1, 2, 5, 5});
  auto hc = make_tensor<T, Space>("hc", {1, 3, 5, 5});
  auto hv = make_tensor<T, Space>("hv", {1, 2, 5, 5});
  auto x = make_tensor<T, Space>("x", {2, 1, 12, 12});
  auto y = make_tensor<T, Space>("y", {2, 1, 12, 12});
  fill_normal(dc, 31, 0.0, 0.3);
  fill_normal(du, 32, 0.0, 0.3);
  fill_normal(hc, 33, 0.0, 0.3);
  fill_normal(hv, 34, 0.0, 0.3);
  fill_normal(x, 35);
  fill_normal(y, 36);
  using D = FftConvDictionary<T, Space>;
  const D Dc(dc), Du(du), Hc(hc), Hv(hv);
  CommonUniqueOptions opts;
  opts.lambda = 0.1;
  opts.max_iterations = 40;
  opts.inner_iterations = 3;
  int calls = 0;
  const auto r = common_unique(Dc, Du, Hc, Hv, x, y, opts, {}, [&](const CommonUniqueIterate<T, Space>& it) {
    ++calls;
    REQUIRE(it.iteration == calls);
    return true;
  });
  CAPTURE(r.iterations, r.rejected_updates, r.stalled);
  REQUIRE(r.iterations == 40);
  REQUIRE(calls == 40);
  REQUIRE(r.objective.size() == 40);
  REQUIRE(r.seconds.size() == 40);
  REQUIRE(r.objective.front() <= r.initial_objective);
  for (std::size_t k = 1; k < r.objective.size(); ++k) {
    CAPTURE(k, r.objective[k - 1], r.objective[k]);
    REQUIRE(r.objective[k] <= r.objective[k - 1]);  // exactly: no slack
  }
  REQUIRE(r.objective.back() < 0.5 * r.initial_objective);
  // The reported objective is eq. 5 at the returned codes (up to rounding).
  const double fresh = common_unique_objective(Dc, Du, Hc, Hv, x, y, r.C, r.U, r.V, opts);
  REQUIRE(mcsc_test::relative_error(fresh, r.objective.back()) < (std::is_same<T, float>::value ? 1e-5 : 1e-12));
}

TEMPLATE_LIST_TEST_CASE("planted common and unique codes are recovered", "[common_unique]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const bool is_float = std::is_same<T, float>::value;
  // Identifiability. All filters are unit-norm random 5x5 filters drawn independently, so the
  // common, x-unique and y-unique atoms are incoherent with each other. Every spike sits on its
  // own cell of a 5-pixel grid, so no two planted atoms overlap: the planted atoms are
  // orthogonal, and the lasso solution for small lambda keeps exactly the planted support with
  // each value shrunk by lambda / ||atom||^2 (1 for U, 2 for V with a 2-channel y, 3 for C, whose
  // atom [dc; hc] lives in both signals). The common content cannot move into U and V: that
  // needs a representation of dc in Du's atoms and of hc in Hv's, whose l1 norms (at least
  // 1 / coherence each) cost far more than the one C coefficient. y's unique content cannot leak
  // into U (U does not reach y) nor into C (C would also write dc into x).
  const int H = 16, W = 16;
  auto dc = make_tensor<T, Space>("dc", {1, 2, 5, 5});
  auto du = make_tensor<T, Space>("du", {1, 2, 5, 5});
  auto hc = make_tensor<T, Space>("hc", {2, 2, 5, 5});
  auto hv = make_tensor<T, Space>("hv", {2, 1, 5, 5});
  fill_unit_filters(dc, 21);
  fill_unit_filters(du, 22);
  fill_unit_filters(hc, 23);
  fill_unit_filters(hv, 24);
  const std::vector<Spike> c_spikes{{0, 2, 2, 1.5}, {1, 7, 12, -1.2}, {0, 12, 7, 1.0}};
  const std::vector<Spike> u_spikes{{0, 2, 12, -1.3}, {1, 12, 12, 1.1}};
  const std::vector<Spike> v_spikes{{0, 7, 2, 1.4}, {0, 12, 2, -1.0}};
  auto C0 = make_tensor<T, Space>("C0", {1, 2, H, W});
  auto U0 = make_tensor<T, Space>("U0", {1, 2, H, W});
  auto V0 = make_tensor<T, Space>("V0", {1, 1, H, W});
  plant(C0, c_spikes);
  plant(U0, u_spikes);
  plant(V0, v_spikes);
  using D = ConvDictionary<T, Space>;
  const D Dc(dc), Du(du), Hc(hc), Hv(hv);
  auto x = make_tensor<T, Space>("x", {1, 1, H, W});
  auto y = make_tensor<T, Space>("y", {1, 2, H, W});
  Dc.apply(C0, x);  // eq. 1, noise-free
  Du.apply(U0, x, true);
  Hc.apply(C0, y);  // eq. 2
  Hv.apply(V0, y, true);

  const double lambda = 0.01;
  CommonUniqueOptions opts;
  opts.lambda = lambda;
  opts.max_iterations = 60;
  opts.inner_iterations = 10;
  const auto r = common_unique(Dc, Du, Hc, Hv, x, y, opts);
  CAPTURE(r.iterations, r.objective.back(), r.rejected_updates, r.stalled);

  // Expected: the planted values shrunk by lambda / ||atom||^2, zero elsewhere; in particular
  // U is zero where V's (y-only) spikes are, and U and V are zero under C's spikes.
  const double value_tol = is_float ? 2e-5 : 1e-8, off_tol = is_float ? 1e-5 : 1e-10;
  auto check_block = [&](const char* name, const auto& codes, const std::vector<Spike>& spikes, double atom_norm2) {
    auto h = to_host(codes);
    std::vector<char> planted(h.span(), 0);
    for (const auto& s : spikes) {
      const double expected = s.value - std::copysign(lambda / atom_norm2, s.value);
      CAPTURE(name, s.k, s.i, s.j, s.value, expected, double(h(0, s.k, s.i, s.j)));
      REQUIRE(std::abs(double(h(0, s.k, s.i, s.j)) - expected) < value_tol);
      planted[std::size_t(&h(0, s.k, s.i, s.j) - h.data())] = 1;
    }
    double off = 0;
    for (std::size_t i = 0; i < h.span(); ++i)
      if (!planted[i]) off = std::max(off, std::abs(double(h.data()[i])));
    CAPTURE(name, off);
    REQUIRE(off < off_tol);
  };
  check_block("C", r.C, c_spikes, 3.0);
  check_block("U", r.U, u_spikes, 1.0);
  check_block("V", r.V, v_spikes, 2.0);

  // eq. 3 (restoration) and eq. 4 (fusion) with planted target dictionaries.
  auto gc = make_tensor<T, Space>("gc", {1, 2, 5, 5});
  auto gu = make_tensor<T, Space>("gu", {1, 2, 5, 5});
  auto gv = make_tensor<T, Space>("gv", {1, 1, 5, 5});
  fill_unit_filters(gc, 25);
  fill_unit_filters(gu, 26);
  fill_unit_filters(gv, 27);
  const D Gc(gc), Gu(gu), Gv(gv);
  auto z_true = make_tensor<T, Space>("z", {1, 1, H, W});
  Gc.apply(C0, z_true);
  Gu.apply(U0, z_true, true);
  const auto restored = common_unique_restoration(Gc, Gu, r);
  REQUIRE(restored.unique_y.data() == nullptr);
  // The codes are off by at most the shrinkage (<= lambda per spike): so is z, relatively.
  const double z_error = std::sqrt(distance_squared(restored.target, z_true) / sum_squares(z_true));
  CAPTURE(z_error);
  REQUIRE(z_error < 0.01);
  auto part = make_tensor<T, Space>("part", {1, 1, H, W});
  Gc.apply(r.C, part);
  REQUIRE(max_abs_diff(restored.common, part) < 1e-6);
  Gu.apply(r.U, part);
  REQUIRE(max_abs_diff(restored.unique_x, part) < 1e-6);

  Gv.apply(V0, z_true, true);
  const auto fused = common_unique_fusion(Gc, Gu, Gv, r);
  const double f_error = std::sqrt(distance_squared(fused.target, z_true) / sum_squares(z_true));
  CAPTURE(f_error);
  REQUIRE(f_error < 0.01);
  REQUIRE(max_abs_diff(fused.common, restored.common) == 0);
  Gv.apply(r.V, part);
  REQUIRE(max_abs_diff(fused.unique_y, part) < 1e-6);
  lincomb(T(1), fused.common, T(1), fused.unique_x, part);
  axpby(T(1), fused.unique_y, T(1), part);
  REQUIRE(max_abs_diff(fused.target, part) < 1e-6);
}

TEMPLATE_LIST_TEST_CASE("common/unique options: per-block lambdas, warm start, callback, tolerance", "[common_unique]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto dc = make_tensor<T, Space>("dc", {1, 2, 3, 3});
  auto du = make_tensor<T, Space>("du", {1, 2, 3, 3});
  auto hc = make_tensor<T, Space>("hc", {1, 2, 3, 3});
  auto hv = make_tensor<T, Space>("hv", {1, 1, 3, 3});
  auto x = make_tensor<T, Space>("x", {1, 1, 10, 10});
  auto y = make_tensor<T, Space>("y", {1, 1, 10, 10});
  fill_normal(dc, 41, 0.0, 0.4);
  fill_normal(du, 42, 0.0, 0.4);
  fill_normal(hc, 43, 0.0, 0.4);
  fill_normal(hv, 44, 0.0, 0.4);
  fill_normal(x, 45);
  fill_normal(y, 46);
  using D = ConvDictionary<T, Space>;
  const D Dc(dc), Du(du), Hc(hc), Hv(hv);
  CommonUniqueOptions opts;
  opts.lambda = 0.2;
  opts.max_iterations = 10;
  opts.inner_iterations = 5;

  SECTION("a lambda_v above ||Hv' y||_inf keeps V at zero; the objective uses each block's lambda") {
    CommonUniqueOptions o = opts;
    o.lambda_v = 1e3;
    const auto r = common_unique(Dc, Du, Hc, Hv, x, y, o);
    REQUIRE(sum_abs(r.V) == 0);
    REQUIRE(sum_abs(r.U) > 0);
    REQUIRE(sum_abs(r.C) > 0);
    const double fresh = common_unique_objective(Dc, Du, Hc, Hv, x, y, r.C, r.U, r.V, o);
    REQUIRE(mcsc_test::relative_error(fresh, r.objective.back()) < 1e-5);
  }
  SECTION("a warm start continues where a run stopped") {
    const auto first = common_unique(Dc, Du, Hc, Hv, x, y, opts);
    CommonUniqueOptions o = opts;  // the step constants of the first run are reused
    o.lipschitz_c = first.lipschitz_c;
    o.lipschitz_u = first.lipschitz_u;
    o.lipschitz_v = first.lipschitz_v;
    const auto second = common_unique(Dc, Du, Hc, Hv, x, y, o, {first.C, first.U, first.V});
    REQUIRE(mcsc_test::relative_error(second.initial_objective, first.objective.back()) < 1e-5);
    REQUIRE(second.objective.back() <= second.initial_objective);
    REQUIRE(second.lipschitz_c == first.lipschitz_c);
    REQUIRE(second.lipschitz_u == first.lipschitz_u);
    REQUIRE(second.lipschitz_v == first.lipschitz_v);
    // The step constant of [Dc; Hc] is at least the larger of Dc's and Hc's.
    REQUIRE(first.lipschitz_c >= 1.01 * std::max(power_iteration(Dc, shape_of(first.C)),
                                                 power_iteration(Hc, shape_of(first.C))) * (1 - 1e-4));
    // Only U given: C and V start at zero.
    const auto partial = common_unique(Dc, Du, Hc, Hv, x, y, opts, {{}, first.U, {}});
    auto zc = make_tensor<T, Space>("zc", shape_of(first.C));
    auto zv = make_tensor<T, Space>("zv", shape_of(first.V));
    REQUIRE(mcsc_test::relative_error(partial.initial_objective,
                                      common_unique_objective(Dc, Du, Hc, Hv, x, y, zc, first.U, zv, opts)) < 1e-5);
  }
  SECTION("the callback stops the sweeps") {
    const auto r = common_unique(Dc, Du, Hc, Hv, x, y, opts, {},
                                 [](const CommonUniqueIterate<T, Space>& it) { return it.iteration < 3; });
    REQUIRE(r.iterations == 3);
    REQUIRE(r.objective.size() == 3);
  }
  SECTION("the relative tolerance stops the sweeps") {
    CommonUniqueOptions o = opts;
    o.max_iterations = 200;
    o.tolerance = 1e-3;
    const auto r = common_unique(Dc, Du, Hc, Hv, x, y, o);
    CAPTURE(r.iterations);
    REQUIRE(r.iterations < 200);
    const std::size_t n = r.objective.size();
    const double previous = n >= 2 ? r.objective[n - 2] : r.initial_objective;
    REQUIRE((previous - r.objective.back() <= 1e-3 * previous || r.stalled));
  }
  SECTION("zero sweeps return the initial codes") {
    CommonUniqueOptions o = opts;
    o.max_iterations = 0;
    const auto r = common_unique(Dc, Du, Hc, Hv, x, y, o);
    REQUIRE(r.iterations == 0);
    REQUIRE(r.objective.empty());
    REQUIRE(sum_abs(r.C) + sum_abs(r.U) + sum_abs(r.V) == 0);
    REQUIRE(mcsc_test::relative_error(r.initial_objective, 0.5 * (sum_squares(x) + sum_squares(y))) < 1e-6);
  }
}

TEST_CASE("common/unique MCSC rejects bad input", "[common_unique]") {
  using T = double;
  using Space = Kokkos::DefaultHostExecutionSpace;
  using D = ConvDictionary<T, Space>;
  auto w = [](int m, int k, int s) {
    auto t = make_tensor<T, Space>("w", {m, k, s, s});
    fill_normal(t, 51, 0.0, 0.3);
    return t;
  };
  const D Dc(w(1, 2, 3)), Du(w(1, 2, 3)), Hc(w(1, 2, 3)), Hv(w(1, 1, 3));
  auto x = make_tensor<T, Space>("x", {1, 1, 8, 8});
  auto y = make_tensor<T, Space>("y", {1, 1, 8, 8});
  fill_normal(x, 52);
  fill_normal(y, 53);
  CommonUniqueOptions opts;
  opts.max_iterations = 2;
  opts.inner_iterations = 2;
  REQUIRE_NOTHROW(common_unique(Dc, Du, Hc, Hv, x, y, opts));
  auto solve = [&](const D& dc, const D& du, const D& hc, const D& hv, const Tensor4<T, Space>& xx,
                   const Tensor4<T, Space>& yy, const CommonUniqueOptions& o) {
    return common_unique(dc, du, hc, hv, xx, yy, o);
  };
  auto bad_option = [&](auto set) {
    CommonUniqueOptions o = opts;
    set(o);
    REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, x, y, o), Error);
  };
  bad_option([](CommonUniqueOptions& o) { o.lambda = -0.1; });
  bad_option([](CommonUniqueOptions& o) { o.lambda = std::numeric_limits<double>::quiet_NaN(); });
  bad_option([](CommonUniqueOptions& o) { o.lambda = std::numeric_limits<double>::infinity(); });
  bad_option([](CommonUniqueOptions& o) { o.lambda_c = -1; });
  bad_option([](CommonUniqueOptions& o) { o.lambda_u = std::numeric_limits<double>::quiet_NaN(); });
  bad_option([](CommonUniqueOptions& o) { o.lambda_v = -1e-9; });
  bad_option([](CommonUniqueOptions& o) { o.inner_iterations = 0; });
  bad_option([](CommonUniqueOptions& o) { o.max_iterations = -1; });
  bad_option([](CommonUniqueOptions& o) { o.tolerance = -1; });
  bad_option([](CommonUniqueOptions& o) { o.lipschitz_u = -1; });
  // An empty dictionary is refused (by the dictionary itself).
  REQUIRE_THROWS_AS(solve(D(make_tensor<T, Space>("empty", {1, 0, 3, 3})), Du, Hc, Hv, x, y, opts), Error);
  // Batch and image size mismatches between x and y.
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, x, make_tensor<T, Space>("y2", {2, 1, 8, 8}), opts), Error);
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, x, make_tensor<T, Space>("y3", {1, 1, 8, 7}), opts), Error);
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, x, make_tensor<T, Space>("y4", {1, 1, 9, 8}), opts), Error);
  // Kc of Dc != Kc of Hc.
  REQUIRE_THROWS_AS(solve(Dc, Du, D(w(1, 3, 3)), Hv, x, y, opts), Error);
  // Channel mismatches: a 2-channel x with 1-channel Dc/Du; a 2-channel Hv for a 1-channel y.
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, make_tensor<T, Space>("x2", {1, 2, 8, 8}), y, opts), Error);
  REQUIRE_THROWS_AS(solve(Dc, D(w(2, 2, 3)), Hc, Hv, x, y, opts), Error);
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, D(w(2, 1, 3)), x, y, opts), Error);
  // An image smaller than a filter.
  REQUIRE_THROWS_AS(solve(Dc, Du, Hc, D(w(1, 1, 9)), x, y, opts), Error);
  // Dc and Hc with different boundaries cannot be stacked.
  REQUIRE_THROWS_AS(solve(Dc, Du, D(w(1, 2, 3), Boundary::circular), Hv, x, y, opts), Error);
  // NaN / Inf in x or y, and in a warm start.
  {
    auto xn = make_tensor<T, Space>("x_nan", {1, 1, 8, 8});
    Kokkos::deep_copy(xn, x);
    xn(0, 0, 3, 4) = std::numeric_limits<T>::quiet_NaN();
    REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, xn, y, opts), Error);
    auto yi = make_tensor<T, Space>("y_inf", {1, 1, 8, 8});
    Kokkos::deep_copy(yi, y);
    yi(0, 0, 7, 7) = std::numeric_limits<T>::infinity();
    REQUIRE_THROWS_AS(solve(Dc, Du, Hc, Hv, x, yi, opts), Error);
    auto u = make_tensor<T, Space>("u_nan", {1, 2, 8, 8});
    u(0, 1, 0, 0) = std::numeric_limits<T>::quiet_NaN();
    REQUIRE_THROWS_AS(common_unique(Dc, Du, Hc, Hv, x, y, opts, {{}, u, {}}), Error);
  }
  // A warm start of the wrong shape.
  REQUIRE_THROWS_AS(common_unique(Dc, Du, Hc, Hv, x, y, opts, {make_tensor<T, Space>("c", {1, 3, 8, 8}), {}, {}}),
                    Error);
  // The message names the function and the shapes.
  try {
    solve(Dc, Du, D(w(1, 3, 3)), Hv, x, y, opts);
    FAIL("no throw");
  } catch (const Error& e) {
    const std::string what = e.what();
    CAPTURE(what);
    REQUIRE(what.find("mcsc::common_unique") != std::string::npos);
    REQUIRE(what.find("(1, 3, 3, 3)") != std::string::npos);
  }
  // Reconstruction helpers: codes that do not fit the target dictionaries.
  auto C = make_tensor<T, Space>("C", {1, 2, 8, 8});
  auto U = make_tensor<T, Space>("U", {1, 2, 8, 8});
  auto V = make_tensor<T, Space>("V", {1, 1, 8, 8});
  REQUIRE_NOTHROW(common_unique_fusion(Dc, Du, Hv, C, U, V));
  REQUIRE_THROWS_AS(common_unique_restoration(Dc, Du, C, V), Error);                   // Ku != channels of U
  REQUIRE_THROWS_AS(common_unique_restoration(Dc, D(w(2, 2, 3)), C, U), Error);       // different target channels
  REQUIRE_THROWS_AS(common_unique_fusion(Dc, Du, Hv, C, U, make_tensor<T, Space>("V2", {1, 1, 8, 9})), Error);
}

TEMPLATE_LIST_TEST_CASE("common_unique checks its memory before it allocates", "[common_unique][memory]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  if constexpr (!is_host_space_v<Space>) return;  // device memory is not checked (yet)
  auto w = [](int filters, std::uint64_t seed) {
    auto t = make_tensor<T, Space>("w", {1, filters, 5, 5});
    fill_normal(t, seed, 0.0, 0.2);
    return t;
  };
  auto x = make_tensor<T, Space>("x", {1, 1, 128, 128}), y = make_tensor_like("y", x);
  fill_normal(x, 5);
  fill_normal(y, 6);
  CommonUniqueOptions o;
  o.lambda = 0.1;
  o.max_iterations = 1;
  o.inner_iterations = 2;
  const auto dc = w(8, 1), du = w(8, 2), hc = w(8, 3), hv = w(8, 4);
  // A run's peak of live Kokkos allocations stays within common_unique_memory_bytes.
  const auto within_estimate = [&](const auto& Dc, const auto& Du, const auto& Hc, const auto& Hv) {
    const double estimate = common_unique_memory_bytes(Dc, Du, Hc, Hv, shape_of(x), shape_of(y));
    const auto events = mcsc_test::count_kokkos_events(
        [&] { REQUIRE(common_unique(Dc, Du, Hc, Hv, x, y, o).objective.size() == 1); });
    INFO("peak " << events.peak_bytes << " bytes, estimate " << estimate);
    CHECK(events.peak_bytes > 0);
    CHECK(double(events.peak_bytes) <= estimate);
  };
  // With FFT dictionaries, each of the five (Dc, Du, Hc, Hv, [Dc; Hc]) keeps its FFT buffers: the
  // estimate counts them all.
  SECTION("FFT dictionaries: the run stays within the estimate") {
    using F = FftConvDictionary<T, Space>;
    within_estimate(F(dc), F(du), F(hc), F(hv));
  }
  using D = ConvDictionary<T, Space>;
  const D Dc(dc), Du(du), Hc(hc), Hv(hv);
  {
    // 8 code planes of 128x128 are 0.5 MiB (float) per code buffer: 1 MiB fits the state's six
    // code buffers in neither precision.
    const mcsc_test::MemoryBudget budget(std::uint64_t(1) << 20);
    const auto events = mcsc_test::count_kokkos_events([&] {
      REQUIRE_THROWS_WITH(common_unique(Dc, Du, Hc, Hv, x, y, o),
                          Catch::Contains("common/unique coding of (1, 1, 128, 128) and (1, 1, 128, 128)") &&
                              Catch::Contains("needs about") && Catch::Contains("memory budget set"));
    });
    CHECK(events.allocations <= 1);  // at most the stacked filters [Dc; Hc], 400 values
  }
  const mcsc_test::MemoryBudget budget(std::uint64_t(32) << 20);
  within_estimate(Dc, Du, Hc, Hv);
}
