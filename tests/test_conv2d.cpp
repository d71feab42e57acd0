#include "test_common.hpp"

#include <set>
#include <utility>

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

/// max_i |v_i| by a plain loop (Eigen's cwiseAbs().maxCoeff() trips GCC 12's
/// -Wmaybe-uninitialized inside its AVX-512 intrinsics when built with -march=native).
double max_abs(const Eigen::VectorXd& v) {
  double m = 0;
  for (Eigen::Index i = 0; i < v.size(); ++i) m = std::max(m, std::abs(v(i)));
  return m;
}
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
      REQUIRE(max_abs(mcsc_test::to_eigen(out) - ref) <= tol * (1 + max_abs(ref)));
      conv2d_adjoint(y, w, back, {boundary});
      const Eigen::VectorXd ref_t = M.transpose() * mcsc_test::to_eigen(y);
      REQUIRE(max_abs(mcsc_test::to_eigen(back) - ref_t) <= tol * (1 + max_abs(ref_t)));
      // accumulate adds instead of overwriting
      conv2d(x, w, out, {boundary, true});
      REQUIRE(max_abs(mcsc_test::to_eigen(out) - 2 * ref) <= 2 * tol * (1 + max_abs(ref)));
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

namespace {
/// Shapes for the blocked-vs-reference comparison: odd, even and rectangular kernels (up to the
/// image size), images smaller than a register block or of odd sides, wider than a strip of
/// columns (several column tiles) or large enough that the input channels are staged in several
/// groups / the weight gradient walks several strips of rows, channel counts that are not
/// multiples of the blocks, N = 1..3, and the networks' shapes at a moderate size.
const ConvCase blocked_cases[] = {
    {1, 1, 1, 1, 1, 1, 1},      {1, 1, 1, 3, 4, 3, 3},      {2, 1, 1, 5, 5, 5, 5},     {1, 2, 3, 4, 7, 4, 7},
    {3, 3, 2, 7, 9, 2, 3},      {2, 5, 5, 11, 13, 6, 4},    {1, 3, 85, 9, 17, 5, 5},   {2, 85, 1, 9, 17, 5, 5},
    {1, 85, 3, 6, 21, 5, 5},    {1, 64, 2, 13, 19, 8, 8},   {2, 2, 64, 10, 33, 9, 9},  {1, 6, 64, 12, 12, 8, 1},
    {1, 64, 3, 11, 35, 1, 9},   {3, 1, 5, 17, 3, 7, 3},     {1, 13, 2, 10, 270, 9, 7}, {1, 2, 5, 40, 300, 5, 5},
    {1, 3, 1, 9, 261, 9, 9},    {1, 64, 1, 40, 37, 9, 9},   {1, 1, 64, 40, 37, 9, 9},  {2, 2, 64, 33, 40, 8, 8},
    {1, 85, 1, 37, 40, 5, 5},   {1, 1, 85, 37, 40, 5, 5},   {1, 64, 3, 21, 24, 9, 9},  {1, 3, 64, 21, 24, 9, 9},
    {1, 2, 2, 8, 8, 8, 8},      {2, 4, 7, 6, 40, 6, 12},    {1, 6, 64, 14, 20, 9, 9},  {1, 3, 9, 10, 18, 5, 5},
    {2, 2, 4, 9, 9, 8, 8},      {1, 7, 7, 11, 23, 9, 9},    {1, 2, 2, 45, 45, 41, 41},
};

/// max |a - b| <= tol * max(1, max |b|) over all elements.
template <class A, class B>
bool close_to_reference(const A& a, const B& b, double tol) {
  const Eigen::VectorXd ha = mcsc_test::to_eigen(a), hb = mcsc_test::to_eigen(b);
  const double scale = std::max(1.0, max_abs(hb)), err = max_abs(ha - hb);
  if (!(err <= tol * scale)) UNSCOPED_INFO("max abs difference " << err << ", scale " << scale);
  return err <= tol * scale;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("conv2d, conv2d_adjoint, conv2d_weight_grad equal their reference kernels",
                        "[conv2d][blocked][team]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
  std::uint64_t seed = 100;
  // automatic: the blocked kernels on host spaces, the team kernels on devices; team: the team
  // kernels here too, with Kokkos' team size (one thread on OpenMP) and with several threads per
  // team (their cooperative staging and barriers). The largest kernel, 41x41, does not fit the
  // forward/adjoint kernel's scratch: the reference runs those (the weight gradient's fits).
  // Boundary::circular: the blocked kernels (automatic, on host spaces) stage wrapped rows; the
  // team kernels leave it to the reference, so it is not compared with itself.
  struct Choice {
    ConvKernel kernel;
    int host_team_size;
    Boundary boundary;
  };
  for (const Choice choice : {Choice{ConvKernel::automatic, 0, Boundary::zero}, Choice{ConvKernel::team, 0, Boundary::zero},
                              Choice{ConvKernel::team, 4, Boundary::zero}, Choice{ConvKernel::automatic, 0, Boundary::circular}})
  for (const auto& k : blocked_cases) {
    for (bool accumulate : {false, true}) {
      CAPTURE(int(choice.kernel), choice.host_team_size, to_string(choice.boundary), k.n, k.c, k.o, k.h, k.w, k.kh, k.kw,
              accumulate);
      Conv2dOptions opt{choice.boundary, accumulate};
      opt.kernel = choice.kernel;
      const mcsc_test::HostTeamSize team_size(choice.host_team_size);
      auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
      auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
      auto y = make_tensor<T, Space>("y", {k.n, k.o, k.h, k.w});
      fill_normal(x, ++seed);
      fill_normal(w, ++seed);
      fill_normal(y, ++seed);
      // outputs start from the same random values (seen by accumulate only)
      auto fwd = make_tensor_like("fwd", y), fwd_ref = make_tensor_like("fwd_ref", y);
      auto adj = make_tensor_like("adj", x), adj_ref = make_tensor_like("adj_ref", x);
      auto gw = make_tensor_like("gw", w), gw_ref = make_tensor_like("gw_ref", w);
      fill_normal(fwd, seed + 10), fill_normal(fwd_ref, seed + 10);
      fill_normal(adj, seed + 11), fill_normal(adj_ref, seed + 11);
      fill_normal(gw, seed + 12), fill_normal(gw_ref, seed + 12);

      conv2d(x, w, fwd, opt);
      conv2d_reference(x, w, fwd_ref, opt);
      REQUIRE(close_to_reference(fwd, fwd_ref, tol));
      conv2d_adjoint(y, w, adj, opt);
      conv2d_adjoint_reference(y, w, adj_ref, opt);
      REQUIRE(close_to_reference(adj, adj_ref, tol));
      conv2d_weight_grad(x, y, gw, opt);
      conv2d_weight_grad_reference(x, y, gw_ref, opt);
      REQUIRE(close_to_reference(gw, gw_ref, tol));
    }
  }
}

TEMPLATE_LIST_TEST_CASE("the team weight gradient keeps its buffer in a workspace: one allocation, same results",
                        "[conv2d][team][workspace]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  Conv2dOptions opt{Boundary::zero, false};
  opt.kernel = ConvKernel::team;
  auto x = make_tensor<T, Space>("x", {2, 3, 20, 37});
  auto y = make_tensor<T, Space>("y", {2, 4, 20, 37});
  auto gw = make_tensor<T, Space>("gw", {4, 3, 5, 5});
  auto gw_ws = make_tensor_like("gw_ws", gw);
  fill_normal(x, 301);
  fill_normal(y, 302);
  Conv2dWorkspace<T, typename Space::memory_space> ws;
  CHECK(ws.bytes() == 0);
  // Allocations of the buffer (Kokkos' own, its team scratch grown on first use, are not counted).
  const auto buffers = [](const mcsc_test::KokkosEventCounts& c) {
    int n = 0;
    for (const auto& label : c.allocation_labels) n += label.rfind("mcsc::conv2d_weight_grad::partial", 0) == 0;
    return n;
  };
  // Without a workspace: an allocation per call (the buffer of partial sums).
  const auto plain = mcsc_test::count_kokkos_events([&] { conv2d_weight_grad(x, y, gw, opt); });
  CHECK(buffers(plain) == 1);
  // With one: the first call allocates it, the next ones reuse it, and the results are the same.
  const auto first = mcsc_test::count_kokkos_events([&] { conv2d_weight_grad(x, y, gw_ws, opt, &ws); });
  CHECK(buffers(first) == 1);
  CHECK(ws.bytes() > 0);
  const std::size_t held = ws.bytes();
  for (int k = 0; k < 3; ++k) {
    const auto again = mcsc_test::count_kokkos_events([&] { conv2d_weight_grad(x, y, gw_ws, opt, &ws); });
    CHECK(again.allocations == 0);  // nothing at all (no buffer, no scratch)
    CHECK(max_abs_diff(gw, gw_ws) == 0);
  }
  // A smaller problem fits the buffer; a larger one grows it once.
  auto x_small = make_tensor<T, Space>("x_small", {1, 3, 20, 37});
  auto y_small = make_tensor<T, Space>("y_small", {1, 4, 20, 37});
  fill_normal(x_small, 303);
  fill_normal(y_small, 304);
  const auto small = mcsc_test::count_kokkos_events([&] { conv2d_weight_grad(x_small, y_small, gw_ws, opt, &ws); });
  CHECK(buffers(small) == 0);
  conv2d_weight_grad_reference(x_small, y_small, gw, opt);
  CHECK(close_to_reference(gw_ws, gw, std::is_same<T, float>::value ? 1e-5 : 1e-12));
  auto gw_big = make_tensor<T, Space>("gw_big", {4, 3, 9, 9});
  auto gw_big_ref = make_tensor_like("gw_big_ref", gw_big);
  const auto big = mcsc_test::count_kokkos_events([&] { conv2d_weight_grad(x, y, gw_big, opt, &ws); });
  CHECK(buffers(big) == 1);
  CHECK(ws.bytes() > held);
  conv2d_weight_grad_reference(x, y, gw_big_ref, opt);
  CHECK(close_to_reference(gw_big, gw_big_ref, std::is_same<T, float>::value ? 1e-5 : 1e-12));
}

#if defined(KOKKOS_ENABLE_SERIAL) && defined(KOKKOS_ENABLE_OPENMP)
TEMPLATE_TEST_CASE("conv2d kernels give bit-identical results on Serial and on OpenMP threads, run to run",
                   "[conv2d][blocked][team]", float, double) {
  // The weight gradient is reduced in an order fixed by the shapes; forward and adjoint compute
  // each output in one place: the thread count does not change a bit (blocked and team kernels).
  using T = TestType;
  for (const Boundary boundary : {Boundary::zero, Boundary::circular})
  for (const int host_team_size : {0, 2})  // team kernels: Kokkos' team size, then 2 threads per team
  for (const ConvKernel kernel : {ConvKernel::automatic, ConvKernel::team})
  for (const auto& k : {ConvCase{2, 64, 1, 40, 37, 9, 9}, ConvCase{2, 2, 64, 33, 40, 8, 8},
                        ConvCase{1, 13, 2, 10, 270, 9, 7}, ConvCase{1, 2, 5, 40, 300, 5, 5}}) {
    if (kernel == ConvKernel::automatic && host_team_size > 0) continue;
    if (boundary == Boundary::circular && kernel == ConvKernel::team) continue;  // the reference (see above)
    CAPTURE(int(kernel), host_team_size, to_string(boundary), k.n, k.c, k.o, k.h, k.w, k.kh, k.kw);
    Conv2dOptions opt;
    opt.kernel = kernel;
    opt.boundary = boundary;
    const mcsc_test::HostTeamSize team_size(host_team_size);
    auto xs = make_tensor<T, Kokkos::Serial>("x", {k.n, k.c, k.h, k.w});
    auto ws = make_tensor<T, Kokkos::Serial>("w", {k.o, k.c, k.kh, k.kw});
    auto ys = make_tensor<T, Kokkos::Serial>("y", {k.n, k.o, k.h, k.w});
    auto xo = make_tensor<T, Kokkos::OpenMP>("x", {k.n, k.c, k.h, k.w});
    auto wo = make_tensor<T, Kokkos::OpenMP>("w", {k.o, k.c, k.kh, k.kw});
    auto yo = make_tensor<T, Kokkos::OpenMP>("y", {k.n, k.o, k.h, k.w});
    fill_normal(xs, 1), fill_normal(xo, 1);
    fill_normal(ws, 2), fill_normal(wo, 2);
    fill_normal(ys, 3), fill_normal(yo, 3);
    auto fs = make_tensor_like("f", ys);
    auto fo = make_tensor_like("f", yo);
    auto as = make_tensor_like("a", xs);
    auto ao = make_tensor_like("a", xo);
    auto gs = make_tensor_like("g", ws);
    auto go = make_tensor_like("g", wo);
    conv2d(xs, ws, fs, opt), conv2d(xo, wo, fo, opt);
    conv2d_adjoint(ys, ws, as, opt), conv2d_adjoint(yo, wo, ao, opt);
    conv2d_weight_grad(xs, ys, gs, opt), conv2d_weight_grad(xo, yo, go, opt);
    Kokkos::fence();
    REQUIRE((mcsc_test::to_eigen(fs).array() == mcsc_test::to_eigen(fo).array()).all());
    REQUIRE((mcsc_test::to_eigen(as).array() == mcsc_test::to_eigen(ao).array()).all());
    REQUIRE((mcsc_test::to_eigen(gs).array() == mcsc_test::to_eigen(go).array()).all());
    // and again on OpenMP: the same bits
    auto fo2 = make_tensor_like("f2", yo);
    auto ao2 = make_tensor_like("a2", xo);
    auto go2 = make_tensor_like("g2", wo);
    conv2d(xo, wo, fo2, opt);
    conv2d_adjoint(yo, wo, ao2, opt);
    conv2d_weight_grad(xo, yo, go2, opt);
    Kokkos::fence();
    REQUIRE((mcsc_test::to_eigen(fo2).array() == mcsc_test::to_eigen(fo).array()).all());
    REQUIRE((mcsc_test::to_eigen(ao2).array() == mcsc_test::to_eigen(ao).array()).all());
    REQUIRE((mcsc_test::to_eigen(go2).array() == mcsc_test::to_eigen(go).array()).all());
  }
}
#endif

// ------------------------------------------------------------------ conv2d_prox (fused stage update)

namespace {
/// out = prox(sign * conv + a + b) on the host, element by element, from the generic convolution
/// (conv2d_reference) and the scalar prox functions: the independent reference of conv2d_prox.
template <class Y, class Th>
void conv_prox_on_host(const Y& conv, double sign, const Y& a, const Y& b, const Th& theta, const Y& side,
                       Eigen::VectorXd& pre, Eigen::VectorXd& out) {
  const Eigen::VectorXd hc = mcsc_test::to_eigen(conv);
  const Eigen::VectorXd ha = a.data() ? mcsc_test::to_eigen(a) : Eigen::VectorXd::Zero(hc.size());
  const Eigen::VectorXd hb = b.data() ? mcsc_test::to_eigen(b) : Eigen::VectorXd::Zero(hc.size());
  const Eigen::VectorXd hs = side.data() ? mcsc_test::to_eigen(side) : Eigen::VectorXd::Zero(hc.size());
  auto ht = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), theta);
  const std::int64_t C = conv.extent(1), HW = std::int64_t(conv.extent(2)) * conv.extent(3);
  pre.resize(hc.size());
  out.resize(hc.size());
  for (Eigen::Index i = 0; i < hc.size(); ++i) {
    const double v = sign * hc(i) + ha(i) + hb(i);
    const double t = ht(ht.extent(0) == 1 ? 0 : (i / HW) % C);
    pre(i) = v;
    out(i) = side.data() ? l1l1_prox_value(v, hs(i), t) : soft_threshold_value(v, t);
  }
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("conv2d_prox (fused convolution, combination and prox) equals the separate steps",
                        "[conv2d][prox][fused]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Tensor = Tensor4<T, Space>;
  const double tol = std::is_same<T, float>::value ? 2e-5 : 1e-12;
  std::uint64_t seed = 300;
  int variant = 0;
  std::set<std::pair<bool, double>> combinations;
  for (const auto& k : blocked_cases) {
    ++variant;
    // every case a different combination of the options (all of them over the list)
    const bool l1l1 = variant % 2 == 0, per_channel = variant % 3 != 0, keep_pre = variant % 4 != 1;
    const bool with_a = variant % 5 != 2, with_b = variant % 7 != 3, out_is_b = with_b && variant % 3 == 1;
    // the sign cycles with period 4, l1-l1 with period 2: every (prox, sign) pair occurs (LMCSC's
    // stage is l1-l1 with sign -1, LCSC's soft threshold with -1, ISTA-like updates with +1)
    const double sign = (variant / 2) % 2 == 1 ? -1.0 : 1.0;
    combinations.insert({l1l1, sign});
    CAPTURE(k.n, k.c, k.o, k.h, k.w, k.kh, k.kw, l1l1, per_channel, keep_pre, with_a, with_b, out_is_b, sign);
    auto x = make_tensor<T, Space>("x", {k.n, k.c, k.h, k.w});
    auto w = make_tensor<T, Space>("w", {k.o, k.c, k.kh, k.kw});
    fill_normal(x, ++seed);
    fill_normal(w, ++seed);
    const Shape4 so{k.n, k.o, k.h, k.w};
    Tensor a, b, side;
    if (with_a) a = make_tensor<T, Space>("a", so), fill_normal(a, ++seed);
    if (with_b) b = make_tensor<T, Space>("b", so), fill_normal(b, ++seed);
    if (l1l1) side = make_tensor<T, Space>("side", so), fill_normal(side, ++seed);
    Kokkos::View<T*, Space> theta("theta", per_channel ? k.o : 1);
    fill_uniform(theta, ++seed, T(0.0), T(0.8));
    if (!l1l1 && per_channel) Kokkos::deep_copy(Kokkos::subview(theta, std::make_pair(0, 1)), T(-0.3));  // learned, < 0

    auto conv = make_tensor<T, Space>("conv", so);
    conv2d_reference(x, w, conv);
    Eigen::VectorXd want_pre, want_out;
    conv_prox_on_host(conv, sign, a, b, theta, side, want_pre, want_out);

    for (bool fused : {true, false}) {
      CAPTURE(fused);
      Tensor b_in = b;
      if (out_is_b) b_in = make_tensor<T, Space>("b copy", so), Kokkos::deep_copy(b_in, b);
      auto pre = make_tensor<T, Space>("pre", so);
      auto out = out_is_b ? b_in : make_tensor<T, Space>("out", so);
      ConvProxOptions opt;
      opt.sign = sign;
      opt.keep_pre = keep_pre;
      opt.fused = fused;
      conv2d_prox(x, w, a, b_in, theta, side, pre, out, opt);
      const Eigen::VectorXd got = mcsc_test::to_eigen(out);
      const double scale = std::max(1.0, max_abs(want_pre));
      REQUIRE(max_abs(got - want_out) <= tol * scale);
      if (keep_pre || !fused) REQUIRE(max_abs(mcsc_test::to_eigen(pre) - want_pre) <= tol * scale);
    }
  }
  REQUIRE(combinations.size() == 4);
}

TEMPLATE_LIST_TEST_CASE("conv2d_prox rejects bad operands with a message", "[conv2d][prox][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Tensor = Tensor4<T, Space>;
  auto x = make_tensor<T, Space>("x", {1, 2, 6, 6});
  auto w = make_tensor<T, Space>("w", {3, 2, 3, 3});
  auto pre = make_tensor<T, Space>("pre", {1, 3, 6, 6});
  auto out = make_tensor<T, Space>("out", {1, 3, 6, 6});
  auto small = make_tensor<T, Space>("small", {1, 3, 5, 6});
  Kokkos::View<T*, Space> theta("theta", 3), theta2("theta2", 2);
  const Tensor none;
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(conv2d_prox(x, w, small, none, theta, none, pre, out), Contains("mcsc::conv2d_prox"));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, small, pre, out), Contains("mcsc::conv2d_prox"));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, none, small, out), Contains("mcsc::conv2d_prox"));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta2, none, pre, out), Contains("threshold has 2 entries"));
  CHECK_THROWS_WITH(conv2d_prox(x, w, pre, none, theta, none, pre, out), Contains("pre must be distinct"));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, none, out, out), Contains("pre must be distinct"));
  ConvProxOptions two;
  two.sign = 2;
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, none, pre, out, two), Contains("not 1 or -1"));
  ConvProxOptions nonneg;
  nonneg.require_nonnegative = true;
  Kokkos::deep_copy(theta, T(-1));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, none, pre, out, nonneg), Contains("must be >= 0"));
  Kokkos::deep_copy(theta, std::numeric_limits<T>::quiet_NaN());
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta, none, pre, out), Contains("NaN"));
  // A network's stage leaves the values unchecked (no read-back); the shapes are still checked.
  ConvProxOptions unchecked;
  unchecked.check_values = false;
  CHECK_NOTHROW(conv2d_prox(x, w, none, none, theta, none, pre, out, unchecked));
  CHECK_THROWS_WITH(conv2d_prox(x, w, none, none, theta2, none, pre, out, unchecked), Contains("threshold has 2 entries"));
}
