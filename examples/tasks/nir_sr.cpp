/// \file nir_sr.cpp
/// mcsc-task-nir-sr: NIR super-resolution guided by RGB, x2 and x4 (LMCSC paper, Table 1).
///
/// Training pairs: <train-dir>/<stem>_nir.png + <stem>_rgb.png (EPFL RGB-NIR, ../shared/data/
/// rgb_nir/epfl_train), test pairs from <test-dir> (epfl_test: the paper's 0026 and 0030). The
/// NIR image is the target; x = imresize(imresize(NIR, 1/s), s) (MATLAB bicubic); the guide y is
/// the luma of the RGB image. Methods per scale: bicubic, guided filter (colour guide), joint
/// bilateral upsampling, the classical multimodal solver, LMCSC and CU-Net trained here.
/// Table in LMCSC Table 1's layout: a row per image, PSNR/SSIM per method and scale.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "task_harness.hpp"

namespace {
using namespace mcsc_tasks;

struct Settings {
  CommonSettings common;
  std::string train_dir, test_dir;
  std::vector<int> scales;
  int train_crop = 256;
  bool no_lmcsc = false, no_cunet = false;
};

std::vector<Sample> load(const std::string& dir, int scale, int max_side) {
  std::vector<Sample> samples;
  for (const auto& p : mcsc_examples::find_pairs(dir, "nir", "rgb")) {
    const Tensor nir_full = load_image(p.target, 1), rgb = load_image(p.guide, 3);
    MCSC_REQUIRE(mcsc::shape_of(rgb).h == mcsc::shape_of(nir_full).h && mcsc::shape_of(rgb).w == mcsc::shape_of(nir_full).w,
                 "mcsc-task-nir-sr", "'" << p.target << "' and '" << p.guide << "' differ in size: they must be aligned");
    const Tensor nir = centre_crop(nir_full, max_side, scale), color = centre_crop(rgb, max_side, scale);
    Tensor luma = mcsc::make_tensor<T, ExecSpace>("luma", {1, 1, std::int64_t(color.extent(2)), std::int64_t(color.extent(3))});
    mcsc::luma_bt601(color, luma);
    Sample s = make_sr_sample(p.stem, nir, luma, scale);
    s.guide_color = crop(color, 0, 0, int(s.target.extent(2)), int(s.target.extent(3)));
    s.y_caption = "guide: Y of the RGB image";
    samples.push_back(s);
  }
  return samples;
}

int run(Settings& s) {
  TaskRun run("NIR super-resolution guided by RGB (PSNR dB, SSIM)", s.common.output_dir, {psnr_metric(), ssim_metric()},
              Layout::images_as_rows);
  std::ostringstream about;
  about << "Targets: NIR images of " << s.test_dir << "; x = imresize(imresize(NIR, 1/s), s) (MATLAB bicubic), "
        << "y = Y of the RGB image. Trained methods learned from " << s.train_dir << " (centre crops of at most "
        << s.train_crop << " pixels).";
  run.set_description(about.str());
  for (int scale : s.scales) {
    const std::string group = "x" + std::to_string(scale);
    const auto test = load(s.test_dir, scale, s.common.max_side);
    const int train_side = training_side(s.common.max_side, s.train_crop);
    std::vector<mcsc::ImageTriplet> train, validation;
    if (!(s.common.no_train && s.common.no_classical)) {
      auto train_samples = load(s.train_dir, scale, train_side);
      const auto held = hold_out(train_samples, s.common.holdout, s.common.seed);
      train = triplets(train_samples);
      if (!held.empty()) validation = triplets(held);
    }
    std::vector<Method> methods = {input_method("Bicubic"), guided_filter_method(4, 1e-3), joint_bilateral_method(1.0, 0.1)};
    if (s.common.classical.back_projection.iterations > 0) methods.push_back(back_projection_method(s.common.classical.back_projection));
    if (!s.common.no_classical) methods.push_back(classical_method("Classical MCSC", train, s.common.classical, s.common.train.quiet));
    TrainOptions options = s.common.train;
    options.output_dir = s.common.output_dir + "/" + group;
    if (!s.common.no_train && !s.no_lmcsc) methods.push_back(train_lmcsc_method("LMCSC", train, validation, 1, options));
    if (!s.common.no_train && !s.no_cunet) methods.push_back(train_cunet_method("CU-Net", train, validation, 1, false, options));
    std::vector<Method> checkpoints;
    for (const auto& [model, row] : {std::make_pair("lmcsc", "LMCSC (zoo)"), std::make_pair("cunet", "CU-Net (zoo)")})
      if (const std::string zoo = zoo_model("nir-x" + std::to_string(scale) + "-" + model); !s.common.no_zoo && !zoo.empty())
        checkpoints.push_back(checkpoint_method(row, zoo, 1, false, {"CuNet", "LmcscNet"}));
    if (!s.common.weights.empty())
      checkpoints.push_back(checkpoint_method(weights_row_name(s.common.weights), s.common.weights, 1, false, {"CuNet", "LmcscNet"}));
    for (const auto& m : checkpoints) methods.push_back(m);
    if (s.common.guide_ablation)
      for (const auto& m : checkpoints)
        for (auto& a : guide_ablations(m, test)) methods.push_back(std::move(a));
    run.evaluate(test, methods, group);
  }
  run.print(std::cout);
  std::cout << "report: " << run.write() << "\n";
  return 0;
}
}  // namespace

int main(int argc, char* argv[]) {
  Settings s;
  s.common.output_dir = "mcsc-nir-sr";
  // The classical solver for NIR (measured on the full 0026 and 0030 at x4, docs/results.md):
  // lambda 0.005 (28.94/29.41 dB with 20 back-projections; at 0.002 28.48/28.82), dictionaries
  // learned from 32 patches, 2 sweeps of 5 FISTA steps per part.
  s.common.classical.lambda = 0.005;
  s.common.classical.patches = 32;
  s.common.classical.sweeps = 2;
  s.common.classical.inner_iterations = 5;
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("train-dir", po::value(&s.train_dir)->value_name("DIR"), "training pairs <stem>_nir.png + <stem>_rgb.png (default: <data>/rgb_nir/epfl_train)")
    ("test-dir", po::value(&s.test_dir)->value_name("DIR"), "test pairs (default: <data>/rgb_nir/epfl_test)")
    ("scale", po::value(&s.scales)->composing()->value_name("S"), "upsampling factor (repeatable; default: 2 and 4)")
    ("train-crop", mcsc_cli::with_default(s.train_crop), "centre-crop training images to at most this side (0: whole images)")
    ("no-lmcsc", po::bool_switch(&s.no_lmcsc), "skip LMCSC")
    ("no-cunet", po::bool_switch(&s.no_cunet), "skip CU-Net");
  // clang-format on
  add_common_options(desc, s.common);
  return mcsc_cli::run(
      argc, argv, desc,
      "NIR super-resolution guided by RGB, x2 and x4 (LMCSC paper Table 1): bicubic, guided filter, joint\n"
      "bilateral upsampling, the classical multimodal solver, and LMCSC and CU-Net trained here; PSNR/SSIM\n"
      "per image in the paper's layout, and an HTML report.\n",
      [&] {
        validate_common(s.common);
        if (s.scales.empty()) s.scales = {2, 4};
        if (s.train_dir.empty()) s.train_dir = s.common.data_dir + "/rgb_nir/epfl_train";
        if (s.test_dir.empty()) s.test_dir = s.common.data_dir + "/rgb_nir/epfl_test";
        for (int scale : s.scales) mcsc_cli::require(scale >= 2 && scale <= 8, "--scale must be between 2 and 8");
        mcsc_cli::require(!s.common.train.init_classical || s.no_lmcsc,
                          "--init-classical starts CU-Net only (LMCSC's l1-l1 stages have no classical counterpart here): add --no-lmcsc");
        mcsc_cli::require(!s.common.train.init_classical || !s.no_cunet, "--init-classical needs CU-Net (it is skipped by --no-cunet)");
        mcsc_cli::require(s.train_crop == 0 || s.train_crop >= s.common.train.trainer.patch_size,
                          "--train-crop must be 0 (whole images) or at least --patch");
        if (!s.common.weights.empty())
          mcsc_cli::require(std::filesystem::is_regular_file(s.common.weights),
                            "--weights: '" + s.common.weights + "' is not a file (an LMCSC or CU-Net checkpoint trained here, e.g. models/nir-x4-lmcsc.mcsc; the official CU-Net has no NIR model)");
      },
      [&] { return run(s); });
}
