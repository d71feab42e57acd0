/// \file train_unrolled.cpp
/// Trains a learned unrolled network (CU-Net, LMCSC or LCSC) on aligned image pairs from a
/// folder and evaluates it on the pairs of another folder.
///
///   mcsc-train --model cunet --train-dir ../shared/data/rgb_nir/epfl_train
///              --test-dir ../shared/data/rgb_nir/epfl_test --target-suffix nir --guide-suffix rgb
///              --degradation sr --scale 4 --epochs 20
///
/// Writes into --output-dir: model.mcsc (checkpoint after every epoch; --resume continues it),
/// train_log.csv (loss and validation PSNR per epoch), results.csv (PSNR/SSIM per test image,
/// for the degraded input and for the network) and <stem>_{input,output,target}.png.
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "training_options.hpp"
#include "models.hpp"
#include "mcsc/nn/init.hpp"

namespace {
using namespace mcsc_examples;
namespace po = mcsc_cli::po;
using mcsc_cli::with_default;

struct Settings {
  std::string model = "cunet";
  std::string train_dir, test_dir, target_suffix = "nir", guide_suffix = "rgb";
  int channels = 1;
  Degradation degradation;
  int crop = 256, test_crop = 256;
  int filters = 0, kernel = 0, stages = 4;
  bool residual = true;
  std::string init = "xavier";
  double threshold = -1;
  mcsc::TrainerOptions trainer;
  std::string output_dir = "mcsc-train-output";
  bool resume = false, overwrite = false, quiet = false;
  std::string recipe, schedule = "step";
  int holdout = 0;
};

po::options_description make_options(Settings& s) {
  s.trainer.epochs = 20;
  s.trainer.steps_per_epoch = 50;
  s.trainer.batch_size = 16;
  s.trainer.patch_size = 64;
  s.trainer.adam.learning_rate = 1e-3;
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("model", with_default(s.model), "cunet, lmcsc or lcsc")
    ("train-dir", po::value(&s.train_dir)->required()->value_name("DIR"), "training pairs")
    ("test-dir", po::value(&s.test_dir)->required()->value_name("DIR"), "test pairs")
    ("target-suffix", with_default(s.target_suffix), "target files are <stem>_<suffix>.<png|jpg|bmp>")
    ("guide-suffix", with_default(s.guide_suffix), "guide files are <stem>_<suffix>.<png|jpg|bmp>")
    ("channels", with_default(s.channels), "1 (luma of colour images) or 3")
    ("degradation", with_default(s.degradation.kind), "sr (bicubic down/up by --scale) or noise (--sigma)")
    ("scale", with_default(s.degradation.scale), "super-resolution factor")
    ("sigma", with_default(s.degradation.sigma), "noise standard deviation, of 255")
    ("crop", with_default(s.crop), "centre-crop training images to at most this side (0: whole)")
    ("test-crop", with_default(s.test_crop), "centre-crop test images to at most this side (0: whole)")
    ("filters", with_default(s.filters), "K (0: the paper's: CU-Net 64, LMCSC 85, LCSC 64)")
    ("kernel", with_default(s.kernel), "filter size (0: the paper's: CU-Net 9 as the official weights, LMCSC 5, LCSC 8)")
    ("stages", with_default(s.stages), "unrolled stages per encoder")
    ("residual", with_default(s.residual), "LMCSC/LCSC: add the input to the output")
    ("init", with_default(s.init), "weights: xavier or normal (std 0.01, as the papers)")
    ("threshold", with_default(s.threshold), "initial thresholds (< 0: LMCSC 0.2 as its paper, others 0.01)")
    ("holdout", with_default(s.holdout), "training pairs held back to validate on after every epoch (0: validate on the test pairs)")
    ("recipe", po::value(&s.recipe)->value_name("FILE|NAME"), "read options from a recipe (recipes/NAME.ini or a file; the command line wins)")
    ("seed", with_default(s.trainer.seed), "seed of patches, noise and initialisation")
    ("output-dir", with_default(s.output_dir), "where checkpoint, logs and images go")
    ("resume", po::bool_switch(&s.resume), "continue from <output-dir>/model.mcsc")
    ("overwrite", po::bool_switch(&s.overwrite), "replace an earlier run's model.mcsc and train_log.csv in --output-dir")
    ("quiet", po::bool_switch(&s.quiet), "no progress bar");
  // clang-format on
  mcsc_cli::add_training_options(desc, s.trainer, s.schedule, "");
  return desc;
}

void validate(Settings& s) {
  using mcsc_cli::require;
  require(s.model == "cunet" || s.model == "lmcsc" || s.model == "lcsc", "--model must be cunet, lmcsc or lcsc");
  require(s.channels == 1 || s.channels == 3, "--channels must be 1 or 3");
  validate_degradation(s.degradation);
  require(s.filters >= 0 && s.kernel >= 0 && s.stages >= 0, "--filters, --kernel, --stages must be >= 0");
  require(s.init == "xavier" || s.init == "normal", "--init must be xavier or normal");
  mcsc_cli::validate_training_options(s.trainer, s.schedule);
  require(s.crop == 0 || s.crop >= s.trainer.patch_size, "--crop must be 0 or at least --patch");
  require(s.test_crop >= 0, "--test-crop must be >= 0 (0: whole images)");
  require(s.holdout >= 0, "--holdout must be >= 0");
  require(!(s.resume && s.overwrite), "--resume and --overwrite exclude each other");
  mcsc_cli::require_output_dir("--output-dir", s.output_dir);
  if (s.filters == 0) s.filters = s.model == "lmcsc" ? 85 : 64;
  if (s.kernel == 0) s.kernel = s.model == "cunet" ? 9 : (s.model == "lmcsc" ? 5 : 8);
  if (s.threshold < 0) s.threshold = s.model == "lmcsc" ? 0.2 : 0.01;
  mcsc_cli::require_training_memory(s.trainer, s.filters, s.kernel, s.stages, s.channels,
                                    s.model == "cunet" ? 3 : (s.model == "lmcsc" ? 2 : 1));
  s.trainer.progress = !s.quiet;
  s.trainer.seed = s.trainer.seed ? s.trainer.seed : 1;
  s.degradation.seed = s.trainer.seed;
}

std::pair<std::string, std::string> model_type_and_config(const Settings& s) {
  if (s.model == "cunet") {
    mcsc::CuNetConfig c;
    c.channels = s.channels;
    c.filters = s.filters;
    c.kernel = s.kernel;
    c.stages = s.stages;
    return {"CuNet", mcsc::CuNet<T, ExecSpace>(c).config_string()};
  }
  mcsc::UnrolledNetConfig c;
  c.channels = s.channels;
  c.filters = s.filters;
  c.kernel = s.kernel;
  c.stages = s.stages;
  c.residual = s.residual;
  return {s.model == "lmcsc" ? "LmcscNet" : "LcscNet", c.to_string()};
}

int train(Settings& s) {
  fs::create_directories(s.output_dir);
  std::vector<Sample> train, test;
  for (const auto& p : find_pairs(s.train_dir, s.target_suffix, s.guide_suffix))
    train.push_back(load_sample(p, s.channels, s.degradation, s.crop));
  for (const auto& p : find_pairs(s.test_dir, s.target_suffix, s.guide_suffix))
    test.push_back(load_sample(p, s.channels, s.degradation, s.test_crop));
  std::vector<mcsc::ImageTriplet> train_triplets, test_triplets, validation_triplets;
  for (const auto& x : train) train_triplets.push_back(x.triplet());
  for (const auto& x : test) test_triplets.push_back(x.triplet());
  if (s.holdout > 0) {  // --holdout pairs of a seeded shuffle validate; the rest train
    validation_triplets = mcsc_cli::hold_out_items(train_triplets, s.holdout, s.trainer.seed);
  } else {
    validation_triplets = test_triplets;
  }
  std::cout << "training on " << train.size() << " pairs from " << s.train_dir << ", testing on " << test.size()
            << " from " << s.test_dir << "\n";

  // Named variables, not a structured binding: capturing a binding in a lambda is C++20 (nvcc
  // warns).
  const auto type_and_config = model_type_and_config(s);
  const std::string &type = type_and_config.first, &config = type_and_config.second;
  return with_model(type, config, [&](auto& model) {
    const std::string checkpoint = (fs::path(s.output_dir) / "model.mcsc").string();
    MCSC_REQUIRE(s.resume || s.overwrite || !fs::exists(checkpoint), "--output-dir",
                 "'" << checkpoint << "' is an earlier run's checkpoint: --resume continues it, --overwrite replaces "
                        "it, or choose another --output-dir");
    mcsc::InitOptions init;
    init.weights = s.init == "xavier" ? mcsc::WeightInit::xavier_uniform : mcsc::WeightInit::normal;
    init.threshold = s.threshold;
    init.seed = s.trainer.seed;
    mcsc::initialize(model.parameters(), init);
    auto options = s.trainer;
    options.checkpoint_path = checkpoint;
    options.csv_path = (fs::path(s.output_dir) / "train_log.csv").string();
    if (s.overwrite && !s.resume)
      for (const auto& stale : {options.checkpoint_path, options.csv_path, mcsc::Trainer<std::decay_t<decltype(model)>>::best_path_for(checkpoint)})
        fs::remove(stale);
    mcsc::Trainer<std::decay_t<decltype(model)>> trainer(model, options);
    if (s.resume) {
      trainer.resume(checkpoint);
      std::cout << "resumed " << checkpoint << " at epoch " << trainer.epoch() << "\n";
    }
    std::cout << type << " {" << config << "}, " << model.parameters().num_scalars() << " parameters\n";
    trainer.fit(train_triplets, validation_triplets);

    std::ofstream csv(fs::path(s.output_dir) / "results.csv");
    csv << "image,input_psnr,input_ssim,output_psnr,output_ssim\n";
    std::cout << "\n" << std::left << std::setw(16) << "image" << std::right << std::setw(12) << "input PSNR"
              << std::setw(12) << "input SSIM" << std::setw(12) << "model PSNR" << std::setw(12) << "model SSIM"
              << "    (input = the degraded image, model = " << type << ")\n";
    Scores mean_in, mean_out;
    for (const auto& sample : test) {
      const Tensor out = run_model(model, sample);
      const Scores in = score(sample.input, sample.target), net = score(out, sample.target);
      std::cout << std::left << std::setw(16) << sample.name << std::right << std::fixed << std::setprecision(2)
                << std::setw(12) << in.psnr << std::setprecision(4) << std::setw(12) << in.ssim << std::setprecision(2)
                << std::setw(12) << net.psnr << std::setprecision(4) << std::setw(12) << net.ssim << "\n";
      csv << sample.name << ',' << in.psnr << ',' << in.ssim << ',' << net.psnr << ',' << net.ssim << '\n';
      for (const auto& [suffix, t] : {std::make_pair("input", sample.input), std::make_pair("output", out),
                                      std::make_pair("target", sample.target)})
        write_tensor_png((fs::path(s.output_dir) / (sample.name + "_" + suffix + ".png")).string(), t);
      mean_in.psnr += in.psnr / double(test.size());
      mean_in.ssim += in.ssim / double(test.size());
      mean_out.psnr += net.psnr / double(test.size());
      mean_out.ssim += net.ssim / double(test.size());
    }
    std::cout << std::left << std::setw(16) << "average" << std::right << std::setprecision(2) << std::setw(12)
              << mean_in.psnr << std::setprecision(4) << std::setw(12) << mean_in.ssim << std::setprecision(2)
              << std::setw(12) << mean_out.psnr << std::setprecision(4) << std::setw(12) << mean_out.ssim << "\n"
              << "wrote " << checkpoint << ", train_log.csv, results.csv and images into " << s.output_dir << "\n";
    return 0;
  });
}
}  // namespace

int main(int argc, char* argv[]) {
  Settings settings;
  const auto desc = make_options(settings);
  return mcsc_cli::run(argc, argv, desc,
                       "Trains CU-Net, LMCSC or LCSC on aligned image pairs and evaluates it on others.\n",
                       [&] { validate(settings); }, [&] { return train(settings); });
}
