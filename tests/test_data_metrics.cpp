// Data layer and metrics: MATLAB-compatible bicubic imresize, rgb2ycbcr / ycbcr2rgb, SSIM (and
// PSNR). Each is checked against a plain host reference written here independently of the
// library (direct transcriptions of imresize.m's contributions(), of the rgb2ycbcr formula and of
// ssim_index.m with direct 2-D window sums), against hand-derived numbers, and for bad input.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mcsc/data/color.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/data/resample.hpp"
#include "mcsc/metrics/psnr.hpp"
#include "mcsc/metrics/ssim.hpp"
#include "test_common.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;

namespace {

using mcsc_test::shared_dir;
bool exists(const std::string& path) { return std::ifstream(path).good(); }

/// Tolerance for results computed in T compared with a double reference of values O(1).
template <class T>
double tol() {
  return std::is_same<T, float>::value ? 1e-5 : 1e-12;
}

/// All values of a tensor as doubles (LayoutRight order).
template <class V>
std::vector<double> values(const V& v) {
  auto h = to_host(v);
  std::vector<double> out(h.span());
  for (std::size_t i = 0; i < h.span(); ++i) out[i] = double(h.data()[i]);
  return out;
}

template <class V>
void set_values(const V& v, const std::vector<double>& x) {
  auto h = Kokkos::create_mirror_view(v);
  REQUIRE(h.span() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) h.data()[i] = typename V::value_type(x[i]);
  Kokkos::deep_copy(v, h);
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// ------------------------------------------------------------------ imresize reference
// A line-by-line transcription of MATLAB's imresize.m contributions() with kernel = @cubic,
// kernel_width = 4 and antialiasing = true. Indices are 1-based as in MATLAB.
struct Contributions {
  std::vector<std::vector<double>> weights;  // out_length rows
  std::vector<std::vector<int>> indices;     // 1-based input indices
};

double matlab_cubic(double x) {
  const double absx = std::abs(x);
  const double absx2 = absx * absx;
  const double absx3 = absx2 * absx;
  return (1.5 * absx3 - 2.5 * absx2 + 1) * double(absx <= 1) +
         (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * double((1 < absx) && (absx <= 2));
}

Contributions matlab_contributions(int in_length, int out_length, double scale) {
  double kernel_width = 4;
  std::function<double(double)> h = matlab_cubic;
  if (scale < 1) {
    h = [scale](double x) { return scale * matlab_cubic(scale * x); };
    kernel_width = kernel_width / scale;
  }
  const int P = int(std::ceil(kernel_width)) + 2;
  Contributions c;
  c.weights.assign(out_length, std::vector<double>(P));
  c.indices.assign(out_length, std::vector<int>(P));
  std::vector<int> aux;  // aux = [1:in_length, in_length:-1:1]
  for (int k = 1; k <= in_length; ++k) aux.push_back(k);
  for (int k = in_length; k >= 1; --k) aux.push_back(k);
  const int len = int(aux.size());
  for (int x = 1; x <= out_length; ++x) {
    const double u = x / scale + 0.5 * (1 - 1 / scale);
    const double left = std::floor(u - kernel_width / 2);
    double sum = 0;
    for (int p = 0; p < P; ++p) {
      const int index = int(left) + p;
      c.weights[x - 1][p] = h(u - index);
      c.indices[x - 1][p] = index;
      sum += c.weights[x - 1][p];
    }
    for (int p = 0; p < P; ++p) {
      c.weights[x - 1][p] /= sum;
      const int m = ((c.indices[x - 1][p] - 1) % len + len) % len;  // MATLAB mod(indices - 1, len)
      c.indices[x - 1][p] = aux[m];                                  // aux(mod(...) + 1)
    }
  }
  // kill = find(~any(weights, 1)); weights(:, kill) = []; indices(:, kill) = [];
  for (int p = P - 1; p >= 0; --p) {
    bool any = false;
    for (int x = 0; x < out_length; ++x) any = any || c.weights[x][p] != 0;
    if (!any)
      for (int x = 0; x < out_length; ++x) {
        c.weights[x].erase(c.weights[x].begin() + p);
        c.indices[x].erase(c.indices[x].begin() + p);
      }
  }
  return c;
}

/// One H x W plane (row-major) resized along dim (1: rows, 2: columns, MATLAB's numbering).
std::vector<double> resize_along_dim(const std::vector<double>& in, int H, int W, int dim, const Contributions& c) {
  const int out = int(c.weights.size());
  const int H2 = dim == 1 ? out : H, W2 = dim == 2 ? out : W;
  std::vector<double> res(std::size_t(H2) * W2, 0.0);
  for (int i = 0; i < H2; ++i)
    for (int j = 0; j < W2; ++j) {
      double acc = 0;
      const int o = dim == 1 ? i : j;
      for (std::size_t p = 0; p < c.weights[o].size(); ++p) {
        const int k = c.indices[o][p] - 1;
        acc += c.weights[o][p] * (dim == 1 ? in[std::size_t(k) * W + j] : in[std::size_t(i) * W + k]);
      }
      res[std::size_t(i) * W2 + j] = acc;
    }
  return res;
}

/// imresize of every (n, c) plane of an (N, C, H, W) array to H2 x W2 with the given scales;
/// imresize.m's order: [~, order] = sort(scale), i.e. the smaller scale first (rows on a tie).
std::vector<double> reference_imresize(const std::vector<double>& in, const Shape4& s, int H2, int W2, double scale_h,
                                       double scale_w) {
  const Contributions rows = matlab_contributions(int(s.h), H2, scale_h);
  const Contributions cols = matlab_contributions(int(s.w), W2, scale_w);
  std::vector<double> out;
  const std::size_t plane = std::size_t(s.h) * s.w;
  for (std::int64_t nc = 0; nc < s.n * s.c; ++nc) {
    std::vector<double> x(in.begin() + nc * plane, in.begin() + (nc + 1) * plane);
    if (scale_w < scale_h) {
      x = resize_along_dim(x, int(s.h), int(s.w), 2, cols);
      x = resize_along_dim(x, int(s.h), W2, 1, rows);
    } else {
      x = resize_along_dim(x, int(s.h), int(s.w), 1, rows);
      x = resize_along_dim(x, H2, int(s.w), 2, cols);
    }
    out.insert(out.end(), x.begin(), x.end());
  }
  return out;
}

// ------------------------------------------------------------------ SSIM reference
// ssim_index.m with direct 2-D window sums: window = fspecial('gaussian', 11, 1.5) normalised,
// filter2(window, ., 'valid'), mean2 of the map; then the mean over the (n, c) planes.
double reference_ssim(const std::vector<double>& a, const std::vector<double>& b, const Shape4& s, double L) {
  double window[11][11];
  double wsum = 0;
  for (int r = 0; r < 11; ++r)
    for (int c = 0; c < 11; ++c) {
      window[r][c] = std::exp(-double((r - 5) * (r - 5) + (c - 5) * (c - 5)) / (2 * 1.5 * 1.5));
      wsum += window[r][c];
    }
  for (auto& row : window)
    for (double& v : row) v /= wsum;
  const double C1 = (0.01 * L) * (0.01 * L), C2 = (0.03 * L) * (0.03 * L);
  const int H = int(s.h), W = int(s.w);
  double total = 0;
  for (std::int64_t nc = 0; nc < s.n * s.c; ++nc) {
    const double* x = a.data() + nc * H * W;
    const double* y = b.data() + nc * H * W;
    double map_sum = 0;
    for (int i = 0; i + 11 <= H; ++i)
      for (int j = 0; j + 11 <= W; ++j) {
        double mu1 = 0, mu2 = 0, xx = 0, yy = 0, xy = 0;
        for (int r = 0; r < 11; ++r)
          for (int c = 0; c < 11; ++c) {
            const double u = x[(i + r) * W + j + c], v = y[(i + r) * W + j + c], w = window[r][c];
            mu1 += w * u;
            mu2 += w * v;
            xx += w * u * u;
            yy += w * v * v;
            xy += w * u * v;
          }
        const double s1 = xx - mu1 * mu1, s2 = yy - mu2 * mu2, s12 = xy - mu1 * mu2;
        map_sum += ((2 * mu1 * mu2 + C1) * (2 * s12 + C2)) / ((mu1 * mu1 + mu2 * mu2 + C1) * (s1 + s2 + C2));
      }
    total += map_sum / double((H - 10) * (W - 10));
  }
  return total / double(s.n * s.c);
}

/// A rows x cols crop (top-left at r0, c0) of a gray image as a (1, 1, rows, cols) host array.
std::vector<double> crop_plane(const Image& image, int channel, int r0, int c0, int rows, int cols) {
  std::vector<double> out;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) out.push_back(double(image.at(r0 + r, c0 + c, channel)));
  return out;
}

}  // namespace

// ==================================================================== imresize
TEMPLATE_LIST_TEST_CASE("imresize_bicubic matches a transcription of MATLAB's imresize.m", "[data][imresize]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 s{2, 3, 17, 23};
  auto src = make_tensor<T, Space>("src", s);
  fill_normal(src, 7);
  const std::vector<double> in = values(src);

  SECTION("sizes given (scale = out / in per axis)") {
    // up, down (antialiased), mixed (width first / height first), identity, 1 x 1, 1 row.
    const int sizes[][2] = {{34, 46}, {5, 6}, {9, 31}, {40, 7}, {17, 23}, {17, 50}, {1, 1}, {1, 23}, {3, 2}};
    for (const auto& hw : sizes) {
      CAPTURE(hw[0], hw[1]);
      auto dst = make_tensor<T, Space>("dst", {s.n, s.c, hw[0], hw[1]});
      imresize_bicubic(src, dst);
      const auto ref = reference_imresize(in, s, hw[0], hw[1], double(hw[0]) / s.h, double(hw[1]) / s.w);
      REQUIRE(max_abs_diff(values(dst), ref) <= tol<T>());
    }
  }
  SECTION("scale given (out = ceil(scale * in), the scale itself maps the coordinates)") {
    for (double scale : {2.0, 4.0, 0.25, 0.5, 1.0 / 3, 0.3, 1.7, 1.0}) {
      CAPTURE(scale);
      const Shape4 so = resized_shape(s, scale);
      REQUIRE(so.h == std::int64_t(std::ceil(scale * 17)));
      REQUIRE(so.w == std::int64_t(std::ceil(scale * 23)));
      auto dst = imresize_bicubic(src, scale);
      REQUIRE(shape_of(dst) == so);
      const auto ref = reference_imresize(in, s, int(so.h), int(so.w), scale, scale);
      REQUIRE(max_abs_diff(values(dst), ref) <= tol<T>());
      auto dst2 = make_tensor<T, Space>("dst2", so);
      imresize_bicubic(src, dst2, scale);
      REQUIRE(values(dst2) == values(dst));
    }
    // 23 * 0.25 = 5.75 -> 6 columns: imresize(A, 0.25) maps with 0.25, imresize(A, [5 6]) with
    // 6/23; the two overloads must differ, each matching its own reference.
    auto by_scale = imresize_bicubic(src, 0.25);
    auto by_size = make_tensor<T, Space>("by_size", shape_of(by_scale));
    imresize_bicubic(src, by_size);
    REQUIRE(max_abs_diff(values(by_scale), values(by_size)) > 1e-3);
  }
  SECTION("tiny images: the mirror wraps around several times") {
    struct Case {
      Shape4 in;
      int h, w;
    };
    for (const Case& k : {Case{{1, 2, 5, 5}, 2, 2}, Case{{1, 1, 2, 3}, 8, 12}, Case{{1, 1, 1, 1}, 3, 3},
                          Case{{1, 1, 1, 4}, 1, 8}, Case{{1, 1, 3, 1}, 1, 1}, Case{{2, 1, 2, 2}, 7, 1}}) {
      CAPTURE(k.in, k.h, k.w);
      auto x = make_tensor<T, Space>("x", k.in);
      fill_normal(x, 3);
      auto y = make_tensor<T, Space>("y", {k.in.n, k.in.c, k.h, k.w});
      imresize_bicubic(x, y);
      const auto ref = reference_imresize(values(x), k.in, k.h, k.w, double(k.h) / k.in.h, double(k.w) / k.in.w);
      REQUIRE(max_abs_diff(values(y), ref) <= tol<T>());
    }
  }
}

TEMPLATE_LIST_TEST_CASE("imresize_bicubic: hand-derived 1-D values", "[data][imresize]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // Upscaling x2: u = x/2 + 1/4, so the weights are k(+-1/4) = 0.8671875, k(+-3/4) = 0.2265625,
  // k(+-5/4) = -0.0703125, k(+-7/4) = -0.0234375 (all dyadic, sum 1). For a unit impulse at the
  // first of 4 samples (mirror: index 0 -> 1, -1 -> 2):
  //   y1 = 0.2265625 + 0.8671875 = 1.09375    y2 = -0.0703125 + 0.8671875 = 0.796875
  //   y3 = -0.0234375 + 0.2265625 = 0.203125  y4 = -0.0703125   y5 = -0.0234375   y6..8 = 0
  const std::vector<double> up = {1.09375, 0.796875, 0.203125, -0.0703125, -0.0234375, 0, 0, 0};
  // Downscaling x1/2 (antialiased): h(x) = k(x/2)/2 over 8 taps, u = 2x - 1/2; weights at
  // distances +-0.5, 1.5, 2.5, 3.5: 0.43359375, 0.11328125, -0.03515625, -0.01171875. For the
  // impulse at the first of 8 samples: y1 = 0.43359375 + 0.11328125 = 0.546875 (taps 1 and its
  // mirror 0); y2 = -0.03515625 - 0.01171875 = -0.046875 (taps 1 and 0); y3 = y4 = 0.
  const std::vector<double> down = {0.546875, -0.046875, 0, 0};
  for (int axis : {2, 3}) {
    CAPTURE(axis);
    const Shape4 s4 = axis == 3 ? Shape4{1, 1, 1, 4} : Shape4{1, 1, 4, 1};
    const Shape4 s8 = axis == 3 ? Shape4{1, 1, 1, 8} : Shape4{1, 1, 8, 1};
    auto x4 = make_tensor<T, Space>("x4", s4);
    auto x8 = make_tensor<T, Space>("x8", s8);
    auto y8 = make_tensor<T, Space>("y8", s8);
    auto y4 = make_tensor<T, Space>("y4", s4);
    set_values(x4, {1, 0, 0, 0});
    set_values(x8, {1, 0, 0, 0, 0, 0, 0, 0});
    imresize_bicubic(x4, y8);
    imresize_bicubic(x8, y4);
    REQUIRE(values(y8) == up);
    REQUIRE(values(y4) == down);
    // And by linearity, a unit impulse at the last sample gives the mirror image.
    set_values(x4, {0, 0, 0, 1});
    imresize_bicubic(x4, y8);
    REQUIRE(values(y8) == std::vector<double>(up.rbegin(), up.rend()));
  }
}

TEMPLATE_LIST_TEST_CASE("imresize_bicubic: constants stay constant, linear ramps are reproduced",
                        "[data][imresize]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double eps = std::is_same<T, float>::value ? 2e-6 : 1e-14;
  SECTION("constant image, x2, x4, x1/4, to odd sizes") {
    auto x = make_tensor<T, Space>("x", {2, 2, 16, 12});
    fill(x, T(0.37));
    for (const Shape4 s : {Shape4{2, 2, 32, 24}, Shape4{2, 2, 64, 48}, Shape4{2, 2, 4, 3}, Shape4{2, 2, 7, 29}}) {
      CAPTURE(s);
      auto y = make_tensor<T, Space>("y", s);
      imresize_bicubic(x, y);
      for (double v : values(y)) REQUIRE(std::abs(v - double(T(0.37))) <= eps);
    }
  }
  // f(r, c) = 0.1 + 0.02 r + 0.03 c at 1-based input positions; output (i, j) samples it at
  // u = x/scale + (1 - 1/scale)/2. Keys' kernel reproduces linear functions, also stretched by
  // an integer factor (each residue class of taps is a unit-spaced Keys interpolation), so the
  // result is exact wherever no tap is mirrored.
  auto ramp = [](double r, double c) { return 0.1 + 0.02 * r + 0.03 * c; };
  auto pos = [](int x, double scale) { return x / scale + 0.5 * (1 - 1 / scale); };
  SECTION("x2 upscaling") {
    const int n = 16;
    auto x = make_tensor<T, Space>("x", {1, 1, n, n});
    std::vector<double> v;
    for (int r = 1; r <= n; ++r)
      for (int c = 1; c <= n; ++c) v.push_back(ramp(r, c));
    set_values(x, v);
    auto y = imresize_bicubic(x, 2.0);
    const auto out = values(y);
    int checked = 0;
    for (int i = 5; i <= 2 * n - 4; ++i)  // taps floor(u) - 1 .. floor(u) + 2 inside [1, n]
      for (int j = 5; j <= 2 * n - 4; ++j, ++checked)
        REQUIRE(std::abs(out[std::size_t(i - 1) * 2 * n + j - 1] - ramp(pos(i, 2), pos(j, 2))) <= 10 * eps);
    REQUIRE(checked == 24 * 24);
  }
  SECTION("x1/4 downscaling (antialiased, 16 taps)") {
    const int n = 32;
    auto x = make_tensor<T, Space>("x", {1, 1, n, n});
    std::vector<double> v;
    for (int r = 1; r <= n; ++r)
      for (int c = 1; c <= n; ++c) v.push_back(ramp(r, c));
    set_values(x, v);
    auto y = imresize_bicubic(x, 0.25);
    REQUIRE(shape_of(y) == (Shape4{1, 1, 8, 8}));
    const auto out = values(y);
    for (int i = 3; i <= 6; ++i)  // u - 8 >= 1 and u + 8 <= n
      for (int j = 3; j <= 6; ++j)
        REQUIRE(std::abs(out[std::size_t(i - 1) * 8 + j - 1] - ramp(pos(i, 0.25), pos(j, 0.25))) <= 10 * eps);
  }
}

TEMPLATE_LIST_TEST_CASE("imresize_bicubic: the CU-Net depth degradation on a real image", "[data][imresize]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const std::string path = shared_dir() + "/data/rgb_nir/epfl_test/0026_rgb.png";
  if (!exists(path)) {
    MCSC_SHARED_MISSING("no " << path << " (set MCSC_SHARED_DIR)");
  }
  const Image rgb = read_image(path);
  // A 90 x 70 crop (not multiples of 4: 23 x 18 after 1/4, 92 x 72 after x4).
  const Shape4 s{1, 3, 90, 70};
  std::vector<double> v;
  for (int ch = 0; ch < 3; ++ch) {
    const auto p = crop_plane(rgb, ch, 200, 150, 90, 70);
    v.insert(v.end(), p.begin(), p.end());
  }
  auto hr = make_tensor<T, Space>("hr", s);
  set_values(hr, v);
  auto low = imresize_bicubic(hr, 0.25);
  auto back = imresize_bicubic(low, 4.0);
  REQUIRE(shape_of(low) == (Shape4{1, 3, 23, 18}));
  REQUIRE(shape_of(back) == (Shape4{1, 3, 92, 72}));
  const auto ref_low = reference_imresize(values(hr), s, 23, 18, 0.25, 0.25);
  REQUIRE(max_abs_diff(values(low), ref_low) <= tol<T>());
  const auto ref_back = reference_imresize(values(low), shape_of(low), 92, 72, 4.0, 4.0);
  REQUIRE(max_abs_diff(values(back), ref_back) <= tol<T>());
}

TEMPLATE_LIST_TEST_CASE("imresize_bicubic rejects bad input", "[data][imresize][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Catch::Contains;
  auto x = make_tensor<T, Space>("x", {1, 2, 4, 4});
  auto empty = make_tensor<T, Space>("empty", {1, 2, 0, 4});
  auto other_c = make_tensor<T, Space>("other_c", {1, 3, 8, 8});
  auto other_n = make_tensor<T, Space>("other_n", {2, 2, 8, 8});
  auto wrong = make_tensor<T, Space>("wrong", {1, 2, 8, 7});
  REQUIRE_THROWS_WITH(imresize_bicubic(x, empty), Contains("mcsc::imresize_bicubic") && Contains("(1, 2, 0, 4)"));
  REQUIRE_THROWS_WITH(imresize_bicubic(empty, x), Contains("mcsc::imresize_bicubic") && Contains("empty"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, other_c), Contains("mcsc::imresize_bicubic") && Contains("(1, 3, 8, 8)"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, other_n), Contains("mcsc::imresize_bicubic") && Contains("(2, 2, 8, 8)"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, wrong, 2.0),
                      Contains("mcsc::imresize_bicubic") && Contains("(1, 2, 8, 7)") && Contains("(1, 2, 8, 8)"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, 0.0), Contains("mcsc::imresize_bicubic") && Contains("scale"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, -2.0), Contains("mcsc::imresize_bicubic") && Contains("scale"));
  REQUIRE_THROWS_WITH(imresize_bicubic(x, std::nan("")), Contains("mcsc::imresize_bicubic") && Contains("scale"));
  REQUIRE_THROWS_WITH(imresize_bicubic(empty, 2.0), Contains("mcsc::imresize_bicubic") && Contains("(1, 2, 0, 4)"));
  REQUIRE_THROWS_WITH(resized_shape(Shape4{1, 1, 4, 4}, 0.0), Contains("mcsc::resized_shape") && Contains("(1, 1, 4, 4)"));
  REQUIRE_THROWS_WITH(resized_shape(Shape4{1, 1, 0, 4}, 2.0), Contains("mcsc::resized_shape") && Contains("(1, 1, 0, 4)"));
  REQUIRE_THROWS_AS(imresize_bicubic(x, empty), mcsc::Error);
}

// ==================================================================== colour
TEMPLATE_LIST_TEST_CASE("rgb_to_ycbcr / ycbcr_to_rgb / luma_bt601 follow MATLAB's rgb2ycbcr", "[data][color]",
                        AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const double eps = std::is_same<T, float>::value ? 1e-6 : 1e-12;
  const Shape4 s{2, 3, 9, 11};
  auto rgb = make_tensor<T, Space>("rgb", s);
  fill_uniform(rgb, 21);
  auto ycc = make_tensor<T, Space>("ycc", s);
  auto back = make_tensor<T, Space>("back", s);
  auto luma = make_tensor<T, Space>("luma", {2, 1, 9, 11});
  rgb_to_ycbcr(rgb, ycc);
  ycbcr_to_rgb(ycc, back);
  luma_bt601(rgb, luma);

  // Reference: the formula written out.
  const auto x = values(rgb), y = values(ycc), l = values(luma);
  const std::size_t plane = 9 * 11;
  double worst = 0, worst_luma = 0;
  for (int n = 0; n < 2; ++n)
    for (std::size_t p = 0; p < plane; ++p) {
      const double R = x[(n * 3 + 0) * plane + p], G = x[(n * 3 + 1) * plane + p], B = x[(n * 3 + 2) * plane + p];
      const double Y = (65.481 * R + 128.553 * G + 24.966 * B) / 255 + 16.0 / 255;
      const double Cb = (-37.797 * R - 74.203 * G + 112.0 * B) / 255 + 128.0 / 255;
      const double Cr = (112.0 * R - 93.786 * G - 18.214 * B) / 255 + 128.0 / 255;
      worst = std::max({worst, std::abs(y[(n * 3 + 0) * plane + p] - Y), std::abs(y[(n * 3 + 1) * plane + p] - Cb),
                        std::abs(y[(n * 3 + 2) * plane + p] - Cr)});
      worst_luma = std::max(worst_luma, std::abs(l[n * plane + p] - Y));
    }
  CAPTURE(worst, worst_luma);
  REQUIRE(worst <= eps);
  REQUIRE(worst_luma <= eps);
  // Round trip.
  const double round_trip = max_abs_diff(values(back), x);
  CAPTURE(round_trip);
  REQUIRE(round_trip <= eps);
  // In place, both ways.
  auto inplace = make_tensor<T, Space>("inplace", s);
  Kokkos::deep_copy(inplace, rgb);
  rgb_to_ycbcr(inplace, inplace);
  REQUIRE(max_abs_diff(values(inplace), y) == 0);
  ycbcr_to_rgb(inplace, inplace);
  REQUIRE(max_abs_diff(values(inplace), values(back)) == 0);

  // Known values: white -> (235, 128, 128)/255, black -> (16, 128, 128)/255,
  // red -> (81.481, 90.203, 240)/255.
  auto px = make_tensor<T, Space>("px", {3, 3, 1, 1});
  auto pyc = make_tensor<T, Space>("pyc", {3, 3, 1, 1});
  set_values(px, {1, 1, 1, 0, 0, 0, 1, 0, 0});
  rgb_to_ycbcr(px, pyc);
  const std::vector<double> expected = {235, 128, 128, 16, 128, 128, 81.481, 90.203, 240};
  const auto got = values(pyc);
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(std::abs(got[i] - expected[i] / 255) <= eps);
}

TEMPLATE_LIST_TEST_CASE("colour conversions reject bad input", "[data][color][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Catch::Contains;
  auto rgb = make_tensor<T, Space>("rgb", {1, 3, 4, 5});
  auto gray = make_tensor<T, Space>("gray", {1, 1, 4, 5});
  auto rgba = make_tensor<T, Space>("rgba", {1, 4, 4, 5});
  auto smaller = make_tensor<T, Space>("smaller", {1, 3, 4, 4});
  auto empty = make_tensor<T, Space>("empty", {0, 3, 4, 5});
  REQUIRE_THROWS_WITH(rgb_to_ycbcr(gray, rgb), Contains("mcsc::rgb_to_ycbcr") && Contains("3 channels") &&
                                                   Contains("(1, 1, 4, 5)"));
  REQUIRE_THROWS_WITH(ycbcr_to_rgb(rgba, rgba), Contains("mcsc::ycbcr_to_rgb") && Contains("(1, 4, 4, 5)"));
  REQUIRE_THROWS_WITH(rgb_to_ycbcr(rgb, smaller), Contains("mcsc::rgb_to_ycbcr") && Contains("(1, 3, 4, 4)"));
  REQUIRE_THROWS_WITH(rgb_to_ycbcr(rgb, rgba), Contains("mcsc::rgb_to_ycbcr") && Contains("(1, 4, 4, 5)"));
  REQUIRE_THROWS_WITH(ycbcr_to_rgb(empty, empty), Contains("mcsc::ycbcr_to_rgb") && Contains("(0, 3, 4, 5)"));
  REQUIRE_THROWS_WITH(luma_bt601(rgb, rgb), Contains("mcsc::luma_bt601") && Contains("(1, 3, 4, 5)") &&
                                                Contains("expected (1, 1, 4, 5)"));
  REQUIRE_THROWS_WITH(luma_bt601(gray, gray), Contains("mcsc::luma_bt601") && Contains("3 channels"));
  REQUIRE_THROWS_AS(luma_bt601(rgba, gray), mcsc::Error);
}

// ==================================================================== SSIM and PSNR
TEMPLATE_LIST_TEST_CASE("ssim equals an independent ssim_index.m reference", "[metrics][ssim]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  SECTION("random images, several channels and images") {
    const Shape4 s{2, 3, 20, 17};
    auto a = make_tensor<T, Space>("a", s);
    auto b = make_tensor<T, Space>("b", s);
    fill_uniform(a, 31);
    // b = a + noise: a partly similar pair (SSIM well inside (0, 1)).
    auto noise = make_tensor<T, Space>("noise", s);
    fill_normal(noise, 32, 0.0, 0.1);
    lincomb(T(1), a, T(1), noise, b);
    const double got = ssim(a, b);
    const double ref = reference_ssim(values(a), values(b), s, 1.0);
    CAPTURE(got, ref);
    REQUIRE(ref > 0.2);
    REQUIRE(ref < 0.95);
    REQUIRE(std::abs(got - ref) <= 1e-10);
    // Identical images give exactly 1; SSIM is symmetric (bit for bit).
    REQUIRE(ssim(a, a) == 1.0);
    REQUIRE(ssim(b, b) == 1.0);
    REQUIRE(ssim(b, a) == got);
    // L scales with the data: ssim(k a, k b, k) = ssim(a, b, 1).
    auto a255 = make_tensor_like("a255", a);
    auto b255 = make_tensor_like("b255", b);
    lincomb(T(255), a, T(0), a, a255);
    lincomb(T(255), b, T(0), b, b255);
    const double ref255 = reference_ssim(values(a255), values(b255), s, 255.0);
    REQUIRE(std::abs(ssim(a255, b255, 255.0) - ref255) <= 1e-10);
    REQUIRE(std::abs(ref255 - ref) <= (std::is_same<T, float>::value ? 1e-5 : 1e-10));
  }
  SECTION("exactly 11 x 11 (a 1 x 1 map) and unrelated images") {
    const Shape4 s{1, 1, 11, 11};
    auto a = make_tensor<T, Space>("a", s);
    auto b = make_tensor<T, Space>("b", s);
    fill_uniform(a, 41);
    fill_uniform(b, 42);
    REQUIRE(std::abs(ssim(a, b) - reference_ssim(values(a), values(b), s, 1.0)) <= 1e-10);
  }
  SECTION("a real NIR image and a noisy copy (sigma 0.05)") {
    const std::string path = shared_dir() + "/data/rgb_nir/epfl_test/0026_nir.png";
    if (!exists(path)) {
      MCSC_SHARED_MISSING("no " << path << " (set MCSC_SHARED_DIR)");
    }
    const Image nir = read_image(path);
    REQUIRE(nir.channels == 1);
    const int rows = 256, cols = 192;
    const Shape4 s{1, 1, rows, cols};
    const auto clean = crop_plane(nir, 0, (nir.height - rows) / 2, (nir.width - cols) / 2, rows, cols);
    std::vector<double> noisy = clean;
    std::mt19937_64 gen(2004);
    std::normal_distribution<double> dist(0.0, 0.05);
    for (double& v : noisy) v += dist(gen);
    auto a = make_tensor<T, Space>("clean", s);
    auto b = make_tensor<T, Space>("noisy", s);
    set_values(a, clean);
    set_values(b, noisy);
    const double got = ssim(a, b);
    const double ref = reference_ssim(values(a), values(b), s, 1.0);
    CAPTURE(got, ref);
    REQUIRE(ref > 0.1);
    REQUIRE(ref < 0.99);
    REQUIRE(std::abs(got - ref) <= 1e-10);
  }
}

TEMPLATE_LIST_TEST_CASE("ssim closed forms and psnr of a known MSE", "[metrics][ssim][psnr]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const Shape4 s{2, 2, 15, 13};
  auto a = make_tensor<T, Space>("a", s);
  auto b = make_tensor<T, Space>("b", s);
  // Constant images: all variances vanish, SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1).
  for (double c : {0.1, 0.5}) {
    fill(a, T(0.3));
    fill(b, T(0.3 + c));
    const double mu1 = double(T(0.3)), mu2 = double(T(0.3 + c));
    for (double L : {1.0, 2.0}) {
      const double C1 = (0.01 * L) * (0.01 * L);
      const double expected = (2 * mu1 * mu2 + C1) / (mu1 * mu1 + mu2 * mu2 + C1);
      CAPTURE(c, L, expected);
      REQUIRE(std::abs(ssim(a, b, L) - expected) <= 1e-12);
    }
  }
  // PSNR: a constant offset of 0.1 is an MSE of 0.01, i.e. 20 dB (peak 1) and 40 dB (peak 10).
  fill_uniform(a, 51, 0.0, 0.5);
  auto offset = make_tensor_like("offset", a);
  fill(offset, T(0.1));
  lincomb(T(1), a, T(1), offset, b);
  const double dB_tol = std::is_same<T, float>::value ? 1e-4 : 1e-9;
  REQUIRE(std::abs(psnr(b, a) - 20.0) <= dB_tol);
  REQUIRE(std::abs(psnr(b, a, 10.0) - 40.0) <= dB_tol);
  REQUIRE(std::abs(rmse(b, a) - 0.1) <= dB_tol);
}

TEMPLATE_LIST_TEST_CASE("ssim rejects bad input", "[metrics][ssim][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Catch::Contains;
  auto a = make_tensor<T, Space>("a", {1, 1, 16, 16});
  auto b = make_tensor<T, Space>("b", {1, 1, 16, 15});
  auto narrow = make_tensor<T, Space>("narrow", {1, 1, 16, 10});
  auto low = make_tensor<T, Space>("low", {2, 3, 10, 16});
  auto empty = make_tensor<T, Space>("empty", {0, 1, 16, 16});
  REQUIRE_THROWS_WITH(ssim(a, b), Contains("mcsc::ssim") && Contains("(1, 1, 16, 16)") && Contains("(1, 1, 16, 15)"));
  REQUIRE_THROWS_WITH(ssim(narrow, narrow), Contains("mcsc::ssim") && Contains("11x11") && Contains("16x10"));
  REQUIRE_THROWS_WITH(ssim(low, low), Contains("mcsc::ssim") && Contains("(2, 3, 10, 16)"));
  REQUIRE_THROWS_WITH(ssim(empty, empty), Contains("mcsc::ssim") && Contains("(0, 1, 16, 16)"));
  REQUIRE_THROWS_WITH(ssim(a, a, 0.0), Contains("mcsc::ssim") && Contains("peak"));
  REQUIRE_THROWS_WITH(ssim(a, a, -1.0), Contains("mcsc::ssim") && Contains("peak"));
  REQUIRE_THROWS_AS(ssim(a, b), mcsc::Error);
}
