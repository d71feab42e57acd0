// CU-Net with the official weights reproduces the official PyTorch model's outputs and
// intermediates (../shared/fixtures/cunet_parity, see its README for the tolerances).
#include "test_common.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <utility>

#include "cunet_parity.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/state_dict.hpp"

using namespace mcsc;

namespace {
using mcsc_test::shared_dir;
bool exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

TEST_CASE("CU-Net with the official weights matches the official outputs and intermediates", "[cunet][parity]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string root = shared_dir() + "/fixtures/cunet_parity";
  if (!exists(root + "/state_dicts/index.json")) {
    MCSC_SHARED_MISSING("no fixtures at " << root << " (set MCSC_SHARED_DIR)");
  }
  struct Case { const char* name; int channels; bool fusion; };
  for (auto c : {Case{"depth_ks9", 1, false}, Case{"denoise25", 3, false}, Case{"multi_exposure", 3, true}}) {
    CAPTURE(c.name);
    CuNetConfig config;
    config.channels = c.channels;
    config.fusion = c.fusion;
    CuNet<T, Space> net(config);
    load_raw_state_dict(root + "/state_dicts/" + c.name, net.parameters());
    mcsc_test::check_cunet_parity(net, root, c.name);
  }
}

TEST_CASE("loading weights of another model or a damaged export fails with a message", "[cunet][errors]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string root = shared_dir() + "/fixtures/cunet_parity/state_dicts";
  if (!exists(root + "/index.json")) {
    MCSC_SHARED_MISSING("no fixtures at " << root);
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
  REQUIRE_THROWS_WITH(load_raw_state_dict("/nonexistent", net.parameters()), Catch::Contains("cannot read"));
  // A truncated tensor file.
  REQUIRE_THROWS_WITH(read_raw_tensor<T>(root + "/depth_ks9/net_u.lam_in.f32", Shape4{2, 1, 1, 1}),
                      Catch::Contains("truncated"));
}

TEST_CASE("a crafted state-dict index is refused before it sizes an allocation", "[cunet][errors]") {
  // Found by tests/fuzz/fuzz_state_dict.cpp: a rank of 2e9 made the reader allocate 16 GB for
  // the dimensions before checking them (tests/fuzz/corpus/state_dict/rank_2e9).
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mcsc_state_dict_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  CuNetConfig c;
  c.filters = 2;
  c.kernel = 3;
  c.stages = 1;
  CuNet<float, Kokkos::DefaultExecutionSpace> net(c);
  for (const auto& [line, message] : {std::pair<std::string, std::string>{"conv_u.weight w.f32 2000000000 1", "has rank 2000000000"},
                                      {"conv_u.weight w.f32 5 1 1 1 1 1", "has rank 5"},
                                      {"conv_u.weight w.f32 0", "malformed"},
                                      {"conv_u.weight w.f32 4 1 2 x 3", "malformed"},
                                      {"conv_u.weight w.f32 99999999999 1", "malformed"}}) {
    CAPTURE(line);
    std::ofstream(dir / "index.txt") << line << "\n";
    REQUIRE_THROWS_WITH(load_raw_state_dict(dir.string(), net.parameters()),
                        Catch::Contains("index.txt' line 1") && Catch::Contains(message));
  }
  fs::remove_all(dir);
}
