// Degradations (data/degrade.hpp) and fusion metrics (metrics/fusion.hpp): Gaussian blur, box
// mean, seeded noise, synthetic multi-focus pairs, exposure simulation, Q^AB/F and MEF-SSIM.
// Each kernel is compared with a plain host loop written here independently of the library, in
// double, on tiny images; plus the documented special values and every error path.
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "mcsc/data/degrade.hpp"
#include "mcsc/metrics/fusion.hpp"
#include "host_image.hpp"
#include "test_common.hpp"

using namespace mcsc;
using Catch::Matchers::Contains;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {

template <class T>
double tol() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-12;
}

using mcsc_test::HostImage;
using mcsc_test::max_diff;
using mcsc_test::random_image;
using mcsc_test::to_host_image;
using mcsc_test::to_tensor;


// ------------------------------------------------------------------ filtering references

/// MATLAB's symmetric padding of an axis of length n: aux = [0..n-1, n-1..0], index i (0-based,
/// any integer) maps to aux(mod(i, 2n)).
std::vector<int> mirror_table(int n) {
  std::vector<int> aux;
  for (int k = 0; k < n; ++k) aux.push_back(k);
  for (int k = n - 1; k >= 0; --k) aux.push_back(k);
  return aux;
}
int mirror(const std::vector<int>& aux, int i) {
  const int period = int(aux.size());
  return aux[std::size_t(((i % period) + period) % period)];
}

/// Direct 2-D correlation with the outer product of w (odd length), under a border rule.
HostImage filter2d(const HostImage& x, const std::vector<double>& w, ImageBorder border) {
  HostImage y(x.N, x.C, x.H, x.W);
  const int r = int(w.size() / 2);
  const auto rows = mirror_table(x.H), cols = mirror_table(x.W);
  for (int n = 0; n < x.N; ++n)
    for (int c = 0; c < x.C; ++c)
      for (int i = 0; i < x.H; ++i)
        for (int j = 0; j < x.W; ++j) {
          double acc = 0, wsum = 0;
          for (int p = -r; p <= r; ++p)
            for (int q = -r; q <= r; ++q) {
              int a = i + p, b = j + q;
              const bool inside = a >= 0 && a < x.H && b >= 0 && b < x.W;
              if (!inside) {
                if (border == ImageBorder::zero || border == ImageBorder::normalized) continue;
                if (border == ImageBorder::symmetric) {
                  a = mirror(rows, a);
                  b = mirror(cols, b);
                } else {
                  a = std::min(std::max(a, 0), x.H - 1);
                  b = std::min(std::max(b, 0), x.W - 1);
                }
              }
              const double weight = w[std::size_t(p + r)] * w[std::size_t(q + r)];
              acc += weight * x(n, c, a, b);
              wsum += weight;
            }
          y(n, c, i, j) = border == ImageBorder::normalized ? acc / wsum : acc;
        }
  return y;
}

}  // namespace

TEST_CASE("gaussian_kernel is fspecial's normalised Gaussian (the SSIM window for 1.5 / 5)", "[degrade]") {
  const auto g = gaussian_kernel(1.5, 5);
  const auto s = Impl::ssim_gaussian();
  REQUIRE(g.size() == 11);
  for (int k = 0; k < 11; ++k) REQUIRE(std::abs(g[std::size_t(k)] - s[k]) < 1e-15);
  REQUIRE(gaussian_kernel(2.0).size() == 13);  // default radius ceil(3 sigma) = 6
  REQUIRE(gaussian_kernel(0.3, 0) == std::vector<double>{1.0});
  REQUIRE(std::abs(std::accumulate(g.begin(), g.end(), 0.0) - 1) < 1e-15);
}

TEMPLATE_LIST_TEST_CASE("gaussian_blur and box_mean match direct 2-D sums for every border rule", "[degrade]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const HostImage x = random_image(2, 2, 5, 7, 3);
  const auto tx = to_tensor<T, Space>(x);
  for (ImageBorder border : {ImageBorder::symmetric, ImageBorder::replicate, ImageBorder::zero, ImageBorder::normalized}) {
    CAPTURE(to_string(border));
    // radius 6 > the image height: the symmetric rule mirrors more than once.
    for (int radius : {0, 2, 6}) {
      CAPTURE(radius);
      const auto ref = filter2d(x, gaussian_kernel(1.3, radius), border);
      REQUIRE(max_diff(to_host_image(gaussian_blur(tx, 1.3, radius, border)), ref) < tol<T>());
      const auto box_ref = filter2d(x, std::vector<double>(std::size_t(2 * radius + 1), 1.0 / (2 * radius + 1)), border);
      auto box = make_tensor_like("box", tx);
      box_mean(tx, box, radius, border);
      REQUIRE(max_diff(to_host_image(box), box_ref) < tol<T>());
    }
  }
  // separable_filter with different kernels per axis: rows untouched ([0 1 0]), columns by a
  // 3-tap kernel, zero border, against the 1-D sum written out.
  {
    const std::vector<double> wy = {0, 1, 0}, wx = {0.25, 0.5, -0.125};
    auto out = make_tensor_like("out", tx);
    separable_filter(tx, out, wy, wx, ImageBorder::zero);
    const auto ho = to_host_image(out);
    double worst = 0;
    for (int n = 0; n < x.N; ++n)
      for (int ch = 0; ch < x.C; ++ch)
        for (int i = 0; i < x.H; ++i)
          for (int j = 0; j < x.W; ++j) {
            double ref = 0;
            for (int q = 0; q < 3; ++q)
              if (j + q - 1 >= 0 && j + q - 1 < x.W) ref += wx[std::size_t(q)] * x(n, ch, i, j + q - 1);
            worst = std::max(worst, std::abs(ho(n, ch, i, j) - ref));
          }
    REQUIRE(worst < tol<T>());
    REQUIRE_THROWS_WITH(separable_filter(tx, out, std::vector<double>{0.5, 0.5}, wx, ImageBorder::zero),
                        Catch::Contains("mcsc::separable_filter") && Catch::Contains("odd lengths"));
  }
  // In place, and a constant image stays constant under the symmetric rule.
  auto c = make_tensor<T, Space>("c", Shape4{1, 1, 4, 6});
  fill(c, T(0.25));
  gaussian_blur(c, c, 2.0);
  const auto hc = to_host_image(c);
  for (double v : hc.v) REQUIRE(std::abs(v - 0.25) < tol<T>());
}

TEMPLATE_LIST_TEST_CASE("add_gaussian_noise: seeded, the requested sigma, the examples' noise", "[degrade]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const HostImage x = random_image(1, 1, 64, 64, 5);
  const auto tx = to_tensor<T, Space>(x);
  const double sigma = 25.0 / 255;
  const auto y1 = to_host_image(add_gaussian_noise(tx, sigma, 7));
  const auto y2 = to_host_image(add_gaussian_noise(tx, sigma, 7));
  const auto y3 = to_host_image(add_gaussian_noise(tx, sigma, 8));
  REQUIRE(max_diff(y1, y2) == 0);
  REQUIRE(max_diff(y1, y3) > 0.01);
  double mean = 0, sq = 0;
  for (std::size_t k = 0; k < x.v.size(); ++k) {
    const double d = y1.v[k] - x.v[k];
    mean += d;
    sq += d * d;
  }
  mean /= double(x.v.size());
  const double sd = std::sqrt(sq / double(x.v.size()) - mean * mean);
  REQUIRE(std::abs(mean) < 3 * sigma / 64);  // 3 standard errors of 4096 samples
  REQUIRE(std::abs(sd - sigma) < 0.05 * sigma);
  // The same samples as fill_normal(seed) (examples/dataset.hpp's degrade for noise).
  auto noise = make_tensor_like("noise", tx);
  fill_normal(noise, 7, 0.0, sigma);
  axpby(T(1), tx, T(1), noise);
  REQUIRE(max_diff(to_host_image(noise), y1) == 0);
  // sigma 0 is the identity; in place works.
  auto z = make_tensor_like("z", tx);
  Kokkos::deep_copy(z, tx);
  add_gaussian_noise(z, z, 0.0, 1);
  REQUIRE(max_diff(to_host_image(z), to_host_image(tx)) == 0);
}

TEMPLATE_LIST_TEST_CASE("make_multifocus_pair: a smooth seeded mask, A sharp inside, B sharp outside", "[degrade]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const int H = 24, W = 32;
  const HostImage x = random_image(2, 3, H, W, 11);
  const auto tx = to_tensor<T, Space>(x);
  MultiFocusOptions opt;
  opt.sigma = 1.5;
  opt.seed = 4;
  const auto pair = make_multifocus_pair(tx, opt);
  REQUIRE(shape_of(pair.mask) == (Shape4{2, 1, H, W}));
  const auto mask = to_host_image(pair.mask), a = to_host_image(pair.a), b = to_host_image(pair.b);
  const auto blurred = filter2d(x, gaussian_kernel(1.5), ImageBorder::symmetric);
  for (int n = 0; n < 2; ++n) {
    int ones = 0, changes = 0;
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        const double m = mask(n, 0, i, j);
        REQUIRE((m == 0 || m == 1));
        ones += m == 1;
        if (j + 1 < W) changes += mask(n, 0, i, j + 1) != m;
        if (i + 1 < H) changes += mask(n, 0, i + 1, j) != m;
        for (int c = 0; c < 3; ++c) {
          const double sharp = x(n, c, i, j), blur = blurred(n, c, i, j);
          REQUIRE(std::abs(a(n, c, i, j) - (m == 1 ? sharp : blur)) < tol<T>());
          REQUIRE(std::abs(b(n, c, i, j) - (m == 1 ? blur : sharp)) < tol<T>());
        }
      }
    REQUIRE(ones == H * W / 2);      // the foreground fraction 0.5, exactly (no ties in the field)
    REQUIRE(changes < (H + W) * 3);  // a few smooth boundaries, not salt and pepper
  }
  // The two images of the batch get different masks; the same seed gives the same pair.
  int differ = 0;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) differ += mask(0, 0, i, j) != mask(1, 0, i, j);
  REQUIRE(differ > 0);
  REQUIRE(max_diff(to_host_image(make_multifocus_pair(tx, opt).a), a) == 0);
  opt.seed = 5;
  REQUIRE(max_diff(to_host_image(make_multifocus_pair(tx, opt).mask), mask) == 1);
  opt.foreground = 0.25;
  const auto quarter = to_host_image(make_multifocus_pair(tx, opt).mask);
  REQUIRE(std::accumulate(quarter.v.begin(), quarter.v.end(), 0.0) == 2 * H * W / 4);
}

TEMPLATE_LIST_TEST_CASE("simulate_exposure follows the documented camera model", "[degrade]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // A few values outside [0, 1] (clamped); the reference reads the tensor's own values.
  const auto tx = to_tensor<T, Space>(random_image(1, 3, 6, 5, 13, -0.1, 1.1));
  const HostImage x = to_host_image(tx);
  for (double stops : {-3.0, -1.0, 0.0, 1.5, 2.0})
    for (int levels : {0, 256}) {
      CAPTURE(stops, levels);
      ExposureOptions opt;
      opt.levels = levels;
      opt.gamma = 2.2;
      const auto y = to_host_image(simulate_exposure(tx, stops, opt));
      for (std::size_t k = 0; k < x.v.size(); ++k) {
        const double v = std::min(1.0, std::max(0.0, x.v[k]));
        double e = std::pow(2.0, stops) * std::pow(v, 2.2);
        double ref = std::pow(std::min(e, 1.0), 1 / 2.2);
        if (levels) ref = std::round(ref * 255) / 255;
        REQUIRE(std::abs(y.v[k] - ref) < (std::is_same<T, float>::value ? 1e-6 : 1e-12));
        // The same as min(1, 2^(stops / gamma) v) before quantisation.
        if (!levels) REQUIRE(std::abs(ref - std::min(1.0, std::pow(2.0, stops / 2.2) * v)) < 1e-12);
      }
    }
  const auto pair = make_exposure_pair(tx, -2, 2);
  const auto under = to_host_image(pair.under), over = to_host_image(pair.over);
  for (std::size_t k = 0; k < x.v.size(); ++k) {
    REQUIRE(under.v[k] <= over.v[k]);
    REQUIRE(under.v[k] <= std::pow(2.0, -2 / 2.2) + 1e-6);
  }
}

TEMPLATE_LIST_TEST_CASE("degradations reject bad input", "[degrade][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto x = make_tensor<T, Space>("x", Shape4{1, 1, 8, 8});
  auto other = make_tensor<T, Space>("other", Shape4{1, 1, 8, 7});
  auto empty = make_tensor<T, Space>("empty", Shape4{1, 1, 0, 8});
  REQUIRE_THROWS_WITH(gaussian_blur(x, 0.0), Contains("mcsc::gaussian_kernel") && Contains("sigma"));
  REQUIRE_THROWS_WITH(gaussian_blur(x, std::nan("")), Contains("sigma"));
  REQUIRE_THROWS_WITH(gaussian_blur(x, 1.0, -2), Contains("radius"));
  REQUIRE_THROWS_WITH(gaussian_blur(x, other, 1.0), Contains("mcsc::gaussian_blur") && Contains("(1, 1, 8, 7)"));
  REQUIRE_THROWS_WITH(gaussian_blur(empty, 1.0), Contains("mcsc::gaussian_blur") && Contains("empty"));
  REQUIRE_THROWS_WITH(box_mean(x, x, -1), Contains("mcsc::box_mean") && Contains("radius"));
  REQUIRE_THROWS_WITH(add_gaussian_noise(x, -1.0, 1), Contains("mcsc::add_gaussian_noise") && Contains("sigma"));
  REQUIRE_THROWS_WITH(simulate_exposure(x, std::nan("")), Contains("mcsc::simulate_exposure") && Contains("stops"));
  ExposureOptions bad;
  bad.gamma = 0;
  REQUIRE_THROWS_WITH(simulate_exposure(x, 1.0, bad), Contains("gamma"));
  bad.gamma = 2.2;
  bad.levels = 1;
  REQUIRE_THROWS_WITH(simulate_exposure(x, 1.0, bad), Contains("levels"));
  REQUIRE_THROWS_WITH(make_exposure_pair(x, 1.0, -1.0), Contains("mcsc::make_exposure_pair"));
  MultiFocusOptions mf;
  mf.foreground = 1.0;
  REQUIRE_THROWS_WITH(make_multifocus_pair(x, mf), Contains("mcsc::make_multifocus_pair") && Contains("foreground"));
  mf.foreground = 0.5;
  mf.grid = 0;
  REQUIRE_THROWS_WITH(make_multifocus_pair(x, mf), Contains("grid"));
  auto h = Kokkos::create_mirror_view(x);
  h(0, 0, 3, 3) = std::nan("");
  Kokkos::deep_copy(x, h);
  REQUIRE_THROWS_WITH(gaussian_blur(x, 1.0), Contains("mcsc::gaussian_blur") && Contains("NaN"));
  REQUIRE_THROWS_WITH(add_gaussian_noise(x, 0.1, 1), Contains("NaN"));
  REQUIRE_THROWS_WITH(make_multifocus_pair(x), Contains("NaN"));
  REQUIRE_THROWS_WITH(simulate_exposure(x, 1.0), Contains("NaN"));
  REQUIRE_THROWS_AS(gaussian_blur(x, 1.0), mcsc::Error);
}

// ------------------------------------------------------------------ Q^AB/F

namespace {

/// A plain transcription of the common Qabf.m (VIFB metricsQabf.m), in double, for one plane;
/// `matlab` keeps its G = g_F where g_A == g_F (and the 0..255 scaling), otherwise G = 1 there.
double reference_qabf(const HostImage& A, const HostImage& B, const HostImage& F, int n, int c, bool matlab) {
  const int M = A.H, N = A.W;
  const double scale = matlab ? 255.0 : 1.0;
  const double h1[3][3] = {{1, 2, 1}, {0, 0, 0}, {-1, -2, -1}};
  const double h3[3][3] = {{-1, 0, 1}, {-2, 0, 2}, {-1, 0, 1}};
  // conv2(X, h, 'same'): Y(i, j) = sum_{k, l} X(k, l) h(i - k + 1, j - l + 1) (0-based, centre 1).
  auto conv2 = [&](const HostImage& X, const double (*h)[3], int i, int j) {
    double y = 0;
    for (int k = 0; k < M; ++k)
      for (int l = 0; l < N; ++l) {
        const int u = i - k + 1, v = j - l + 1;
        if (u >= 0 && u < 3 && v >= 0 && v < 3) y += scale * X(n, c, k, l) * h[u][v];
      }
    return y;
  };
  auto strength_orientation = [&](const HostImage& X, int i, int j, double& g, double& a) {
    const double sx = conv2(X, h3, i, j), sy = conv2(X, h1, i, j);
    g = std::sqrt(sx * sx + sy * sy);
    a = sx == 0 ? M_PI / 2 : std::atan(sy / sx);
  };
  auto q = [&](double gx, double ax, double gf, double af) {
    double G;
    if (gx > gf)
      G = gf / gx;
    else if (gx == gf)
      G = matlab ? gf : 1;
    else
      G = gx / gf;
    const double Aa = 1 - std::abs(ax - af) / (M_PI / 2);
    return 0.9994 / (1 + std::exp(-15 * (G - 0.5))) * 0.9879 / (1 + std::exp(-22 * (Aa - 0.8)));
  };
  double nume = 0, deno = 0;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double gA, aA, gB, aB, gF, aF;
      strength_orientation(A, i, j, gA, aA);
      strength_orientation(B, i, j, gB, aB);
      strength_orientation(F, i, j, gF, aF);
      nume += q(gA, aA, gF, aF) * gA + q(gB, aB, gF, aF) * gB;
      deno += gA + gB;
    }
  return nume / deno;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("qabf matches a plain transcription of Qabf.m; its special values", "[metrics][qabf]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double ftol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
  const HostImage a = random_image(2, 2, 6, 7, 21), b = random_image(2, 2, 6, 7, 22);
  HostImage f(2, 2, 6, 7);
  // F = A on the first three columns (equal strengths there: the two definitions differ), the
  // average elsewhere.
  for (std::size_t k = 0; k < f.v.size(); ++k) f.v[k] = k % 7 < 3 ? a.v[k] : 0.5 * (a.v[k] + b.v[k]);
  const auto ta = to_tensor<T, Space>(a), tb = to_tensor<T, Space>(b), tf = to_tensor<T, Space>(f);
  const HostImage ha = to_host_image(ta), hb = to_host_image(tb), hf = to_host_image(tf);  // T's values
  for (bool matlab : {false, true}) {
    CAPTURE(matlab);
    double ref = 0;
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 2; ++c) ref += reference_qabf(ha, hb, hf, n, c, matlab) / 4;
    QabfOptions opt;
    opt.matlab_compatible = matlab;
    REQUIRE(std::abs(qabf(ta, tb, tf, opt) - ref) < ftol);
    REQUIRE(std::abs(qabf(tb, ta, tf, opt) - ref) < ftol);  // symmetric in the sources
  }
  // F = A = B scores the maximum Q_g(1) Q_a(1) ~= 0.9748 exactly; a blank image scores ~0.
  REQUIRE(std::abs(qabf_maximum() - 0.9994 / (1 + std::exp(-7.5)) * 0.9879 / (1 + std::exp(-4.4))) < 1e-15);
  REQUIRE(std::abs(qabf_maximum() - 0.97480) < 1e-4);
  REQUIRE(std::abs(qabf(ta, ta, ta) - qabf_maximum()) < ftol);
  auto blank = make_tensor_like("blank", ta);
  REQUIRE(qabf(ta, tb, blank) < 1e-3);
  // The paper's definition does not depend on the intensity scale.
  HostImage a2 = a, b2 = b, f2 = f;
  for (auto* im : {&a2, &b2, &f2})
    for (double& v : im->v) v *= 255;
  REQUIRE(std::abs(qabf(to_tensor<T, Space>(a2), to_tensor<T, Space>(b2), to_tensor<T, Space>(f2)) - qabf(ta, tb, tf)) <
          10 * ftol);
}

TEMPLATE_LIST_TEST_CASE("qabf rejects bad input", "[metrics][qabf][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto x = make_tensor<T, Space>("x", Shape4{1, 1, 5, 5});
  fill_uniform(x, 1);
  auto y = make_tensor<T, Space>("y", Shape4{1, 1, 5, 6});
  auto zero = make_tensor<T, Space>("zero", Shape4{1, 1, 5, 5});
  REQUIRE_THROWS_WITH(qabf(x, y, x), Contains("mcsc::qabf") && Contains("(1, 1, 5, 6)"));
  REQUIRE_THROWS_WITH(qabf(x, x, y), Contains("mcsc::qabf") && Contains("(1, 1, 5, 6)"));
  REQUIRE_THROWS_WITH(qabf(zero, zero, x), Contains("mcsc::qabf") && Contains("no edges"));
  QabfOptions opt;
  opt.peak = 0;
  REQUIRE_THROWS_WITH(qabf(x, x, x, opt), Contains("peak"));
  auto h = Kokkos::create_mirror_view(x);
  Kokkos::deep_copy(h, x);
  h(0, 0, 1, 1) = std::nan("");
  Kokkos::deep_copy(x, h);
  REQUIRE_THROWS_WITH(qabf(x, zero, zero), Contains("NaN"));
}

// ------------------------------------------------------------------ MEF-SSIM

namespace {

/// Plain transcription of the reference mef_ssim.m (one scale) on 0..255 images: seq[k] are
/// the K sources of one scene, f the fused image.
double reference_mef_ssim_single(const std::vector<HostImage>& seq, const HostImage& f) {
  const int K = int(seq.size()), H = f.H, W = f.W, ws = 11, bd = 5;
  const double eps = std::numeric_limits<double>::epsilon(), C = (0.03 * 255) * (0.03 * 255);
  std::vector<double> window(121);
  {
    double sum = 0;
    for (int p = 0; p < ws; ++p)
      for (int q = 0; q < ws; ++q) sum += window[std::size_t(p * ws + q)] = std::exp(-((p - 5.0) * (p - 5.0) + (q - 5.0) * (q - 5.0)) / (2 * 1.5 * 1.5));
    for (double& v : window) v /= sum;
  }
  double total = 0;
  int count = 0;
  for (int i = bd; i < H - bd; ++i)
    for (int j = bd; j < W - bd; ++j) {
      std::vector<std::vector<double>> vecs(std::size_t(K), std::vector<double>(121));
      std::vector<double> mu(static_cast<std::size_t>(K)), ed(mu), w(mu);
      for (int k = 0; k < K; ++k) {
        double s = 0, s2 = 0;
        for (int p = 0; p < ws; ++p)
          for (int q = 0; q < ws; ++q) {
            const double v = seq[std::size_t(k)](0, 0, i - bd + p, j - bd + q);
            vecs[std::size_t(k)][std::size_t(p * ws + q)] = v;
            s += v;
            s2 += v * v;
          }
        mu[std::size_t(k)] = s / 121;
        ed[std::size_t(k)] = std::sqrt(std::max(121 * (s2 / 121 - mu[std::size_t(k)] * mu[std::size_t(k)]), 0.0)) + 0.001;
      }
      double denominator = 0;
      for (int k = 0; k < K; ++k) {
        double n2 = 0;
        for (double v : vecs[std::size_t(k)]) n2 += (v - mu[std::size_t(k)]) * (v - mu[std::size_t(k)]);
        denominator += std::sqrt(n2);
      }
      std::vector<double> sumv(121, 0.0);
      for (int k = 0; k < K; ++k)
        for (int e = 0; e < 121; ++e) sumv[std::size_t(e)] += vecs[std::size_t(k)][std::size_t(e)];
      const double mean_sum = std::accumulate(sumv.begin(), sumv.end(), 0.0) / 121;
      double num2 = 0;
      for (double v : sumv) num2 += (v - mean_sum) * (v - mean_sum);
      double R = (std::sqrt(num2) + eps) / (denominator + eps);
      if (R > 1) R = 1 - eps;
      if (R < 0) R = eps;
      double p = std::tan(M_PI / 2 * R);
      if (p > 10) p = 10;
      double wsum = 0, max_ed = 0;
      for (int k = 0; k < K; ++k) {
        w[std::size_t(k)] = std::pow(ed[std::size_t(k)] / ws, p) + eps;
        wsum += w[std::size_t(k)];
        max_ed = std::max(max_ed, ed[std::size_t(k)]);
      }
      std::vector<double> r(121, 0.0);
      for (int k = 0; k < K; ++k)
        for (int e = 0; e < 121; ++e)
          r[std::size_t(e)] += w[std::size_t(k)] / wsum * (vecs[std::size_t(k)][std::size_t(e)] - mu[std::size_t(k)]) /
                               ed[std::size_t(k)];
      double rn = 0;
      for (double v : r) rn += v * v;
      rn = std::sqrt(rn);
      if (rn > 0)
        for (double& v : r) v = v / rn * max_ed;
      double mu1 = 0, mu2 = 0;
      for (int p2 = 0; p2 < ws; ++p2)
        for (int q = 0; q < ws; ++q) {
          mu1 += window[std::size_t(p2 * ws + q)] * r[std::size_t(p2 * ws + q)];
          mu2 += window[std::size_t(p2 * ws + q)] * f(0, 0, i - bd + p2, j - bd + q);
        }
      double s11 = 0, s22 = 0, s12 = 0;
      for (int p2 = 0; p2 < ws; ++p2)
        for (int q = 0; q < ws; ++q) {
          const double g = window[std::size_t(p2 * ws + q)];
          const double d1 = r[std::size_t(p2 * ws + q)] - mu1, d2 = f(0, 0, i - bd + p2, j - bd + q) - mu2;
          s11 += g * d1 * d1;
          s22 += g * d2 * d2;
          s12 += g * d1 * d2;
        }
      total += (2 * s12 + C) / (s11 + s22 + C);
      ++count;
    }
  return total / count;
}

/// imfilter(x, ones(2)/4, 'symmetric', 'same') then x(1:2:end, 1:2:end).
HostImage reference_downsample(const HostImage& x) {
  HostImage y(1, 1, (x.H + 1) / 2, (x.W + 1) / 2);
  for (int i = 0; i < y.H; ++i)
    for (int j = 0; j < y.W; ++j) {
      const int r0 = 2 * i, c0 = 2 * j, r1 = std::min(r0 + 1, x.H - 1), c1 = std::min(c0 + 1, x.W - 1);
      y(0, 0, i, j) = (x(0, 0, r0, c0) + x(0, 0, r1, c0) + x(0, 0, r0, c1) + x(0, 0, r1, c1)) / 4;
    }
  return y;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("mef_ssim matches a plain transcription of the reference code", "[metrics][mef_ssim]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double ftol = std::is_same<T, float>::value ? 1e-4 : 1e-10;
  const int H = 23, W = 26, K = 3;
  // A smooth scene, three exposures of it, and a fused image.
  HostImage scene = filter2d(random_image(1, 1, H, W, 31), gaussian_kernel(1.0), ImageBorder::symmetric);
  HostImage seq(1, K, H, W), fused(1, 1, H, W);
  std::vector<HostImage> seq255(K, HostImage(1, 1, H, W));
  const double gains[K] = {0.4, 1.0, 2.5};
  for (int k = 0; k < K; ++k)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        seq(0, k, i, j) = std::min(1.0, gains[k] * scene(0, 0, i, j));
        seq255[std::size_t(k)](0, 0, i, j) = 255 * seq(0, k, i, j);
      }
  HostImage fused255(1, 1, H, W);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      fused(0, 0, i, j) = std::sqrt(scene(0, 0, i, j)) * 0.9;
      fused255(0, 0, i, j) = 255 * fused(0, 0, i, j);
    }
  const auto tseq = to_tensor<T, Space>(seq), tfused = to_tensor<T, Space>(fused);

  MefSsimOptions one;
  one.levels = 1;
  one.weights = {1.0};
  const double single = reference_mef_ssim_single(seq255, fused255);
  REQUIRE(std::abs(mef_ssim(tseq, tfused, one) - single) < ftol);

  MefSsimOptions two;
  two.levels = 2;
  two.weights = {0.3, 0.5};  // normalised to 0.375, 0.625
  std::vector<HostImage> down(K, HostImage());
  for (int k = 0; k < K; ++k) down[std::size_t(k)] = reference_downsample(seq255[std::size_t(k)]);
  const double coarse = reference_mef_ssim_single(down, reference_downsample(fused255));
  const double expected = std::pow(single, 0.375) * std::pow(coarse, 0.625);
  REQUIRE(std::abs(mef_ssim(tseq, tfused, two) - expected) < ftol);
  // peak: the same images in 0..255 units give the same score.
  MefSsimOptions two255 = two;
  two255.peak = 255;
  REQUIRE(std::abs(mef_ssim(to_tensor<T, Space>([&] {
                              HostImage s = seq;
                              for (double& v : s.v) v *= 255;
                              return s;
                            }()),
                            to_tensor<T, Space>(fused255), two255) -
                   expected) < ftol);

  // One source, fused = the source: ~1 (the reference's + 0.001 keeps it just below).
  auto first = Kokkos::subview(tseq, Kokkos::ALL, std::make_pair(0, 1), Kokkos::ALL, Kokkos::ALL);
  auto src = make_tensor<T, Space>("src", Shape4{1, 1, H, W});
  Kokkos::deep_copy(src, first);
  REQUIRE(mef_ssim(src, src, one) > 0.999);
  // Two-source form on unclipped exposures (gains 0.8, 1, 1.6 of a scene in [0.1, 0.6]): the
  // highest-contrast source is the ideal fusion; lower contrast, blur or a flat image score less.
  auto exposure = [&](double gain) {
    HostImage m(1, 1, H, W);
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) m(0, 0, i, j) = gain * (0.1 + 0.5 * scene(0, 0, i, j));
    return to_tensor<T, Space>(m);
  };
  const auto under = exposure(0.8), mid = exposure(1.0), over = exposure(1.6);
  auto flat_image = make_tensor<T, Space>("flat", Shape4{1, 1, H, W});
  fill(flat_image, T(0.5));
  const double q_over = mef_ssim(under, over, over, one), q_mid = mef_ssim(under, over, mid, one);
  CAPTURE(q_over, q_mid);
  REQUIRE(q_over > 0.99);
  REQUIRE(q_over > q_mid + 0.02);
  REQUIRE(q_mid > mef_ssim(under, over, gaussian_blur(mid, 2.0), one) + 0.1);
  REQUIRE(q_mid > mef_ssim(under, over, flat_image, one) + 0.5);
  // A fused image with the opposite structure: its single-scale Q is negative, which makes the
  // reference's weighted product complex (it used to be NaN here); the score is 0.
  auto inverted = make_tensor<T, Space>("inverted", Shape4{1, 1, H, W});
  lincomb(T(-1), mid, T(0), mid, inverted);
  const double q_inverted_one = mef_ssim(under, over, inverted, one);
  CAPTURE(q_inverted_one);
  REQUIRE(q_inverted_one < 0);  // one scale: Q itself, negative, as the reference
  REQUIRE(mef_ssim(under, over, inverted, two) == 0.0);
}

TEMPLATE_LIST_TEST_CASE("mef_ssim with its defaults (3 scales, the reference's weights) as the task programs use it",
                        "[metrics][mef_ssim]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double ftol = std::is_same<T, float>::value ? 1e-4 : 1e-10;
  const int H = 47, W = 53;  // 3 scales need min(H, W) / 4 >= 11; odd sides exercise the edge repeat
  HostImage scene = filter2d(random_image(1, 1, H, W, 37), gaussian_kernel(1.2), ImageBorder::symmetric);
  HostImage pair(1, 2, H, W), fused(1, 1, H, W);
  std::vector<HostImage> levels_seq(2, HostImage(1, 1, H, W));
  HostImage fused255(1, 1, H, W);
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      const double v = scene(0, 0, i, j);
      pair(0, 0, i, j) = std::min(1.0, 0.5 * v);  // under-exposed
      pair(0, 1, i, j) = std::min(1.0, 2.2 * v);  // over-exposed, clipped
      fused(0, 0, i, j) = 0.8 * std::pow(v, 0.7);
      for (int k = 0; k < 2; ++k) levels_seq[std::size_t(k)](0, 0, i, j) = 255 * pair(0, k, i, j);
      fused255(0, 0, i, j) = 255 * fused(0, 0, i, j);
    }
  // The reference: Q at 3 scales (2x2 mean and subsampling between them), weights normalised.
  const double weights[3] = {0.0448, 0.2856, 0.3001}, wsum = weights[0] + weights[1] + weights[2];
  double expected = 1;
  HostImage f = fused255;
  for (int l = 0; l < 3; ++l) {
    if (l > 0) {
      for (auto& im : levels_seq) im = reference_downsample(im);
      f = reference_downsample(f);
    }
    expected *= std::pow(reference_mef_ssim_single(levels_seq, f), weights[l] / wsum);
  }
  const auto tpair = to_tensor<T, Space>(pair), tfused = to_tensor<T, Space>(fused);
  CAPTURE(expected);
  REQUIRE(std::abs(mef_ssim(tpair, tfused) - expected) < ftol);
  const MefSsimOptions defaults;
  REQUIRE(defaults.levels == 3);
  REQUIRE(defaults.weights == std::vector<double>{0.0448, 0.2856, 0.3001});
}

TEMPLATE_LIST_TEST_CASE("mef_ssim rejects bad input", "[metrics][mef_ssim][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto seq = make_tensor<T, Space>("seq", Shape4{1, 2, 30, 30});
  auto f = make_tensor<T, Space>("f", Shape4{1, 1, 30, 30});
  auto f2 = make_tensor<T, Space>("f2", Shape4{1, 2, 30, 30});
  auto many = make_tensor<T, Space>("many", Shape4{1, 17, 30, 30});
  REQUIRE_THROWS_WITH(mef_ssim(seq, f), Contains("mcsc::mef_ssim") && Contains("too small"));  // 30 / 4 < 11
  MefSsimOptions one;
  one.levels = 1;
  one.weights = {1.0};
  REQUIRE_THROWS_WITH(mef_ssim(seq, f2, one), Contains("mcsc::mef_ssim") && Contains("(1, 2, 30, 30)"));
  REQUIRE_THROWS_WITH(mef_ssim(many, f, one), Contains("1 to 16"));
  MefSsimOptions bad = one;
  bad.weights = {0.5, 0.5};
  REQUIRE_THROWS_WITH(mef_ssim(seq, f, bad), Contains("weights"));
  bad = one;
  bad.peak = -1;
  REQUIRE_THROWS_WITH(mef_ssim(seq, f, bad), Contains("peak"));
  auto h = Kokkos::create_mirror_view(f);
  h(0, 0, 2, 2) = std::nan("");
  Kokkos::deep_copy(f, h);
  REQUIRE_THROWS_WITH(mef_ssim(seq, f, one), Contains("NaN"));
  REQUIRE_THROWS_AS(mef_ssim(seq, f, one), mcsc::Error);
}
