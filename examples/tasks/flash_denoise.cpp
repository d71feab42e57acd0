/// \file flash_denoise.cpp
/// mcsc-task-flash-denoise: flash-guided non-flash image denoising at noise levels 25, 50 and 75
/// (CU-Net paper, Table 4).
///
/// Protocol (the official CU-Net preprocessing): RGB in [0, 1]; x = no-flash image + sigma/255
/// N(0, 1) (seeded, not clipped); y = the flash image; PSNR against the no-flash image. Methods:
/// the noisy input, the guided filter and the joint bilateral filter (flash-guided), the
/// classical multimodal solver, a CU-Net trained here per noise level, and with --weights the
/// official models (denoise25/50/75).
#include <iostream>

#include "task_harness.hpp"

namespace {
using namespace mcsc_tasks;

struct Settings {
  CommonSettings common;
  std::vector<std::string> test_pairs, train_pairs;
  std::vector<double> sigmas;
};

using Pair = NamedPair;  // first: no-flash, second: flash

std::vector<Sample> load(const std::vector<Pair>& pairs, double sigma, const Settings& s) {
  std::vector<Sample> samples;
  for (const auto& p : pairs) {
    const Tensor clean = load_image(p.first, 3), flash = load_image(p.second, 3);
    MCSC_REQUIRE(mcsc::shape_of(clean) == mcsc::shape_of(flash), "mcsc-task-flash-denoise",
                 "'" << p.first << "' and '" << p.second << "' differ in size: the pair must be aligned");
    samples.push_back(make_noise_sample(p.name, centre_crop(clean, s.common.max_side),
                                        centre_crop(flash, s.common.max_side), sigma, s.common.seed));
    samples.back().y_caption = "flash guide";
  }
  return samples;
}

int run(Settings& s) {
  const std::string ff = s.common.data_dir + "/flash_noflash/";
  std::vector<Pair> test, train;
  for (const auto& t : s.test_pairs) test.push_back(parse_pair(t, "[NAME=]NOFLASH:FLASH"));
  for (const auto& t : s.train_pairs) train.push_back(parse_pair(t, "[NAME=]NOFLASH:FLASH"));
  if (test.empty())
    test = {{"Cave", ff + "petschnigg_cave01_noflash.png", ff + "petschnigg_cave01_flash.png"},
            {"Cave (He et al.)", ff + "guidedfilter_cave_noflash.bmp", ff + "guidedfilter_cave_flash.bmp"}};
  if (train.empty()) train = {{"Carpet", ff + "petschnigg_carpet_noflash.png", ff + "petschnigg_carpet_flash.png"}};

  TaskRun run("Flash-guided non-flash denoising (PSNR dB, SSIM)", s.common.output_dir, {psnr_metric(), ssim_metric()},
              Layout::methods_as_rows);
  std::string trained_on;
  for (const auto& p : train) trained_on += (trained_on.empty() ? "" : ", ") + p.name;
  run.set_description("x = no-flash + sigma/255 N(0, 1) (seed " + std::to_string(s.common.seed) +
                      ", not clipped), y = flash image, RGB in [0, 1]; PSNR against the no-flash image. "
                      "Trained methods learned from: " + trained_on + ".");
  for (double sigma : s.sigmas) {
    const std::string level = std::to_string(int(sigma));
    const auto samples = load(test, sigma, s);
    std::vector<Method> methods = {input_method("Noisy input"), guided_filter_method(8, 0.02 * 0.02 + sigma * sigma / 65025.0, false),
                                   joint_bilateral_method(3.0, 0.1)};
    methods[2].name = "JBF";
    std::vector<mcsc::ImageTriplet> training;
    if (!(s.common.no_train && s.common.no_classical)) training = triplets(load(train, sigma, s));
    if (!s.common.no_classical) {
      auto options = s.common.classical;
      options.lambda = std::max(options.lambda, 0.5 * sigma / 255.0);
      methods.push_back(classical_method("Classical MCSC", training, options, s.common.train.quiet));
    }
    TrainOptions options = s.common.train;
    options.output_dir = s.common.output_dir + "/sigma" + level;
    if (!s.common.no_train) methods.push_back(train_cunet_method("CU-Net (trained here)", training, {}, 3, false, options));
    const std::string weights = resolve_weights(s.common.weights, "denoise" + level);
    if (!weights.empty()) methods.push_back(cunet_checkpoint_method("CU-Net (official)", weights, 3, false));
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
        mcsc_cli::require(s.common.weights.empty() || std::filesystem::is_directory(s.common.weights) || s.sigmas.size() == 1,
                          "--weights FILE fits one noise level: give one --sigma, or a folder holding denoise25/50/75.mcsc");
      },
      [&] { return run(s); });
}
