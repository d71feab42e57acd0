/// \file infer_unrolled.cpp
/// Runs a trained (or converted official) model on images of any size:
///
///   mcsc-infer --checkpoint model.mcsc --input x.png --guide y.png --output out.png
///   mcsc-infer --checkpoint model.mcsc --target nir.png --guide rgb.png --degradation sr --scale 4
///              --output out.png        (makes the input from the target and prints PSNR/SSIM)
#include <iostream>

#include "cli.hpp"
#include "models.hpp"
#include "mcsc/train/checkpoint.hpp"

namespace {
using namespace mcsc_examples;
namespace po = mcsc_cli::po;
using mcsc_cli::with_default;

struct Settings {
  std::string checkpoint, input, guide, target, output = "output.png";
  Degradation degradation;
};

po::options_description make_options(Settings& s) {
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("checkpoint", po::value(&s.checkpoint)->required()->value_name("FILE"), "mcsc checkpoint (mcsc-train, convert_cunet_pth.py)")
    ("input", po::value(&s.input)->value_name("PNG"), "the degraded image x")
    ("guide", po::value(&s.guide)->required()->value_name("PNG"), "the guide image y")
    ("target", po::value(&s.target)->value_name("PNG"), "a clean target: the input is made from it by --degradation, and PSNR/SSIM are printed")
    ("degradation", with_default(s.degradation.kind), "with --target: sr or noise")
    ("scale", with_default(s.degradation.scale), "super-resolution factor")
    ("sigma", with_default(s.degradation.sigma), "noise standard deviation, of 255")
    ("seed", with_default(s.degradation.seed), "noise seed")
    ("output", with_default(s.output), "output PNG");
  // clang-format on
  return desc;
}

void validate(const Settings& s) {
  mcsc_cli::require(s.input.empty() != s.target.empty(), "give exactly one of --input and --target");
  validate_degradation(s.degradation);
  mcsc_cli::require_output_file("--output", s.output);
}

int infer(const Settings& s) {
  const auto info = mcsc::read_checkpoint_info(s.checkpoint);
  return with_model(info.model_type, info.model_config, [&](auto& model) {
    mcsc::load_checkpoint(s.checkpoint, model.parameters(), model.type_name, model.config_string());
    const int channels = model.config().channels;
    Sample sample;
    if (!s.target.empty()) {
      sample = load_sample(PairFiles{"image", s.target, s.guide}, channels, s.degradation, 0);
    } else {
      sample.input = load_planes(s.input, channels);
      sample.guide = load_planes(s.guide, channels);
      MCSC_REQUIRE(mcsc::shape_of(sample.input) == mcsc::shape_of(sample.guide), "mcsc-infer",
                   "input " << mcsc::shape_of(sample.input) << " and guide " << mcsc::shape_of(sample.guide) << " differ");
      sample.target = sample.input;
    }
    const Tensor out = run_model(model, sample);
    write_tensor_png(s.output, out);
    std::cout << info.model_type << " on " << sample.input.extent(3) << "x" << sample.input.extent(2) << ": wrote "
              << s.output << "\n";
    if (!s.target.empty()) {
      const Scores in = score(sample.input, sample.target), net = score(out, sample.target);
      std::cout << "input  PSNR " << in.psnr << " dB  SSIM " << in.ssim << "\n"
                << "output PSNR " << net.psnr << " dB  SSIM " << net.ssim << "\n";
    }
    return 0;
  });
}
}  // namespace

int main(int argc, char* argv[]) {
  Settings settings;
  const auto desc = make_options(settings);
  return mcsc_cli::run(argc, argv, desc, "Runs a CU-Net, LMCSC or LCSC checkpoint on an image pair of any size.\n",
                       [&] { validate(settings); }, [&] { return infer(settings); });
}
