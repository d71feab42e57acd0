#pragma once
// Row-major host images of doubles: the reference side of the data-layer tests
// (test_degradations, test_baselines), with conversions to and from tensors.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "test_common.hpp"

namespace mcsc_test {

/// Row-major host image (n, c, i, j) of doubles.
struct HostImage {
  int N = 0, C = 0, H = 0, W = 0;
  std::vector<double> v;
  HostImage() = default;
  HostImage(int n, int c, int h, int w) : N(n), C(c), H(h), W(w), v(std::size_t(n) * c * h * w, 0.0) {}
  double& operator()(int n, int c, int i, int j) { return v[((std::size_t(n) * C + c) * H + i) * W + j]; }
  double operator()(int n, int c, int i, int j) const { return v[((std::size_t(n) * C + c) * H + i) * W + j]; }
};

template <class V>
HostImage to_host_image(const V& t) {
  auto h = mcsc::to_host(t);
  HostImage out(int(h.extent(0)), int(h.extent(1)), int(h.extent(2)), int(h.extent(3)));
  for (std::size_t k = 0; k < out.v.size(); ++k) out.v[k] = double(h.data()[k]);
  return out;
}

template <class T, class Space>
mcsc::Tensor4<T, Space> to_tensor(const HostImage& x) {
  auto t = mcsc::make_tensor<T, Space>("t", mcsc::Shape4{x.N, x.C, x.H, x.W});
  auto h = Kokkos::create_mirror_view(t);
  for (std::size_t k = 0; k < x.v.size(); ++k) h.data()[k] = T(x.v[k]);
  Kokkos::deep_copy(t, h);
  return t;
}

/// Uniform values in [lo, hi) from a seeded generator.
inline HostImage random_image(int n, int c, int h, int w, unsigned seed, double lo = 0, double hi = 1) {
  HostImage x(n, c, h, w);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  for (double& v : x.v) v = d(gen);
  return x;
}

/// The largest absolute difference of two images of the same size.
inline double max_diff(const HostImage& a, const HostImage& b) {
  REQUIRE(a.v.size() == b.v.size());
  double m = 0;
  for (std::size_t k = 0; k < a.v.size(); ++k) m = std::max(m, std::abs(a.v[k] - b.v[k]));
  return m;
}

}  // namespace mcsc_test
