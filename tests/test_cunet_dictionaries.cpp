// A trained CU-Net's filters handed to the classical multimodal solver (nn/cunet_dictionaries.hpp).
#include "test_common.hpp"

#include "mcsc/nn/cunet_dictionaries.hpp"

using namespace mcsc;
using mcsc_test::DoubleConfigs;

namespace {
template <class V>
double value_at(const V& v, int n, int c, int i, int j) {
  auto h = to_host(v);
  return double(h(n, c, i, j));
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("cunet_dictionaries maps each CU-Net filter bank to its classical dictionary",
                        "[nn][cunet][unfolding]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    CuNetConfig config;
    config.channels = 2;
    config.filters = 3;
    config.kernel = 3;
    config.stages = 2;
    config.fusion = fusion;
    CuNet<T, Space> net(config);
    auto& params = net.parameters();
    for (int i = 0; i < params.count(); ++i) fill_normal(params.value(i), 91 + std::uint64_t(i));  // all distinct
    const auto d = cunet_dictionaries(net);
    auto same = [&](const Tensor4<T, Space>& got, const std::string& name, int first_channel) {
      CAPTURE(name, first_channel);
      const auto& p = params.value(params.find(name));
      const Shape4 s = shape_of(got);
      REQUIRE(s == Shape4{2, 3, 3, 3});
      auto hg = to_host(got);
      auto hp = to_host(p);
      for (int m = 0; m < s.n; ++m)
        for (int k = 0; k < s.c; ++k)
          for (int i = 0; i < s.h; ++i)
            for (int j = 0; j < s.w; ++j) REQUIRE(hg(m, k, i, j) == hp(first_channel + m, k, i, j));
    };
    same(d.Du, "conv_u.weight", 0);
    same(d.Hv, "conv_v.weight", 0);
    same(d.Dc, "net_z.down_conv_1.weight", 0);  // the last stage, x's half
    same(d.Hc, "net_z.down_conv_1.weight", 2);  // y's half
    same(d.Gu, "decoder.conv_1.weight", 0);
    same(d.Gc, "decoder.conv_2.weight", 0);
    if (fusion)
      same(d.Gv, "decoder.conv_3.weight", 0);
    else
      REQUIRE(d.Gv.data() == nullptr);
    // copies: the network's parameters are not aliased
    const double before = value_at(params.value(params.find("conv_u.weight")), 0, 0, 0, 0);
    fill(d.Du, T(7));
    REQUIRE(value_at(params.value(params.find("conv_u.weight")), 0, 0, 0, 0) == before);
  }
}

TEMPLATE_LIST_TEST_CASE("the classical solver runs with a CU-Net's dictionaries and refits G to its codes",
                        "[nn][cunet][unfolding]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  CuNetConfig config;
  config.channels = 1;
  config.filters = 4;
  config.kernel = 5;
  config.stages = 1;
  CuNet<T, Space> net(config);
  for (int i = 0; i < net.parameters().count(); ++i) fill_normal(net.parameters().value(i), 200 + std::uint64_t(i), 0.0, 0.2);
  auto d = cunet_dictionaries(net);
  auto x = make_tensor<T, Space>("x", {2, 1, 16, 16}), y = make_tensor_like("y", x), z = make_tensor_like("z", x);
  fill_normal(x, 93);
  fill_normal(y, 94);
  fill_normal(z, 95);
  lincomb(T(0.5), x, T(0.5), z, z);  // a target related to x
  CoupledDictionaryLearningOptions o;
  o.max_iterations = 0;  // keep the network's Dc, Du, Hc, Hv; code once and fit G
  o.coding.lambda = 0.05;
  const auto r = learn_coupled_dictionaries<ConvDictionary<T, Space>>(d, x, y, z, o);
  // the codes are nonzero and eq. 5 is below its value at zero codes, (||x||^2 + ||y||^2) / 2
  const double energy = 0.5 * (sum_squares(x) + sum_squares(y));
  REQUIRE(r.initial_objective < 0.9 * energy);
  REQUIRE(sum_squares(r.codes.U) > 0);
  REQUIRE(sum_squares(r.codes.C) > 0);
  // the least-squares G improves on the network's decoders (its starting point) for these codes
  REQUIRE(r.target_data_term < r.initial_target_data_term);
  REQUIRE(std::isfinite(r.target_data_term));
}

TEMPLATE_LIST_TEST_CASE("cunet_dictionaries refuses a CU-Net without stages", "[nn][cunet][errors]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  CuNetConfig config;
  config.filters = 2;
  config.kernel = 3;
  config.stages = 0;
  CuNet<T, Space> net(config);
  REQUIRE_THROWS_WITH(cunet_dictionaries(net), Catch::Contains("0 stages"));
}
