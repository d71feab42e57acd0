// CU-Net with the official weights reproduces the official PyTorch model's outputs and
// intermediates (../shared/fixtures/cunet_parity, see its README for the tolerances).
#include "test_common.hpp"

#include <cstdlib>
#include <fstream>

#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/state_dict.hpp"

using namespace mcsc;

namespace {
std::string shared_dir() {
  const char* env = std::getenv("MCSC_SHARED_DIR");
  return env ? env : "../shared";
}
bool exists(const std::string& path) { return std::ifstream(path).good(); }

// Fraction of entries with |a - b| <= tol, and the largest difference.
template <class A, class B>
std::pair<double, double> agreement(const A& a, const B& b, double tol) {
  auto ha = to_host(a);
  auto hb = to_host(b);
  std::size_t ok = 0;
  double worst = 0;
  for (std::size_t i = 0; i < ha.span(); ++i) {
    const double d = std::abs(double(ha.data()[i]) - double(hb.data()[i]));
    ok += d <= tol;
    worst = std::max(worst, d);
  }
  return {double(ok) / double(ha.span()), worst};
}
}  // namespace

TEST_CASE("CU-Net with the official weights matches the official outputs and intermediates", "[cunet][parity]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string root = shared_dir() + "/fixtures/cunet_parity";
  if (!exists(root + "/state_dicts/index.json")) {
    WARN("no fixtures at " << root << " (set MCSC_SHARED_DIR): parity not checked");
    return;
  }
  struct Case { const char* name; int channels; bool fusion; };
  for (auto c : {Case{"depth_ks9", 1, false}, Case{"denoise25", 3, false}, Case{"multi_exposure", 3, true}}) {
    CAPTURE(c.name);
    CuNetConfig config;
    config.channels = c.channels;
    config.fusion = c.fusion;
    CuNet<T, Space> net(config);
    load_raw_state_dict(root + "/state_dicts/" + c.name, net.parameters());
    const std::string prefix = root + "/" + c.name + ".";
    const Shape4 image{1, c.channels, 96, 96};
    auto x = read_raw_tensor<T, Space>(prefix + "input_x.f32", image);
    auto y = read_raw_tensor<T, Space>(prefix + "input_y.f32", image);
    auto out = make_tensor<T, Space>("out", image);
    net.forward(x, y, out);

    const auto expected = read_raw_tensor<T, Space>(prefix + "output.f32", image);
    const double max_err = max_abs_diff(out, expected);
    const double mean_err = std::sqrt(distance_squared(out, expected) / double(out.size()));
    CAPTURE(max_err, mean_err);
    REQUIRE(max_err < 1e-4);
    REQUIRE(mean_err < 5e-6);
    const auto f64 = read_raw_tensor<T, Space>(prefix + "output_f64ref.f32", image);
    REQUIRE(max_abs_diff(out, f64) < 1e-4);

    // Image-sized intermediates.
    std::vector<std::pair<const char*, Tensor4<T, Space>>> images = {
        {"conv_u", make_tensor_like("conv_u", out)}, {"conv_v", make_tensor_like("conv_v", out)}};
    lincomb(T(1), x, T(-1), net.residual_x(), images[0].second);  // conv_u(u) = x - p_x
    lincomb(T(1), y, T(-1), net.residual_y(), images[1].second);
    images.push_back({"dec_u", net.decoded_u()});
    images.push_back({"dec_z", net.decoded_z()});
    if (c.fusion) images.push_back({"dec_v", net.decoded_v()});
    for (const auto& [name, mine] : images) {
      CAPTURE(name);
      REQUIRE(max_abs_diff(mine, read_raw_tensor<T, Space>(prefix + name + ".f32", image)) < 2e-4);
    }
    // Codes: all 64 channels for depth_ks9, channels 0-7 otherwise. A few entries may flip at a
    // negative threshold (|jump| = 2|lam|), so: >= 99.99 % within 1e-4, every entry within
    // 2 max|lam| + 1e-4.
    const bool all = c.channels == 1;
    const int stored = all ? 64 : 8;
    for (const auto& [name, codes] : {std::make_pair("net_u", net.codes_u()), std::make_pair("net_v", net.codes_v()),
                                      std::make_pair("net_z", net.codes_z())}) {
      CAPTURE(name);
      const std::string file = prefix + name + (all ? "" : "_ch0-7") + ".f32";
      auto ref = read_raw_tensor<T, Space>(file, Shape4{1, stored, 96, 96});
      auto mine = make_tensor<T, Space>("mine", Shape4{1, stored, 96, 96});
      Kokkos::deep_copy(mine, Kokkos::subview(codes, Kokkos::ALL, std::make_pair(0, stored), Kokkos::ALL, Kokkos::ALL));
      double max_lam = 0;
      for (const auto& e : net.parameters().entries())
        if (e.name.rfind(std::string(name) + ".lam", 0) == 0) max_lam = std::max(max_lam, std::abs(double(to_host(e.value)(0, 0, 0, 0))));
      const auto [fraction, worst] = agreement(mine, ref, 1e-4);
      CAPTURE(fraction, worst, max_lam);
      REQUIRE(fraction >= 0.9999);
      REQUIRE(worst <= 2 * max_lam + 1e-4);
    }
  }
}

TEST_CASE("loading weights of another model or a damaged export fails with a message", "[cunet][errors]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string root = shared_dir() + "/fixtures/cunet_parity/state_dicts";
  if (!exists(root + "/index.json")) {
    WARN("no fixtures at " << root << ": not checked");
    return;
  }
  CuNetConfig gray;  // channels = 1, restoration
  CuNet<T, Space> net(gray);
  // 3-channel weights into a 1-channel model: shapes differ.
  REQUIRE_THROWS_WITH(load_raw_state_dict(root + "/denoise25", net.parameters()),
                      Catch::Contains("net_u.layer_in.weight") && Catch::Contains("(64, 3, 9, 9)"));
  // Fusion weights (decoder.conv_3) into a restoration model: unexpected key.
  CuNetConfig colour;
  colour.channels = 3;
  CuNet<T, Space> restoration(colour);
  REQUIRE_THROWS_WITH(load_raw_state_dict(root + "/multi_exposure", restoration.parameters()),
                      Catch::Contains("decoder.conv_3.weight"));
  // Restoration weights into a fusion model: missing key.
  colour.fusion = true;
  CuNet<T, Space> fusion(colour);
  REQUIRE_THROWS_WITH(load_raw_state_dict(root + "/denoise25", fusion.parameters()),
                      Catch::Contains("missing") && Catch::Contains("decoder.conv_3.weight"));
  REQUIRE_THROWS_WITH(load_raw_state_dict("/nonexistent", net.parameters()), Catch::Contains("cannot open"));
  // A truncated tensor file.
  REQUIRE_THROWS_WITH(read_raw_tensor<T>(root + "/depth_ks9/net_u.lam_in.f32", Shape4{2, 1, 1, 1}),
                      Catch::Contains("truncated"));
}
