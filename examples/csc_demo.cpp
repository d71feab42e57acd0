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

namespace {

namespace fs = std::filesystem;
using T = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<T, ExecSpace>;

constexpr double pi = 3.14159265358979323846;

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
  require(!s.output_dir.empty(), "--output-dir must not be empty");
}

// ------------------------------------------------------------------------------------ images

std::string default_image_path() {
  const char* cache = std::getenv("MCSC_CACHE");
  const char* home = std::getenv("HOME");
  if (cache && *cache) return std::string(cache) + "/data/camera.png";
  if (!home || !*home) throw std::runtime_error("neither MCSC_CACHE nor HOME is set: pass --image PATH");
  return std::string(home) + "/.cache/mcsc/data/camera.png";
}

/// Centre square crop of a one-channel image, box-downsampled by the largest integer factor
/// that keeps at least `size` pixels a side, then cropped to exactly size x size.
mcsc::Image crop_and_downsample(const mcsc::Image& image, int size) {
  const int side = std::min(image.width, image.height);
  if (side < size) {
    std::ostringstream os;
    os << "the image is " << image.width << "x" << image.height << ", smaller than --size " << size;
    throw UsageError(os.str());
  }
  const int factor = side / size, crop = size * factor;
  const int top = (image.height - crop) / 2, left = (image.width - crop) / 2;
  mcsc::Image out = mcsc::make_image(size, size, 1);
  out.sixteen_bit = image.sixteen_bit;
  for (int r = 0; r < size; ++r)
    for (int c = 0; c < size; ++c) {
      float sum = 0;
      for (int i = 0; i < factor; ++i)
        for (int j = 0; j < factor; ++j) sum += image.at(top + r * factor + i, left + c * factor + j);
      out.at(r, c) = sum / float(factor * factor);
    }
  return out;
}

/// A size x size test image: a smooth gradient, three flat discs and a patch of diagonal stripes.
mcsc::Image synthetic_image(int size) {
  struct Disc {
    double x, y, radius, value;
  };
  const Disc discs[] = {{0.30, 0.30, 0.16, 0.92}, {0.72, 0.26, 0.12, 0.08}, {0.28, 0.74, 0.10, 0.60}};
  const double stripe_period = 8.0;  // pixels
  mcsc::Image image = mcsc::make_image(size, size, 1);
  for (int r = 0; r < size; ++r)
    for (int c = 0; c < size; ++c) {
      const double x = (c + 0.5) / size, y = (r + 0.5) / size;
      double v = 0.2 + 0.35 * x + 0.2 * y * y;
      for (const Disc& d : discs)
        if ((x - d.x) * (x - d.x) + (y - d.y) * (y - d.y) <= d.radius * d.radius) v = d.value;
      if (x > 0.55 && y > 0.55) v = 0.5 + 0.35 * std::sin(2 * pi * (r + c) / stripe_period);
      image.at(r, c) = float(v);
    }
  return image;
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
  const mcsc::Image image = mcsc::read_image(path);
  std::ostringstream os;
  os << path << " (" << image.width << "x" << image.height << ", " << image.channels << " channel(s), "
     << (image.sixteen_bit ? 16 : 8) << "-bit)";
  source = os.str();
  return crop_and_downsample(mcsc::to_grayscale(image), s.size);
}

/// The channels of `maps` (one tile each, values v) tiled in a near-square grid with a white
/// 1-pixel gap, each tile magnified `zoom` times and scaled by its own max |v|: to
/// sqrt(|v| / max) (magnitudes, e.g. code maps; the square root, a display gamma, keeps the many
/// small coefficients visible next to the few large ones) or to 0.5 + 0.5 v / max (signed
/// values, e.g. filters; zero at mid-gray).
mcsc::Image tile_channels(const mcsc::Image& maps, int zoom, bool signed_values) {
  const int count = maps.channels;
  const int columns = int(std::ceil(std::sqrt(double(count))));
  const int rows = (count + columns - 1) / columns;
  const int tile_w = maps.width * zoom, tile_h = maps.height * zoom, gap = 1;
  mcsc::Image mosaic = mcsc::make_image(columns * (tile_w + gap) + gap, rows * (tile_h + gap) + gap, 1);
  std::fill(mosaic.pixels.begin(), mosaic.pixels.end(), 1.0f);
  for (int k = 0; k < count; ++k) {
    float peak = 0;
    for (int r = 0; r < maps.height; ++r)
      for (int c = 0; c < maps.width; ++c) peak = std::max(peak, std::fabs(maps.at(r, c, k)));
    const float inv = peak > 0 ? 1.0f / peak : 0.0f;
    const int top = gap + (k / columns) * (tile_h + gap), left = gap + (k % columns) * (tile_w + gap);
    for (int r = 0; r < tile_h; ++r)
      for (int c = 0; c < tile_w; ++c) {
        const float v = maps.at(r / zoom, c / zoom, k) * inv;
        mosaic.at(top + r, left + c) = signed_values ? 0.5f + 0.5f * v : std::sqrt(std::fabs(v));
      }
  }
  return mosaic;
}

// ------------------------------------------------------------------------------------ signals

/// The DCT dictionary (1, K, s, s): the 2-D DCT-II atoms cos(pi (2p+1) u / 2s) cos(pi (2q+1) v / 2s)
/// without the DC atom (u = v = 0), the K of lowest radial frequency u^2 + v^2 (ties by max(u, v),
/// then u), each of unit l2 norm.
Tensor dct_dictionary(int filters, int s) {
  struct Frequency {
    int u, v;
  };
  std::vector<Frequency> frequencies;
  for (int u = 0; u < s; ++u)
    for (int v = 0; v < s; ++v)
      if (u != 0 || v != 0) frequencies.push_back({u, v});
  std::stable_sort(frequencies.begin(), frequencies.end(), [](const Frequency& a, const Frequency& b) {
    const int ra = a.u * a.u + a.v * a.v, rb = b.u * b.u + b.v * b.v;
    if (ra != rb) return ra < rb;
    if (std::max(a.u, a.v) != std::max(b.u, b.v)) return std::max(a.u, a.v) < std::max(b.u, b.v);
    return a.u < b.u;
  });
  Tensor weights = mcsc::make_tensor<T, ExecSpace>("dct_dictionary", mcsc::Shape4{1, filters, s, s});
  auto host = Kokkos::create_mirror_view(weights);
  for (int k = 0; k < filters; ++k) {
    const Frequency f = frequencies[std::size_t(k)];
    double norm2 = 0;
    for (int p = 0; p < s; ++p)
      for (int q = 0; q < s; ++q) {
        const double a = std::cos(pi * (2 * p + 1) * f.u / (2.0 * s)) * std::cos(pi * (2 * q + 1) * f.v / (2.0 * s));
        host(0, k, p, q) = T(a);
        norm2 += a * a;
      }
    const T inv = T(1.0 / std::sqrt(norm2));
    for (int p = 0; p < s; ++p)
      for (int q = 0; q < s; ++q) host(0, k, p, q) *= inv;
  }
  Kokkos::deep_copy(weights, host);
  return weights;
}

/// Low-pass part of a (1, 1, H, W) image: a Gaussian blur of standard deviation `sigma` pixels
/// (truncated at 3 sigma, at most the image size) with zero boundary, divided by the blur of an
/// all-ones image so that the border is not darkened (normalised convolution).
Tensor gaussian_lowpass(const Tensor& image, double sigma) {
  const int limit = int(std::min(image.extent(2), image.extent(3)));
  const int radius = std::max(1, std::min(int(std::ceil(3 * sigma)), (limit - 1) / 2));
  const int side = 2 * radius + 1;
  Tensor kernel = mcsc::make_tensor<T, ExecSpace>("gaussian_kernel", mcsc::Shape4{1, 1, side, side});
  auto host = Kokkos::create_mirror_view(kernel);
  for (int p = 0; p < side; ++p)
    for (int q = 0; q < side; ++q)
      host(0, 0, p, q) = T(std::exp(-((p - radius) * (p - radius) + (q - radius) * (q - radius)) / (2 * sigma * sigma)));
  Kokkos::deep_copy(kernel, host);

  Tensor blurred = mcsc::make_tensor_like("lowpass", image);
  Tensor ones = mcsc::make_tensor_like("ones", image);
  Tensor weight = mcsc::make_tensor_like("lowpass_weight", image);
  mcsc::fill(ones, T(1));
  mcsc::conv2d(image, kernel, blurred);
  mcsc::conv2d(ones, kernel, weight);
  const int W = int(image.extent(3));
  Kokkos::parallel_for(
      "gaussian_lowpass::normalise", Kokkos::RangePolicy<ExecSpace>(0, std::int64_t(image.extent(2)) * W),
      KOKKOS_LAMBDA(const std::int64_t idx) {
        const int i = int(idx / W), j = int(idx % W);
        blurred(0, 0, i, j) /= weight(0, 0, i, j);
      });
  return blurred;
}

/// PSNR (peak 1) of a as an estimate of b.
template <class A, class B>
double psnr(const A& a, const B& b) {
  const double mse = mcsc::distance_squared(a, b) / double(a.size());
  return mse > 0 ? 10 * std::log10(1.0 / mse) : std::numeric_limits<double>::infinity();
}

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
  auto heading = [&os](const std::string& text, int width) { os << " | " << std::setw(width) << text; };
  os << std::setw(9) << "iteration";
  for (const Run* run : {&a, &b}) {
    heading("objective (" + run->name + ")", 20);
    heading("PSNR (" + run->name + ") dB", 18);
  }
  os << "\n" << std::string(9 + 2 * (3 + 20 + 3 + 18), '-') << "\n";
  for (std::size_t i = 0; i < a.checkpoints.size() && i < b.checkpoints.size(); ++i) {
    os << std::setw(9) << a.checkpoints[i].iteration;
    for (const Run* run : {&a, &b}) {
      const Checkpoint& cp = run->checkpoints[i];
      os << " | " << std::setw(20) << std::scientific << std::setprecision(8) << cp.objective;
      os << " | " << std::setw(18) << std::fixed << std::setprecision(3) << cp.psnr;
    }
    os << std::defaultfloat << "\n";
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
    std::cerr << "csc_demo: the direct and FFT solutions disagree (relative objective difference " << difference
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
