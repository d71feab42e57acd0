#pragma once
/// \file solver_common.hpp
/// What the sparse-coding example programs (mcsc-demo, mcsc-solve) share:
/// - images: a synthetic test image, centre crop + box downsampling, tiling of channels (code
///   maps, filters) into one picture, PSNR;
/// - arrays: images and dictionaries read from PNG/JPEG/BMP, NumPy .npy or raw float32 (.f32)
///   files, with the layouts SPORCO uses, and the filter-flip between its convolution and mcsc's
///   cross-correlation;
/// - signals: the built-in DCT dictionary, a Gaussian low-pass (mcsc-demo) and SPORCO's Tikhonov
///   low-pass (mcsc-solve --highpass);
/// - a plain text table for per-iteration output.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <complex>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mcsc/data/image_io.hpp"
#include "mcsc/io/npy.hpp"
#include "mcsc/io/raw.hpp"
#include "mcsc/mcsc.hpp"

namespace mcsc_examples {

namespace fs = std::filesystem;
using T = float;
using ExecSpace = Kokkos::DefaultExecutionSpace;
using Tensor = mcsc::Tensor4<T, ExecSpace>;

constexpr double pi = 3.14159265358979323846;

// ------------------------------------------------------------------------------------ text

/// A plain text table: right-aligned columns of fixed widths separated by " | ", a header line
/// and a rule of '-' under it.
class TextTable {
 public:
  struct Column {
    std::string title;
    int width;
  };
  TextTable(std::ostream& os, std::vector<Column> columns) : m_os(os), m_columns(std::move(columns)) {}

  /// The titles and the rule.
  void header() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < m_columns.size(); ++i) {
      m_os << (i ? " | " : "") << std::setw(m_columns[i].width) << m_columns[i].title;
      total += std::size_t(m_columns[i].width) + (i ? 3 : 0);
    }
    m_os << "\n" << std::string(total, '-') << "\n";
  }
  /// One row (cells already formatted; missing cells are left blank).
  void row(const std::vector<std::string>& cells) const {
    for (std::size_t i = 0; i < m_columns.size(); ++i)
      m_os << (i ? " | " : "") << std::setw(m_columns[i].width) << (i < cells.size() ? cells[i] : "");
    m_os << std::endl;
  }

 private:
  std::ostream& m_os;
  std::vector<Column> m_columns;
};

/// v in fixed notation with `digits` decimals.
inline std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}
/// v in scientific notation with `digits` decimals.
inline std::string scientific(double v, int digits) {
  std::ostringstream os;
  os << std::scientific << std::setprecision(digits) << v;
  return os.str();
}

// ------------------------------------------------------------------------------------ images

/// Centre square crop of a one-channel image, box-downsampled by the largest integer factor
/// that keeps at least `size` pixels a side, then cropped to exactly size x size.
inline mcsc::Image crop_and_downsample(const mcsc::Image& image, int size) {
  const int side = std::min(image.width, image.height);
  if (side < size) {
    std::ostringstream os;
    os << "the image is " << image.width << "x" << image.height << ", smaller than --size " << size;
    throw mcsc_cli::UsageError(os.str());
  }
  const int factor = side / size, crop = size * factor;
  const int top = (image.height - crop) / 2, left = (image.width - crop) / 2;
  mcsc::Image out = mcsc::make_image(size, size, image.channels);
  out.sixteen_bit = image.sixteen_bit;
  for (int ch = 0; ch < image.channels; ++ch)
    for (int r = 0; r < size; ++r)
      for (int c = 0; c < size; ++c) {
        float sum = 0;
        for (int i = 0; i < factor; ++i)
          for (int j = 0; j < factor; ++j) sum += image.at(top + r * factor + i, left + c * factor + j, ch);
        out.at(r, c, ch) = sum / float(factor * factor);
      }
  return out;
}

/// A size x size test image: a smooth gradient, three flat discs and a patch of diagonal
/// stripes. With `variant` 1, a "guide" of the same scene: the same edges with other intensities
/// (discs and stripes inverted, the gradient reversed), as a second modality would see it.
inline mcsc::Image synthetic_image(int size, int variant = 0) {
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
      image.at(r, c) = float(variant == 0 ? v : 1.0 - v);
    }
  return image;
}

/// The channels of `maps` (one tile each, values v) tiled in a near-square grid with a white
/// 1-pixel gap, each tile magnified `zoom` times and scaled by its own max |v|: to
/// sqrt(|v| / max) (magnitudes, e.g. code maps; the square root, a display gamma, keeps the many
/// small coefficients visible next to the few large ones) or to 0.5 + 0.5 v / max (signed
/// values, e.g. filters; zero at mid-gray).
inline mcsc::Image tile_channels(const mcsc::Image& maps, int zoom, bool signed_values) {
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

/// The filters of a dictionary (m, K, s, s) as one picture: channel 0 of each filter, tiled.
inline mcsc::Image dictionary_picture(const Tensor& weights) {
  auto host = mcsc::to_host(weights);
  const int K = int(weights.extent(1)), kh = int(weights.extent(2)), kw = int(weights.extent(3));
  mcsc::Image maps = mcsc::make_image(kw, kh, K);
  for (int k = 0; k < K; ++k)
    for (int p = 0; p < kh; ++p)
      for (int q = 0; q < kw; ++q) maps.at(p, q, k) = float(host(0, k, p, q));
  return tile_channels(maps, std::max(1, 32 / std::max(kh, kw)), true);
}

/// PSNR (peak 1) of a as an estimate of b.
template <class A, class B>
double psnr(const A& a, const B& b) {
  const double mse = mcsc::distance_squared(a, b) / double(a.size());
  return mse > 0 ? 10 * std::log10(1.0 / mse) : std::numeric_limits<double>::infinity();
}

// ------------------------------------------------------------------------------------ arrays

/// Lower-case file extension with its dot ("/a/b.NPY" -> ".npy").
inline std::string extension_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

/// Parses "32x8x8", "32,8,8" or "(32, 8, 8)" into dimensions; empty on a malformed text.
inline std::vector<std::int64_t> parse_dims(const std::string& text) {
  std::vector<std::int64_t> dims;
  std::string token;
  for (char c : text + ",") {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      token += c;
    } else if (c == 'x' || c == 'X' || c == ',') {
      if (token.empty() || token.size() > 18) return {};  // more than 18 digits cannot be a dimension (stoll would throw)
      dims.push_back(std::stoll(token));
      token.clear();
    } else if (c != ' ' && c != '(' && c != ')') {
      return {};
    }
  }
  for (std::int64_t d : dims)
    if (d <= 0) return {};
  return dims;
}

/// The shape written at the end of a raw file's name, "..._32x8x8.f32" -> {32, 8, 8}; empty
/// when the name has none.
inline std::vector<std::int64_t> dims_from_file_name(const std::string& path) {
  const std::string stem = fs::path(path).stem().string();
  const std::size_t underscore = stem.rfind('_');
  if (extension_of(path) != ".f32" || underscore == std::string::npos) return {};
  const std::string dims = stem.substr(underscore + 1);
  if (dims.find_first_not_of("0123456789x") != std::string::npos || dims.find('x') == std::string::npos) return {};
  return parse_dims(dims);
}

inline std::string dims_string(const std::vector<std::int64_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
  return s;
}

/// A float array from a .npy file or a raw little-endian float32 .f32 file (shape from `shape`,
/// e.g. "32x8x8", else from the file name's "_32x8x8.f32" suffix). `what` names the array in
/// messages ("--dictionary"). Rejects NaN/Inf.
inline mcsc::NpyArray<T> read_array(const std::string& path, const std::string& shape, const std::string& what) {
  mcsc::NpyArray<T> a;
  const std::string ext = extension_of(path);
  if (ext == ".npy") {
    if (!shape.empty())
      std::cerr << "note: " << what << " is a .npy file; its own shape is used and the given shape is ignored\n";
    a = mcsc::read_npy<T>(path);
  } else if (ext == ".f32") {
    a.shape = shape.empty() ? dims_from_file_name(path) : parse_dims(shape);
    if (a.shape.empty()) {
      if (!shape.empty()) throw mcsc_cli::UsageError("malformed shape '" + shape + "' for " + what);
      throw mcsc_cli::UsageError("the shape of the raw float32 file '" + path + "' (" + what +
                                 ") is unknown: give it (e.g. 32x8x8) or name the file ..._32x8x8.f32");
    }
    a.dtype = "<f4";
    a.values = mcsc::read_raw_f32(
        path, std::size_t(mcsc::checked_element_count("read_array", what + " shape " + dims_string(a.shape), a.shape, 4)));
  } else {
    throw mcsc_cli::UsageError(what + " '" + path + "': unsupported file type '" + ext + "' (.npy or .f32)");
  }
  std::size_t bad = 0;
  for (T v : a.values) bad += std::isfinite(v) ? 0 : 1;
  MCSC_REQUIRE(bad == 0, "read_array", what << " '" << path << "' holds " << bad << " NaN/Inf value(s)");
  return a;
}

/// An image as a (1, C, H, W) tensor: PNG/JPEG/BMP (values scaled to [0, 1]; converted to
/// grayscale when `channels` is 1, colour images kept when `channels` is 3), or a .npy / .f32
/// array of shape (H, W) or (C, H, W) taken as it is. `shape` is the raw file's shape (HxW or
/// CxHxW), if any. Rejects NaN/Inf.
inline Tensor load_image(const std::string& path, const std::string& shape, int channels, const std::string& what) {
  const std::string ext = extension_of(path);
  if (ext == ".npy" || ext == ".f32") {
    const mcsc::NpyArray<T> a = read_array(path, shape, what);
    MCSC_REQUIRE(a.shape.size() == 2 || a.shape.size() == 3, "load_image",
                 what << " '" << path << "' has shape " << mcsc::npy_shape_string(a.shape)
                      << "; an image is (H, W) or (C, H, W)");
    const std::int64_t C = a.shape.size() == 3 ? a.shape[0] : 1;
    const std::int64_t H = a.shape[a.shape.size() - 2], W = a.shape.back();
    Tensor t = mcsc::make_tensor<T, ExecSpace>(what, mcsc::Shape4{1, C, H, W});
    auto h = Kokkos::create_mirror_view(t);
    std::copy(a.values.begin(), a.values.end(), h.data());
    Kokkos::deep_copy(t, h);
    return t;
  }
  mcsc::Image image = mcsc::drop_opaque_alpha(mcsc::read_image(path), path);
  if (channels == 1 && image.channels != 1) image = mcsc::to_grayscale(image);
  return mcsc::image_to_tensor<T, ExecSpace>(image);
}

// ------------------------------------------------------------------------------------ dictionaries

/// The DCT dictionary (1, K, s, s): the 2-D DCT-II atoms cos(pi (2p+1) u / 2s) cos(pi (2q+1) v / 2s)
/// without the DC atom (u = v = 0), the K of lowest radial frequency u^2 + v^2 (ties by max(u, v),
/// then u), each of unit l2 norm.
inline Tensor dct_dictionary(int filters, int s) {
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
  MCSC_REQUIRE(filters >= 1 && std::size_t(filters) <= frequencies.size(), "dct_dictionary",
               "between 1 and " << frequencies.size() << " filters of " << s << "x" << s << ", asked " << filters);
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

/// How a dictionary file is to be read.
struct DictionaryFileSpec {
  std::string path;
  std::string shape;                     ///< raw .f32 only: "32x8x8" (K, s, s) or "1x32x8x8" (m, K, s, s)
  std::string layout = "MHW";            ///< 3-d arrays: "MHW" = (K, s, s), "HWM" = (s, s, K)
  std::string convention = "convolution";  ///< "convolution" (SPORCO: flip) or "correlation" (mcsc)
};

/// Reads a dictionary file as mcsc weights (m, K, s, s): 3-d arrays in the MHW (K, s, s) or HWM
/// (s, s, K) layout as one-channel dictionaries, 4-d arrays as (m, K, s, s). With the
/// "convolution" convention (SPORCO's and the papers' sum_k d_k * x_k, a true convolution) every
/// filter is flipped in both axes, because mcsc's conv2d is a cross-correlation
/// (docs/conventions.md); "correlation" takes the filters as they are (mcsc's own weights).
inline Tensor read_dictionary(const DictionaryFileSpec& spec) {
  const mcsc::NpyArray<T> a = read_array(spec.path, spec.shape, "--dictionary");
  const std::string where = "--dictionary '" + spec.path + "' of shape " + mcsc::npy_shape_string(a.shape);
  std::int64_t m = 1, K = 0, kh = 0, kw = 0;
  bool hwm = false;
  if (a.shape.size() == 3) {
    if (spec.layout == "MHW") {
      K = a.shape[0], kh = a.shape[1], kw = a.shape[2];
    } else if (spec.layout == "HWM") {
      kh = a.shape[0], kw = a.shape[1], K = a.shape[2];
      hwm = true;
    } else {
      throw mcsc_cli::UsageError("unknown --dictionary-layout '" + spec.layout + "' (MHW or HWM)");
    }
  } else if (a.shape.size() == 4) {
    m = a.shape[0], K = a.shape[1], kh = a.shape[2], kw = a.shape[3];
  } else {
    MCSC_REQUIRE(false, "read_dictionary", where << ": a dictionary is (K, s, s), (s, s, K) or (m, K, s, s)");
  }
  MCSC_REQUIRE(kh >= 1 && kw >= 1 && K >= 1, "read_dictionary", where << " has an empty dimension");
  const bool flip = spec.convention == "convolution";
  if (!flip && spec.convention != "correlation")
    throw mcsc_cli::UsageError("unknown --filter-convention '" + spec.convention + "' (convolution or correlation)");
  Tensor weights = mcsc::make_tensor<T, ExecSpace>("dictionary", mcsc::Shape4{m, K, kh, kw});
  auto host = Kokkos::create_mirror_view(weights);
  for (std::int64_t o = 0; o < m; ++o)
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t p = 0; p < kh; ++p)
        for (std::int64_t q = 0; q < kw; ++q) {
          const std::int64_t index = hwm ? (p * kw + q) * K + k : ((o * K + k) * kh + p) * kw + q;
          const std::int64_t tp = flip ? kh - 1 - p : p, tq = flip ? kw - 1 - q : q;
          host(o, k, tp, tq) = a.values[std::size_t(index)];
        }
  Kokkos::deep_copy(weights, host);
  return weights;
}

/// Smallest and largest l2 norm of the filters d_k (over all m channels) of weights (m, K, s, s).
inline std::pair<double, double> filter_norm_range(const Tensor& weights) {
  auto h = mcsc::to_host(weights);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (std::size_t k = 0; k < h.extent(1); ++k) {
    double sq = 0;
    for (std::size_t o = 0; o < h.extent(0); ++o)
      for (std::size_t p = 0; p < h.extent(2); ++p)
        for (std::size_t q = 0; q < h.extent(3); ++q) sq += double(h(o, k, p, q)) * double(h(o, k, p, q));
    lo = std::min(lo, std::sqrt(sq));
    hi = std::max(hi, std::sqrt(sq));
  }
  return {lo, hi};
}

// ------------------------------------------------------------------------------------ low-pass filters

/// Low-pass part of a (1, 1, H, W) image: a Gaussian blur of standard deviation `sigma` pixels
/// (truncated at 3 sigma, at most the image size) with zero boundary, divided by the blur of an
/// all-ones image so that the border is not darkened (normalised convolution).
inline Tensor gaussian_lowpass(const Tensor& image, double sigma) {
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

/// SPORCO's Tikhonov low-pass filter (sporco.signal.tikhonov_filter(s, lmbda, npd)): each
/// channel of the (N, C, H, W) image s is padded by `pad` samples on every side by symmetric
/// reflection (NumPy's 'symmetric' mode: the edge sample repeated), and the low-pass l of the
/// padded image p is the solution of
///     min_l 1/2 ||l - p||^2 + lambda/2 (||G_r l||^2 + ||G_c l||^2),
/// i.e. (I + lambda (G_r'G_r + G_c'G_c)) l = p, with G_r, G_c the circular first differences
/// along rows and columns. The DFT diagonalises it: L(k) = P(k) / (1 + lambda (4 - 2 cos(2 pi
/// k_r / H_p) - 2 cos(2 pi k_c / W_p))) on the (H + 2 pad) x (W + 2 pad) grid; the result is
/// cropped back to H x W. Computed in double precision on the host with FFTW.
inline Tensor tikhonov_lowpass(const Tensor& image, double lambda, int pad) {
  MCSC_REQUIRE(lambda >= 0 && std::isfinite(lambda), "tikhonov_lowpass", "lambda must be >= 0, got " << lambda);
  MCSC_REQUIRE(pad >= 0, "tikhonov_lowpass", "pad must be >= 0, got " << pad);
  const auto host = mcsc::to_host(image);
  const int N = int(image.extent(0)), C = int(image.extent(1)), H = int(image.extent(2)), W = int(image.extent(3));
  const int Hp = H + 2 * pad, Wp = W + 2 * pad, Fp = Wp / 2 + 1;
  std::vector<double> real(std::size_t(Hp) * std::size_t(Wp));
  std::vector<std::complex<double>> spectrum(std::size_t(Hp) * std::size_t(Fp));
  const mcsc::FftwPlan2d<double> plan(1, Hp, Wp, real.data(), spectrum.data(), 1);
  // numpy.pad(..., 'symmetric'): index -1 -> 0, -2 -> 1, n -> n - 1, ... (period 2n)
  const auto reflect = [](int i, int n) {
    const int period = 2 * n;
    int r = i % period;
    if (r < 0) r += period;
    return r < n ? r : period - 1 - r;
  };
  std::vector<double> denominator(spectrum.size());
  for (int r = 0; r < Hp; ++r)
    for (int c = 0; c < Fp; ++c)
      denominator[std::size_t(r) * Fp + c] =
          1.0 + lambda * (4.0 - 2.0 * std::cos(2 * pi * r / Hp) - 2.0 * std::cos(2 * pi * c / Wp));
  Tensor lowpass = mcsc::make_tensor_like("tikhonov_lowpass", image);
  auto out = Kokkos::create_mirror_view(lowpass);
  for (int n = 0; n < N; ++n)
    for (int ch = 0; ch < C; ++ch) {
      for (int r = 0; r < Hp; ++r)
        for (int c = 0; c < Wp; ++c)
          real[std::size_t(r) * Wp + c] = double(host(n, ch, reflect(r - pad, H), reflect(c - pad, W)));
      plan.forward(real.data(), spectrum.data());
      for (std::size_t i = 0; i < spectrum.size(); ++i) spectrum[i] /= denominator[i];
      plan.inverse(spectrum.data(), real.data());
      const double scale = 1.0 / (double(Hp) * double(Wp));
      for (int r = 0; r < H; ++r)
        for (int c = 0; c < W; ++c) out(n, ch, r, c) = T(scale * real[std::size_t(r + pad) * Wp + (c + pad)]);
    }
  Kokkos::deep_copy(lowpass, out);
  return lowpass;
}

}  // namespace mcsc_examples
