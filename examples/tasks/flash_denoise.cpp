/// \file flash_denoise.cpp
/// mcsc-task-flash-denoise: flash-guided non-flash image denoising at noise levels 25, 50 and 75
/// (CU-Net paper, Table 4).
///
/// Protocol (the official CU-Net preprocessing): RGB in [0, 1]; x = no-flash image + sigma/255
/// N(0, 1) (seeded, not clipped); y = the flash image; PSNR against the no-flash image. Methods:
/// the noisy input, the guided filter and the joint bilateral filter (flash-guided), the
/// classical multimodal solver, a CU-Net trained here per noise level, and with --weights the
/// official models (denoise25/50/75).
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "../training_options.hpp"

#include "task_harness.hpp"

namespace {
using namespace mcsc_tasks;

struct Settings {
  CommonSettings common;
  std::vector<std::string> test_pairs, train_pairs;
  std::string train_dir;
  int train_crop = 0;
  std::vector<double> sigmas;
};

using Pair = NamedPair;  // first: no-flash, second: flash

/// The pairs as noisy samples, each centre-cropped to at most max_side. The noise of the i-th
/// pair is seeded with seed + seed_step * i (test pairs: seed, step 0, the official protocol's one
/// seed; training pairs: seed + 1, step 1, so that no two pairs share a noise field).
std::vector<Sample> load(const std::vector<Pair>& pairs, double sigma, int max_side, std::uint64_t seed,
                         std::uint64_t seed_step) {
  std::vector<Sample> samples;
  for (const auto& p : pairs) {
    const Tensor clean = load_image(p.first, 3), flash = load_image(p.second, 3);
    MCSC_REQUIRE(mcsc::shape_of(clean) == mcsc::shape_of(flash), "mcsc-task-flash-denoise",
                 "'" << p.first << "' and '" << p.second << "' differ in size: the pair must be aligned");
    samples.push_back(make_noise_sample(p.name, centre_crop(clean, max_side), centre_crop(flash, max_side), sigma,
                                        seed + seed_step * samples.size()));
    samples.back().y_caption = "flash guide";
  }
  return samples;
}

int run(Settings& s) {
  const std::string ff = s.common.data_dir + "/flash_noflash/";
  std::vector<Pair> test, train;
  for (const auto& t : s.test_pairs) test.push_back(parse_pair(t, "[NAME=]NOFLASH:FLASH"));
  for (const auto& t : s.train_pairs) train.push_back(parse_pair(t, "[NAME=]NOFLASH:FLASH"));
  if (!s.train_dir.empty())
    for (const auto& p : folder_pairs(s.train_dir, s.common.data_dir, "_noflash.png", "_flash.png", "--train-dir"))
      train.push_back(p);
  if (test.empty())
    test = {{"Cave", ff + "petschnigg_cave01_noflash.png", ff + "petschnigg_cave01_flash.png"},
            {"Cave (He et al.)", ff + "guidedfilter_cave_noflash.bmp", ff + "guidedfilter_cave_flash.bmp"}};
  if (train.empty()) train = {{"Carpet", ff + "petschnigg_carpet_noflash.png", ff + "petschnigg_carpet_flash.png"}};
  for (const auto& t : test)
    for (const auto& p : train)
      MCSC_REQUIRE(std::filesystem::weakly_canonical(t.first) != std::filesystem::weakly_canonical(p.first),
                   "mcsc-task-flash-denoise", "'" << p.first << "' is both a test and a training image");
  const int train_side = training_side(s.common.max_side, s.train_crop);

  TaskRun run("Flash-guided non-flash denoising (PSNR dB, SSIM)", s.common.output_dir, {psnr_metric(), ssim_metric()},
              Layout::methods_as_rows);
  std::string trained_on;
  if (!(s.common.no_train && s.common.no_classical)) {
    std::vector<Pair> kept = train;
    const auto held = mcsc_cli::hold_out_items(kept, s.common.holdout, s.common.seed);  // the split hold_out makes
    for (const auto& p : kept) trained_on += (trained_on.empty() ? "" : ", ") + p.name;
    if (!held.empty()) {
      trained_on += " (validated on";
      for (const auto& p : held) trained_on += " " + p.name;
      trained_on += ")";
    }
  }
  run.set_description("x = no-flash + sigma/255 N(0, 1) (seed " + std::to_string(s.common.seed) +
                      ", not clipped), y = flash image, RGB in [0, 1]; PSNR against the no-flash image. "
                      "Trained methods learned from: " + trained_on + ".");
  for (double sigma : s.sigmas) {
    const std::string level = std::to_string(int(sigma));
    const auto samples = load(test, sigma, s.common.max_side, s.common.seed, 0);
    std::vector<Method> methods = {input_method("Noisy input"), guided_filter_method(8, 0.02 * 0.02 + sigma * sigma / 65025.0, false),
                                   joint_bilateral_method(3.0, 0.1)};
    methods[2].name = "JBF";
    std::vector<mcsc::ImageTriplet> training, validation;
    if (!(s.common.no_train && s.common.no_classical)) {
      auto train_samples = load(train, sigma, train_side, s.common.seed + 1, 1);
      const auto held = hold_out(train_samples, s.common.holdout, s.common.seed);
      training = triplets(train_samples);
      if (!held.empty()) validation = triplets(held);
    }
    if (!s.common.no_classical) {
      auto options = s.common.classical;
      options.lambda = std::max(options.lambda, 0.5 * sigma / 255.0);
      methods.push_back(classical_method("Classical MCSC", training, options, s.common.train.quiet));
    }
    TrainOptions options = s.common.train;
    options.output_dir = s.common.output_dir + "/sigma" + level;
    options.trainer.input_noise = sigma / 255.0;  // a fresh noise field for every training patch
    options.classical.lambda = std::max(options.classical.lambda, 0.5 * sigma / 255.0);  // as the classical row
    if (!s.common.no_train)
      methods.push_back(train_cunet_method("CU-Net (trained here)", training, validation, 3, false, options));
    std::vector<Method> checkpoints;
    if (const std::string zoo = zoo_model("flash-denoise" + level + "-cunet"); !s.common.no_zoo && !zoo.empty())
      checkpoints.push_back(cunet_checkpoint_method("CU-Net (zoo, trained here)", zoo, 3, false));
    if (const std::string weights = resolve_weights(s.common.weights, "denoise" + level); !weights.empty())
      checkpoints.push_back(cunet_checkpoint_method(weights_row_name(weights), weights, 3, false));
    for (const auto& m : checkpoints) methods.push_back(m);
    if (s.common.guide_ablation)
      for (const auto& m : checkpoints)
        for (auto& a : guide_ablations(m, samples)) methods.push_back(std::move(a));
    run.evaluate(samples, methods, "sigma = " + level);
  }
  run.print(std::cout);
  std::cout << "report: " << run.write() << "\n";
  return 0;
}
}  // namespace

int main(int argc, char* argv[]) {
  Settings s;
  s.common.output_dir = "mcsc-flash-denoise";
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("test", po::value(&s.test_pairs)->composing()->value_name("[NAME=]NOFLASH:FLASH"), "a test pair (repeatable; default: the two cave pairs of the data folder)")
    ("train", po::value(&s.train_pairs)->composing()->value_name("[NAME=]NOFLASH:FLASH"), "a training pair (repeatable; default: the carpet pair)")
    ("train-dir", po::value(&s.train_dir)->value_name("DIR"), "every <stem>_noflash.png + <stem>_flash.png pair of a folder (as given, or under the data folder, e.g. flash_noflash_train) as training pairs")
    ("train-crop", mcsc_cli::with_default(s.train_crop), "centre-crop training images to at most this side (0: whole images)")
    ("sigma", po::value(&s.sigmas)->composing()->value_name("S"), "noise level of 255 (repeatable; default: 25, 50 and 75)");
  // clang-format on
  add_common_options(desc, s.common);
  return mcsc_cli::run(
      argc, argv, desc,
      "Flash-guided non-flash image denoising (CU-Net paper Table 4): the noisy input, guided filter, joint\n"
      "bilateral filter, the classical multimodal solver, a CU-Net trained here and (--weights FILE or a folder\n"
      "holding denoise25/50/75.mcsc) the official CU-Nets; PSNR/SSIM per image and an HTML report.\n",
      [&] {
        validate_common(s.common);
        if (s.sigmas.empty()) s.sigmas = {25, 50, 75};
        for (double v : s.sigmas) mcsc_cli::require(v > 0 && v <= 255, "--sigma must be in (0, 255]");
        mcsc_cli::require(s.train_crop == 0 || s.train_crop >= s.common.train.trainer.patch_size,
                          "--train-crop must be 0 (whole images) or at least --patch");
        mcsc_cli::require(s.common.weights.empty() || std::filesystem::is_directory(s.common.weights) || s.sigmas.size() == 1,
                          "--weights FILE fits one noise level: give one --sigma, or a folder holding denoise25/50/75.mcsc");
      },
      [&] { return run(s); });
}
