// Checkpoints: exact round trip of parameters and optimiser state, and clear refusals of
// truncated, corrupted or mismatched files.
#include "test_common.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>
#include <unistd.h>

#include "mcsc/nn/cunet.hpp"
#include "mcsc/train/checkpoint.hpp"
#include "mcsc/train/optim.hpp"

using namespace mcsc;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("mcsc_test_checkpoint_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
CuNetConfig small_config() {
  CuNetConfig c;
  c.channels = 2;
  c.filters = 3;
  c.kernel = 3;
  c.stages = 2;
  return c;
}
template <class Net>
void randomize(Net& net, std::uint64_t seed) {
  for (const auto& e : net.parameters().entries()) fill_normal(e.value, seed++, 0.0, 0.1);
}
}  // namespace

TEMPLATE_LIST_TEST_CASE("a checkpoint restores parameters and Adam state exactly", "[checkpoint]",
                        mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  const auto path = scratch("roundtrip.mcsc").string();
  CuNet<T, Space> net(small_config());
  randomize(net, 1);
  Adam<T, Space> adam(net.parameters(), AdamOptions{});
  for (int t = 0; t < 3; ++t) {
    for (const auto& e : net.parameters().entries()) fill_normal(e.grad, 10 + t);
    adam.step();
  }
  CheckpointInfo info;
  info.model_type = net.type_name;
  info.model_config = net.config_string();
  info.epoch = 7;
  info.step = 123;
  info.rng_state = "12345 67890";
  save_checkpoint(path, net.parameters(), info, &adam);
  REQUIRE(fs::exists(path));
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    REQUIRE(entry.path().string().find(".tmp.") == std::string::npos);  // no temporary left behind

  CuNet<T, Space> other(small_config());
  Adam<T, Space> other_adam(other.parameters(), AdamOptions{});
  const auto loaded = load_checkpoint(path, other.parameters(), other.type_name, other.config_string(), &other_adam);
  REQUIRE(loaded.epoch == 7);
  REQUIRE(loaded.step == 123);
  REQUIRE(loaded.rng_state == "12345 67890");
  REQUIRE(loaded.optimizer_type == "adam");
  REQUIRE(other_adam.steps() == 3);
  REQUIRE(max_abs_diff(other.parameters().values(), net.parameters().values()) == 0.0);
  REQUIRE(max_abs_diff(other_adam.first_moment(), adam.first_moment()) == 0.0);
  REQUIRE(max_abs_diff(other_adam.second_moment(), adam.second_moment()) == 0.0);
  // The configuration round-trips through its string.
  REQUIRE(CuNet<T, Space>::config_from_string(loaded.model_config).filters == 3);
  REQUIRE(read_checkpoint_info(path).model_type == "CuNet");
  // A float checkpoint loads into a double model (values converted exactly).
  if (std::is_same<T, float>::value) {
    CuNet<double, Space> wide(small_config());
    load_checkpoint(path, wide.parameters(), wide.type_name, wide.config_string());
    auto a = to_host(wide.parameters().values());
    auto b = to_host(net.parameters().values());
    for (std::size_t i = 0; i < a.span(); ++i) REQUIRE(a(i) == double(b(i)));
  }
  fs::remove_all(fs::path(path).parent_path());
}

TEST_CASE("damaged or mismatched checkpoints are refused with a message", "[checkpoint][errors]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const auto path = scratch("good.mcsc").string();
  CuNet<T, Space> net(small_config());
  randomize(net, 2);
  CheckpointInfo info;
  info.model_type = net.type_name;
  info.model_config = net.config_string();
  save_checkpoint(path, net.parameters(), info);
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& name, const std::vector<char>& data) {
    const auto p = scratch(name).string();
    std::ofstream(p, std::ios::binary).write(data.data(), std::streamsize(data.size()));
    return p;
  };
  CuNet<T, Space> target(small_config());
  auto load = [&](const std::string& p) {
    return load_checkpoint(p, target.parameters(), target.type_name, target.config_string());
  };
  REQUIRE_NOTHROW(load(path));
  for (std::size_t keep : {std::size_t(0), std::size_t(5), bytes.size() / 2, bytes.size() - 1}) {
    CAPTURE(keep);
    const auto p = write("truncated.mcsc", std::vector<char>(bytes.begin(), bytes.begin() + std::ptrdiff_t(keep)));
    REQUIRE_THROWS_WITH(load(p), Catch::Contains("mcsc::load_checkpoint") &&
                                     (Catch::Contains("truncated") || Catch::Contains("not an mcsc checkpoint")));
  }
  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;
  REQUIRE_THROWS_WITH(load(write("corrupt.mcsc", flipped)), Catch::Contains("checksum"));
  REQUIRE_THROWS_WITH(load(write("text.mcsc", std::vector<char>(64, 'x'))), Catch::Contains("bad magic"));
  REQUIRE_THROWS_WITH(load("/nonexistent/file.mcsc"), Catch::Contains("cannot read"));
  // A crafted string length near 2^64, with a valid checksum: m_pos + n wraps around, so the bound
  // check must compare n with what is left (it used to pass and read far past the buffer).
  {
    auto crafted = std::vector<char>(bytes.begin(), bytes.end() - 8);
    const std::size_t at = sizeof(mcsc::Impl::checkpoint_magic) + 4 + 4;  // the model type's length
    const std::uint64_t huge = ~std::uint64_t(0) - 16;
    std::memcpy(crafted.data() + at, &huge, 8);
    const std::uint64_t sum = mcsc::Impl::fnv1a(crafted.data(), crafted.size());
    crafted.insert(crafted.end(), reinterpret_cast<const char*>(&sum), reinterpret_cast<const char*>(&sum) + 8);
    REQUIRE_THROWS_WITH(load(write("huge_string.mcsc", crafted)), Catch::Contains("ends early"));
  }
  // Another configuration or model type.
  auto config = small_config();
  config.filters = 4;
  CuNet<T, Space> wider(config);
  REQUIRE_THROWS_WITH(load_checkpoint(path, wider.parameters(), wider.type_name, wider.config_string()),
                      Catch::Contains("filters=3") && Catch::Contains("filters=4"));
  REQUIRE_THROWS_WITH(load_checkpoint(path, target.parameters(), "LmcscNet", target.config_string()),
                      Catch::Contains("holds a CuNet, not a LmcscNet"));
  // A folder is not a checkpoint (it used to be read as a 2^63-byte file: std::bad_alloc).
  REQUIRE_THROWS_WITH(load(fs::path(path).parent_path().string()), Catch::Contains("mcsc::load_checkpoint") &&
                                                                      Catch::Contains("is a directory (a folder), not a file"));
  REQUIRE_THROWS_WITH(read_checkpoint_info(fs::path(path).parent_path().string()), Catch::Contains("a folder"));
  // A well-formed file whose values are not finite names the parameter.
  {
    CuNet<T, Space> poisoned(small_config());
    randomize(poisoned, 3);
    const auto& e = poisoned.parameters().entries()[2];
    auto h = Kokkos::create_mirror(e.value);
    Kokkos::deep_copy(h, e.value);
    h(0, 0, 0, 0) = std::numeric_limits<T>::quiet_NaN();
    Kokkos::deep_copy(e.value, h);
    const auto p = scratch("nan.mcsc").string();
    save_checkpoint(p, poisoned.parameters(), info);
    REQUIRE_THROWS_WITH(load(p), Catch::Contains("parameter '" + e.name + "' holds 1 NaN/Inf value(s)"));
  }
  // Saving into a folder that does not exist fails cleanly.
  REQUIRE_THROWS_WITH(save_checkpoint("/nonexistent/dir/x.mcsc", net.parameters(), info),
                      Catch::Contains("mcsc::save_checkpoint"));
  fs::remove_all(fs::path(path).parent_path());
}

TEST_CASE("the checkpoint checksum is standard FNV-1a 64", "[checkpoint]") {
  // Published test vectors of FNV-1a 64.
  REQUIRE(mcsc::Impl::fnv1a("", 0) == 0xcbf29ce484222325ull);
  REQUIRE(mcsc::Impl::fnv1a("a", 1) == 0xaf63dc4c8601ec8cull);
  REQUIRE(mcsc::Impl::fnv1a("foobar", 6) == 0x85944171f73967e8ull);
}

TEST_CASE("stale temporary files of dead writers are removed on the next write", "[checkpoint][errors]") {
  using T = float;
  using Space = Kokkos::DefaultExecutionSpace;
  const auto path = scratch("model.mcsc").string();
  // A process that has exited: its pid is free (and will not be reused within this test).
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  const std::string dead = path + ".tmp." + std::to_string(child);
  const std::string alive = path + ".tmp." + std::to_string(::getppid());  // a running process
  const std::string other = scratch("other.mcsc").string() + ".tmp." + std::to_string(child);  // another file's
  for (const auto& p : {dead, alive, other}) std::ofstream(p) << "half-written";
  CuNet<T, Space> net(small_config());
  CheckpointInfo info;
  info.model_type = net.type_name;
  info.model_config = net.config_string();
  save_checkpoint(path, net.parameters(), info);
  CHECK(!fs::exists(dead));
  CHECK(fs::exists(alive));
  CHECK(fs::exists(other));
  CHECK(!fs::exists(mcsc::temporary_path_for(path)));
  REQUIRE_NOTHROW(load_checkpoint(path, net.parameters(), net.type_name, net.config_string()));
  fs::remove_all(fs::path(path).parent_path());
}

TEST_CASE("a model configuration's key=value text: integers and reals, refusals naming the key", "[checkpoint][errors]") {
  const auto kv = parse_key_values("filters=64 lambda=0.0125 seed=7 bad=12x empty=");
  REQUIRE(kv.size() == 5);
  REQUIRE(config_int(kv, "filters") == 64);
  REQUIRE(config_double(kv, "lambda") == 0.0125);
  REQUIRE(config_double(kv, "seed") == 7.0);
  REQUIRE_THROWS_WITH(config_int(kv, "lambda"), Catch::Contains("'lambda=0.0125' is not an integer"));
  REQUIRE_THROWS_WITH(config_int(kv, "bad"), Catch::Contains("'bad=12x' is not an integer"));
  REQUIRE_THROWS_WITH(config_double(kv, "bad"), Catch::Contains("'bad=12x' is not a number"));
  REQUIRE_THROWS_WITH(config_double(kv, "empty"), Catch::Contains("'empty=' is not a number"));
  REQUIRE_THROWS_WITH(config_double(kv, "kernel"), Catch::Contains("configuration has no 'kernel'"));
  REQUIRE_THROWS_WITH(parse_key_values("filters=64 oops"), Catch::Contains("'oops' is not key=value"));
}
