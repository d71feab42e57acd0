// The unfolding correspondence (docs/learned.md, "One iteration, two uses"), both directions:
// an encoder initialised from a dictionary is ISTA, and an encoder's dictionary is the classical
// solvers' operator.
#include "test_common.hpp"

using namespace mcsc;

TEMPLATE_LIST_TEST_CASE("an LCSC network initialised from a dictionary equals ISTA", "[nn][lista]",
                        mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (int channels : {1, 2}) {
    CAPTURE(channels);
    UnrolledNetConfig config;
    config.channels = channels;
    config.filters = 5;
    config.kernel = 5;
    config.stages = 6;
    config.tied = channels == 2;  // untied and tied stages
    config.per_channel_threshold = channels == 1;
    config.residual = false;
    LcscNet<T, Space> net(config);
    auto d = make_tensor<T, Space>("d", {channels, 5, 5, 5});
    auto x = make_tensor<T, Space>("x", {2, channels, 12, 11});
    fill_normal(d, 81, 0.0, 0.2);
    fill_normal(x, 82);
    ConvDictionary<T, Space> D(d);
    const double L = 1.01 * power_iteration(D, D.code_shape(shape_of(x)));
    const double lambda = 0.05;
    net.initialize_from_dictionary(d, lambda, L);
    FistaOptions ista;
    ista.lambda = lambda;
    ista.lipschitz = L;
    ista.accelerate = false;
    ista.max_iterations = config.stages + 1;
    const auto reference = fista(D, x, ista);
    auto out = make_tensor_like("out", x);
    net.forward(x, {}, out);
    const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
    // The encoder's codes are the ISTA iterate, the network's output its reconstruction D*U.
    const double code_scale = std::sqrt(sum_squares(reference.codes) / double(reference.codes.size()));
    REQUIRE(code_scale > 0);
    REQUIRE(max_abs_diff(net.codes(), reference.codes) <= tol * (1 + 10 * code_scale));
    const double image_scale = std::sqrt(sum_squares(reference.reconstruction) / double(out.size()));
    REQUIRE(max_abs_diff(out, reference.reconstruction) <= tol * (1 + 10 * image_scale));
  }
  Parameters<T, Space> params;
  LcscConfig even;
  even.kernel = 4;
  LcscEncoder<T, Space> encoder(params, "even.", even);
  params.allocate();
  REQUIRE_THROWS_WITH(encoder.initialize_from_dictionary(make_tensor<T, Space>("d", {1, 64, 4, 4}), 0.1, 1.0),
                      Catch::Contains("even"));
}

TEMPLATE_LIST_TEST_CASE("an encoder's stage dictionary is the classical solvers' operator, on the same memory",
                        "[nn][unfolding]", mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  UnrolledNetConfig config;
  config.filters = 5;
  config.kernel = 5;
  config.stages = 3;
  config.tied = false;  // a dictionary per stage
  LcscNet<T, Space> net(config);
  auto& encoder = net.encoder();
  for (int j = 0; j < config.stages; ++j)  // a "trained" network: every stage's dictionary different
    fill_normal(net.parameters().value(encoder.dictionary(j)), 91 + j, 0.0, 0.1);
  REQUIRE(encoder.dictionary(0) != encoder.dictionary(1));
  auto x = make_tensor<T, Space>("x", {1, 1, 14, 13});
  fill_normal(x, 92);
  FistaOptions o;
  o.lambda = 0.05;
  o.max_iterations = 30;
  for (int j = 0; j < config.stages; ++j) {
    CAPTURE(j);
    const auto D = encoder.stage_dictionary(j);
    const auto& w = net.parameters().value(encoder.dictionary(j));
    CHECK(D.weights().data() == w.data());  // no copy
    auto copy = make_tensor_like("copy", w);
    Kokkos::deep_copy(copy, w);
    const auto a = fista(D, x, o);
    const auto b = fista(ConvDictionary<T, Space>(copy), x, o);
    CHECK(max_abs_diff(a.codes, b.codes) == 0);
    CHECK(a.objective == b.objective);
    CHECK(sum_squares(a.codes) > 0);
  }
  // and back: initialised from d, every stage's dictionary is d
  auto d = make_tensor<T, Space>("d", {1, 5, 5, 5});
  fill_normal(d, 93, 0.0, 0.2);
  encoder.initialize_from_dictionary(d, 0.05, 10.0);
  for (int j = 0; j < config.stages; ++j) CHECK(max_abs_diff(encoder.stage_dictionary(j).weights(), d) == 0);
  CHECK_THROWS_WITH(encoder.stage_dictionary(config.stages), Catch::Contains("stage 3 of 3"));
  CHECK_THROWS_WITH(encoder.stage_dictionary(-1), Catch::Contains("stage"));
}

TEMPLATE_LIST_TEST_CASE("ISTA is a sequence of ProximalStage::ista stages, the stage object the encoder applies",
                        "[nn][unfolding][stage]", mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  using Stage = ProximalStage<T, Space>;
  // Classical side: U_0 = prox(E0 x), U_{j+1} = stage.apply(U_j) with E = D'/L, theta = lambda/L,
  // against fista() with accelerate = false (its own step: prox_gradient_step, the adjoint operator).
  auto d = make_tensor<T, Space>("d", {2, 6, 5, 5});
  auto x = make_tensor<T, Space>("x", {2, 2, 13, 12});
  fill_normal(d, 101, 0.0, 0.2);
  fill_normal(x, 102);
  ConvDictionary<T, Space> D(d);
  const double L = 1.01 * power_iteration(D, D.code_shape(shape_of(x)));
  const double lambda = 0.04;
  const Stage stage = Stage::ista(d, lambda, L);
  CHECK(stage.dictionary.data() == d.data());  // the dictionary itself, not a copy
  const Shape4 sc{2, 6, 13, 12};
  auto p1 = make_tensor<T, Space>("p1", sc), u = make_tensor<T, Space>("u", sc), next = make_tensor<T, Space>("next", sc);
  auto pre = make_tensor<T, Space>("pre", sc), r = make_tensor_like("r", x);
  const int iterations = 7;
  Stage::first(x, stage.analysis, stage.threshold, ProxKind::soft_threshold, {}, p1, u);
  for (int k = 1; k < iterations; ++k) {
    stage.apply(u, p1, {}, r, pre, next);
    std::swap(u, next);
  }
  FistaOptions ista;
  ista.lambda = lambda;
  ista.lipschitz = L;
  ista.accelerate = false;
  ista.max_iterations = iterations;
  const auto reference = fista(D, x, ista);
  const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
  const double scale = std::sqrt(sum_squares(reference.codes) / double(reference.codes.size()));
  REQUIRE(scale > 0);
  REQUIRE(max_abs_diff(u, reference.codes) <= tol * (1 + 10 * scale));
  // Learned side: an encoder's forward pass is its stage(j) objects applied in turn, bit for bit,
  // and they are views of its parameters.
  UnrolledNetConfig config;
  config.channels = 2;
  config.filters = 6;
  config.kernel = 5;
  config.stages = 3;
  config.per_channel_threshold = true;
  LcscNet<T, Space> net(config);
  InitOptions init;
  init.seed = 3;
  init.stddev = 0.1;
  init.threshold = 0.02;
  initialize(net.parameters(), init);
  auto& encoder = net.encoder();
  auto out = make_tensor_like("out", x);
  net.forward(x, {}, out);
  const auto& params = net.parameters();
  Stage::first(x, params.value(encoder.encoder0()), params.value_vector(encoder.threshold0()), ProxKind::soft_threshold,
               {}, p1, u);
  for (int j = 0; j < config.stages; ++j) {
    const Stage s = encoder.stage(j);
    CHECK(s.dictionary.data() == params.value(encoder.dictionary(j)).data());
    CHECK(s.analysis.data() == params.value(encoder.encoder(j)).data());
    CHECK(s.threshold.data() == params.value(encoder.threshold(j)).data());
    s.apply(u, p1, {}, r, pre, next);
    std::swap(u, next);
  }
  REQUIRE(sum_squares(u) > 0);
  REQUIRE(max_abs_diff(u, net.codes()) == 0);
  CHECK_THROWS_WITH(encoder.stage(3), Catch::Contains("stage 3 of 3"));
  CHECK_THROWS_WITH(Stage::ista(make_tensor<T, Space>("even", {1, 4, 4, 4}), 0.1, 1.0), Catch::Contains("even"));
  Stage l1l1 = stage;
  l1l1.prox = ProxKind::l1l1;
  CHECK_THROWS_WITH(l1l1.apply(u, p1, {}, r, pre, next), Catch::Contains("side information"));
}
