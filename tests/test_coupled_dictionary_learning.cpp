#include "test_common.hpp"

#include "mcsc/solvers/coupled_dictionary_learning.hpp"

using namespace mcsc;
using mcsc_test::AllConfigs;
using mcsc_test::DoubleConfigs;

namespace {
// x = Dc*C + Du*U, y = Hc*C + Hv*V, z = Gc*C + Gu*U from planted dictionaries and sparse codes.
template <class T, class Space>
struct Planted {
  MultimodalDictionaries<T, Space> d;
  Tensor4<T, Space> C, U, V, x, y, z;
};

template <class T, class Space>
Planted<T, Space> planted(int N, int side, int K, int s, bool fusion) {
  Planted<T, Space> p;
  p.d = random_multimodal_dictionaries<T, Space>(1, 1, 1, K, K, K, s, fusion, 500);
  for (auto* c : {&p.C, &p.U, &p.V}) *c = make_tensor<T, Space>("codes", Shape4{N, K, side, side});
  mcsc_test::fill_sparse(p.C, 510, 0.05);
  mcsc_test::fill_sparse(p.U, 520, 0.05);
  mcsc_test::fill_sparse(p.V, 530, 0.05);
  for (auto* c : {&p.x, &p.y, &p.z}) *c = make_tensor<T, Space>("signal", Shape4{N, 1, side, side});
  ConvDictionary<T, Space>(p.d.Dc).apply(p.C, p.x);
  ConvDictionary<T, Space>(p.d.Du).apply(p.U, p.x, true);
  ConvDictionary<T, Space>(p.d.Hc).apply(p.C, p.y);
  ConvDictionary<T, Space>(p.d.Hv).apply(p.V, p.y, true);
  ConvDictionary<T, Space>(p.d.Gc).apply(p.C, p.z);
  ConvDictionary<T, Space>(p.d.Gu).apply(p.U, p.z, true);
  if (fusion) ConvDictionary<T, Space>(p.d.Gv).apply(p.V, p.z, true);
  return p;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("Coupled dictionary learning decreases eq. 5 and keeps the filters unit-norm",
                        "[coupled_dl]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto p = planted<T, Space>(2, 12, 2, 3, false);
  CoupledDictionaryLearningOptions opts;
  opts.max_iterations = 6;
  opts.coding.lambda = 0.02;
  for (int fft = 0; fft < 2; ++fft) {
    CAPTURE(fft);
    auto dd = random_multimodal_dictionaries<T, Space>(1, 1, 1, 2, 2, 2, 3, false, 900);  // not the planted ones
    const auto r = fft ? learn_coupled_dictionaries<FftConvDictionary<T, Space>>(dd, p.x, p.y, {}, opts)
                       : learn_coupled_dictionaries<ConvDictionary<T, Space>>(dd, p.x, p.y, {}, opts);
    REQUIRE(r.iterations == 6);
    double previous = r.initial_objective;
    for (double v : r.objective) {
      CAPTURE(previous, v);
      REQUIRE(v <= previous * (1 + 10 * mcsc_test::exact_tolerance<T>()));
      previous = v;
    }
    CAPTURE(r.initial_objective, r.objective.back());
    REQUIRE(r.objective.back() < 0.9 * r.initial_objective);
    const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-9;
    for (const auto* w : {&dd.Dc, &dd.Du, &dd.Hc, &dd.Hv})
      for (double norm : filter_norms(*w)) REQUIRE(std::abs(norm - 1) <= tol);
    // the objective reported is eq. 5 at the returned filters and codes
    ConvDictionary<T, Space> Dc(dd.Dc), Du(dd.Du), Hc(dd.Hc), Hv(dd.Hv);
    const double check =
        common_unique_objective(Dc, Du, Hc, Hv, p.x, p.y, r.codes.C, r.codes.U, r.codes.V, opts.coding);
    REQUIRE(mcsc_test::relative_error(check, r.objective.back()) < 1e3 * mcsc_test::exact_tolerance<T>());
  }
}

TEMPLATE_LIST_TEST_CASE("Coupled dictionary learning fits the target dictionaries by least squares",
                        "[coupled_dl]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    const auto p = planted<T, Space>(1, 10, 2, 3, fusion);
    auto dd = random_multimodal_dictionaries<T, Space>(1, 1, 1, 2, 2, 2, 3, fusion, 901);
    CoupledDictionaryLearningOptions opts;
    opts.max_iterations = 2;
    opts.coding.lambda = 0.02;
    opts.target.max_iterations = 3000;
    opts.target.tolerance = 0;
    const auto r = learn_coupled_dictionaries<ConvDictionary<T, Space>>(dd, p.x, p.y, p.z, opts);
    REQUIRE(r.target_data_term <= r.initial_target_data_term);
    // Dense least squares over the taps of [Gc Gu (Gv)] with the final codes fixed: the column of
    // a tap is the reconstruction with that tap 1 and every other 0.
    std::vector<Tensor4<T, Space>> codes{r.codes.C, r.codes.U};
    if (fusion) codes.push_back(r.codes.V);
    const int K = 2, s = 3, side = 10;
    const int columns = int(codes.size()) * K * s * s;
    Eigen::MatrixXd A(side * side, columns);
    int col = 0;
    for (const auto& c : codes)
      for (int k = 0; k < K; ++k)
        for (int i = 0; i < s * s; ++i, ++col) {
          auto w = make_tensor<T, Space>("tap", {1, K, s, s});
          auto hw = to_host(w);
          hw(0, k, i / s, i % s) = 1;
          from_host(w, hw);
          auto out = make_tensor<T, Space>("column", {1, 1, side, side});
          ConvDictionary<T, Space>(w).apply(c, out);
          A.col(col) = mcsc_test::to_eigen(out);
        }
    const Eigen::VectorXd zv = mcsc_test::to_eigen(p.z);
    const Eigen::VectorXd g = A.colPivHouseholderQr().solve(zv);
    const double best = 0.5 * (A * g - zv).squaredNorm();
    // the fitted filters reproduce the reported data term ...
    auto zhat = make_tensor<T, Space>("zhat", {1, 1, side, side});
    if (fusion) {
      const auto parts = common_unique_fusion(ConvDictionary<T, Space>(dd.Gc), ConvDictionary<T, Space>(dd.Gu),
                                              ConvDictionary<T, Space>(dd.Gv), r.codes);
      Kokkos::deep_copy(zhat, parts.target);
    } else {
      const auto parts =
          common_unique_restoration(ConvDictionary<T, Space>(dd.Gc), ConvDictionary<T, Space>(dd.Gu), r.codes);
      Kokkos::deep_copy(zhat, parts.target);
    }
    REQUIRE(mcsc_test::relative_error(0.5 * distance_squared(zhat, p.z), r.target_data_term) < 1e-9);
    // ... which is the least-squares minimum
    CAPTURE(best, r.target_data_term, r.initial_target_data_term);
    REQUIRE(r.target_data_term <= best + 1e-6 * r.initial_target_data_term);
  }
}

TEMPLATE_LIST_TEST_CASE("Coupled dictionary learning rejects bad input", "[coupled_dl][errors]", AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto p = planted<T, Space>(1, 8, 2, 3, false);
  CoupledDictionaryLearningOptions opts;
  opts.max_iterations = 1;
  using D = ConvDictionary<T, Space>;
  auto d = random_multimodal_dictionaries<T, Space>(1, 1, 1, 2, 2, 2, 3, false, 902);
  auto missing = d;
  missing.Du = Tensor4<T, Space>();
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(missing, p.x, p.y, {}, opts), Catch::Contains("must all be given"));
  auto sizes = d;
  sizes.Du = random_dictionary<T, Space>(1, 2, 5, 3);
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(sizes, p.x, p.y, {}, opts),
                      Catch::Contains("same channels and filter size"));
  opts.coding.lambda = -1;
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(d, p.x, p.y, {}, opts), Catch::Contains("lambda"));
  opts.coding.lambda = 0.05;
  auto z = make_tensor<T, Space>("z", {1, 1, 6, 8});
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(d, p.x, p.y, z, opts), Catch::Contains("target z"));
  auto y = make_tensor<T, Space>("y", {1, 1, 8, 7});
  REQUIRE_THROWS(learn_coupled_dictionaries<D>(d, p.x, y, {}, opts));
  auto nan = make_tensor<T, Space>("nan", {1, 1, 8, 8});
  fill(nan, std::numeric_limits<T>::quiet_NaN());
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(d, nan, p.y, {}, opts), Catch::Contains("NaN"));
  opts.max_iterations = -1;
  REQUIRE_THROWS_WITH(learn_coupled_dictionaries<D>(d, p.x, p.y, {}, opts), Catch::Contains("max_iterations"));
}
