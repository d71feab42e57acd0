// The trainer on real images (../shared/data/rgb_nir): the loss goes down, a resumed run
// continues bit for bit, a diverging run stops and leaves the last good checkpoint, bad data is
// refused.
#include "test_common.hpp"

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "mcsc/data/image_io.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/nn/lmcsc_net.hpp"
#include "mcsc/train/trainer.hpp"
#include "train_fixtures.hpp"

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
  mcsc_test::init_for_training(net);
}
// The images as device tensors, {input, guide, target} of (1, C, H, W) each.
template <class T, class Space>
std::vector<std::array<Tensor4<T, Space>, 3>> device_images(const std::vector<ImageTriplet>& images) {
  std::vector<std::array<Tensor4<T, Space>, 3>> out;
  for (const auto& im : images) {
    std::array<Tensor4<T, Space>, 3> t;
    const std::vector<float>* planes[3] = {&im.input, &im.guide, &im.target};
    for (std::size_t k = 0; k < 3; ++k) {
      t[k] = make_tensor<T, Space>(im.name, {1, im.channels, im.height, im.width});
      auto h = Kokkos::create_mirror_view(t[k]);
      for (std::size_t e = 0; e < h.size(); ++e) h.data()[e] = T((*planes[k])[e]);
      Kokkos::deep_copy(t[k], h);
    }
    out.push_back(t);
  }
  return out;
}
}  // namespace

TEST_CASE("training reduces the loss on real patches and logs every epoch", "[trainer]") {
  Fixture f;
  if (!f.available) {
    MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
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

TEST_CASE("an edge-weighted run trains on the weighted loss; validation stays unweighted", "[trainer][loss]") {
  Fixture f;
  if (!f.available) {
    MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
  }
  using Space = Kokkos::DefaultExecutionSpace;
  // One step from the same start on the same batch (same seed): the epoch loss is that batch's
  // loss before the step, weighted or not; weights lie in [1, 1 + gain].
  auto one_step = [&](double gain, double& loss, std::vector<float>& params) {
    auto options = small_options(1);
    options.steps_per_epoch = 1;
    options.edge_weighting = EdgeLossWeighting{gain, 0.02};
    CuNet<float, Space> net(small_cunet());
    init(net);
    Trainer<CuNet<float, Space>> trainer(net, options);
    const auto records = trainer.fit(f.train, {});
    REQUIRE(records.size() == 1);
    loss = records[0].train_loss;
    auto h = to_host(net.parameters().values());
    params.assign(h.data(), h.data() + h.span());
  };
  double plain = 0, weighted = 0;
  std::vector<float> p_plain, p_weighted;
  one_step(0, plain, p_plain);
  one_step(4, weighted, p_weighted);
  CAPTURE(plain, weighted);
  REQUIRE(weighted > 1.05 * plain);  // the NIR crops have edges: some weights well above 1
  REQUIRE(weighted < 5 * plain);
  REQUIRE(p_plain != p_weighted);  // the gradient was weighted too
}

TEST_CASE("a resumed run continues bit for bit like an uninterrupted one", "[trainer][checkpoint]") {
  Fixture f;
  if (!f.available) {
    MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
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
    MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
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
  trainer.resume(checkpoint);
  Kokkos::deep_copy(net.parameters().value(0), poisoned);
  REQUIRE_THROWS_AS(trainer.fit(f.train, {}), NumericalError);  // not mcsc::Error's bad-input case
  CuNet<float, Space> check(small_cunet());
  const auto info = load_checkpoint(checkpoint, check.parameters(), check.type_name, check.config_string());
  REQUIRE(info.epoch == 1);
  REQUIRE(count_nonfinite(check.parameters().values()) == 0);
}

TEST_CASE("a provoked loss spike is rolled back, training recovers and the best checkpoint is kept",
          "[trainer][spike]") {
  Fixture f;
  if (!f.available) MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
  using Space = Kokkos::DefaultExecutionSpace;
  using Net = CuNet<float, Space>;
  Net net(small_cunet());
  init(net);
  auto options = small_options(7);
  options.checkpoint_path = (f.dir / "spike.mcsc").string();
  options.csv_path = (f.dir / "spike.csv").string();
  // A rate of 30 for two steps in epoch 4 (steps 18 and 19), once: the next batch's loss explodes.
  int fired = 0;
  options.rate_hook = [&](std::int64_t step, double rate) {
    if ((step == 18 || step == 19) && fired < 2) {
      ++fired;
      return 30.0;
    }
    return rate;
  };
  Trainer<Net> trainer(net, options);
  const auto records = trainer.fit(f.train, f.validation);
  REQUIRE(records.size() == 7);
  REQUIRE(fired == 2);
  REQUIRE(trainer.rollbacks() == 1);
  REQUIRE(trainer.rate_scale() == 0.5);
  CHECK(records[2].event.empty());
  REQUIRE_THAT(records[3].event, Catch::Contains("rollback 1") && Catch::Contains("epoch 4") &&
                                     Catch::Contains("back to the end of epoch 3"));
  // Recovered: every later epoch is finite and trains on from where epoch 3 left off.
  for (std::size_t e = 3; e < records.size(); ++e) {
    CAPTURE(e, records[e].train_loss, records[2].train_loss);
    REQUIRE(std::isfinite(records[e].train_loss));
    REQUIRE(records[e].train_loss < 1.5 * records[2].train_loss);
    REQUIRE(records[e].learning_rate == Approx(0.5 * options.adam.learning_rate));
  }
  REQUIRE(records.back().train_loss < 0.7 * records.front().train_loss);
  // The best checkpoint is the epoch of the highest validation PSNR, and it loads to that score.
  std::size_t best = 0;
  for (std::size_t e = 0; e < records.size(); ++e)
    if (records[e].validation_psnr > records[best].validation_psnr) best = e;
  for (std::size_t e = 0; e < records.size(); ++e) {
    bool better_before = false;
    for (std::size_t k = 0; k < e; ++k) better_before |= records[k].validation_psnr >= records[e].validation_psnr;
    CHECK(records[e].best == !better_before);
  }
  const std::string best_path = (f.dir / "spike.best.mcsc").string();
  REQUIRE(fs::exists(best_path));
  Net reloaded(small_cunet());
  const auto info = load_checkpoint(best_path, reloaded.parameters(), Net::type_name, reloaded.config_string());
  REQUIRE(info.epoch == records[best].epoch);
  Trainer<Net> scorer(reloaded, small_options(1));
  REQUIRE(scorer.validation_psnr(f.validation) == Approx(records[best].validation_psnr).epsilon(1e-12));
  // The log holds every epoch once, the rollback in its event column.
  std::ifstream csv(options.csv_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  REQUIRE(lines.size() == 8);
  REQUIRE_THAT(lines[4], Catch::StartsWith("4,") && Catch::Contains("rollback 1"));
}

TEST_CASE("a resumed run keeps its history, and the log is rewritten from the checkpoint", "[trainer][checkpoint]") {
  Fixture f;
  if (!f.available) MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
  using Space = Kokkos::DefaultExecutionSpace;
  using Net = CuNet<float, Space>;
  auto options = small_options(2);
  options.checkpoint_path = (f.dir / "history.mcsc").string();
  options.csv_path = (f.dir / "history.csv").string();
  options.schedule = Schedule::cosine;
  options.warmup_steps = 4;
  Net net(small_cunet());
  init(net);
  Trainer<Net>(net, options).fit(f.train, f.validation);
  // A stray row after the checkpoint (a kill between checkpoint and log in an older mcsc) is gone
  // once the resumed run rewrites the log.
  { std::ofstream(options.csv_path, std::ios::app) << "99,1,1,1,1,0,\"stray\"\n"; }
  options.epochs = 4;
  Net resumed(small_cunet());
  Trainer<Net> trainer(resumed, options);
  trainer.resume(options.checkpoint_path);
  REQUIRE(trainer.history().size() == 2);
  trainer.fit(f.train, f.validation);
  REQUIRE(trainer.history().size() == 4);
  std::ifstream csv(options.csv_path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  REQUIRE(lines.size() == 5);
  for (int e = 1; e <= 4; ++e) REQUIRE_THAT(lines[std::size_t(e)], Catch::StartsWith(std::to_string(e) + ","));
}

TEST_CASE("the spike guard ignores single hard batches and catches sustained jumps", "[trainer][spike]") {
  // Heavy-tailed batch losses as in a real depth-SR run (one batch in ~50 is 15x the median):
  // never a spike, also as the level falls.
  LossSpikeGuard guard(10, 64, 8);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.8, 1.2);
  double level = 1;
  for (int i = 0; i < 2000; ++i) {
    level *= 0.999;
    const double loss = level * u(rng) * (i % 50 == 17 ? 15.0 : 1.0) * (i % 333 == 5 ? 4.0 : 1.0);
    INFO("step " << i << ", loss " << loss);
    REQUIRE(guard.check(loss).empty());
  }
  const double base = LossSpikeGuard::median(guard.losses());
  // A sustained jump to 20x: caught within 8 batches, and never remembered.
  const auto kept = guard.losses();
  int caught_at = -1;
  for (int i = 0; i < 8 && caught_at < 0; ++i)
    if (!guard.check(20 * base).empty()) caught_at = i;
  CHECK(caught_at >= 3);  // the median of 8 needs 5 high losses
  REQUIRE(caught_at >= 0);
  REQUIRE_THAT(guard.check(20 * base), Catch::Contains("median of the last 8 batch losses"));
  // One catastrophic batch (> factor^2 x the median): caught at once.
  guard.set_losses(kept);
  REQUIRE_THAT(guard.check(150 * base), Catch::Contains("> 100 x the running median"));
  REQUIRE(guard.losses() == kept);
  REQUIRE_THAT(guard.check(std::numeric_limits<double>::quiet_NaN()), Catch::Contains("NaN/Inf"));
  // Off: only NaN/Inf.
  LossSpikeGuard off(0);
  for (int i = 0; i < 100; ++i) REQUIRE(off.check(i == 50 ? 1e9 : 1.0).empty());
  REQUIRE_FALSE(off.check(std::numeric_limits<double>::infinity()).empty());
  REQUIRE_THROWS_WITH(LossSpikeGuard(0.5), Catch::Contains("factor must be 0 (off) or > 1"));
}

TEST_CASE("learning-rate schedules: warm-up, step decay and cosine", "[trainer]") {
  TrainerOptions o;
  o.epochs = 10;
  o.steps_per_epoch = 10;
  o.adam.learning_rate = 1e-3;
  o.decay_every_epochs = 3;
  o.decay_gamma = 0.5;
  REQUIRE(scheduled_learning_rate(o, 0) == 1e-3);
  REQUIRE(scheduled_learning_rate(o, 29) == 1e-3);
  REQUIRE(scheduled_learning_rate(o, 30) == Approx(5e-4));
  REQUIRE(scheduled_learning_rate(o, 65) == Approx(2.5e-4));
  o.warmup_steps = 4;
  REQUIRE(scheduled_learning_rate(o, 0) == Approx(2.5e-4));
  REQUIRE(scheduled_learning_rate(o, 3) == Approx(1e-3));
  o.warmup_steps = 0;
  o.schedule = Schedule::cosine;
  o.min_lr_fraction = 0.1;
  REQUIRE(scheduled_learning_rate(o, 0) == Approx(1e-3));
  REQUIRE(scheduled_learning_rate(o, 99) == Approx(1e-4));
  REQUIRE(scheduled_learning_rate(o, 1000) == Approx(1e-4));
  REQUIRE(scheduled_learning_rate(o, 49) == Approx(1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(3.14159265358979323846 * 49.0 / 99))));
  for (std::int64_t t = 1; t < 100; ++t) REQUIRE(scheduled_learning_rate(o, t) <= scheduled_learning_rate(o, t - 1));
}

TEST_CASE("the patch sampler draws fresh input noise when asked", "[trainer]") {
  ImageTriplet a;
  a.name = "ramp";
  a.channels = 2;
  a.height = a.width = 40;
  for (int k = 0; k < 2 * 40 * 40; ++k) {
    a.target.push_back(float(k % 97) / 97.0f);
    a.guide.push_back(0.25f);
    a.input.push_back(-7.0f);  // never read with input noise
  }
  const std::vector<ImageTriplet> images = {a};
  using H = Kokkos::View<float****, Kokkos::LayoutRight, Kokkos::HostSpace>;
  auto draw = [&](double sigma, std::uint64_t seed) {
    std::array<H, 3> v = {H("x", 8, 2, 16, 16), H("y", 8, 2, 16, 16), H("t", 8, 2, 16, 16)};
    std::mt19937_64 rng(seed);
    PatchSampler(images, 16, true, sigma).sample(rng, v[0], v[1], v[2]);
    return v;
  };
  const double sigma = 0.1;
  const auto first = draw(sigma, 3), again = draw(sigma, 3), other = draw(sigma, 4);
  double sum = 0, sum2 = 0, differ = 0;
  const std::size_t n = first[0].size();
  for (std::size_t k = 0; k < n; ++k) {
    const double e = double(first[0].data()[k]) - double(first[2].data()[k]);
    sum += e;
    sum2 += e * e;
    REQUIRE(first[0].data()[k] == again[0].data()[k]);  // one seed, one draw
    differ += first[0].data()[k] != other[0].data()[k];
  }
  const double mean = sum / double(n), std = std::sqrt(sum2 / double(n) - mean * mean);
  CHECK(std::abs(mean) < 4 * sigma / std::sqrt(double(n)));
  CHECK(std == Approx(sigma).epsilon(0.05));
  CHECK(differ > 0.99 * double(n));
  // Without input noise the stored input is used.
  const auto stored = draw(0, 3);
  for (std::size_t k = 0; k < n; ++k) REQUIRE(stored[0].data()[k] == -7.0f);
  REQUIRE_THROWS_WITH(PatchSampler(images, 16, true, -1.0), Catch::Contains("input noise must be >= 0"));
}

TEST_CASE("the patch sampler's patches are windows of the image under the 8 symmetries of a square, "
          "the same for input, guide and target", "[trainer]") {
  // Every value encodes its own position: (image, channel, row, column) -> a unique number, with the
  // guide and target offset from the input by constants, so a patch says where each pixel came from.
  const int H = 23, W = 31, C = 2, P = 6;
  auto code = [&](int image, int c, int r, int q) { return float(image * 100000 + c * 10000 + r * 100 + q); };
  std::vector<ImageTriplet> images(2);
  for (int m = 0; m < 2; ++m) {
    images[std::size_t(m)].name = "coded" + std::to_string(m);
    images[std::size_t(m)].channels = C;
    images[std::size_t(m)].height = H;
    images[std::size_t(m)].width = W;
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < H; ++r)
        for (int q = 0; q < W; ++q) {
          images[std::size_t(m)].input.push_back(code(m, c, r, q));
          images[std::size_t(m)].guide.push_back(code(m, c, r, q) + 0.5f);
          images[std::size_t(m)].target.push_back(code(m, c, r, q) + 0.25f);
        }
  }
  // The dihedral group D4 written out: patch pixel (i, j) shows window pixel map(i, j).
  using Map = std::function<std::pair<int, int>(int, int)>;
  const std::vector<Map> symmetries = {
      [](int i, int j) { return std::make_pair(i, j); },                 [](int i, int j) { return std::make_pair(i, P - 1 - j); },
      [](int i, int j) { return std::make_pair(P - 1 - i, j); },         [](int i, int j) { return std::make_pair(P - 1 - i, P - 1 - j); },
      [](int i, int j) { return std::make_pair(j, i); },                 [](int i, int j) { return std::make_pair(j, P - 1 - i); },
      [](int i, int j) { return std::make_pair(P - 1 - j, i); },         [](int i, int j) { return std::make_pair(P - 1 - j, P - 1 - i); }};
  using Hv = Kokkos::View<float****, Kokkos::LayoutRight, Kokkos::HostSpace>;
  for (const bool augment : {true, false}) {
    CAPTURE(augment);
    Hv x("x", 64, C, P, P), y("y", 64, C, P, P), t("t", 64, C, P, P);
    std::mt19937_64 rng(11);
    PatchSampler(images, P, augment).sample(rng, x, y, t);
    std::set<int> seen;
    for (int b = 0; b < 64; ++b) {
      CAPTURE(b);
      const int v00 = int(x(b, 0, 0, 0)), image = v00 / 100000;
      // The window's top-left corner is the smallest (row, column) in the patch.
      int top = H, left = W;
      for (int i = 0; i < P; ++i)
        for (int j = 0; j < P; ++j) {
          const int v = int(x(b, 0, i, j)) % 10000;
          top = std::min(top, v / 100);
          left = std::min(left, v % 100);
        }
      int which = -1;
      for (int k = 0; k < 8 && which < 0; ++k) {
        bool all = true;
        for (int c = 0; c < C && all; ++c)
          for (int i = 0; i < P && all; ++i)
            for (int j = 0; j < P && all; ++j) {
              const auto [r, q] = symmetries[std::size_t(k)](i, j);
              all = x(b, c, i, j) == code(image, c, top + r, left + q);
            }
        if (all) which = k;
      }
      REQUIRE(which >= 0);  // a window of one image under one symmetry, every channel alike
      seen.insert(which);
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < P; ++i)
          for (int j = 0; j < P; ++j) {
            REQUIRE(y(b, c, i, j) == x(b, c, i, j) + 0.5f);   // the guide at the same place
            REQUIRE(t(b, c, i, j) == x(b, c, i, j) + 0.25f);  // the target at the same place
          }
    }
    if (augment) {
      REQUIRE(seen.size() == 8);  // 64 draws: every symmetry occurs
    } else {
      REQUIRE(seen == std::set<int>{0});
    }
  }
}

TEMPLATE_LIST_TEST_CASE("a DeviceImageSet cuts the sampler's batch from its draws, bit for bit, noise included",
                        "[trainer][patches]", mcsc_test::AllConfigs) {
  using T = typename TestType::scalar;
  using Space = typename TestType::space;
  // Three images of two sizes with distinct values in every modality.
  std::vector<ImageTriplet> images(3);
  for (int m = 0; m < 3; ++m) {
    auto& im = images[std::size_t(m)];
    im.name = "image" + std::to_string(m);
    im.channels = 2;
    im.height = 20 + 3 * m;
    im.width = 27 - 2 * m;
    std::mt19937_64 gen(std::uint64_t(m + 1));
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int k = 0; k < im.channels * im.height * im.width; ++k) {
      im.input.push_back(u(gen));
      im.guide.push_back(u(gen));
      im.target.push_back(u(gen));
    }
  }
  const int B = 17, C = 2, P = 9;
  const DeviceImageSet<T, Space> set(images);
  for (const double sigma : {0.0, 0.2}) {
    CAPTURE(sigma);
    const PatchSampler sampler(images, P, true, sigma);
    // Host: sample() from one generator state ...
    using H = Kokkos::View<T****, Kokkos::LayoutRight, Kokkos::HostSpace>;
    H hx("hx", B, C, P, P), hy("hy", B, C, P, P), ht("ht", B, C, P, P);
    std::mt19937_64 rng_host(5), rng_device(5);
    sampler.sample(rng_host, hx, hy, ht);
    // ... device: draw() from the same state, then gather() in the execution space.
    typename DeviceImageSet<T, Space>::draws_type draws("draws", B);
    auto hdraws = Kokkos::create_mirror_view(draws);
    typename DeviceImageSet<T, Space>::noise_type noise;
    if (sigma > 0) noise = typename DeviceImageSet<T, Space>::noise_type("noise", std::size_t(B * C * P * P));
    auto hnoise = Kokkos::create_mirror_view(noise);
    sampler.draw(rng_device, B, hdraws.data(), hnoise.data());
    Kokkos::deep_copy(draws, hdraws);
    Kokkos::deep_copy(noise, hnoise);
    auto x = make_tensor<T, Space>("x", {B, C, P, P});
    auto y = make_tensor_like("y", x), t = make_tensor_like("t", x);
    set.gather(draws, noise, x, y, t);
    REQUIRE(rng_host() == rng_device());  // the same number of draws
    const auto gx = to_host(x), gy = to_host(y), gt = to_host(t);
    int images_seen[3] = {0, 0, 0};
    for (int b = 0; b < B; ++b) ++images_seen[hdraws(b, 0)];
    REQUIRE((images_seen[0] > 0 && images_seen[1] > 0 && images_seen[2] > 0));
    for (std::size_t k = 0; k < hx.size(); ++k) {
      REQUIRE(gx.data()[k] == hx.data()[k]);
      REQUIRE(gy.data()[k] == hy.data()[k]);
      REQUIRE(gt.data()[k] == ht.data()[k]);
      if (sigma > 0) REQUIRE(gx.data()[k] != gt.data()[k]);  // the noise is there
    }
  }
  // The same set from device tensors gathers the same batch, and a sampler of the set's sizes
  // draws the same as the one of the images.
  const auto tensors = device_images<T, Space>(images);
  const DeviceImageSet<T, Space> from_tensors(tensors);
  REQUIRE(from_tensors.sizes() == set.sizes());
  REQUIRE(from_tensors.channels() == C);
  {
    const PatchSampler of_images(images, P, true, 0.1), of_sizes(C, from_tensors.sizes(), P, true, 0.1);
    std::vector<int> d1(4 * B), d2(4 * B);
    std::vector<double> n1(std::size_t(B * C * P * P)), n2(n1.size());
    std::mt19937_64 r1(9), r2(9);
    of_images.draw(r1, B, d1.data(), n1.data());
    of_sizes.draw(r2, B, d2.data(), n2.data());
    REQUIRE(d1 == d2);
    REQUIRE(n1 == n2);
    typename DeviceImageSet<T, Space>::draws_type draws("draws", B);
    auto hdraws = Kokkos::create_mirror_view(draws);
    std::copy(d1.begin(), d1.end(), hdraws.data());
    Kokkos::deep_copy(draws, hdraws);
    auto x1 = make_tensor<T, Space>("x1", {B, C, P, P}), x2 = make_tensor_like("x2", x1);
    auto y1 = make_tensor_like("y1", x1), y2 = make_tensor_like("y2", x1);
    auto t1 = make_tensor_like("t1", x1), t2 = make_tensor_like("t2", x1);
    set.gather(draws, {}, x1, y1, t1);
    from_tensors.gather(draws, {}, x2, y2, t2);
    REQUIRE(max_abs_diff(x1, x2) == 0);
    REQUIRE(max_abs_diff(y1, y2) == 0);
    REQUIRE(max_abs_diff(t1, t2) == 0);
    using H = Kokkos::View<T****, Kokkos::LayoutRight, Kokkos::HostSpace>;
    H hx("hx", B, C, P, P);
    REQUIRE_THROWS_WITH(of_sizes.sample(r2, hx, hx, hx), Catch::Contains("DeviceImageSet::gather"));
    REQUIRE_THROWS_WITH(PatchSampler(C, {{20, 8}}, P, false), Catch::Contains("image 0 (8x20) is smaller than"));
  }
  {  // bad tensors: named by their index
    auto bad = tensors;
    bad[1][2] = make_tensor<T, Space>("short target", {1, C, 5, 5});
    REQUIRE_THROWS_WITH((DeviceImageSet<T, Space>(bad)), Catch::Contains("image 1") && Catch::Contains("short target"));
    bad = tensors;
    bad[2][0] = make_tensor<T, Space>("two images", {2, C, 26, 23});
    REQUIRE_THROWS_WITH((DeviceImageSet<T, Space>(bad)), Catch::Contains("image 2") && Catch::Contains("(1, C, H, W)"));
    bad = tensors;
    bad[0][1] = make_tensor_like("nan guide", tensors[0][1]);
    Kokkos::deep_copy(bad[0][1], T(std::numeric_limits<double>::quiet_NaN()));
    REQUIRE_THROWS_WITH((DeviceImageSet<T, Space>(bad)), Catch::Contains("image 0") && Catch::Contains("NaN"));
    if constexpr (std::is_same_v<T, double>) {  // finite in double, Inf as the float the set stores
      bad = tensors;
      bad[1][0] = make_tensor_like("huge input", tensors[1][0]);
      Kokkos::deep_copy(bad[1][0], 1e300);
      REQUIRE_THROWS_WITH((DeviceImageSet<T, Space>(bad)), Catch::Contains("beyond the range of float"));
    }
  }
  auto wrong = make_tensor<T, Space>("wrong", {B, 1, P, P});
  typename DeviceImageSet<T, Space>::draws_type draws("draws", B);
  REQUIRE_THROWS_WITH(set.gather(draws, {}, wrong, wrong, wrong), Catch::Contains("mcsc::DeviceImageSet::gather"));
  if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename Space::memory_space>::accessible) {
    set_memory_budget(1000);  // bytes: less than the images' copy (3 x 3 x 2 x ~500 floats)
    REQUIRE_THROWS_WITH((DeviceImageSet<T, Space>(images)), Catch::Contains("the training images (3) needs about"));
    set_memory_budget(0);
  }
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
  REQUIRE_THROWS_WITH(PatchSampler({}, 16, false), Catch::Contains("mcsc::PatchSampler: no images"));
}

namespace {
std::int64_t g_allocations = 0;
std::uint64_t g_bytes = 0;
void count_allocation(const Kokkos::Tools::SpaceHandle, const char*, const void*, const std::uint64_t bytes) {
  ++g_allocations;
  g_bytes += bytes;
}
// A 40x40 grey triplet of fixed patterns (no ../shared needed), for the memory and residency tests.
ImageTriplet synthetic_triplet() { return mcsc_test::pattern_triplet(40, 40); }
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

TEST_CASE("a trainer fed device tensors runs bit for bit as one fed the same images on the host", "[trainer][patches]") {
  using Space = Kokkos::DefaultExecutionSpace;
  // Two images of different, non-square sizes (a height/width mix-up in the sizes the sampler
  // draws from, or in the tensors' layout, changes the batches). fit() on ImageTriplets builds
  // its DeviceImageSet from them on the host; here the set comes from device tensors.
  std::vector<ImageTriplet> images{synthetic_triplet(), synthetic_triplet()};
  for (auto* v : {&images[0].input, &images[0].guide, &images[0].target}) v->resize(36 * 40);
  images[0].height = 36;
  images[1].name = "wide";
  images[1].height = 30;
  images[1].width = 52;
  for (auto* v : {&images[1].input, &images[1].guide, &images[1].target}) v->resize(30 * 52, 0.25f);
  std::reverse(images[1].target.begin(), images[1].target.end());
  const auto run = [&](bool device, double noise) {
    CuNet<float, Space> net(small_cunet());
    init(net);
    auto options = small_options(2);
    options.steps_per_epoch = 3;
    options.input_noise = noise;
    Trainer<CuNet<float, Space>> trainer(net, options);
    const auto records =
        device ? trainer.fit(DeviceImageSet<float, Space>(device_images<float, Space>(images)), {images[0]})
               : trainer.fit(images, {images[0]});
    REQUIRE(records.size() == 2);
    REQUIRE((std::isfinite(records[1].validation_psnr) && records[1].validation_psnr != 0));  // validated
    const auto values = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), net.parameters().values());
    return std::vector<float>(values.data(), values.data() + values.size());
  };
  for (const double noise : {0.0, 0.05}) {
    CAPTURE(noise);
    const auto host = run(false, noise), device = run(true, noise);
    REQUIRE(host == device);
    CuNet<float, Space> fresh(small_cunet());
    init(fresh);
    const auto start = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), fresh.parameters().values());
    REQUIRE(host != std::vector<float>(start.data(), start.data() + start.size()));  // it trained
  }
}

TEST_CASE("no allocation inside a training step after the first", "[trainer][memory]") {
  using Space = Kokkos::DefaultExecutionSpace;
  const std::vector<ImageTriplet> data{synthetic_triplet()};
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

TEST_CASE("batches drawn ahead: the same run bit for bit for any draw-ahead memory, rollbacks included",
          "[trainer][patches]") {
  // Trainer::draw_ahead makes many steps' draws at once; a rollback in the middle of an epoch
  // must go on from the generator's state after the step that spiked, as drawing one step at a
  // time does (draw_ahead_bytes = 1). Two images of different sizes, with and without input noise.
  using Space = Kokkos::DefaultExecutionSpace;
  std::vector<ImageTriplet> images{synthetic_triplet(), synthetic_triplet()};
  images[1].height = 32;
  images[1].width = 50;
  for (auto* v : {&images[1].input, &images[1].guide, &images[1].target}) v->resize(32 * 50, 0.3f);
  std::reverse(images[1].target.begin(), images[1].target.end());
  // The smallest network that still trains (the draws, not the arithmetic, are under test: twelve
  // runs of 36 steps; with small_cunet() this case alone took 40 s under the sanitizers).
  CuNetConfig tiny = small_cunet();
  tiny.filters = 4;
  tiny.kernel = 3;
  const auto run = [&](std::size_t ahead, double noise, bool provoke) {
    CuNet<float, Space> net(tiny);
    init(net);
    auto options = small_options(6);
    options.input_noise = noise;
    options.draw_ahead_bytes = ahead;
    // A rate of 30 at steps 26 and 27 (epoch 5, steps 3 and 4): the next batch's loss explodes.
    int fired = 0;
    options.rate_hook = [&](std::int64_t step, double rate) {
      if (provoke && (step == 26 || step == 27) && fired < 2) {
        ++fired;
        return 30.0;
      }
      return rate;
    };
    Trainer<CuNet<float, Space>> trainer(net, options);
    trainer.fit(images, {});
    REQUIRE(trainer.rollbacks() == (provoke ? 1 : 0));
    const auto values = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), net.parameters().values());
    return std::vector<float>(values.data(), values.data() + values.size());
  };
  for (const double noise : {0.0, 0.05}) {
    for (const bool provoke : {false, true}) {
      CAPTURE(noise, provoke);
      const auto one_at_a_time = run(1, noise, provoke);
      // The whole epoch at once (the default), and with noise (4 x 24^2 x 8 bytes a step, plus
      // the draws and the generator's state) 3 steps at once.
      const std::size_t step_bytes = 4 * 24 * 24 * 8 + 4 * 16 + sizeof(std::mt19937_64);
      REQUIRE(run(TrainerOptions{}.draw_ahead_bytes, noise, provoke) == one_at_a_time);
      REQUIRE(run(3 * step_bytes, noise, provoke) == one_at_a_time);
    }
  }
}

TEST_CASE("a batch in shards: the whole-batch step's gradient summed in parts, in a fixed order", "[trainer][shards]") {
  // (Spread over MPI ranks, tests/mpi/test_mpi.cpp: 2 and 3 ranks equal one process with
  // the same shards bit for bit.) Here: one process, 1, 2 and 4 shards of a batch of 8.
  using Space = Kokkos::DefaultExecutionSpace;
  const std::vector<ImageTriplet> images{synthetic_triplet()};
  CuNetConfig tiny = small_cunet();
  tiny.filters = 4;
  tiny.kernel = 3;
  const auto run = [&](int shards, double noise) {
    CuNet<float, Space> net(tiny);
    init(net);
    auto options = small_options(2);
    options.batch_size = 8;
    options.shards = shards;
    options.input_noise = noise;
    Trainer<CuNet<float, Space>> trainer(net, options);
    CHECK(trainer.shards() == std::max(shards, 1));
    const auto records = trainer.fit(images, {});
    const auto values = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), net.parameters().values());
    return std::make_pair(std::vector<float>(values.data(), values.data() + values.size()), records.back().train_loss);
  };
  for (const double noise : {0.0, 0.05}) {
    CAPTURE(noise);
    const auto whole = run(0, noise);  // 0: the number of ranks, 1 alone
    REQUIRE(run(1, noise) == whole);
    for (const int shards : {2, 4}) {
      CAPTURE(shards);
      const auto parts = run(shards, noise);
      REQUIRE(run(shards, noise) == parts);  // run to run
      double diff = 0, scale = 0;
      for (std::size_t k = 0; k < whole.first.size(); ++k) {
        diff = std::max(diff, std::abs(double(parts.first[k]) - double(whole.first[k])));
        scale = std::max(scale, std::abs(double(whole.first[k])));
      }
      CHECK(diff > 0);  // another summation order: not the same bits ...
      CHECK(diff < 1e-5 * scale);  // ... but the same step
      CHECK(parts.second == Approx(whole.second).epsilon(1e-5));
    }
  }
}

TEST_CASE("the trainer refuses shards that do not fit the batch or the ranks", "[trainer][shards][errors]") {
  struct Ranks : Communicator {  // rank and size only: the constructor's checks call nothing else
    int r, n;
    Ranks(int rank, int size) : r(rank), n(size) {}
    int rank() const override { return r; }
    int size() const override { return n; }
    void allgather(const float*, float*, std::size_t) override { FAIL("not expected"); }
    void allgather(const double*, double*, std::size_t) override { FAIL("not expected"); }
  };
  using Net = CuNet<float, Kokkos::DefaultExecutionSpace>;
  Net net(small_cunet());
  auto options = small_options(1);
  options.batch_size = 6;
  options.shards = 4;
  REQUIRE_THROWS_WITH(Trainer<Net>(net, options), Catch::Contains("batch size (6) must be a multiple of shards (4)"));
  options.shards = -1;
  REQUIRE_THROWS_WITH(Trainer<Net>(net, options), Catch::Contains("shards must be >= 0"));
  options.shards = 2;
  options.communicator = std::make_shared<Ranks>(0, 3);
  REQUIRE_THROWS_WITH(Trainer<Net>(net, options), Catch::Contains("shards (2) must be a multiple of the number of ranks (3)"));
  options.shards = 0;  // the number of ranks: 3, and 6 patches
  Trainer<Net> three(net, options);
  CHECK(three.shards() == 3);
  CHECK(three.rank() == 0);
  CHECK(three.ranks() == 3);
  options.communicator = std::make_shared<Ranks>(3, 3);
  REQUIRE_THROWS_WITH(Trainer<Net>(net, options), Catch::Contains("rank 3 of 3"));
}

TEST_CASE("a steady-state training step reads back one scalar and copies nothing across memory spaces",
          "[trainer][residency]") {
  // Per step = (events of a 9-step epoch) - (events of a 5-step epoch) over 4: the set-up and the
  // epoch's end (snapshot, record) are the same in both.
  const std::vector<ImageTriplet> data{synthetic_triplet()};
  using Space = Kokkos::DefaultExecutionSpace;
  UnrolledNetConfig lmcsc;
  lmcsc.filters = 4;
  lmcsc.kernel = 3;
  lmcsc.stages = 2;
  // The labels of the last n events of a list, counted (for the messages).
  const auto last = [](const std::vector<std::string>& v, int n) {
    std::map<std::string, int> counts;
    for (std::size_t i = v.size() > std::size_t(n) ? v.size() - std::size_t(n) : 0; i < v.size(); ++i) ++counts[v[i]];
    std::string s;
    for (const auto& [name, count] : counts) s += "\n  " + std::to_string(count) + " x " + name;
    return s;
  };
  auto check = [&](auto make_net, LossKind loss, double noise) {
    auto events = [&](int steps) {
      auto net = make_net();
      init(*net);
      auto options = small_options(1);
      options.steps_per_epoch = steps;
      options.loss = loss;
      options.input_noise = noise;
      Trainer<typename decltype(net)::element_type> trainer(*net, options);
      return mcsc_test::count_kokkos_events([&] { trainer.fit(data, {}); });
    };
    events(1);  // warm-up: Kokkos grows some internal buffers once per process
    const auto a = events(5), b = events(9);
    CHECK(a.reductions > 0);  // the hooks see the trainer's work
    CHECK(a.fills > 0);
    const int allocations = b.allocations - a.allocations, copies = b.deep_copies - a.deep_copies,
              cross = b.cross_space_copies - a.cross_space_copies, reductions = b.reductions - a.reductions;
    INFO("over 4 steps: " << allocations << " allocations, " << copies << " deep copies (" << cross
                          << " between spaces), " << reductions << " reductions; the last ones of the 9-step run:"
                          << "\nreductions:" << last(b.reduction_names, reductions)
                          << "\ncopies:" << last(b.copy_destinations, copies));
    CHECK(allocations == 0);
    // The one scalar a step reads back: the loss, with the parameters' finiteness.
    CHECK(reductions == 4);
    // No copy across memory spaces: the batches' draws (4 ints a patch) and noise, made on the
    // host, go to the device once per epoch (Trainer::draw_ahead), the patches are cut there.
    // The epoch's copies are the only ones (on the host backends the mirrors are the views
    // themselves: none at all). Copies within one space (the encoders' gradient buffers) are
    // device-side memcpys.
    CHECK(cross == 0);
    for (const auto& label : b.cross_space_destinations) {
      CAPTURE(label);
      CHECK((label == "mcsc::Trainer::draws" || label == "mcsc::Trainer::noise"));
    }
  };
  for (const auto loss : {LossKind::mse, LossKind::l1}) {
    for (const double noise : {0.0, 0.05}) {
      CAPTURE(int(loss), noise);
      check([] { return std::make_unique<CuNet<float, Space>>(small_cunet()); }, loss, noise);
      check([&] { return std::make_unique<LmcscNet<float, Space>>(lmcsc); }, loss, noise);
    }
  }
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

#if defined(KOKKOS_ENABLE_SERIAL) && defined(KOKKOS_ENABLE_OPENMP)
TEST_CASE("a training run gives the same parameters on Serial as on OpenMP", "[trainer][determinism]") {
  // docs/reliability.md "Determinism": the programs' runs are byte-identical across OpenMP thread
  // counts (ctests); this is the other execution space the host build has.
  Fixture f;
  if (!f.available) {
    MCSC_SHARED_MISSING("no ../shared/data (set MCSC_SHARED_DIR)");
  }
  const auto parameters = [&](auto space_tag, bool trained) {
    using Space = decltype(space_tag);
    CuNet<float, Space> net(small_cunet());
    init(net);
    if (trained) Trainer<CuNet<float, Space>>(net, small_options(2)).fit(f.train, f.validation);
    const auto values = net.parameters().values();
    auto host = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), values);
    return std::vector<float>(host.data(), host.data() + host.size());
  };
  const auto serial = parameters(Kokkos::Serial(), true);
  const auto openmp = parameters(Kokkos::OpenMP(), true);
  REQUIRE(serial.size() == openmp.size());
  REQUIRE(serial != parameters(Kokkos::Serial(), false));  // training changed them
  std::size_t differing = 0;
  double largest = 0;
  for (std::size_t i = 0; i < serial.size(); ++i)
    if (serial[i] != openmp[i]) {
      ++differing;
      largest = std::max(largest, double(std::fabs(serial[i] - openmp[i])));
    }
  INFO(differing << " of " << serial.size() << " parameters differ, by at most " << largest);
  CHECK(differing == 0);
}
#endif
