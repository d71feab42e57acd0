// Classical baselines: the guided filter and guided upsampling (baselines/guided_filter.hpp), joint
// bilateral upsampling (baselines/joint_bilateral.hpp), averaging and CSR fusion with the
// Tikhonov two-scale split (baselines/fusion.hpp). Each is compared with a plain host loop
// written here from the papers' formulas, on tiny images, plus behaviour checks and error paths.
#include <cmath>
#include <random>
#include <vector>

#include "mcsc/baselines/fusion.hpp"
#include "mcsc/baselines/guided_filter.hpp"
#include "mcsc/baselines/joint_bilateral.hpp"
#include "mcsc/data/degrade.hpp"
#include "mcsc/data/resample.hpp"
#include "mcsc/metrics/fusion.hpp"
#include "mcsc/metrics/psnr.hpp"
#include "mcsc/solvers/back_projection.hpp"
#include "host_image.hpp"
#include "test_common.hpp"

using namespace mcsc;
using Catch::Matchers::Contains;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {

template <class T>
double tol() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-11;
}

using mcsc_test::HostImage;
using mcsc_test::max_diff;
using mcsc_test::random_image;
using mcsc_test::to_host_image;
using mcsc_test::to_tensor;


/// He et al.'s f_mean: the mean over the (2r+1)^2 window clipped to the image, one plane.
std::vector<double> box_ref(const std::vector<double>& x, int H, int W, int r) {
  std::vector<double> y(x.size());
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      double s = 0;
      int count = 0;
      for (int a = std::max(0, i - r); a <= std::min(H - 1, i + r); ++a)
        for (int b = std::max(0, j - r); b <= std::min(W - 1, j + r); ++b) {
          s += x[std::size_t(a * W + b)];
          ++count;
        }
      y[std::size_t(i * W + j)] = s / count;
    }
  return y;
}

std::vector<double> plane(const HostImage& x, int n, int c) {
  return std::vector<double>(x.v.begin() + std::ptrdiff_t(((std::size_t(n) * x.C + c) * x.H) * x.W),
                             x.v.begin() + std::ptrdiff_t(((std::size_t(n) * x.C + c + 1) * x.H) * x.W));
}

/// guidedfilter.m, one plane, written out.
std::vector<double> guided_ref(const std::vector<double>& I, const std::vector<double>& p, int H, int W, int r, double eps) {
  const std::size_t n = I.size();
  std::vector<double> II(n), Ip(n);
  for (std::size_t k = 0; k < n; ++k) {
    II[k] = I[k] * I[k];
    Ip[k] = I[k] * p[k];
  }
  const auto mI = box_ref(I, H, W, r), mp = box_ref(p, H, W, r), cI = box_ref(II, H, W, r), cIp = box_ref(Ip, H, W, r);
  std::vector<double> a(n), b(n);
  for (std::size_t k = 0; k < n; ++k) {
    a[k] = (cIp[k] - mI[k] * mp[k]) / (cI[k] - mI[k] * mI[k] + eps);
    b[k] = mp[k] - a[k] * mI[k];
  }
  const auto ma = box_ref(a, H, W, r), mb = box_ref(b, H, W, r);
  std::vector<double> q(n);
  for (std::size_t k = 0; k < n; ++k) q[k] = ma[k] * I[k] + mb[k];
  return q;
}

/// guidedfilter_color.m, one target plane, with Eigen's 3x3 inverse.
std::vector<double> guided_color_ref(const HostImage& I, const std::vector<double>& p, int r, double eps) {
  const int H = I.H, W = I.W;
  const std::size_t n = p.size();
  std::vector<std::vector<double>> m(3), corr(9), cp(3);
  for (int u = 0; u < 3; ++u) {
    m[std::size_t(u)] = box_ref(plane(I, 0, u), H, W, r);
    std::vector<double> prod(n);
    for (std::size_t k = 0; k < n; ++k) prod[k] = plane(I, 0, u)[k] * p[k];
    cp[std::size_t(u)] = box_ref(prod, H, W, r);
    for (int v = 0; v < 3; ++v) {
      for (std::size_t k = 0; k < n; ++k) prod[k] = plane(I, 0, u)[k] * plane(I, 0, v)[k];
      corr[std::size_t(3 * u + v)] = box_ref(prod, H, W, r);
    }
  }
  const auto mp = box_ref(p, H, W, r);
  std::vector<std::vector<double>> a(3, std::vector<double>(n));
  std::vector<double> b(n);
  for (std::size_t k = 0; k < n; ++k) {
    Eigen::Matrix3d S;
    Eigen::Vector3d cov;
    for (int u = 0; u < 3; ++u) {
      cov(u) = cp[std::size_t(u)][k] - m[std::size_t(u)][k] * mp[k];
      for (int v = 0; v < 3; ++v)
        S(u, v) = corr[std::size_t(3 * u + v)][k] - m[std::size_t(u)][k] * m[std::size_t(v)][k] + (u == v ? eps : 0);
    }
    const Eigen::Vector3d ak = S.inverse() * cov;
    b[k] = mp[k];
    for (int u = 0; u < 3; ++u) {
      a[std::size_t(u)][k] = ak(u);
      b[k] -= ak(u) * m[std::size_t(u)][k];
    }
  }
  std::vector<double> q = box_ref(b, H, W, r);
  for (int u = 0; u < 3; ++u) {
    const auto ma = box_ref(a[std::size_t(u)], H, W, r);
    for (std::size_t k = 0; k < n; ++k) q[k] += ma[k] * plane(I, 0, u)[k];
  }
  return q;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("guided_filter matches guidedfilter.m written out (grey, per-channel, colour guide)",
                        "[baselines][guided]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 7, W = 9;
  const auto tI = to_tensor<T, Space>(random_image(1, 1, H, W, 1));
  const auto tI2 = to_tensor<T, Space>(random_image(1, 2, H, W, 2));
  const auto tI3 = to_tensor<T, Space>(random_image(1, 3, H, W, 3));
  const auto tp = to_tensor<T, Space>(random_image(1, 2, H, W, 4));
  const HostImage I = to_host_image(tI), I2 = to_host_image(tI2), I3 = to_host_image(tI3), p = to_host_image(tp);
  auto q = make_tensor_like("q", tp);
  for (int r : {1, 2, 5}) {
    CAPTURE(r);
    const double eps = 0.01;
    guided_filter(tI, tp, q, r, eps);  // one grey guide for both channels
    auto hq = to_host_image(q);
    for (int c = 0; c < 2; ++c) {
      const auto ref = guided_ref(plane(I, 0, 0), plane(p, 0, c), H, W, r, eps);
      const auto got = plane(hq, 0, c);
      for (std::size_t k = 0; k < ref.size(); ++k) REQUIRE(std::abs(got[k] - ref[k]) < tol<T>());
    }
    guided_filter(tI2, tp, q, r, eps);  // channel c guided by guide channel c
    hq = to_host_image(q);
    for (int c = 0; c < 2; ++c) {
      const auto ref = guided_ref(plane(I2, 0, c), plane(p, 0, c), H, W, r, eps);
      const auto got = plane(hq, 0, c);
      for (std::size_t k = 0; k < ref.size(); ++k) REQUIRE(std::abs(got[k] - ref[k]) < tol<T>());
    }
    guided_filter_color(tI3, tp, q, r, eps);
    hq = to_host_image(q);
    for (int c = 0; c < 2; ++c) {
      const auto ref = guided_color_ref(I3, plane(p, 0, c), r, eps);
      const auto got = plane(hq, 0, c);
      for (std::size_t k = 0; k < ref.size(); ++k) REQUIRE(std::abs(got[k] - ref[k]) < 50 * tol<T>());
    }
  }
}

TEMPLATE_LIST_TEST_CASE("guided_filter: constant guide is a double box mean; eps -> 0 with guide = input is the identity",
                        "[baselines][guided]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 8, W = 6, r = 2;
  const auto tp = to_tensor<T, Space>(random_image(2, 1, H, W, 7));
  const HostImage p = to_host_image(tp);
  auto guide = make_tensor_like("guide", tp);
  fill(guide, T(0.3));
  auto q = make_tensor_like("q", tp);
  guided_filter(guide, tp, q, r, 1e-3);  // var_I = 0: a = 0, b = mean_p, q = f(f(p))
  const HostImage hq = to_host_image(q);
  for (int n = 0; n < 2; ++n) {
    const auto ref = box_ref(box_ref(plane(p, n, 0), H, W, r), H, W, r);
    const auto got = plane(hq, n, 0);
    for (std::size_t k = 0; k < ref.size(); ++k) REQUIRE(std::abs(got[k] - ref[k]) < tol<T>());
  }
  guided_filter(tp, tp, q, r, 1e-12);
  REQUIRE(max_diff(to_host_image(q), p) < (std::is_same<T, float>::value ? 1e-5 : 1e-8));
  // In place (dst = src).
  auto x = make_tensor_like("x", tp);
  Kokkos::deep_copy(x, tp);
  guided_filter(guide, x, x, r, 1e-3);
  REQUIRE(max_diff(to_host_image(x), hq) == 0);
}

TEMPLATE_LIST_TEST_CASE("guided_upsample = guided filter of the bicubic upsampling; it sharpens a guided step",
                        "[baselines][guided]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 32, W = 32;
  // A depth step at column 13 and a guide with the same edge (plus texture of its own).
  HostImage depth(1, 1, H, W), guide(1, 1, H, W);
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(-0.02, 0.02);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      depth(0, 0, i, j) = j < 13 ? 0.2 : 0.8;
      guide(0, 0, i, j) = (j < 13 ? 0.3 : 0.7) + u(gen);
    }
  const auto td = to_tensor<T, Space>(depth), tg = to_tensor<T, Space>(guide);
  const auto low = imresize_bicubic(td, 0.25);
  auto out = make_tensor_like("out", td);
  guided_upsample(low, tg, out, 2, 1e-4);
  auto bicubic = make_tensor_like("bicubic", td);
  imresize_bicubic(low, bicubic);
  auto ref = make_tensor_like("ref", td);
  guided_filter(tg, bicubic, ref, 2, 1e-4);
  REQUIRE(max_diff(to_host_image(out), to_host_image(ref)) == 0);
  REQUIRE(rmse(out, td, 255) < 0.8 * rmse(bicubic, td, 255));
  // An RGB guide through guided_filter_color.
  auto rgb = make_tensor<T, Space>("rgb", Shape4{1, 3, H, W});
  for (int c = 0; c < 3; ++c)
    Kokkos::deep_copy(Kokkos::subview(rgb, Kokkos::ALL, std::make_pair(c, c + 1), Kokkos::ALL, Kokkos::ALL), tg);
  guided_upsample(low, rgb, out, 2, 1e-4, true);
  REQUIRE(rmse(out, td, 255) < 0.8 * rmse(bicubic, td, 255));
}

TEMPLATE_LIST_TEST_CASE("guided filter rejects bad input", "[baselines][guided][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto g = make_tensor<T, Space>("g", Shape4{1, 1, 6, 6});
  auto p = make_tensor<T, Space>("p", Shape4{1, 2, 6, 6});
  auto q = make_tensor<T, Space>("q", Shape4{1, 2, 6, 6});
  auto g3 = make_tensor<T, Space>("g3", Shape4{1, 3, 6, 6});
  auto small = make_tensor<T, Space>("small", Shape4{1, 1, 6, 5});
  REQUIRE_THROWS_WITH(guided_filter(g, p, q, -1, 0.01), Contains("mcsc::guided_filter") && Contains("radius"));
  REQUIRE_THROWS_WITH(guided_filter(g, p, q, 2, 0.0), Contains("eps"));
  REQUIRE_THROWS_WITH(guided_filter(g, p, q, 2, std::nan("")), Contains("eps"));
  REQUIRE_THROWS_WITH(guided_filter(g3, p, q, 2, 0.01), Contains("1 channel or as many as src"));
  REQUIRE_THROWS_WITH(guided_filter(small, p, q, 2, 0.01), Contains("(1, 1, 6, 5)"));
  REQUIRE_THROWS_WITH(guided_filter(g, p, g, 2, 0.01), Contains("(1, 1, 6, 6)"));
  REQUIRE_THROWS_WITH(guided_filter_color(g, p, q, 2, 0.01), Contains("mcsc::guided_filter_color") && Contains("3 channels"));
  REQUIRE_THROWS_WITH(guided_upsample(small, g, q, 2, 0.01), Contains("mcsc::guided_upsample"));
  auto h = Kokkos::create_mirror_view(p);
  h(0, 1, 2, 2) = std::nan("");
  Kokkos::deep_copy(p, h);
  REQUIRE_THROWS_WITH(guided_filter(g, p, q, 2, 0.01), Contains("NaN"));
  REQUIRE_THROWS_AS(guided_filter(g, p, q, 2, 0.01), mcsc::Error);
}

// ------------------------------------------------------------------ joint bilateral upsampling

namespace {

/// Kopf et al.'s joint bilateral upsampling with the conventions of joint_bilateral.hpp, written
/// out directly.
HostImage jbu_ref(const HostImage& S, const HostImage& I, int H, int W, double ss, double sr, int r) {
  HostImage out(S.N, S.C, H, W);
  const int h = S.H, w = S.W;
  for (int n = 0; n < S.N; ++n)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const double y = (i + 0.5) * h / H - 0.5, x = (j + 0.5) * w / W - 0.5;  // low-resolution position
        const int cy = int(std::floor(y + 0.5)), cx = int(std::floor(x + 0.5));
        std::vector<double> acc(std::size_t(S.C), 0.0);
        double total = 0;
        for (int qy = cy - r; qy <= cy + r; ++qy)
          for (int qx = cx - r; qx <= cx + r; ++qx) {
            if (qy < 0 || qy >= h || qx < 0 || qx >= w) continue;
            const int gy = std::min(H - 1, int(std::floor((qy + 0.5) * H / h)));
            const int gx = std::min(W - 1, int(std::floor((qx + 0.5) * W / w)));
            double d2 = 0;
            for (int k = 0; k < I.C; ++k) d2 += std::pow(I(n, k, i, j) - I(n, k, gy, gx), 2);
            const double f = std::exp(-((y - qy) * (y - qy) + (x - qx) * (x - qx)) / (2 * ss * ss));
            const double g = std::exp(-d2 / (2 * sr * sr));
            total += f * g;
            for (int c = 0; c < S.C; ++c) acc[std::size_t(c)] += f * g * S(n, c, qy, qx);
          }
        for (int c = 0; c < S.C; ++c) out(n, c, i, j) = acc[std::size_t(c)] / total;
      }
  return out;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("joint_bilateral_upsample matches Kopf et al.'s formula written out", "[baselines][jbu]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto tS = to_tensor<T, Space>(random_image(2, 2, 5, 4, 8));
  const HostImage S = to_host_image(tS);
  for (int Cg : {1, 3})
    for (auto size : {std::make_pair(10, 8), std::make_pair(13, 11), std::make_pair(5, 4)}) {
      const int H = size.first, W = size.second;
      CAPTURE(Cg, H, W);
      const auto tI = to_tensor<T, Space>(random_image(2, Cg, H, W, 9));
      const HostImage I = to_host_image(tI);
      auto out = make_tensor<T, Space>("out", Shape4{2, 2, H, W});
      JointBilateralOptions opt;
      opt.sigma_spatial = 0.8;
      opt.sigma_range = 0.2;
      opt.radius = 2;
      joint_bilateral_upsample(tS, tI, out, opt);
      REQUIRE(max_diff(to_host_image(out), jbu_ref(S, I, H, W, 0.8, 0.2, 2)) < tol<T>());
    }
  // Same resolution and a huge range sigma: a Gaussian blur normalised over the clipped window.
  auto guide = to_tensor<T, Space>(random_image(2, 1, 5, 4, 10));
  auto out = make_tensor_like("out", tS);
  JointBilateralOptions wide;
  wide.sigma_spatial = 1.1;
  wide.sigma_range = 1e6;
  wide.radius = 2;
  joint_bilateral_upsample(tS, guide, out, wide);
  REQUIRE(max_diff(to_host_image(out), to_host_image(gaussian_blur(tS, 1.1, 2, ImageBorder::normalized))) < tol<T>());
  // A tiny range sigma: every weight underflows except where the guide matches exactly.
  JointBilateralOptions narrow = wide;
  narrow.sigma_range = 1e-200;
  joint_bilateral_upsample(tS, guide, out, narrow);
  REQUIRE(count_nonfinite(out) == 0);
  REQUIRE(max_diff(to_host_image(out), S) < tol<T>());  // only the pixel itself has guide distance 0
}

TEMPLATE_LIST_TEST_CASE("joint_bilateral_upsample keeps a guided depth edge sharper than bicubic", "[baselines][jbu]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 32, W = 32;
  HostImage depth(1, 1, H, W), guide(1, 3, H, W);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const bool right = j + i / 4 >= 16;
      depth(0, 0, i, j) = right ? 0.7 : 0.2;
      for (int c = 0; c < 3; ++c) guide(0, c, i, j) = right ? 0.6 + 0.1 * c : 0.3 - 0.1 * c;
    }
  const auto td = to_tensor<T, Space>(depth), tg = to_tensor<T, Space>(guide);
  const auto low = imresize_bicubic(td, 0.25);
  auto out = make_tensor_like("out", td), bicubic = make_tensor_like("bicubic", td);
  imresize_bicubic(low, bicubic);
  JointBilateralOptions opt;
  opt.sigma_spatial = 1.0;
  opt.sigma_range = 0.05;
  joint_bilateral_upsample(low, tg, out, opt);
  REQUIRE(rmse(out, td, 255) < 0.6 * rmse(bicubic, td, 255));
}

TEMPLATE_LIST_TEST_CASE("joint_bilateral_upsample rejects bad input", "[baselines][jbu][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto low = make_tensor<T, Space>("low", Shape4{1, 1, 4, 4});
  auto guide = make_tensor<T, Space>("guide", Shape4{1, 3, 8, 8});
  auto dst = make_tensor<T, Space>("dst", Shape4{1, 1, 8, 8});
  auto big = make_tensor<T, Space>("big", Shape4{1, 1, 16, 16});
  auto wrong = make_tensor<T, Space>("wrong", Shape4{1, 1, 8, 7});
  JointBilateralOptions opt;
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(big, guide, dst, opt),
                      Contains("mcsc::joint_bilateral_upsample") && Contains("upsampling only"));
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(low, guide, wrong, opt), Contains("(1, 1, 8, 7)"));
  opt.sigma_range = 0;
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(low, guide, dst, opt), Contains("sigma_range"));
  opt.sigma_range = 0.1;
  opt.sigma_spatial = -1;
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(low, guide, dst, opt), Contains("sigma_spatial"));
  opt.sigma_spatial = 1;
  opt.radius = -3;
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(low, guide, dst, opt), Contains("radius"));
  opt.radius = 2;
  auto h = Kokkos::create_mirror_view(guide);
  h(0, 2, 1, 1) = std::nan("");
  Kokkos::deep_copy(guide, h);
  REQUIRE_THROWS_WITH(joint_bilateral_upsample(low, guide, dst, opt), Contains("NaN"));
}

// ------------------------------------------------------------------ fusion

TEMPLATE_LIST_TEST_CASE("average_fusion and tikhonov_lowpass (against a dense solve)", "[baselines][fusion]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 5, W = 6;
  const auto ta = to_tensor<T, Space>(random_image(1, 2, H, W, 12)), tb = to_tensor<T, Space>(random_image(1, 2, H, W, 13));
  const HostImage a = to_host_image(ta), b = to_host_image(tb);
  auto f = make_tensor_like("f", ta);
  average_fusion(ta, tb, f);
  const HostImage hf = to_host_image(f);
  for (std::size_t k = 0; k < a.v.size(); ++k) REQUIRE(std::abs(hf.v[k] - 0.5 * (a.v[k] + b.v[k])) < tol<T>());

  // (I + lambda L) x = s with L the Neumann 4-neighbour Laplacian, assembled entry by entry.
  const double lambda = 5;
  Eigen::MatrixXd A = Eigen::MatrixXd::Identity(H * W, H * W);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const int row = i * W + j;
      const int nb[4][2] = {{i - 1, j}, {i + 1, j}, {i, j - 1}, {i, j + 1}};
      for (const auto& q : nb) {
        if (q[0] < 0 || q[0] >= H || q[1] < 0 || q[1] >= W) continue;
        A(row, row) += lambda;
        A(row, q[0] * W + q[1]) -= lambda;
      }
    }
  auto base = make_tensor_like("base", ta);
  const int iterations = tikhonov_lowpass(ta, base);
  REQUIRE(iterations > 0);
  REQUIRE(iterations < 100);
  const HostImage hb = to_host_image(base);
  for (int c = 0; c < 2; ++c) {
    Eigen::VectorXd s(H * W);
    for (int k = 0; k < H * W; ++k) s(k) = a.v[std::size_t(c * H * W + k)];
    const Eigen::VectorXd x = A.ldlt().solve(s);
    for (int k = 0; k < H * W; ++k) REQUIRE(std::abs(hb.v[std::size_t(c * H * W + k)] - x(k)) < tol<T>());
  }
  // A constant image is its own base; lambda 0 is the identity.
  auto c = make_tensor_like("c", ta);
  fill(c, T(0.4));
  tikhonov_lowpass(c, c);
  for (double v : to_host_image(c).v) REQUIRE(std::abs(v - 0.4) < tol<T>());
  LowpassOptions none;
  none.lambda = 0;
  tikhonov_lowpass(ta, base, none);
  REQUIRE(max_diff(to_host_image(base), a) < tol<T>());
  LowpassOptions bad;
  bad.lambda = -1;
  REQUIRE_THROWS_WITH(tikhonov_lowpass(ta, base, bad), Contains("mcsc::tikhonov_lowpass") && Contains("lambda"));
  bad.lambda = 1e6;
  bad.max_iterations = 2;
  REQUIRE_THROWS_WITH(tikhonov_lowpass(ta, base, bad), Contains("did not reach"));
  REQUIRE_THROWS_WITH(average_fusion(ta, make_tensor<T, Space>("x", Shape4{1, 2, H, W + 1}), f),
                      Contains("mcsc::average_fusion"));
}

namespace {

/// An orthonormal 2-D DCT-II basis of s x s filters without the constant one: weights (1, s*s - 1, s, s).
template <class T, class Space>
Tensor4<T, Space> dct_dictionary(int s) {
  auto w = make_tensor<T, Space>("dct", Shape4{1, s * s - 1, s, s});
  auto h = Kokkos::create_mirror_view(w);
  int k = 0;
  for (int u = 0; u < s; ++u)
    for (int v = 0; v < s; ++v) {
      if (u == 0 && v == 0) continue;
      const double cu = u == 0 ? std::sqrt(1.0 / s) : std::sqrt(2.0 / s), cv = v == 0 ? std::sqrt(1.0 / s) : std::sqrt(2.0 / s);
      for (int p = 0; p < s; ++p)
        for (int q = 0; q < s; ++q)
          h(0, k, p, q) = T(cu * cv * std::cos(M_PI * (2 * p + 1) * u / (2.0 * s)) * std::cos(M_PI * (2 * q + 1) * v / (2.0 * s)));
      ++k;
    }
  Kokkos::deep_copy(w, h);
  return w;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("csr_fusion of an image with itself is its base plus its own CSC reconstruction",
                        "[baselines][fusion][csr]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto w = dct_dictionary<T, Space>(3);
  const auto x = gaussian_blur(to_tensor<T, Space>(random_image(1, 1, 12, 12, 14)), 0.7);
  CsrFusionOptions opt = CsrFusionOptions::multi_modal();
  opt.fista.max_iterations = 12;    // few kernel launches: OpenMP on a busy machine pays per launch
  opt.lowpass.tolerance = 1e-7;
  // lambda_max(D'D) of the 8 non-constant 3x3 DCT atoms, circular on 12 x 12, is exactly 9. In
  // double csr_fusion estimates it by power iteration; in float it is given (the float power
  // iteration stalls short of its 1e-7 tolerance and would run all its iterations).
  if (std::is_same<T, float>::value) opt.fista.lipschitz = 1.01 * 9;
  const auto fused = csr_fusion(w, x, x, opt);
  REQUIRE(fused.lipschitz <= 1.01 * 9 * (1 + 1e-6));  // power iteration approaches from below
  REQUIRE(fused.lipschitz > 1.01 * 9 * (1 - 1e-3));
  // The same steps by hand: base, fista on the detail with the same step constant, D * codes.
  auto base = make_tensor_like("base", x), detail = make_tensor_like("detail", x);
  tikhonov_lowpass(x, base, opt.lowpass);
  lincomb(T(1), x, T(-1), base, detail);
  ConvDictionary<T, Space> D(w, Boundary::circular);
  FistaOptions fopt = opt.fista;
  fopt.lipschitz = fused.lipschitz;
  const auto r = fista(D, detail, fopt);
  auto expected = make_tensor_like("expected", x);
  lincomb(T(1), base, T(1), r.reconstruction, expected);
  // Identical arithmetic up to the order of the final sums: float 1e-5, double 1e-12.
  REQUIRE(max_abs_diff(fused.fused, expected) < (std::is_same<T, float>::value ? 1e-5 : 1e-12));
  REQUIRE(max_abs_diff(fused.fused_base, base) == 0);
  REQUIRE(max_abs_diff(fused.codes_a, fused.codes_b) == 0);
  REQUIRE(sum_abs(fused.decision) == 0);  // ties go to b, as Liu et al.'s code
  // And it is close to the image itself (the CSC reconstruction is not exact: lambda > 0).
  REQUIRE(rmse(fused.fused, x) < 0.05);
  // The choose-max base rule gives the same on identical sources.
  CsrFusionOptions choose = opt;
  choose.base_rule = FusionBaseRule::choose_max;
  choose.activity_radius = 9;
  choose.fista.lipschitz = fused.lipschitz;
  const auto again = csr_fusion(D, x, x, choose);
  REQUIRE(max_abs_diff(again.fused_base, base) == 0);
}

TEMPLATE_LIST_TEST_CASE("csr_fusion's fusion rule (activity, decision, fused codes, detail and base) equals a "
                        "plain host reference on two different sources", "[baselines][fusion][csr]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 12, W = 14, r = 2;
  const auto w = dct_dictionary<T, Space>(3);
  // Two sources, each sharp where the other is blurred, so that each wins part of the decision.
  MultiFocusOptions mf;
  mf.sigma = 1.5;
  mf.seed = 3;
  const auto pair = make_multifocus_pair(gaussian_blur(to_tensor<T, Space>(random_image(1, 1, H, W, 21)), 0.6), mf);
  const auto &a = pair.a, &b = pair.b;
  const Eigen::MatrixXd M = mcsc_test::dense_conv_matrix(w, 1, H, W, Boundary::circular);  // codes -> image
  for (const bool choose : {false, true}) {
    CAPTURE(choose);
    CsrFusionOptions opt = choose ? CsrFusionOptions::multi_focus() : CsrFusionOptions::multi_modal();
    opt.activity_radius = r;
    opt.fista.max_iterations = 12;
    opt.fista.lipschitz = 1.01 * 9;  // lambda_max of the 3x3 DCT atoms without DC, circular (above)
    const auto out = csr_fusion(w, a, b, opt);
    const Eigen::VectorXd ca = mcsc_test::to_eigen(out.codes_a), cb = mcsc_test::to_eigen(out.codes_b);
    const Eigen::VectorXd ba = mcsc_test::to_eigen(out.base_a), bb = mcsc_test::to_eigen(out.base_b);
    const int K = int(out.codes_a.extent(1));
    // Activity: sum_k |c_k|, then the mean over the (2r+1)^2 window, zeros outside the image.
    auto activity = [&](const Eigen::VectorXd& c) {
      Eigen::VectorXd l1 = Eigen::VectorXd::Zero(H * W), act = Eigen::VectorXd::Zero(H * W);
      for (int k = 0; k < K; ++k)
        for (int i = 0; i < H * W; ++i) l1(i) += std::abs(c(k * H * W + i));
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
          double sum = 0;
          for (int di = -r; di <= r; ++di)
            for (int dj = -r; dj <= r; ++dj)
              if (i + di >= 0 && i + di < H && j + dj >= 0 && j + dj < W) sum += l1((i + di) * W + j + dj);
          act(i * W + j) = sum / double((2 * r + 1) * (2 * r + 1));
        }
      return act;
    };
    const Eigen::VectorXd aa = activity(ca), ab = activity(cb);
    Eigen::VectorXd decision(H * W), codes(K * H * W), base(H * W);
    for (int i = 0; i < H * W; ++i) {
      decision(i) = aa(i) > ab(i) ? 1 : 0;
      base(i) = choose ? (decision(i) > 0 ? ba(i) : bb(i)) : 0.5 * (ba(i) + bb(i));
      for (int k = 0; k < K; ++k) codes(k * H * W + i) = decision(i) > 0 ? ca(k * H * W + i) : cb(k * H * W + i);
    }
    const Eigen::VectorXd detail = M * codes, fused = base + detail;
    REQUIRE((mcsc_test::to_eigen(out.activity_a) - aa).cwiseAbs().maxCoeff() < 1e-12);
    REQUIRE((mcsc_test::to_eigen(out.activity_b) - ab).cwiseAbs().maxCoeff() < 1e-12);
    REQUIRE(mcsc_test::to_eigen(out.decision) == decision);
    REQUIRE(decision.sum() > 0.1 * H * W);  // both sources win somewhere: the rule is exercised
    REQUIRE(decision.sum() < 0.9 * H * W);
    REQUIRE((mcsc_test::to_eigen(out.fused_base) - base).cwiseAbs().maxCoeff() < 1e-14);
    REQUIRE((mcsc_test::to_eigen(out.fused_detail) - detail).cwiseAbs().maxCoeff() < 1e-12);
    REQUIRE((mcsc_test::to_eigen(out.fused) - fused).cwiseAbs().maxCoeff() < 1e-12);
  }
}

// Double only (a behaviour test; the float kernels are covered above), to keep the run short.
TEMPLATE_LIST_TEST_CASE("csr_fusion picks the in-focus halves of a synthetic multi-focus pair",
                        "[baselines][fusion][csr]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 32, W = 32;
  // A sharp texture; the pair blurs it (sigma 2) outside / inside a smooth random region.
  const auto sharp = gaussian_blur(to_tensor<T, Space>(random_image(1, 1, H, W, 15)), 0.6);
  MultiFocusOptions mf;
  mf.sigma = 2.0;
  mf.seed = 3;
  const auto pair = make_multifocus_pair(sharp, mf);
  const auto w = dct_dictionary<T, Space>(4);
  CsrFusionOptions opt = CsrFusionOptions::multi_focus();
  opt.activity_radius = 3;
  opt.fista.max_iterations = 25;
  // lambda_max(D'D) of the 15 non-constant 4x4 DCT atoms, circular on 32 x 32, is exactly 16
  // (the full orthonormal basis gives 16 at every frequency; the constant atom vanishes at some):
  // given, so that the test skips the power iteration.
  opt.fista.lipschitz = 1.01 * 16;
  const auto csr = csr_fusion(w, pair.a, pair.b, opt);
  auto average = make_tensor_like("average", sharp);
  average_fusion(pair.a, pair.b, average);
  const double e_csr = rmse(csr.fused, sharp), e_avg = rmse(average, sharp);
  const double q_csr = qabf(pair.a, pair.b, csr.fused), q_avg = qabf(pair.a, pair.b, average);
  // The decision map agrees with the foreground mask (1: a is sharp there).
  const HostImage mask = to_host_image(pair.mask), decision = to_host_image(csr.decision);
  int agree = 0;
  for (std::size_t k = 0; k < mask.v.size(); ++k) agree += mask.v[k] == decision.v[k];
  CAPTURE(e_csr, e_avg, q_csr, q_avg, agree);
  REQUIRE(e_csr < 0.7 * e_avg);
  REQUIRE(q_csr > q_avg + 0.05);
  REQUIRE(agree > int(0.85 * H * W));
}

TEMPLATE_LIST_TEST_CASE("csr_fusion rejects bad input", "[baselines][fusion][csr][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto w = dct_dictionary<T, Space>(3);
  auto a = make_tensor<T, Space>("a", Shape4{1, 1, 8, 8});
  auto b = make_tensor<T, Space>("b", Shape4{1, 1, 8, 9});
  auto rgb = make_tensor<T, Space>("rgb", Shape4{1, 3, 8, 8});
  REQUIRE_THROWS_WITH(csr_fusion(w, a, b), Contains("mcsc::csr_fusion") && Contains("(1, 1, 8, 9)"));
  REQUIRE_THROWS_WITH(csr_fusion(w, rgb, rgb), Contains("mcsc::csr_fusion") && Contains("channel"));
  CsrFusionOptions opt;
  opt.activity_radius = -1;
  REQUIRE_THROWS_WITH(csr_fusion(w, a, a, opt), Contains("activity_radius"));
  auto h = Kokkos::create_mirror_view(a);
  h(0, 0, 1, 1) = std::nan("");
  Kokkos::deep_copy(a, h);
  REQUIRE_THROWS_WITH(csr_fusion(w, a, a), Contains("NaN"));
}

// ------------------------------------------------------------------------ back-projection

TEMPLATE_LIST_TEST_CASE("back_project without a guide is z += U(low - L z) with dense L and U (Eigen)",
                        "[baselines][back_projection]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 16, W = 12, h = 8, w = 6;
  // The dense matrices of L = imresize(., 1/2) and U = imresize(., 2), column by column.
  auto unit_response = [](int in_h, int in_w, int out_h, int out_w, double scale) {
    Eigen::MatrixXd M(out_h * out_w, in_h * in_w);
    for (int k = 0; k < in_h * in_w; ++k) {
      HostImage e(1, 1, in_h, in_w);
      e(0, 0, k / in_w, k % in_w) = 1;
      const auto t = to_tensor<T, Space>(e);
      auto out = make_tensor<T, Space>("out", Shape4{1, 1, out_h, out_w});
      imresize_bicubic(t, out, scale);
      const auto ho = to_host_image(out);
      for (int r = 0; r < out_h * out_w; ++r) M(r, k) = ho(0, 0, r / out_w, r % out_w);
    }
    return M;
  };
  const Eigen::MatrixXd L = unit_response(H, W, h, w, 0.5), U = unit_response(h, w, H, W, 2.0);
  std::mt19937 gen(5);
  std::uniform_real_distribution<double> u(0, 1);
  HostImage truth(1, 1, H, W), start(1, 1, H, W);
  Eigen::VectorXd zt(H * W), z(H * W);
  for (int k = 0; k < H * W; ++k) {
    zt(k) = truth(0, 0, k / W, k % W) = u(gen);
    z(k) = start(0, 0, k / W, k % W) = 0.5;
  }
  const Eigen::VectorXd low_ref = L * zt;
  HostImage low_host(1, 1, h, w);
  for (int k = 0; k < h * w; ++k) low_host(0, 0, k / w, k % w) = low_ref(k);
  const auto low = to_tensor<T, Space>(low_host);
  auto est = to_tensor<T, Space>(start);
  BackProjectionOptions o;
  o.iterations = 6;
  o.radius = 0;
  const auto result = back_project(low, est, est, 2.0, o);
  std::vector<double> residuals = {(low_ref - L * z).norm() / low_ref.norm()};
  for (int it = 0; it < o.iterations; ++it) {
    z += U * (low_ref - L * z);
    residuals.push_back((low_ref - L * z).norm() / low_ref.norm());
  }
  const auto he = to_host_image(est);
  for (int k = 0; k < H * W; ++k) REQUIRE(he(0, 0, k / W, k % W) == Approx(z(k)).margin(1e-12));
  REQUIRE(result.residuals.size() == residuals.size());
  for (std::size_t k = 0; k < residuals.size(); ++k) REQUIRE(result.residuals[k] == Approx(residuals[k]).margin(1e-12));
  REQUIRE(residuals.back() < 0.5 * residuals.front());  // it does pull towards the observation
}

TEMPLATE_LIST_TEST_CASE("guided back-projection recovers a guided depth step better than plain back-projection",
                        "[baselines][back_projection]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 64, W = 64;
  HostImage depth(1, 1, H, W), guide(1, 3, H, W);
  std::mt19937 gen(7);
  std::uniform_real_distribution<double> u(-0.02, 0.02);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const bool near = j < 21 + i / 3;  // a slanted depth edge
      depth(0, 0, i, j) = near ? 0.75 : 0.25;
      for (int c = 0; c < 3; ++c) guide(0, c, i, j) = (near ? 0.3 + 0.1 * c : 0.7 - 0.1 * c) + u(gen);
    }
  const auto td = to_tensor<T, Space>(depth), tg = to_tensor<T, Space>(guide);
  const auto low = imresize_bicubic(td, 0.25);
  auto bicubic = make_tensor_like("bicubic", td);
  imresize_bicubic(low, bicubic, 4.0);
  auto plain = make_tensor_like("plain", td), guided = make_tensor_like("guided", td);
  Kokkos::deep_copy(plain, bicubic);
  Kokkos::deep_copy(guided, bicubic);
  BackProjectionOptions o;
  o.iterations = 20;
  o.radius = 0;
  const auto rp = back_project(low, plain, plain, 4.0, o);
  o.radius = 2;
  const auto rg = back_project(low, tg, guided, 4.0, o);
  for (std::size_t k = 1; k < rp.residuals.size(); ++k) CHECK(rp.residuals[k] <= rp.residuals[k - 1] * (1 + 1e-5));
  CHECK(rg.residuals.back() < 0.5 * rg.residuals.front());
  const double e_bicubic = rmse(bicubic, td, 255), e_plain = rmse(plain, td, 255), e_guided = rmse(guided, td, 255);
  CHECK(e_plain < e_bicubic);
  CHECK(e_guided < 0.9 * e_plain);
  // Zero iterations leave z alone and report the starting residual only.
  auto same = make_tensor_like("same", td);
  Kokkos::deep_copy(same, bicubic);
  o.iterations = 0;
  REQUIRE(back_project(low, tg, same, 4.0, o).residuals.size() == 1);
  REQUIRE(max_diff(to_host_image(same), to_host_image(bicubic)) == 0);
}

TEMPLATE_LIST_TEST_CASE("ColorGuidedFilter applied repeatedly, in place or not, equals guided_filter_color",
                        "[baselines][guided]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 20, W = 17;
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> u(0, 1);
  HostImage guide(2, 3, H, W), a(2, 1, H, W), b(2, 2, H, W);
  for (auto* im : {&guide, &a, &b})
    for (int n = 0; n < im->N; ++n)
      for (int c = 0; c < im->C; ++c)
        for (int i = 0; i < H; ++i)
          for (int j = 0; j < W; ++j) (*im)(n, c, i, j) = u(gen);
  const auto tg = to_tensor<T, Space>(guide);
  const ColorGuidedFilter<T, Space> filter(tg, 3, 1e-3);
  for (const HostImage* im : {&a, &b, &a}) {
    const auto src = to_tensor<T, Space>(*im);
    auto ref = make_tensor_like("ref", src), out = make_tensor_like("out", src);
    guided_filter_color(tg, src, ref, 3, 1e-3);
    filter.apply(src, out);
    REQUIRE(max_diff(to_host_image(out), to_host_image(ref)) == 0);
    auto in_place = to_tensor<T, Space>(*im);
    filter.apply(in_place, in_place);
    REQUIRE(max_diff(to_host_image(in_place), to_host_image(ref)) == 0);
  }
  auto grey = make_tensor<T, Space>("grey", Shape4{2, 1, H, W});
  REQUIRE_THROWS_WITH((ColorGuidedFilter<T, Space>(grey, 3, 1e-3)), Contains("3 channels"));
  auto other = make_tensor<T, Space>("other", Shape4{2, 1, H, W + 1});
  REQUIRE_THROWS_WITH(filter.apply(other, other), Contains("differ in batch size or image size"));
}

TEMPLATE_LIST_TEST_CASE("back_project rejects bad input", "[baselines][back_projection][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto z = make_tensor<T, Space>("z", Shape4{1, 1, 16, 16});
  auto low = make_tensor<T, Space>("low", Shape4{1, 1, 4, 4});
  auto wrong = make_tensor<T, Space>("wrong", Shape4{1, 1, 5, 4});
  auto g2 = make_tensor<T, Space>("g2", Shape4{1, 2, 16, 16});
  auto g_small = make_tensor<T, Space>("g_small", Shape4{1, 1, 8, 16});
  BackProjectionOptions o;
  REQUIRE_THROWS_WITH(back_project(wrong, z, z, 4.0, o), Contains("mcsc::back_project") && Contains("downsampled by 4"));
  REQUIRE_THROWS_WITH(back_project(low, z, z, 1.0, o), Contains("scale must be > 1"));
  REQUIRE_THROWS_WITH(back_project(low, g2, z, 4.0, o), Contains("does not fit z"));
  REQUIRE_THROWS_WITH(back_project(low, g_small, z, 4.0, o), Contains("does not fit z"));
  auto z_odd = make_tensor<T, Space>("z_odd", Shape4{1, 1, 15, 16});  // ceil(15/4) = 4 rows, but 4 x 4 != 15
  REQUIRE_THROWS_WITH(back_project(low, z_odd, z_odd, 4.0, o), Contains("must be 4 times low's"));
  o.iterations = -1;
  REQUIRE_THROWS_WITH(back_project(low, z, z, 4.0, o), Contains("iterations"));
  o.iterations = 2;
  o.eps = 0;
  REQUIRE_THROWS_WITH(back_project(low, z, z, 4.0, o), Contains("eps"));
  o.eps = 1e-3;
  auto h = Kokkos::create_mirror_view(low);
  h(0, 0, 1, 1) = std::nan("");
  Kokkos::deep_copy(low, h);
  REQUIRE_THROWS_WITH(back_project(low, z, z, 4.0, o), Contains("NaN"));
}
