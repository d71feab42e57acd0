#pragma once
/// \file image_io.hpp
/// Small host-side image I/O for the examples: read PNG (8 and 16 bit), JPEG, BMP (anything
/// stb_image reads), write 8-bit PNG, convert to grayscale, and move image planes in and out of
/// (N, C, H, W) tensors.
///
/// Uses Debian's libstb-dev: the stb headers are only declarations here (this header never
/// defines STB_IMAGE_IMPLEMENTATION); the implementation is the shared library libstb.so, so a
/// program that includes this header links with -lstb. Not part of the umbrella mcsc.hpp, for
/// that reason.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// A host image: `height` rows of `width` pixels of `channels` values each, stored interleaved
/// (HWC: pixels[(row * width + col) * channels + channel]), values in [0, 1] after read_image.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  /// The file this image came from stored 16 bits per channel (informational).
  bool sixteen_bit = false;
  std::vector<float> pixels;

  /// Index of (row, col, channel) in `pixels`.
  std::size_t index(int row, int col, int channel) const {
    return (std::size_t(row) * std::size_t(width) + std::size_t(col)) * std::size_t(channels) + std::size_t(channel);
  }
  float& at(int row, int col, int channel = 0) { return pixels[index(row, col, channel)]; }
  float at(int row, int col, int channel = 0) const { return pixels[index(row, col, channel)]; }
};

/// A zero-filled width x height image with `channels` channels (all three must be positive).
inline Image make_image(int width, int height, int channels) {
  MCSC_REQUIRE(width > 0 && height > 0 && channels > 0, "mcsc::make_image",
               "invalid size " << width << "x" << height << " with " << channels << " channel(s)");
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.assign(std::size_t(width) * std::size_t(height) * std::size_t(channels), 0.0f);
  return image;
}

namespace Impl {
/// stbi_failure_reason(), never null.
inline const char* stbi_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown reason";
}

/// Checks that `image` is a well-formed Image (positive size, pixel count matching).
inline void check_image(const char* function, const Image& image) {
  MCSC_REQUIRE(image.width > 0 && image.height > 0 && image.channels > 0, function,
               "empty image " << image.width << "x" << image.height << " with " << image.channels << " channel(s)");
  MCSC_REQUIRE(image.pixels.size() == std::size_t(image.width) * image.height * image.channels, function,
               "image " << image.width << "x" << image.height << "x" << image.channels << " holds "
                        << image.pixels.size() << " values, expected "
                        << std::size_t(image.width) * image.height * image.channels);
}

/// Loads `path` with stb as Sample (stbi_uc or stbi_us) and scales it to [0, 1].
template <class Sample, class Loader>
Image load_scaled(const std::string& path, Loader load, bool sixteen_bit) {
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<Sample, void (*)(void*)> data(load(path.c_str(), &width, &height, &channels, 0), stbi_image_free);
  MCSC_REQUIRE(data != nullptr, "mcsc::read_image", "cannot read '" << path << "': " << stbi_reason());
  MCSC_REQUIRE(width > 0 && height > 0 && channels > 0, "mcsc::read_image",
               "'" << path << "' is an empty image (" << width << "x" << height << ", " << channels << " channels)");
  Image image = make_image(width, height, channels);
  image.sixteen_bit = sixteen_bit;
  const float scale = 1.0f / float(std::numeric_limits<Sample>::max());
  for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = float(data.get()[i]) * scale;
  return image;
}
}  // namespace Impl

/// Reads an image file (PNG 8 or 16 bit, JPEG, BMP, and the other formats stb_image reads) with
/// its own channel count (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA), values scaled to [0, 1].
/// Throws mcsc::Error naming the path and stb's reason for a missing, unreadable, truncated or
/// unsupported file, and for an empty (0 x 0) image.
inline Image read_image(const std::string& path) {
  MCSC_REQUIRE(!path.empty(), "mcsc::read_image", "empty path");
  if (stbi_is_16_bit(path.c_str())) return Impl::load_scaled<stbi_us>(path, stbi_load_16, true);
  return Impl::load_scaled<stbi_uc>(path, stbi_load, false);
}

/// Writes `image` (1 to 4 channels) as an 8-bit PNG, values clamped to [0, 1] (NaN written as 0)
/// and rounded to the nearest of 0..255. The file is written to `path + ".tmp"` first and then
/// renamed to `path`, so `path` is never left half-written. Throws mcsc::Error on failure.
inline void write_png(const std::string& path, const Image& image) {
  const char* fn = "mcsc::write_png";
  MCSC_REQUIRE(!path.empty(), fn, "empty path");
  Impl::check_image(fn, image);
  MCSC_REQUIRE(image.channels <= 4, fn,
               "cannot write '" << path << "': PNG holds 1 to 4 channels, the image has " << image.channels);
  std::vector<unsigned char> bytes(image.pixels.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const float v = image.pixels[i];
    const float clamped = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;  // NaN -> 0
    bytes[i] = static_cast<unsigned char>(std::lround(clamped * 255.0f));
  }
  const std::string tmp = path + ".tmp";
  errno = 0;
  const int ok = stbi_write_png(tmp.c_str(), image.width, image.height, image.channels, bytes.data(),
                                image.width * image.channels);
  if (!ok) {
    const int saved = errno;
    std::remove(tmp.c_str());
    MCSC_REQUIRE(false, fn, "cannot write '" << tmp << "'" << (saved ? std::string(": ") + std::strerror(saved) : ""));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(tmp.c_str());
    MCSC_REQUIRE(false, fn, "cannot rename '" << tmp << "' to '" << path << "': " << std::strerror(saved));
  }
}

/// The luma of `image` as a one-channel image, by ITU-R BT.601: Y = 0.299 R + 0.587 G + 0.114 B
/// for RGB and RGBA images (alpha dropped); the gray channel itself for gray and gray + alpha
/// images. Throws for other channel counts.
inline Image to_grayscale(const Image& image) {
  const char* fn = "mcsc::to_grayscale";
  Impl::check_image(fn, image);
  MCSC_REQUIRE(image.channels <= 4, fn,
               "expects 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels, got " << image.channels);
  Image gray = make_image(image.width, image.height, 1);
  gray.sixteen_bit = image.sixteen_bit;
  const bool rgb = image.channels >= 3;
  for (int r = 0; r < image.height; ++r)
    for (int c = 0; c < image.width; ++c)
      gray.at(r, c) = rgb ? 0.299f * image.at(r, c, 0) + 0.587f * image.at(r, c, 1) + 0.114f * image.at(r, c, 2)
                          : image.at(r, c, 0);
  return gray;
}

/// The image as a (1, channels, height, width) tensor of T in ExecSpace's memory.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> image_to_tensor(const Image& image) {
  Impl::check_image("mcsc::image_to_tensor", image);
  auto tensor = make_tensor<T, ExecSpace>("mcsc::image_to_tensor",
                                          Shape4{1, image.channels, image.height, image.width});
  auto host = Kokkos::create_mirror_view(tensor);
  for (int ch = 0; ch < image.channels; ++ch)
    for (int r = 0; r < image.height; ++r)
      for (int c = 0; c < image.width; ++c) host(0, ch, r, c) = T(image.at(r, c, ch));
  Kokkos::deep_copy(tensor, host);
  return tensor;
}

/// Sample n of an (N, C, H, W) view as a C-channel image. With `normalize`, the values are
/// rescaled min-max to [0, 1] over the whole sample (a constant sample becomes 0), e.g. to
/// display code maps; otherwise they are copied as they are.
template <class V>
Image tensor_to_image(const V& t, int n = 0, bool normalize = false) {
  static_assert(Kokkos::is_view<V>::value && V::rank == 4, "mcsc::tensor_to_image: expects an (N, C, H, W) view");
  const char* fn = "mcsc::tensor_to_image";
  MCSC_REQUIRE(n >= 0 && std::size_t(n) < t.extent(0), fn,
               "sample " << n << " out of range for '" << t.label() << "' with " << t.extent(0) << " sample(s)");
  MCSC_REQUIRE(t.extent(1) > 0 && t.extent(2) > 0 && t.extent(3) > 0, fn,
               "'" << t.label() << "' has an empty image shape " << shape_of(t));
  const auto host = to_host(t);
  Image image = make_image(int(t.extent(3)), int(t.extent(2)), int(t.extent(1)));
  for (int ch = 0; ch < image.channels; ++ch)
    for (int r = 0; r < image.height; ++r)
      for (int c = 0; c < image.width; ++c) image.at(r, c, ch) = float(host(n, ch, r, c));
  if (normalize) {
    const auto range = std::minmax_element(image.pixels.begin(), image.pixels.end());
    const float lo = *range.first, span = *range.second - *range.first;
    for (float& v : image.pixels) v = span > 0 ? (v - lo) / span : 0.0f;
  }
  return image;
}

}  // namespace mcsc
