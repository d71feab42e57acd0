/// \file fusion.cpp
/// The three fusion tasks of the CU-Net paper (Section 5.2), one program each from this source
/// (MCSC_FUSION_TASK = 1, 2 or 3):
///   mcsc-task-multi-exposure  over- and under-exposed pairs (MEFB, Merianos), Q^AB/F and MEF-SSIM;
///   mcsc-task-multi-focus     near- and far-focused pairs (Lytro, clock), Q^AB/F;
///   mcsc-task-medical-fusion  MR-T1/MR-T2 and CT/MR-T2 slices, Q^AB/F.
/// Methods: averaging, Liu et al.'s CSR fusion, the classical multimodal solver (eq. 4), a
/// CU-Net (fusion variant) trained here on synthetic pairs made from sharp, well-exposed
/// photographs (exposure: simulate_exposure -2/+2 stops, 8-bit; focus and medical: random
/// foreground/background defocus), and with --weights the official model (multi_exposure for
/// exposure, multi_focus for focus and, on grey images replicated to RGB, for medical fusion;
/// the paper fine-tunes that one on 30 medical pairs it does not publish).
#include <cmath>
#include <iostream>
#include <random>
#include <set>

#include "mcsc/baselines/exposure_fusion.hpp"
#include "mcsc/data/degrade.hpp"
#include "task_harness.hpp"

#ifndef MCSC_FUSION_TASK
#error "compile with -DMCSC_FUSION_TASK=1 (exposure), 2 (focus) or 3 (medical)"
#endif

namespace {
using namespace mcsc_tasks;

enum class Task { exposure = 1, focus = 2, medical = 3 };
constexpr Task task = Task(MCSC_FUSION_TASK);
constexpr int channels = task == Task::medical ? 1 : 3;

struct Settings {
  CommonSettings common;
  std::string train_dir;
  std::vector<std::string> pairs;
  int train_crop = 256;
  bool no_csr = false;
  /// Multi-exposure training pairs: `exposure_pairs` per photograph, each under-exposed by s1 and
  /// over-exposed by s2 stops, s1 and s2 drawn uniformly from [stops_min, stops_max] (seeded).
  double stops_min = 2, stops_max = 2;
  int exposure_pairs = 1;
  /// Multi-exposure training target: "photograph" (the well-exposed original) or "mertens"
  /// (Mertens et al.'s exposure fusion of the synthetic pair).
  std::string exposure_target = "photograph";
};

using Pair = NamedPair;  // first: source A, second: source B

/// The zoo model of this task (models/<name>.mcsc), shown by default when it exists.
std::string zoo_name() {
  return task == Task::exposure ? "multi-exposure-cunet" : (task == Task::focus ? "multi-focus-cunet" : "medical-fusion-cunet");
}

std::vector<Pair> default_pairs(const std::string& d) {
  if (task == Task::exposure)  // x = over-exposed, y = under-exposed (the official CUtest_npy.py order)
    return {{"Venice", d + "/multi_exposure/mefb_venice_B_over.png", d + "/multi_exposure/mefb_venice_A_under.png"},
            {"House", d + "/multi_exposure/mefb_house_B_over.png", d + "/multi_exposure/mefb_house_A_under.png"},
            {"BelgiumHouse", d + "/multi_exposure/mefb_belgiumhouse_B_over.png",
             d + "/multi_exposure/mefb_belgiumhouse_A_under.png"},
            {"Flowers", d + "/multi_exposure/merianos_flowers_3_bright.jpg", d + "/multi_exposure/merianos_flowers_1_dark.jpg"}};
  if (task == Task::focus)
    return {{"Lytro 01", d + "/multi_focus/lytro_01_A.png", d + "/multi_focus/lytro_01_B.png"},
            {"Clock", d + "/multi_focus/clock_A.png", d + "/multi_focus/clock_B.png"}};
  return {{"Brain 09 T1/T2", d + "/medical/brain09_mr_t1.png", d + "/medical/brain09_mr_t2.png"},
          {"Brain s01 CT/T2", d + "/medical/brain_s01_ct.png", d + "/medical/brain_s01_mr_t2.png"}};
}

/// Synthetic training samples (x, y, fused target) from the sharp photographs of train_dir.
std::vector<Sample> synthetic_training(const Settings& s) {
  std::vector<Sample> samples;
  int k = 0;
  for (const auto& entry : std::filesystem::directory_iterator(s.train_dir)) {
    const auto ext = entry.path().extension().string();
    const std::string stem = entry.path().stem().string();
    if (!(ext == ".png" || ext == ".jpg" || ext == ".bmp") || stem.find("nir") != std::string::npos) continue;
    const int side = s.common.max_side > 0 ? std::min(s.train_crop, s.common.max_side) : s.train_crop;
    const Tensor sharp = centre_crop(load_image(entry.path().string(), channels), side);
    if (task == Task::exposure) {
      mcsc::ExposureOptions o;
      o.levels = 256;
      std::mt19937_64 rng(s.common.seed + std::uint64_t(k));
      const auto stops = [&] {  // uniform in [min, max], from the top 53 bits (the same on every platform)
        return s.stops_min + (s.stops_max - s.stops_min) * double(rng() >> 11) * 0x1.0p-53;
      };
      for (int i = 0; i < s.exposure_pairs; ++i) {
        const double under = stops(), over = stops();
        const auto pair = mcsc::make_exposure_pair(sharp, -under, over, o);
        Tensor target = sharp;
        if (s.exposure_target == "mertens") {
          target = mcsc::make_tensor_like("mertens_target", sharp);
          mcsc::mertens_fusion(pair.over, pair.under, target);
        }
        samples.push_back(make_fusion_sample(s.exposure_pairs > 1 ? stem + "#" + std::to_string(i) : stem, pair.over,
                                             pair.under, target));
      }
    } else {
      mcsc::MultiFocusOptions o;
      o.seed = s.common.seed + std::uint64_t(k);
      const auto pair = mcsc::make_multifocus_pair(sharp, o);
      samples.push_back(make_fusion_sample(stem, pair.a, pair.b, sharp));
    }
    ++k;
  }
  MCSC_REQUIRE(!samples.empty(), "synthetic_training", "no .png/.jpg/.bmp photographs in '" << s.train_dir << "'");
  std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.name < b.name; });
  return samples;
}

/// A 3-channel official model on grey images: the grey plane replicated to R, G and B, the
/// output's channel mean as the result.
Method on_grey(Method rgb) {
  return {rgb.name, [rgb](const Sample& s) {
            auto to3 = [](const Tensor& t) {
              Tensor out = mcsc::make_tensor<T, ExecSpace>("rgb", {1, 3, std::int64_t(t.extent(2)), std::int64_t(t.extent(3))});
              for (int c = 0; c < 3; ++c)
                Kokkos::deep_copy(Kokkos::subview(out, Kokkos::ALL, std::make_pair(c, c + 1), Kokkos::ALL, Kokkos::ALL), t);
              return out;
            };
            Sample s3 = s;
            s3.x = to3(s.x);
            s3.y = to3(s.y);
            Output out = rgb.run(s3);
            auto mean = [](const Tensor& t) {
              Tensor g = mcsc::make_tensor<T, ExecSpace>("grey", {1, 1, std::int64_t(t.extent(2)), std::int64_t(t.extent(3))});
              Kokkos::parallel_for(
                  "channel_mean", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(t.extent(2) * t.extent(3))),
                  KOKKOS_LAMBDA(const std::int64_t k) {
                    const int i = int(k / std::int64_t(t.extent(3))), j = int(k % std::int64_t(t.extent(3)));
                    g(0, 0, i, j) = (t(0, 0, i, j) + t(0, 1, i, j) + t(0, 2, i, j)) / T(3);
                  });
              return g;
            };
            out.image = mean(out.image);
            for (auto& part : out.parts) part.second = mean(part.second);
            return out;
          }};
}

int run(Settings& s) {
  std::vector<Pair> pairs;
  for (const auto& t : s.pairs) pairs.push_back(parse_pair(t, "[NAME=]A:B"));
  if (pairs.empty()) pairs = default_pairs(s.common.data_dir);
  std::vector<Sample> samples;
  for (const auto& p : pairs) {
    const Tensor a = load_image(p.first, channels), b = load_image(p.second, channels);
    MCSC_REQUIRE(mcsc::shape_of(a) == mcsc::shape_of(b), "fusion",
                 "'" << p.first << "' and '" << p.second << "' differ in size: the sources must be registered");
    samples.push_back(make_fusion_sample(p.name, centre_crop(a, s.common.max_side), centre_crop(b, s.common.max_side)));
    samples.back().x_caption = task == Task::exposure ? "over-exposed (x)" : (task == Task::focus ? "source A (x)" : "modality A (x)");
    samples.back().y_caption = task == Task::exposure ? "under-exposed (y)" : (task == Task::focus ? "source B (y)" : "modality B (y)");
  }
  std::vector<Method> methods = {average_fusion_method()};
  if (task == Task::exposure) methods.push_back(mertens_fusion_method());
  if (!s.no_csr) methods.push_back(csr_fusion_method(task == Task::focus));
  std::vector<mcsc::ImageTriplet> training, validation;
  if (!(s.common.no_train && s.common.no_classical)) {
    auto train_samples = synthetic_training(s);
    auto held = hold_out(train_samples, s.common.holdout, s.common.seed);  // --holdout: validation pairs
    // Several pairs of one photograph (--exposure-pairs, named stem#i) are held back together, so
    // that validation never sees a photograph that training sees.
    const auto photograph = [](const Sample& x) { return x.name.substr(0, x.name.find('#')); };
    std::set<std::string> held_photographs;
    for (const auto& h : held) held_photographs.insert(photograph(h));
    for (auto it = train_samples.begin(); it != train_samples.end();)
      if (held_photographs.count(photograph(*it))) {
        held.push_back(*it);
        it = train_samples.erase(it);
      } else {
        ++it;
      }
    training = triplets(train_samples);
    if (!held.empty()) validation = triplets(held);
    std::set<std::string> photographs;
    for (const auto& t : train_samples) photographs.insert(photograph(t));
    std::cout << "training pairs: " << train_samples.size() << " of " << photographs.size() << " photographs; validation: "
              << held.size() << " of " << held_photographs.size() << "\n";
  }
  if (!s.common.no_classical) {
    auto options = s.common.classical;
    options.fusion = true;
    methods.push_back(classical_method("Classical MCSC", training, options, s.common.train.quiet));
  }
  if (!s.common.no_train) methods.push_back(train_cunet_method("CU-Net (trained here)", training, validation, channels, true, s.common.train));
  if (const std::string zoo = zoo_model(zoo_name()); !s.common.no_zoo && !zoo.empty())
    methods.push_back(cunet_checkpoint_method("CU-Net (zoo, trained here)", zoo, channels, true));
  const std::string weights = resolve_weights(s.common.weights, task == Task::exposure ? "multi_exposure" : "multi_focus");
  if (!weights.empty()) {
    Method official = cunet_checkpoint_method("CU-Net (official)", weights, 3, true);
    methods.push_back(channels == 1 ? on_grey(official) : official);
  }
  std::vector<Metric> metrics = {qabf_metric()};
  if (task == Task::exposure) metrics.push_back(mef_ssim_metric());
  const char* title = task == Task::exposure ? "Multi-exposure image fusion"
                                             : (task == Task::focus ? "Multi-focus image fusion" : "Medical image fusion");
  TaskRun run(std::string(title) + (task == Task::exposure ? " (Q^AB/F, MEF-SSIM)" : " (Q^AB/F)"), s.common.output_dir,
              metrics, Layout::methods_as_rows);
  run.set_description(std::string("No ground truth: no-reference fusion measures on the luma. Trained methods learned "
                                  "from synthetic pairs made from the photographs of ") +
                      s.train_dir +
                      (task == Task::exposure ? " (under- and over-exposed, 8-bit; target: " + s.exposure_target + ")"
                                              : std::string(" (random defocus regions)")) +
                      ".");
  run.evaluate(samples, methods);
  run.print(std::cout);
  std::cout << "report: " << run.write() << "\n";
  return 0;
}
}  // namespace

int main(int argc, char* argv[]) {
  Settings s;
  s.common.output_dir = task == Task::exposure ? "mcsc-multi-exposure" : (task == Task::focus ? "mcsc-multi-focus" : "mcsc-medical-fusion");
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("pair", po::value(&s.pairs)->composing()->value_name("[NAME=]A:B"), "a test pair of registered sources (repeatable; default: the task's pairs in the data folder)")
    ("train-dir", po::value(&s.train_dir)->value_name("DIR"), "sharp, well-exposed photographs to make the synthetic training pairs from (default: <data>/rgb_nir/epfl_train, RGB files only)")
    ("train-crop", mcsc_cli::with_default(s.train_crop), "centre-crop training photographs to at most this side")
    ("no-csr", po::bool_switch(&s.no_csr), "skip the CSR fusion baseline (minutes per image here)");
  if (task == Task::exposure)
    desc.add_options()
      ("exposure-stops-min", mcsc_cli::with_default(s.stops_min), "training pairs: the fewest stops of under- and of over-exposure")
      ("exposure-stops-max", mcsc_cli::with_default(s.stops_max), "training pairs: the most stops (each pair draws its two from [min, max], seeded)")
      ("exposure-pairs", mcsc_cli::with_default(s.exposure_pairs), "training pairs made from each photograph")
      ("exposure-target", mcsc_cli::with_default(s.exposure_target),
       "training target: photograph (the well-exposed original) or mertens (Mertens et al.'s exposure fusion of the pair)");
  // clang-format on
  add_common_options(desc, s.common);
  const std::string about =
      task == Task::exposure
          ? "Multi-exposure image fusion (CU-Net paper Sec. 5.2.1): averaging, Mertens et al.'s exposure fusion, CSR\n"
            "fusion, the classical multimodal\n"
            "solver, a CU-Net trained here on simulated exposure pairs and (--weights) the official multi_exposure\n"
            "CU-Net; Q^AB/F and MEF-SSIM per pair and an HTML report with the common/unique parts (Fig. 10/11).\n"
          : task == Task::focus
                ? "Multi-focus image fusion (CU-Net paper Sec. 5.2.2): averaging, CSR fusion, the classical multimodal\n"
                  "solver, a CU-Net trained here on synthetic defocus pairs and (--weights) the official multi_focus\n"
                  "CU-Net; Q^AB/F per pair and an HTML report.\n"
                : "Medical image fusion (CU-Net paper Sec. 5.2.3): averaging, CSR fusion, the classical multimodal solver,\n"
                  "a CU-Net trained here on synthetic defocus pairs of grey photographs and (--weights) the official\n"
                  "multi_focus CU-Net on the grey slices replicated to RGB; Q^AB/F per pair and an HTML report.\n";
  return mcsc_cli::run(argc, argv, desc, about,
                       [&] {
                         validate_common(s.common);
                         if (s.train_dir.empty()) s.train_dir = s.common.data_dir + "/rgb_nir/epfl_train";
                         mcsc_cli::require(s.train_crop >= s.common.train.trainer.patch_size, "--train-crop must be at least --patch");
                         mcsc_cli::require(std::isfinite(s.stops_max) && s.stops_min > 0 && s.stops_min <= s.stops_max && s.stops_max <= 16,
                                           "--exposure-stops-min and -max: 0 < min <= max <= 16");
                         mcsc_cli::require(s.exposure_pairs >= 1 && s.exposure_pairs <= 64, "--exposure-pairs must be in [1, 64]");
                         mcsc_cli::require(s.exposure_target == "photograph" || s.exposure_target == "mertens",
                                           "--exposure-target must be photograph or mertens");
                       },
                       [&] { return run(s); });
}
