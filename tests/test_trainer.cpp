// The trainer on real images (../shared/data/rgb_nir): the loss goes down, a resumed run
// continues bit for bit, a diverging run stops and leaves the last good checkpoint, bad data is
// refused.
#include "test_common.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mcsc/data/image_io.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/train/trainer.hpp"

using namespace mcsc;
namespace fs = std::filesystem;

namespace {
using mcsc_test::shared_dir;

// A denoising triplet from an EPFL RGB-NIR pair: target = NIR (central crop), guide = luma of
// the RGB image, input = target + N(0, 0.1^2) (seeded).
ImageTriplet nir_triplet(const std::string& stem, int crop, std::uint64_t seed) {
  const Image nir = to_grayscale(read_image(stem + "_nir.png"));
  const Image rgb = to_grayscale(read_image(stem + "_rgb.png"));
  REQUIRE(nir.width == rgb.width);
  REQUIRE(nir.height == rgb.height);
  ImageTriplet t;
  t.name = stem;
  t.channels = 1;
  t.height = t.width = crop;
  const int top = (nir.height - crop) / 2, left = (nir.width - crop) / 2;
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> noise(0.f, 0.1f);
  for (int i = 0; i < crop; ++i)
    for (int j = 0; j < crop; ++j) {
      const std::size_t p = std::size_t(top + i) * std::size_t(nir.width) + std::size_t(left + j);
      t.target.push_back(nir.pixels[p]);
      t.guide.push_back(rgb.pixels[p]);
      t.input.push_back(nir.pixels[p] + noise(gen));
    }
  return t;
}

struct Fixture {
  std::vector<ImageTriplet> train, validation;
  fs::path dir;
  bool available = false;
  Fixture() {
    const std::string root = shared_dir() + "/data/rgb_nir/epfl_train/";
    if (!std::ifstream(root + "0003_nir.png").good()) return;
    train = {nir_triplet(root + "0003", 96, 1), nir_triplet(root + "0005", 96, 2)};
    validation = {nir_triplet(root + "0007", 64, 3)};
    dir = fs::temp_directory_path() / ("mcsc_test_trainer_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    available = true;
  }
  ~Fixture() {
    if (available) fs::remove_all(dir);
  }
};

CuNetConfig small_cunet() {
  CuNetConfig c;
  c.filters = 8;
  c.kernel = 5;
  c.stages = 2;
  return c;
}
TrainerOptions small_options(int epochs) {
  TrainerOptions o;
  o.epochs = epochs;
  o.steps_per_epoch = 6;
  o.batch_size = 4;
  o.patch_size = 24;
  o.adam.learning_rate = 2e-3;
  o.progress = false;
  o.seed = 42;
  return o;
}
template <class Net>
void init(Net& net) {
  InitOptions i;
  i.weights = WeightInit::xavier_uniform;
  i.threshold = 0.01;
  i.seed = 7;
  initialize(net.parameters(), i);
}
}  // namespace

TEST_CASE("training reduces the loss on real patches and logs every epoch", "[trainer]") {
  Fixture f;
  if (!f.available) {
    WARN("no ../shared/data (set MCSC_SHARED_DIR): not checked");
    return;
  }
  using Space = Kokkos::DefaultExecutionSpace;
  for (int which = 0; which < 2; ++which) {
    CAPTURE(which);
    auto options = small_options(4);
    options.csv_path = (f.dir / ("log" + std::to_string(which) + ".csv")).string();
    std::vector<EpochRecord> records;
    double before = 0;
    auto run = [&](auto& net) {
      init(net);
      Trainer<std::decay_t<decltype(net)>> trainer(net, options);
      before = trainer.validation_psnr(f.validation);
      records = trainer.fit(f.train, f.validation);
    };
    if (which == 0) {
      CuNet<float, Space> net(small_cunet());
      run(net);
    } else {
      UnrolledNetConfig c;
      c.filters = 8;
      c.kernel = 5;
      c.stages = 2;
      c.residual = true;
      LmcscNet<float, Space> net(c);
      run(net);
    }
    REQUIRE(records.size() == 4);
    CAPTURE(records.front().train_loss, records.back().train_loss, before, records.back().validation_psnr);
    REQUIRE(records.back().train_loss < 0.7 * records.front().train_loss);
    REQUIRE(records.back().validation_psnr > before);
    std::ifstream csv(options.csv_path);
    std::string line;
    int lines = 0;
    while (std::getline(csv, line)) ++lines;
    REQUIRE(lines == 5);  // header + 4 epochs
  }
}

TEST_CASE("a resumed run continues bit for bit like an uninterrupted one", "[trainer][checkpoint]") {
  Fixture f;
  if (!f.available) {
    WARN("no ../shared/data: not checked");
    return;
  }
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string checkpoint = (f.dir / "resume.mcsc").string();
  CuNet<float, Space> straight(small_cunet());
  init(straight);
  Trainer<CuNet<float, Space>>(straight, small_options(3)).fit(f.train, {});

  CuNet<float, Space> first(small_cunet());
  init(first);
  auto options = small_options(1);
  options.checkpoint_path = checkpoint;
  Trainer<CuNet<float, Space>>(first, options).fit(f.train, {});

  CuNet<float, Space> resumed(small_cunet());  // different initial values: all come from the file
  auto resumed_options = small_options(3);
  resumed_options.checkpoint_path = checkpoint;
  Trainer<CuNet<float, Space>> trainer(resumed, resumed_options);
  trainer.resume(checkpoint);
  REQUIRE(trainer.epoch() == 1);
  trainer.fit(f.train, {});
  REQUIRE(trainer.epoch() == 3);
  REQUIRE(max_abs_diff(resumed.parameters().values(), straight.parameters().values()) == 0.0);
}

TEST_CASE("a diverging run stops with a message and keeps the last good checkpoint", "[trainer][errors]") {
  Fixture f;
  if (!f.available) {
    WARN("no ../shared/data: not checked");
    return;
  }
  using Space = Kokkos::DefaultExecutionSpace;
  const std::string checkpoint = (f.dir / "diverge.mcsc").string();
  CuNet<float, Space> net(small_cunet());
  init(net);
  auto options = small_options(2);
  options.checkpoint_path = checkpoint;
  Trainer<CuNet<float, Space>> trainer(net, options);
  options.epochs = 1;
  Trainer<CuNet<float, Space>>(net, options).fit(f.train, {});
  // Simulate a blow-up: a weight becomes NaN.
  auto poisoned = Kokkos::create_mirror(net.parameters().value(0));  // a separate copy, also on host spaces
  Kokkos::deep_copy(poisoned, net.parameters().value(0));
  poisoned(0, 0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
  trainer.resume(checkpoint);  // the run continues from epoch 1 ...
  Kokkos::deep_copy(net.parameters().value(0), poisoned);  // ... and a weight goes bad
  REQUIRE_THROWS_WITH(trainer.fit(f.train, {}), Catch::Contains("diverged at epoch 2") &&
                                                    Catch::Contains(checkpoint) && Catch::Contains("epoch 1"));
  CuNet<float, Space> check(small_cunet());
  const auto info = load_checkpoint(checkpoint, check.parameters(), check.type_name, check.config_string());
  REQUIRE(info.epoch == 1);
  REQUIRE(count_nonfinite(check.parameters().values()) == 0);
}

TEST_CASE("the trainer refuses bad data", "[trainer][errors]") {
  ImageTriplet a;
  a.name = "a";
  a.channels = 1;
  a.height = a.width = 8;
  a.input.assign(64, 0.5f);
  a.guide.assign(60, 0.5f);  // guide of another size
  a.target.assign(64, 0.5f);
  REQUIRE_THROWS_WITH(PatchSampler({a}, 4, false), Catch::Contains("'a'") && Catch::Contains("sizes differ"));
  a.guide.assign(64, 0.5f);
  a.input[3] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_WITH(PatchSampler({a}, 4, false), Catch::Contains("NaN"));
  a.input[3] = 0.5f;
  REQUIRE_THROWS_WITH(PatchSampler({a}, 16, false), Catch::Contains("smaller than"));
  REQUIRE_THROWS_WITH(PatchSampler({}, 16, false), Catch::Contains("no training images"));
}

namespace {
std::int64_t g_allocations = 0;
std::uint64_t g_bytes = 0;
void count_allocation(const Kokkos::Tools::SpaceHandle, const char*, const void*, const std::uint64_t bytes) {
  ++g_allocations;
  g_bytes += bytes;
}
// Kokkos allocations made by one Trainer::fit of `steps` steps on a fresh model.
template <class Net, class Config>
std::int64_t allocations_for(const Config& config, const std::vector<ImageTriplet>& data, int steps) {
  Net net(config);
  init(net);
  auto options = small_options(1);
  options.steps_per_epoch = steps;
  Trainer<Net> trainer(net, options);
  g_allocations = 0;
  Kokkos::Tools::Experimental::set_allocate_data_callback(count_allocation);
  trainer.fit(data, {});
  Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
  return g_allocations;
}
}  // namespace

TEST_CASE("no allocation inside a training step after the first", "[trainer][memory]") {
  ImageTriplet t;
  t.name = "synthetic";
  t.channels = 1;
  t.height = t.width = 40;
  for (int i = 0; i < 1600; ++i) {
    t.target.push_back(float((i * 37) % 101) / 100.f);
    t.guide.push_back(float((i * 53) % 97) / 96.f);
    t.input.push_back(t.target.back() + 0.05f * float((i * 7) % 11 - 5));
  }
  using Space = Kokkos::DefaultExecutionSpace;
  const std::vector<ImageTriplet> data{t};
  UnrolledNetConfig c;
  c.filters = 4;
  c.kernel = 3;
  c.stages = 2;
  // Warm-up: Kokkos grows some internal buffers once per process.
  allocations_for<CuNet<float, Space>>(small_cunet(), data, 1);
  allocations_for<LmcscNet<float, Space>>(c, data, 1);
  const auto one = allocations_for<CuNet<float, Space>>(small_cunet(), data, 1);
  REQUIRE(one > 0);  // the callback does see allocations
  const auto four = allocations_for<CuNet<float, Space>>(small_cunet(), data, 4);
  REQUIRE(four == one);
  const auto lmcsc_one = allocations_for<LmcscNet<float, Space>>(c, data, 1);
  const auto lmcsc_four = allocations_for<LmcscNet<float, Space>>(c, data, 4);
  REQUIRE(lmcsc_four == lmcsc_one);
}

TEST_CASE("inference memory does not grow with the number of stages", "[nn][memory]") {
  using Space = Kokkos::DefaultExecutionSpace;
  auto inference_bytes = [](int stages) {
    CuNetConfig c = small_cunet();
    c.stages = stages;
    CuNet<float, Space> net(c);  // parameters are allocated here, before counting
    auto x = make_tensor<float, Space>("x", {1, 1, 48, 48});
    auto y = make_tensor_like("y", x), out = make_tensor_like("out", x);
    g_allocations = 0;
    g_bytes = 0;
    Kokkos::Tools::Experimental::set_allocate_data_callback(count_allocation);
    net.forward(x, y, out, false);
    Kokkos::Tools::Experimental::set_allocate_data_callback(nullptr);
    return g_bytes;
  };
  inference_bytes(1);  // warm-up
  const auto one = inference_bytes(1);
  REQUIRE(one > 0);
  REQUIRE(inference_bytes(6) == one);
  // No gradient buffers: per encoder p1, two code buffers and one pre-activation (12 code-sized
  // buffers for the three encoders), plus image-sized ones (residuals, p_x, p_y, decoders).
  const std::uint64_t code = std::uint64_t(small_cunet().filters) * 48 * 48 * sizeof(float);
  const std::uint64_t image = 2 * 48 * 48 * sizeof(float);
  CAPTURE(one, code, image);
  REQUIRE(one <= 12 * code + 16 * image);
}
