// Mertens exposure fusion: against a host transcription of the authors' MATLAB code
// (exposure_fusion.m, with imfilter's borders, downsample, upsample and the pyramids written
// out literally, in double), the pyramids' exact collapse, and the fusion's limiting cases.
#include "test_common.hpp"

#include <array>
#include <cmath>
#include <vector>

#include "mcsc/baselines/exposure_fusion.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {

// ------------------------------------------------------------------ the MATLAB code, on the host

struct Img {  // one image, C planes of H x W, MATLAB's I(:, :, c)
  int C = 0, H = 0, W = 0;
  std::vector<double> v;
  Img() = default;
  Img(int c, int h, int w) : C(c), H(h), W(w), v(std::size_t(c) * std::size_t(h) * std::size_t(w), 0.0) {}
  double& at(int c, int i, int j) { return v[(std::size_t(c) * std::size_t(H) + std::size_t(i)) * std::size_t(W) + std::size_t(j)]; }
  double at(int c, int i, int j) const {
    return v[(std::size_t(c) * std::size_t(H) + std::size_t(i)) * std::size_t(W) + std::size_t(j)];
  }
};

enum class Pad { symmetric, replicate, zero };

// imfilter(I, h, pad) for an (r x s) correlation kernel h (MATLAB: correlation, 'same' size,
// centre at floor((size + 1) / 2)).
Img imfilter(const Img& I, const std::vector<std::vector<double>>& h, Pad pad) {
  const int r = int(h.size()), s = int(h[0].size()), ci = (r - 1) / 2, cj = (s - 1) / 2;
  auto index = [&](int k, int n, bool& zero) {
    zero = false;
    if (k >= 0 && k < n) return k;
    if (pad == Pad::zero) {
      zero = true;
      return 0;
    }
    if (pad == Pad::replicate) return k < 0 ? 0 : n - 1;
    return k < 0 ? -k - 1 : 2 * n - 1 - k;  // symmetric: the edge pixel repeated (kernels here are short)
  };
  Img R(I.C, I.H, I.W);
  for (int c = 0; c < I.C; ++c)
    for (int i = 0; i < I.H; ++i)
      for (int j = 0; j < I.W; ++j) {
        double acc = 0;
        for (int p = 0; p < r; ++p)
          for (int q = 0; q < s; ++q) {
            bool z1, z2;
            const int a = index(i + p - ci, I.H, z1), b = index(j + q - cj, I.W, z2);
            if (!z1 && !z2) acc += h[std::size_t(p)][std::size_t(q)] * I.at(c, a, b);
          }
        R.at(c, i, j) = acc;
      }
  return R;
}

const std::vector<double> kFilter = {.0625, .25, .375, .25, .0625};
std::vector<std::vector<double>> row_filter() { return {kFilter}; }
std::vector<std::vector<double>> column_filter() {
  std::vector<std::vector<double>> f;
  for (double x : kFilter) f.push_back({x});
  return f;
}

Img downsample(const Img& I) {
  Img R = imfilter(imfilter(I, row_filter(), Pad::symmetric), column_filter(), Pad::symmetric);
  Img out(I.C, (I.H + 1) / 2, (I.W + 1) / 2);  // R(1:2:r, 1:2:c, :)
  for (int c = 0; c < I.C; ++c)
    for (int i = 0; i < out.H; ++i)
      for (int j = 0; j < out.W; ++j) out.at(c, i, j) = R.at(c, 2 * i, 2 * j);
  return out;
}

Img upsample(const Img& I0, int odd_r, int odd_c) {
  Img I(I0.C, I0.H + 2, I0.W + 2);  // padarray(I, [1 1 0], 'replicate')
  for (int c = 0; c < I.C; ++c)
    for (int i = 0; i < I.H; ++i)
      for (int j = 0; j < I.W; ++j)
        I.at(c, i, j) = I0.at(c, std::min(std::max(i - 1, 0), I0.H - 1), std::min(std::max(j - 1, 0), I0.W - 1));
  const int r = 2 * I.H, s = 2 * I.W;
  Img R(I.C, r, s);  // R(1:2:r, 1:2:c, :) = 4 * I
  for (int c = 0; c < I.C; ++c)
    for (int i = 0; i < I.H; ++i)
      for (int j = 0; j < I.W; ++j) R.at(c, 2 * i, 2 * j) = 4 * I.at(c, i, j);
  R = imfilter(imfilter(R, row_filter(), Pad::zero), column_filter(), Pad::zero);
  Img out(I.C, r - 4 - odd_r, s - 4 - odd_c);  // R(3:r - 2 - odd(1), 3:c - 2 - odd(2), :)
  for (int c = 0; c < I.C; ++c)
    for (int i = 0; i < out.H; ++i)
      for (int j = 0; j < out.W; ++j) out.at(c, i, j) = R.at(c, i + 2, j + 2);
  return out;
}

std::vector<Img> gaussian_pyr(Img I, int nlev) {
  std::vector<Img> pyr{I};
  for (int l = 2; l <= nlev; ++l) {
    I = downsample(I);
    pyr.push_back(I);
  }
  return pyr;
}

std::vector<Img> laplacian_pyr(const Img& I0, int nlev) {
  std::vector<Img> pyr;
  Img J = I0;
  for (int l = 1; l <= nlev - 1; ++l) {
    const Img I = downsample(J);
    const Img up = upsample(I, 2 * I.H - J.H, 2 * I.W - J.W);
    Img d = J;
    for (std::size_t k = 0; k < d.v.size(); ++k) d.v[k] -= up.v[k];
    pyr.push_back(d);
    J = I;
  }
  pyr.push_back(J);
  return pyr;
}

Img reconstruct(const std::vector<Img>& pyr) {
  Img R = pyr.back();
  for (int l = int(pyr.size()) - 2; l >= 0; --l) {
    const Img& P = pyr[std::size_t(l)];
    Img up = upsample(R, 2 * R.H - P.H, 2 * R.W - P.W);
    for (std::size_t k = 0; k < up.v.size(); ++k) up.v[k] += P.v[k];
    R = up;
  }
  return R;
}

// exposure_fusion(I, [1 1 1]) for two images.
Img exposure_fusion(const std::vector<Img>& I) {
  const int C = I[0].C, r = I[0].H, c = I[0].W;
  std::vector<Img> Wt;
  for (const Img& im : I) {
    Img mono(1, r, c);  // rgb2gray
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j)
        mono.at(0, i, j) = C == 1 ? im.at(0, i, j) : 0.2989 * im.at(0, i, j) + 0.5870 * im.at(1, i, j) + 0.1140 * im.at(2, i, j);
    const Img contrast = imfilter(mono, {{0, 1, 0}, {1, -4, 1}, {0, 1, 0}}, Pad::replicate);
    Img w(1, r, c);
    for (int i = 0; i < r; ++i)
      for (int j = 0; j < c; ++j) {
        double x = std::abs(contrast.at(0, i, j));
        if (C == 3) {
          const double R = im.at(0, i, j), G = im.at(1, i, j), B = im.at(2, i, j), mu = (R + G + B) / 3;
          x *= std::sqrt(((R - mu) * (R - mu) + (G - mu) * (G - mu) + (B - mu) * (B - mu)) / 3);
        }
        double e = 1;
        for (int k = 0; k < C; ++k) e *= std::exp(-.5 * std::pow(im.at(k, i, j) - .5, 2) / (.2 * .2));
        w.at(0, i, j) = x * e + 1e-12;
      }
    Wt.push_back(w);
  }
  for (std::size_t k = 0; k < Wt[0].v.size(); ++k) {
    const double s = Wt[0].v[k] + Wt[1].v[k];
    Wt[0].v[k] /= s;
    Wt[1].v[k] /= s;
  }
  const int nlev = int(std::floor(std::log(double(std::min(r, c))) / std::log(2.0)));
  std::vector<Img> pyr = laplacian_pyr(Img(C, r, c), nlev);
  for (Img& p : pyr) std::fill(p.v.begin(), p.v.end(), 0.0);
  for (std::size_t k = 0; k < 2; ++k) {
    const auto pw = gaussian_pyr(Wt[k], nlev);
    const auto pi = laplacian_pyr(I[k], nlev);
    for (int l = 0; l < nlev; ++l)
      for (int ch = 0; ch < C; ++ch)
        for (int i = 0; i < pyr[std::size_t(l)].H; ++i)
          for (int j = 0; j < pyr[std::size_t(l)].W; ++j)
            pyr[std::size_t(l)].at(ch, i, j) += pw[std::size_t(l)].at(0, i, j) * pi[std::size_t(l)].at(ch, i, j);
  }
  return reconstruct(pyr);
}

// ------------------------------------------------------------------ helpers

// A pair of exposures of a smooth scene with edges: a brighter, b darker, in [0, 1].
template <class T, class Space>
std::pair<Tensor4<T, Space>, Tensor4<T, Space>> exposure_pair(int N, int C, int H, int W, std::uint64_t seed) {
  auto a = make_tensor<T, Space>("a", {N, C, H, W});
  auto b = make_tensor_like("b", a);
  auto noise = make_tensor_like("noise", a);
  fill_uniform(noise, seed);
  auto ha = Kokkos::create_mirror_view(a), hb = Kokkos::create_mirror_view(b);
  auto hn = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), noise);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
          const double scene = 0.5 + 0.3 * std::sin(0.4 * i + 0.1 * c) * std::cos(0.3 * j) + (j > W / 2 ? 0.15 : -0.1) +
                               0.05 * (double(hn(n, c, i, j)) - 0.5);
          ha(n, c, i, j) = T(std::min(1.0, std::max(0.0, 1.6 * scene)));
          hb(n, c, i, j) = T(std::min(1.0, std::max(0.0, 0.45 * scene)));
        }
  Kokkos::deep_copy(a, ha);
  Kokkos::deep_copy(b, hb);
  return {a, b};
}

template <class V>
Img image_of(const V& t, int n) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), t);
  Img im(int(t.extent(1)), int(t.extent(2)), int(t.extent(3)));
  for (int c = 0; c < im.C; ++c)
    for (int i = 0; i < im.H; ++i)
      for (int j = 0; j < im.W; ++j) im.at(c, i, j) = double(h(n, c, i, j));
  return im;
}

}  // namespace

TEMPLATE_LIST_TEST_CASE("mertens_fusion matches a transcription of the authors' MATLAB code", "[baselines][mertens]",
                        DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (const auto& shape : std::vector<std::array<int, 3>>{{3, 23, 37}, {3, 16, 20}, {1, 19, 14}, {3, 5, 9}}) {
    const int C = shape[0], H = shape[1], W = shape[2];
    CAPTURE(C, H, W);
    auto [a, b] = exposure_pair<T, Space>(2, C, H, W, std::uint64_t(H * W));
    auto fused = make_tensor_like("fused", a);
    mertens_fusion(a, b, fused);
    for (int n = 0; n < 2; ++n) {
      const Img want = exposure_fusion({image_of(a, n), image_of(b, n)});
      const Img got = image_of(fused, n);
      double worst = 0, range = 0;
      for (std::size_t k = 0; k < want.v.size(); ++k) {
        worst = std::max(worst, std::abs(got.v[k] - want.v[k]));
        range = std::max(range, std::abs(want.v[k]));
      }
      CAPTURE(n, worst, range);
      REQUIRE(range > 0.1);
      REQUIRE(worst <= 1e-12);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("a Laplacian pyramid collapses back to its image; the pyramid steps match MATLAB's",
                        "[baselines][mertens]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto x = make_tensor<T, Space>("x", {2, 3, 21, 30});
  fill_normal(x, 5);
  for (int levels = 1; levels <= default_pyramid_levels(21, 30); ++levels) {
    CAPTURE(levels);
    const auto pyr = laplacian_pyramid(x, levels);
    REQUIRE(int(pyr.size()) == levels);
    auto back = make_tensor_like("back", x);
    collapse_laplacian_pyramid(pyr, back);
    REQUIRE(max_abs_diff(back, x) <= 20 * mcsc_test::exact_tolerance<T>());
  }
  REQUIRE(default_pyramid_levels(21, 30) == 4);
  REQUIRE(default_pyramid_levels(1088, 1376) == 10);
  REQUIRE(default_pyramid_levels(1, 7) == 1);
  // One step down and up against the host transcription (in double, so float within rounding).
  auto down = make_tensor<T, Space>("down", {2, 3, 11, 15});
  pyramid_down(x, down);
  auto up = make_tensor_like("up", x);
  pyramid_up(down, up);
  for (int n = 0; n < 2; ++n) {
    const Img d = downsample(image_of(x, n));
    const Img u = upsample(d, 1, 0);
    const Img gd = image_of(down, n), gu = image_of(up, n);
    for (std::size_t k = 0; k < d.v.size(); ++k) REQUIRE(std::abs(gd.v[k] - d.v[k]) <= 1e-5 * (1 + std::abs(d.v[k])));
    for (std::size_t k = 0; k < u.v.size(); ++k) REQUIRE(std::abs(gu.v[k] - u.v[k]) <= 1e-5 * (1 + std::abs(u.v[k])));
  }
  auto wrong = make_tensor<T, Space>("wrong", {2, 3, 10, 15});
  REQUIRE_THROWS_WITH(pyramid_down(x, wrong), Catch::Contains("mcsc::pyramid_down"));
  REQUIRE_THROWS_WITH(pyramid_up(wrong, x), Catch::Contains("mcsc::pyramid_up"));
}

TEMPLATE_LIST_TEST_CASE("mertens_fusion: one source twice is that source; a black source contributes nothing",
                        "[baselines][mertens]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  auto [a, b] = exposure_pair<T, Space>(1, 3, 40, 33, 9);
  auto fused = make_tensor_like("fused", a);
  mertens_fusion(a, a, fused);
  REQUIRE(max_abs_diff(fused, a) <= 50 * mcsc_test::exact_tolerance<T>());
  // A textured source against a black one: the black one has no contrast, so weight 1e-12.
  auto tex = make_tensor_like("tex", a);
  fill_uniform(tex, 3, 0.3, 0.7);
  auto black = make_tensor_like("black", a);
  mertens_fusion(tex, black, fused);
  REQUIRE(max_abs_diff(fused, tex) <= 1e-4);
  // The fused result of a real pair lies between its sources' ranges and differs from both.
  mertens_fusion(a, b, fused);
  REQUIRE(max_abs_diff(fused, a) > 0.05);
  REQUIRE(max_abs_diff(fused, b) > 0.05);
  // Errors name the function and the problem.
  auto two = make_tensor<T, Space>("two", {1, 2, 40, 33});
  REQUIRE_THROWS_WITH(mertens_fusion(two, two, two), Catch::Contains("1 or 3 channels, got 2"));
  auto small = make_tensor<T, Space>("small", {1, 3, 40, 32});
  REQUIRE_THROWS_WITH(mertens_fusion(a, small, fused), Catch::Contains("mcsc::mertens_fusion"));
  MertensOptions deep;
  deep.levels = 6;
  REQUIRE_THROWS_WITH(mertens_fusion(a, b, fused, deep), Catch::Contains("levels must be in [0, 5]"));
  MertensOptions bad;
  bad.sigma = 0;
  REQUIRE_THROWS_WITH(mertens_fusion(a, b, fused, bad), Catch::Contains("sigma > 0"));
}
