/// \file csc_demo.cpp
/// mcsc's main demo: convolutional sparse coding of a real photograph, used to denoise it.
///
/// 1. Read the image (default $MCSC_CACHE/data/camera.png, from `cmake/setup.sh --demo-data`),
///    or make a synthetic one (--synthetic), convert it to grayscale and centre-crop / box
///    downsample it to --size x --size.
/// 2. Add Gaussian noise of standard deviation --sigma (seeded by --seed).
/// 3. Split the noisy image into a low-pass part (a normalised Gaussian blur computed with
///    mcsc::conv2d) and the high-pass rest y.
/// 4. Code y by convolutional basis pursuit denoising (CBPDN),
///        min_U 1/2 ||y - D*U||^2 + lambda ||U||_1,
///    with mcsc::fista, for a dictionary built here: the 2-D DCT-II basis of --filter-size,
///    without its DC atom, the --filters lowest-frequency atoms, each of unit l2 norm. Twice: with
///    the direct convolution (mcsc::ConvDictionary) and with the FFT (mcsc::FftConvDictionary).
/// 5. Print objective and PSNR (of low-pass + D*U against the clean image) per iteration for both,
///    and write the images (clean, noisy, low-pass, both reconstructions, code maps, filters).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/mcsc.hpp"
#include "solver_common.hpp"

namespace {

namespace fs = std::filesystem;
using T = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<T, ExecSpace>;

using mcsc_examples::crop_and_downsample;
using mcsc_examples::dct_dictionary;
using mcsc_examples::gaussian_lowpass;
using mcsc_examples::psnr;
using mcsc_examples::synthetic_image;
using mcsc_examples::tile_channels;

// ------------------------------------------------------------------------------------ options

using mcsc_cli::UsageError;
using mcsc_cli::with_default;
namespace po = mcsc_cli::po;

struct Settings {
  std::string image;  ///< empty: the default demo photograph
  bool synthetic = false;
  int size = 256;
  double sigma = 0.1;
  std::uint64_t seed = 1;
  double lowpass_sigma = 2.0;
  double lambda = 0.25;
  int iterations = 100;
  int filters = 32;
  int filter_size = 8;
  std::string output_dir = "mcsc-demo-output";
};

po::options_description make_options(Settings& s) {
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("image", po::value(&s.image)->value_name("PATH"),
     "input image (PNG, JPEG, BMP; converted to grayscale) [default: $MCSC_CACHE/data/camera.png, "
     "MCSC_CACHE defaulting to ~/.cache/mcsc]")
    ("synthetic", po::bool_switch(&s.synthetic), "use a generated test image instead of a file")
    ("size", with_default(s.size),
     "side of the square image coded: centre crop, then box downsampling by an integer factor")
    ("sigma", with_default(s.sigma), "standard deviation of the added Gaussian noise")
    ("seed", with_default(s.seed), "seed of the noise")
    ("lowpass-sigma", with_default(s.lowpass_sigma),
     "standard deviation (pixels) of the Gaussian low-pass filter")
    ("lambda", with_default(s.lambda), "l1 weight of CBPDN")
    ("iterations", with_default(s.iterations), "FISTA iterations")
    ("filters", with_default(s.filters),
     "number of dictionary filters (lowest-frequency DCT atoms, DC excluded)")
    ("filter-size", with_default(s.filter_size), "filter side")
    ("output-dir", with_default(s.output_dir)->value_name("DIR"),
     "where the PNG files are written (created if needed)");
  // clang-format on
  return desc;
}

void validate(const Settings& s) {
  using mcsc_cli::require;
  require(!(s.synthetic && !s.image.empty()), "--image and --synthetic exclude each other");
  require(std::isfinite(s.lambda) && s.lambda >= 0, "--lambda must be >= 0");
  require(s.iterations > 0, "--iterations must be > 0");
  require(std::isfinite(s.sigma) && s.sigma >= 0, "--sigma must be >= 0");
  require(std::isfinite(s.lowpass_sigma) && s.lowpass_sigma > 0, "--lowpass-sigma must be > 0");
  require(s.filter_size >= 2, "--filter-size must be >= 2");
  require(s.filters >= 1 && s.filters < s.filter_size * s.filter_size,
          "--filters must be between 1 and filter-size^2 - 1 = " + std::to_string(s.filter_size * s.filter_size - 1));
  require(s.size >= s.filter_size, "--size must be >= --filter-size");
  mcsc_cli::require_output_dir("--output-dir", s.output_dir);
}

// ------------------------------------------------------------------------------------ images

std::string default_image_path() {
  const char* cache = std::getenv("MCSC_CACHE");
  const char* home = std::getenv("HOME");
  if (cache && *cache) return std::string(cache) + "/data/camera.png";
  if (!home || !*home) throw std::runtime_error("neither MCSC_CACHE nor HOME is set: pass --image PATH");
  return std::string(home) + "/.cache/mcsc/data/camera.png";
}

/// The grayscale size x size clean image the demo codes, and where it came from.
mcsc::Image load_clean_image(const Settings& s, std::string& source) {
  if (s.synthetic) {
    source = "synthetic test image";
    return synthetic_image(s.size);
  }
  std::string path = s.image;
  if (path.empty()) {
    path = default_image_path();
    if (!fs::exists(path))
      throw std::runtime_error("the default demo image " + path +
                               " is missing: run `cmake/setup.sh --demo-data` (or pass --image PATH or --synthetic)");
  }
  const mcsc::Image image = mcsc::drop_opaque_alpha(mcsc::read_image(path), path);
  std::ostringstream os;
  os << path << " (" << image.width << "x" << image.height << ", " << image.channels << " channel(s), "
     << (image.sixteen_bit ? 16 : 8) << "-bit)";
  source = os.str();
  return crop_and_downsample(mcsc::to_grayscale(image), s.size);
}

// ------------------------------------------------------------------------------------ signals

/// The denoising problem: clean and noisy images, the noisy image's low-pass part and the
/// high-pass rest coded by CBPDN, and the target D*U should approach (clean - low-pass).
struct Problem {
  Tensor clean, noisy, lowpass, highpass, target;
};

Problem make_problem(const mcsc::Image& clean_image, const Settings& s) {
  Problem pb;
  pb.clean = mcsc::image_to_tensor<T, ExecSpace>(clean_image);
  pb.noisy = mcsc::make_tensor_like("noisy", pb.clean);
  mcsc::fill_normal(pb.noisy, s.seed, 0.0, s.sigma);
  mcsc::axpby(T(1), pb.clean, T(1), pb.noisy);
  pb.lowpass = gaussian_lowpass(pb.noisy, s.lowpass_sigma);
  pb.highpass = mcsc::make_tensor_like("highpass", pb.clean);
  mcsc::lincomb(T(1), pb.noisy, T(-1), pb.lowpass, pb.highpass);
  pb.target = mcsc::make_tensor_like("target", pb.clean);
  mcsc::lincomb(T(1), pb.clean, T(-1), pb.lowpass, pb.target);
  return pb;
}

// ------------------------------------------------------------------------------------ coding

struct Checkpoint {
  int iteration;
  double objective, psnr;
};

struct Run {
  std::string name;
  mcsc::FistaResult<T, ExecSpace> result;
  std::vector<Checkpoint> checkpoints;
  double seconds = 0;
};

/// 1, 2, 5, 10, 20, 50, ... up to `last`, and `last` itself.
std::vector<int> checkpoint_iterations(int last) {
  std::vector<int> its;
  for (long decade = 1; decade <= last; decade *= 10)
    for (int m : {1, 2, 5})
      if (decade * m <= last) its.push_back(int(decade * m));
  if (its.empty() || its.back() != last) its.push_back(last);
  return its;
}

/// Solves CBPDN for the problem's high-pass part with a Dictionary (ConvDictionary or
/// FftConvDictionary) of the given weights, Boundary::zero, recording objective and PSNR at the
/// checkpoints and printing a progress line at each to stderr. Timed from the dictionary's
/// construction (FFT plans included) to fista's return.
template <class Dictionary>
Run code_image(const std::string& name, const Tensor& weights, const Problem& pb, const mcsc::FistaOptions& options,
               const std::vector<int>& checkpoints) {
  Run run;
  run.name = name;
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const Dictionary dictionary(weights, mcsc::Boundary::zero);
  std::size_t next = 0;
  const auto callback = [&](const mcsc::FistaIterate<T, ExecSpace>& it) {
    const int iteration = it.iteration;
    const double objective = it.objective;
    if (next < checkpoints.size() && iteration == checkpoints[next]) {
      ++next;
      run.checkpoints.push_back({iteration, objective, psnr(it.reconstruction, pb.target)});
      std::cerr << "  [" << name << "] iteration " << std::setw(4) << iteration << "/" << options.max_iterations
                << "  objective " << std::scientific << std::setprecision(6) << objective << std::defaultfloat
                << "  PSNR " << std::fixed << std::setprecision(2) << run.checkpoints.back().psnr << " dB  "
                << elapsed() << " s" << std::defaultfloat << std::endl;
    }
    return true;
  };
  run.result = mcsc::fista(dictionary, pb.highpass, options, Tensor{}, callback);
  run.seconds = elapsed();
  return run;
}

/// L of D'D from the filter spectra of the zero-padded FFT operator: an upper bound of the
/// cropped (zero-boundary) operator's constant, so 1/L is a safe step for both runs, and both
/// then take exactly the same steps.
double lipschitz_constant(const Tensor& weights, const mcsc::Shape4& signal) {
  const mcsc::FftConvDictionary<T, ExecSpace> dictionary(weights, mcsc::Boundary::zero);
  return mcsc::lipschitz_from_spectra(dictionary.operator_for(dictionary.code_shape(signal)));
}

void print_table(std::ostream& os, const Run& a, const Run& b) {
  const mcsc_examples::TextTable table(os, {{"iteration", 9},
                                            {"objective (" + a.name + ")", 20},
                                            {"PSNR (" + a.name + ") dB", 18},
                                            {"objective (" + b.name + ")", 20},
                                            {"PSNR (" + b.name + ") dB", 18}});
  table.header();
  for (std::size_t i = 0; i < a.checkpoints.size() && i < b.checkpoints.size(); ++i) {
    const Checkpoint &ca = a.checkpoints[i], &cb = b.checkpoints[i];
    table.row({std::to_string(ca.iteration), mcsc_examples::scientific(ca.objective, 8),
               mcsc_examples::fixed(ca.psnr, 3), mcsc_examples::scientific(cb.objective, 8),
               mcsc_examples::fixed(cb.psnr, 3)});
  }
}

/// Largest relative difference of the two runs' objectives over all iterations.
double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = a.size() == b.size() ? 0.0 : std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(std::abs(a[i]), 1e-30));
  return worst;
}

/// low-pass + D*U as an image.
mcsc::Image reconstruction_image(const Problem& pb, const Run& run) {
  Tensor full = mcsc::make_tensor_like("reconstruction", pb.lowpass);
  mcsc::lincomb(T(1), pb.lowpass, T(1), run.result.reconstruction, full);
  return mcsc::tensor_to_image(full);
}

/// Writes the demo's images into `dir`; returns the paths written.
std::vector<std::string> write_images(const std::string& dir, const Problem& pb, const Run& direct, const Run& fft,
                                      const Tensor& weights) {
  fs::create_directories(dir);
  std::vector<std::string> written;
  const auto save = [&](const std::string& name, const mcsc::Image& image) {
    written.push_back((fs::path(dir) / name).string());
    mcsc::write_png(written.back(), image);
  };
  save("clean.png", mcsc::tensor_to_image(pb.clean));
  save("noisy.png", mcsc::tensor_to_image(pb.noisy));
  save("lowpass.png", mcsc::tensor_to_image(pb.lowpass));
  save("reconstruction_direct.png", reconstruction_image(pb, direct));
  save("reconstruction_fft.png", reconstruction_image(pb, fft));
  save("codes_direct.png", tile_channels(mcsc::tensor_to_image(direct.result.codes), 1, false));
  const int zoom = std::max(1, 32 / int(weights.extent(2)));
  save("dictionary.png", tile_channels(mcsc::tensor_to_image(weights), zoom, true));
  return written;
}

int run_demo(const Settings& s) {
  std::string source;
  const mcsc::Image clean_image = load_clean_image(s, source);
  const Problem pb = make_problem(clean_image, s);
  const Tensor weights = dct_dictionary(s.filters, s.filter_size);

  mcsc::FistaOptions options;
  options.lambda = s.lambda;
  options.max_iterations = s.iterations;
  options.lipschitz = lipschitz_constant(weights, mcsc::shape_of(pb.highpass));

  std::cout << "mcsc CBPDN denoising demo (Kokkos " << ExecSpace::name() << ", "
            << ExecSpace().concurrency() << " thread(s), float)\n"
            << "  image:      " << source << ", coded at " << s.size << "x" << s.size << "\n"
            << "  noise:      sigma " << s.sigma << ", seed " << s.seed << "; low-pass: Gaussian sigma "
            << s.lowpass_sigma << " px\n"
            << "  dictionary: " << s.filters << " DCT filters " << s.filter_size << "x" << s.filter_size
            << " (DC excluded, unit norm), Boundary::zero\n"
            << "  CBPDN:      lambda " << s.lambda << ", " << s.iterations << " FISTA iterations, L = "
            << options.lipschitz << " (from the filter spectra)\n"
            << std::endl;

  const std::vector<int> checkpoints = checkpoint_iterations(s.iterations);
  const Run direct = code_image<mcsc::ConvDictionary<T, ExecSpace>>("direct", weights, pb, options, checkpoints);
  const Run fft = code_image<mcsc::FftConvDictionary<T, ExecSpace>>("FFT", weights, pb, options, checkpoints);

  std::cout << "\n";
  print_table(std::cout, direct, fft);
  const double difference = max_relative_difference(direct.result.objective, fft.result.objective);
  std::cout << "\nnoisy input PSNR:       " << std::fixed << std::setprecision(3) << psnr(pb.noisy, pb.clean)
            << " dB\nlow-pass only PSNR:     " << psnr(pb.lowpass, pb.clean) << " dB\n";
  for (const Run* run : {&direct, &fft})
    std::cout << "time (" << run->name << "):" << std::string(14 - run->name.size(), ' ') << std::setprecision(3)
              << run->seconds << " s (" << 1e3 * run->result.seconds.back() / run->result.iterations
              << " ms per iteration)\n";
  std::cout << "direct vs FFT: largest relative objective difference " << std::scientific << std::setprecision(2)
            << difference << std::defaultfloat << "\n\n";

  const std::vector<std::string> written = write_images(s.output_dir, pb, direct, fft, weights);
  std::cout << "wrote " << written.size() << " images:\n";
  for (const std::string& path : written) std::cout << "  " << path << "\n";

  if (!(difference <= 1e-3)) {
    std::cerr << "mcsc-demo: the direct and FFT solutions disagree (relative objective difference " << difference
              << " > 1e-3)\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
  Settings settings;
  const po::options_description desc = make_options(settings);
  return mcsc_cli::run(argc, argv, desc,
                       "Denoises a photograph by convolutional sparse coding (CBPDN solved by FISTA) with a DCT\n"
                       "dictionary, once with direct and once with FFT convolutions, and compares the two.\n",
                       [&] { validate(settings); }, [&] { return run_demo(settings); });
}
