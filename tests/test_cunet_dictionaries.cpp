// A trained CU-Net's filters handed to the classical multimodal solver (nn/cunet_dictionaries.hpp),
// and a CU-Net converted to another channel count (nn/cunet_channels.hpp).
#include "test_common.hpp"

#include "mcsc/nn/cunet_channels.hpp"
#include "mcsc/nn/cunet_dictionaries.hpp"

using namespace mcsc;
using mcsc_test::DoubleConfigs;

namespace {
template <class V>
double value_at(const V& v, int n, int c, int i, int j) {
  auto h = to_host(v);
  return double(h(n, c, i, j));
}
// [a; b] along the first (output-channel) axis of (m, K, s, s) filter banks.
template <class V>
void concat_batch_for_test(const V& a, const V& b, const V& out) {
  auto ha = to_host(a), hb = to_host(b);
  auto ho = Kokkos::create_mirror_view(out);
  const int m = int(a.extent(0));
  for (int i = 0; i < int(out.extent(0)); ++i)
    for (int k = 0; k < int(out.extent(1)); ++k)
      for (int p = 0; p < int(out.extent(2)); ++p)
        for (int q = 0; q < int(out.extent(3)); ++q) ho(i, k, p, q) = i < m ? ha(i, k, p, q) : hb(i - m, k, p, q);
  Kokkos::deep_copy(out, ho);
}
CuNetConfig small_config(int channels, int filters, int kernel, int stages, bool fusion) {
  CuNetConfig config;
  config.channels = channels;
  config.filters = filters;
  config.kernel = kernel;
  config.stages = stages;
  config.fusion = fusion;
  return config;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("cunet_dictionaries maps each CU-Net filter bank to its classical dictionary",
                        "[nn][cunet][unfolding]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    const CuNetConfig config = small_config(2, 3, 3, 2, fusion);
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
  const CuNetConfig config = small_config(1, 4, 5, 1, false);
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
  const CuNetConfig config = small_config(1, 2, 3, 0, false);
  CuNet<T, Space> net(config);
  REQUIRE_THROWS_WITH(cunet_dictionaries(net), Catch::Contains("0 stages"));
}

TEMPLATE_LIST_TEST_CASE("a CU-Net initialised from dictionaries runs ISTA on them and gives them back",
                        "[nn][cunet][unfolding]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    const CuNetConfig config = small_config(1, 4, 5, 2, fusion);
    CuNet<T, Space> net(config);
    const auto d = random_multimodal_dictionaries<T, Space>(1, 1, 1, 4, 4, 4, 5, fusion, 300);
    const double lambda = 0.05;
    initialize_from_dictionaries(net, d, lambda, 32);
    // the round trip gives the same filters back
    const auto back = cunet_dictionaries(net);
    REQUIRE(max_abs_diff(d.Dc, back.Dc) == 0);
    REQUIRE(max_abs_diff(d.Du, back.Du) == 0);
    REQUIRE(max_abs_diff(d.Hc, back.Hc) == 0);
    REQUIRE(max_abs_diff(d.Hv, back.Hv) == 0);
    REQUIRE(max_abs_diff(d.Gc, back.Gc) == 0);
    REQUIRE(max_abs_diff(d.Gu, back.Gu) == 0);
    if (fusion) REQUIRE(max_abs_diff(d.Gv, back.Gv) == 0);
    // each encoder's codes are stages + 1 ISTA iterations on its dictionary (step 1/L, L read
    // back from its threshold lambda/L), computed by the classical solver: net_u on Du, net_v on
    // Hv, net_z on [Dc; Hc] (2 input channels)
    auto common = make_tensor<T, Space>("common", {2, 4, 5, 5});
    concat_batch_for_test(d.Dc, d.Hc, common);
    auto& params = net.parameters();
    auto check = [&](LcscEncoder<T, Space>& encoder, const std::string& prefix, const Tensor4<T, Space>& dict,
                     std::uint64_t seed) {
      CAPTURE(prefix);
      auto lam = to_host(params.value(params.find(prefix + "lam_in")));
      const double L = lambda / double(lam(0, 0, 0, 0));
      ConvDictionary<T, Space> D(dict);
      REQUIRE(L >= power_iteration(D, Shape4{1, 4, 32, 32}));
      auto x = make_tensor<T, Space>("x", {1, int(dict.extent(0)), 20, 18});
      fill_normal(x, seed);
      FistaOptions ista;
      ista.lambda = lambda;
      ista.lipschitz = L;
      ista.accelerate = false;
      ista.max_iterations = config.stages + 1;
      const auto reference = fista(D, x, ista);
      const auto& codes = encoder.forward(x, {}, false);
      const double scale = std::sqrt(sum_squares(reference.codes) / double(reference.codes.size()));
      REQUIRE(scale > 0);
      REQUIRE(max_abs_diff(codes, reference.codes) <= 1e-12 * (1 + 10 * scale));
    };
    check(net.encoder_u(), "net_u.", d.Du, 301);
    check(net.encoder_v(), "net_v.", d.Hv, 302);
    check(net.encoder_z(), "net_z.", common, 303);
  }
  CuNet<T, Space> small(small_config(1, 3, 5, 1, false));
  const auto d = random_multimodal_dictionaries<T, Space>(1, 1, 1, 4, 4, 4, 5, false, 302);
  REQUIRE_THROWS_WITH(initialize_from_dictionaries(small, d, 0.1), Catch::Contains("should be (1, 3, 5, 5)"));
}

namespace {
// A CU-Net with every weight random and distinct, thresholds 0.05 (so codes are sparse but not
// all zero).
template <class T, class Space>
void randomize(CuNet<T, Space>& net, std::uint64_t seed) {
  auto& params = net.parameters();
  for (int i = 0; i < params.count(); ++i) {
    const bool threshold = is_threshold_name(params.entries()[std::size_t(i)].name);
    if (threshold)
      fill(params.value(i), T(0.05));
    else
      fill_normal(params.value(i), seed + std::uint64_t(i), 0.0, 0.15);
  }
}
// (1, 1, H, W) -> (1, C, H, W), the grey image in every channel.
template <class T, class Space>
Tensor4<T, Space> replicate(const Tensor4<T, Space>& g, int C) {
  auto out = make_tensor<T, Space>("replica", Shape4{1, C, std::int64_t(g.extent(2)), std::int64_t(g.extent(3))});
  for (int c = 0; c < C; ++c)
    Kokkos::deep_copy(Kokkos::subview(out, std::make_pair(0, 1), std::make_pair(c, c + 1), Kokkos::ALL, Kokkos::ALL), g);
  return out;
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("a grey CU-Net converted to 3 channels gives its result in every channel of a grey replica",
                        "[nn][cunet][channels]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true})
    for (bool residual : {false, true}) {
      CAPTURE(fusion, residual);
      CuNetConfig config = small_config(1, 4, 3, 2, fusion);
      config.residual = residual;
      CuNet<T, Space> grey(config);
      randomize(grey, 301);
      config.channels = 3;
      CuNet<T, Space> rgb(config);
      convert_cunet_channels(grey, rgb);
      auto g = make_tensor<T, Space>("g", Shape4{1, 1, 9, 8}), h = make_tensor_like("h", g);
      fill_normal(g, 5);
      fill_normal(h, 6);
      auto out1 = make_tensor_like("out1", g);
      grey.forward(g, h, out1);
      const auto x3 = replicate(g, 3), y3 = replicate(h, 3);
      auto out3 = make_tensor_like("out3", x3);
      rgb.forward(x3, y3, out3);
      const auto h1 = to_host(out1);
      const auto h3 = to_host(out3);
      double scale = 0, worst = 0;
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 9; ++i)
          for (int j = 0; j < 8; ++j) {
            scale = std::max(scale, std::abs(double(h1(0, 0, i, j))));
            worst = std::max(worst, std::abs(double(h3(0, c, i, j) - h1(0, 0, i, j))));
          }
      REQUIRE(scale > 0.1);  // a non-trivial output
      REQUIRE(worst <= 1e-12 * scale);
    }
}

TEMPLATE_LIST_TEST_CASE("an RGB CU-Net converted to grey gives the channel mean when its encoders write equal channels",
                        "[nn][cunet][channels]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  for (bool fusion : {false, true}) {
    CAPTURE(fusion);
    CuNetConfig config = small_config(3, 4, 3, 2, fusion);
    CuNet<T, Space> rgb(config);
    randomize(rgb, 401);
    auto g = make_tensor<T, Space>("g", Shape4{1, 1, 8, 7}), h = make_tensor_like("h", g);
    fill_normal(g, 7);
    fill_normal(h, 8);
    const auto x3 = replicate(g, 3), y3 = replicate(h, 3);
    auto run_grey = [&](const CuNet<T, Space>& from) {
      CuNetConfig gc = config;
      gc.channels = 1;
      CuNet<T, Space> grey(gc);
      convert_cunet_channels(from, grey);
      auto out = make_tensor_like("out", g);
      grey.forward(g, h, out);
      return to_host(out);
    };
    auto channel_mean_gap = [&](CuNet<T, Space>& net, const Kokkos::View<T****, Kokkos::HostSpace>& grey_out) {
      auto out3 = make_tensor_like("out3", x3);
      net.forward(x3, y3, out3);
      const auto h3 = to_host(out3);
      double worst = 0, scale = 0;
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 7; ++j) {
          const double mean = (double(h3(0, 0, i, j)) + double(h3(0, 1, i, j)) + double(h3(0, 2, i, j))) / 3;
          scale = std::max(scale, std::abs(mean));
          worst = std::max(worst, std::abs(double(grey_out(0, 0, i, j)) - mean));
        }
      REQUIRE(scale > 0.1);
      return worst / scale;
    };
    // Random weights: only an approximation (the encoders' image-writing weights differ by channel).
    const double approximate = channel_mean_gap(rgb, run_grey(rgb));
    CHECK(approximate > 1e-3);
    // Make every image-writing weight of the encoders equal across the channels of each group
    // (the decoders keep distinct channels: the mean takes care of them): then it is exact.
    auto& params = rgb.parameters();
    for (int p = 0; p < params.count(); ++p) {
      const std::string& name = params.entries()[std::size_t(p)].name;
      if (name.rfind("decoder.", 0) == 0 || is_threshold_name(name)) continue;
      auto w = params.value(p);
      const Shape4 s = shape_of(w);
      if (s.n % 3 != 0 || s.n == config.filters) continue;  // reads image channels, writes codes
      auto hw = Kokkos::create_mirror_view(w);
      Kokkos::deep_copy(hw, w);
      for (int o = 0; o < s.n; ++o)
        for (int k = 0; k < s.c; ++k)
          for (int i = 0; i < s.h; ++i)
            for (int j = 0; j < s.w; ++j) hw(o, k, i, j) = hw(o - o % 3, k, i, j);
      Kokkos::deep_copy(w, hw);
    }
    REQUIRE(channel_mean_gap(rgb, run_grey(rgb)) <= 1e-12);
  }
}

TEMPLATE_LIST_TEST_CASE("convert_cunet_channels refuses networks that differ in more than channels",
                        "[nn][cunet][channels][errors]", DoubleConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  CuNet<T, Space> rgb(small_config(3, 4, 3, 2, true));
  CuNet<T, Space> other_filters(small_config(1, 5, 3, 2, true)), other_variant(small_config(1, 4, 3, 2, false)),
      two(small_config(2, 4, 3, 2, true));
  REQUIRE_THROWS_WITH(convert_cunet_channels(rgb, other_filters), Catch::Contains("differ in more than their channels"));
  REQUIRE_THROWS_WITH(convert_cunet_channels(rgb, other_variant), Catch::Contains("differ in more than their channels"));
  REQUIRE_THROWS_WITH(convert_cunet_channels(rgb, two), Catch::Contains("to or from 1 channel only"));
}
