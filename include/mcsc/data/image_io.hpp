#pragma once
/// \file image_io.hpp
/// Small host-side image I/O for the examples: read PNG (8 and 16 bit), JPEG, BMP (anything
/// stb_image reads) scaled to [0, 1] or in the file's own integer units, write 8-bit and 16-bit
/// PNG, convert to grayscale, and move image planes in and out of (N, C, H, W) tensors.
///
/// 16-bit PNG files are written by a small built-in encoder (stb_image_write only writes 8 bits):
/// no filtering and zlib "stored" (uncompressed) deflate blocks, so the files are valid PNGs of
/// about 2 bytes per sample, readable by every PNG decoder, without a zlib/libpng dependency.
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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/core/tensor.hpp"
#include "mcsc/io/file.hpp"

namespace mcsc {

/// A host image: `height` rows of `width` pixels of `channels` values each, stored interleaved
/// (HWC: pixels[(row * width + col) * channels + channel]), values in [0, 1] after read_image
/// (or integers 0..255 / 0..65535 after read_image(path, PixelScale::file)).
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
/// Refuses to write an image with NaN/Inf pixels (a model or solver that produced them failed;
/// writing them clamped would hide that behind a plausible-looking file).
inline void check_finite_pixels(const char* function, const std::string& path, const Image& image) {
  std::size_t bad = 0;
  for (const float v : image.pixels) bad += std::isfinite(v) ? 0 : 1;
  MCSC_REQUIRE(bad == 0, function, "refusing to write '" << path << "': " << bad << " of " << image.pixels.size()
                                                          << " pixel values are NaN/Inf");
}

inline void check_image(const char* function, const Image& image) {
  MCSC_REQUIRE(image.width > 0 && image.height > 0 && image.channels > 0, function,
               "empty image " << image.width << "x" << image.height << " with " << image.channels << " channel(s)");
  MCSC_REQUIRE(image.pixels.size() == std::size_t(image.width) * image.height * image.channels, function,
               "image " << image.width << "x" << image.height << "x" << image.channels << " holds "
                        << image.pixels.size() << " values, expected "
                        << std::size_t(image.width) * image.height * image.channels);
}

/// Loads `path` with stb as Sample (stbi_uc or stbi_us), scaled to [0, 1] when `unit` (else the
/// integer sample values themselves).
template <class Sample, class Loader>
Image load_scaled(const std::string& path, Loader load, bool sixteen_bit, bool unit) {
  int width = 0, height = 0, channels = 0;
  std::unique_ptr<Sample, void (*)(void*)> data(load(path.c_str(), &width, &height, &channels, 0), stbi_image_free);
  MCSC_REQUIRE(data != nullptr, "mcsc::read_image",
               "cannot read '" << path << "': " << stbi_reason()
                               << " (stb_image: a corrupt, truncated or unsupported image file)");
  MCSC_REQUIRE(width > 0 && height > 0 && channels > 0, "mcsc::read_image",
               "'" << path << "' is an empty image (" << width << "x" << height << ", " << channels << " channels)");
  Image image = make_image(width, height, channels);
  image.sixteen_bit = sixteen_bit;
  if (unit) {
    const float scale = 1.0f / float(std::numeric_limits<Sample>::max());
    for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = float(data.get()[i]) * scale;
  } else {
    for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = float(data.get()[i]);
  }
  return image;
}

/// Little-endian integer of `bytes` bytes at `at` in `h`.
inline std::uint32_t read_le(const unsigned char* h, int at, int bytes) {
  std::uint32_t v = 0;
  for (int k = bytes - 1; k >= 0; --k) v = (v << 8) | h[at + k];
  return v;
}

/// Checks what stb does not: that `path` names an existing regular file, and that an
/// uncompressed BMP holds all the pixel rows its header announces (stb_image silently decodes a
/// truncated BMP with garbage rows).
inline void check_image_file(const char* fn, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  require_regular_file(fn, path);  // missing, a folder, a device or a pipe
  const std::uintmax_t size = fs::file_size(path, ec);
  MCSC_REQUIRE(ec || size > 0, fn, "cannot read '" << path << "': empty file (0 bytes)");
  if (ec || size < 30) return;  // unknown size, or too short for a BMP header: stb decides
  unsigned char h[34] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return;
  if (std::memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0) {
    // Every chunk must fit in the file: stb sizes its buffers by the chunk lengths before it
    // reads them (an 87-byte PNG found by tests/fuzz/fuzz_image.cpp made it allocate 1.4 GB).
    std::uint64_t at = 8;
    for (;;) {
      unsigned char c[8];
      in.clear();
      in.seekg(std::streamoff(at));
      if (!in.read(reinterpret_cast<char*>(c), 8)) break;  // no more chunks: stb decides
      const std::uint64_t length =
          (std::uint64_t(c[0]) << 24) | (std::uint64_t(c[1]) << 16) | (std::uint64_t(c[2]) << 8) | c[3];
      MCSC_REQUIRE(length < (std::uint64_t(1) << 31) && at + 12 + length <= size, fn,
                   "cannot read '" << path << "': damaged or truncated PNG (a chunk at byte " << at << " announces "
                                   << length << " bytes, the file has " << size << ")");
      if (std::memcmp(c + 4, "IEND", 4) == 0) break;
      at += 12 + length;
    }
    return;
  }
  if (h[0] != 'B' || h[1] != 'M') return;
  const std::uint32_t offset = read_le(h, 10, 4), header = read_le(h, 14, 4);
  std::int64_t width, height;
  std::uint32_t bpp, compression = 0;
  if (header == 12) {  // OS/2 BITMAPCOREHEADER
    width = std::int16_t(read_le(h, 18, 2));
    height = std::int16_t(read_le(h, 20, 2));
    bpp = read_le(h, 24, 2);
  } else {
    width = std::int32_t(read_le(h, 18, 4));
    height = std::int32_t(read_le(h, 22, 4));
    bpp = read_le(h, 28, 2);
    compression = read_le(h, 30, 4);
  }
  const bool uncompressed = compression == 0 || compression == 3 || compression == 6;
  const bool known_depth = bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32;
  if (!uncompressed || !known_depth || width <= 0 || height == 0 || width > (1 << 24) || std::llabs(height) > (1 << 24))
    return;  // stb decides (and rejects what it cannot read)
  const std::uint64_t row = (std::uint64_t(bpp) * std::uint64_t(width) + 31) / 32 * 4;
  const std::uint64_t needed = std::uint64_t(offset) + row * std::uint64_t(std::llabs(height));
  MCSC_REQUIRE(size >= needed, fn,
               "cannot read '" << path << "': truncated BMP (" << size << " bytes, its header announces "
                               << width << "x" << std::llabs(height) << " at " << bpp << " bits from byte "
                               << offset << ", i.e. " << needed << " bytes)");
}
}  // namespace Impl

/// How read_image scales the samples.
enum class PixelScale {
  unit,  ///< divided by the largest sample value (255 or 65535): values in [0, 1]
  file,  ///< the file's own integer values (0..255 for 8-bit files, 0..65535 for 16-bit ones,
         ///< e.g. depth in millimetres or disparity x 256 in 16-bit depth PNGs)
};

/// Reads an image file (PNG 8 or 16 bit, JPEG, BMP, and the other formats stb_image reads) with
/// its own channel count (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA), values scaled to [0, 1]
/// (PixelScale::unit, the default) or in the file's own integer units (PixelScale::file).
/// Throws mcsc::Error naming the path and the reason for a missing file, a directory, and (with
/// stb's reason) an unreadable, truncated or unsupported file and an empty (0 x 0) image.
inline Image read_image(const std::string& path, PixelScale scale = PixelScale::unit) {
  MCSC_REQUIRE(!path.empty(), "mcsc::read_image", "empty path");
  Impl::check_image_file("mcsc::read_image", path);
  const bool unit = scale == PixelScale::unit;
  const bool sixteen_bit = stbi_is_16_bit(path.c_str()) != 0;
  int width = 0, height = 0, channels = 0;
  if (stbi_info(path.c_str(), &width, &height, &channels) && channels > 0) {
    // stb's samples (1 or 2 bytes) and the float image, before stb allocates (a small PNG can
    // decode to gigabytes: 20000x20000 RGB is 6 GB here). A BMP's height is negative for a
    // top-down image: stbi_info reports it as it is, stbi_load decodes |height| rows (a 53-byte
    // BMP announcing -131073 rows of 1029 asked for 1.6 GB past a check that took it as
    // negative), so the estimate uses the magnitudes.
    const long long w = std::llabs(width), h = std::llabs(height);
    const double samples = double(w) * double(h) * double(channels);
    require_memory("mcsc::read_image",
                   "'" + path + "' (" + std::to_string(w) + "x" + std::to_string(h) + "x" + std::to_string(channels) + ")",
                   samples * ((sixteen_bit ? 2 : 1) + sizeof(float)));
  }
  if (sixteen_bit) return Impl::load_scaled<stbi_us>(path, stbi_load_16, true, unit);
  return Impl::load_scaled<stbi_uc>(path, stbi_load, false, unit);
}

/// Writes `image` (1 to 4 channels) as an 8-bit PNG, values clamped to [0, 1] and rounded to the
/// nearest of 0..255; NaN/Inf pixels are refused. The file is written to a temporary file beside it
/// first and then renamed to `path` (write_file_atomically), so `path` is never left half-written. Throws mcsc::Error on failure.
inline void write_png(const std::string& path, const Image& image) {
  const char* fn = "mcsc::write_png";
  MCSC_REQUIRE(!path.empty(), fn, "empty path");
  Impl::check_image(fn, image);
  Impl::check_finite_pixels(fn, path, image);
  MCSC_REQUIRE(image.channels <= 4, fn,
               "cannot write '" << path << "': PNG holds 1 to 4 channels, the image has " << image.channels);
  std::vector<unsigned char> bytes(image.pixels.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const float v = image.pixels[i];
    const float clamped = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
    bytes[i] = static_cast<unsigned char>(std::lround(clamped * 255.0f));
  }
  write_file_atomically(fn, path, [&](const std::string& tmp) {
    return stbi_write_png(tmp.c_str(), image.width, image.height, image.channels, bytes.data(),
                          image.width * image.channels) != 0;
  });
}

namespace Impl {
/// CRC-32 (ISO 3309 / PNG, polynomial 0xEDB88320) of `n` bytes, continuing from `crc`.
inline std::uint32_t png_crc32(const unsigned char* data, std::size_t n, std::uint32_t crc = 0) {
  static const auto table = [] {
    std::vector<std::uint32_t> t(256);
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

inline void put_be32(std::vector<unsigned char>& out, std::uint32_t v) {
  for (int k = 3; k >= 0; --k) out.push_back(static_cast<unsigned char>((v >> (8 * k)) & 0xFFu));
}

/// Appends the PNG chunk `type` with `data` (length, type, data, CRC of type + data).
inline void png_chunk(std::vector<unsigned char>& out, const char* type, const std::vector<unsigned char>& data) {
  put_be32(out, std::uint32_t(data.size()));
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  put_be32(out, png_crc32(out.data() + start, out.size() - start));
}

/// A zlib stream (RFC 1950) of `raw` in deflate "stored" blocks (RFC 1951, BTYPE 00, at most
/// 65535 bytes each): header 0x78 0x01, the blocks, the Adler-32 of `raw`.
inline std::vector<unsigned char> zlib_stored(const std::vector<unsigned char>& raw) {
  std::vector<unsigned char> z{0x78, 0x01};
  z.reserve(raw.size() + raw.size() / 65535 * 5 + 16);
  std::size_t pos = 0;
  do {
    const std::size_t len = std::min<std::size_t>(65535, raw.size() - pos);
    const bool last = pos + len == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<unsigned char>(len & 0xFFu));
    z.push_back(static_cast<unsigned char>(len >> 8));
    z.push_back(static_cast<unsigned char>(~len & 0xFFu));
    z.push_back(static_cast<unsigned char>((~len >> 8) & 0xFFu));
    z.insert(z.end(), raw.begin() + std::ptrdiff_t(pos), raw.begin() + std::ptrdiff_t(pos + len));
    pos += len;
  } while (pos < raw.size());
  std::uint32_t s1 = 1, s2 = 0;
  for (unsigned char byte : raw) {
    s1 = (s1 + byte) % 65521u;
    s2 = (s2 + s1) % 65521u;
  }
  put_be32(z, (s2 << 16) | s1);
  return z;
}
}  // namespace Impl

/// Writes `image` (1 to 4 channels: gray, gray + alpha, RGB, RGBA) as a 16-bit PNG. With
/// PixelScale::unit (default) the values are clamped to [0, 1] and stored as round(v * 65535);
/// with PixelScale::file they are clamped to [0, 65535] and rounded (e.g. depth in millimetres).
/// NaN is written as 0. read_image(path, scale) with the same scale gives back exactly the
/// values read from a 16-bit PNG. Uncompressed (see the file comment). Written to
/// a temporary file and renamed, as write_png. Throws mcsc::Error on failure.
inline void write_png16(const std::string& path, const Image& image, PixelScale scale = PixelScale::unit) {
  const char* fn = "mcsc::write_png16";
  MCSC_REQUIRE(!path.empty(), fn, "empty path");
  Impl::check_image(fn, image);
  Impl::check_finite_pixels(fn, path, image);
  MCSC_REQUIRE(image.channels <= 4, fn,
               "cannot write '" << path << "': PNG holds 1 to 4 channels, the image has " << image.channels);
  const std::uint64_t row_bytes = 1 + 2 * std::uint64_t(image.width) * std::uint64_t(image.channels);
  MCSC_REQUIRE(row_bytes * std::uint64_t(image.height) < (std::uint64_t(1) << 31) - 4096, fn,
               "cannot write '" << path << "': " << image.width << "x" << image.height << "x" << image.channels
                                << " is too large for one uncompressed PNG data chunk");
  const float top = scale == PixelScale::unit ? 1.0f : 65535.0f;
  const float factor = scale == PixelScale::unit ? 65535.0f : 1.0f;
  std::vector<unsigned char> raw;
  raw.reserve(std::size_t(row_bytes) * std::size_t(image.height));
  for (int r = 0; r < image.height; ++r) {
    raw.push_back(0);  // filter type None
    for (int c = 0; c < image.width; ++c)
      for (int ch = 0; ch < image.channels; ++ch) {
        const float v = image.at(r, c, ch);
        const float clamped = v > 0.0f ? (v < top ? v : top) : 0.0f;
        const long q = std::lround(double(clamped) * double(factor));
        const unsigned value = unsigned(q < 0 ? 0 : (q > 65535 ? 65535 : q));
        raw.push_back(static_cast<unsigned char>(value >> 8));
        raw.push_back(static_cast<unsigned char>(value & 0xFFu));
      }
  }
  std::vector<unsigned char> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<unsigned char> ihdr;
  Impl::put_be32(ihdr, std::uint32_t(image.width));
  Impl::put_be32(ihdr, std::uint32_t(image.height));
  static const unsigned char colour_type[5] = {0, 0, 4, 2, 6};  // by channel count
  ihdr.insert(ihdr.end(), {16, colour_type[image.channels], 0, 0, 0});
  Impl::png_chunk(png, "IHDR", ihdr);
  Impl::png_chunk(png, "IDAT", Impl::zlib_stored(raw));
  Impl::png_chunk(png, "IEND", {});

  write_file_atomically(fn, path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(png.data()), std::streamsize(png.size()));
    out.close();  // a failure to close is a failed write too
    return !out.fail();
  });
}

/// The one rule for images with an alpha channel (gray + alpha, RGBA), which every loader of the
/// examples applies first: a fully opaque alpha (all 1) is dropped, leaving gray or RGB; an image
/// with any transparent pixel is refused, naming `path` (what lies behind transparent pixels is
/// not part of the image: composite it onto a background first). Images without alpha are
/// returned as they are. For images read in PixelScale::unit (opaque = 1.0).
inline Image drop_opaque_alpha(const Image& image, const std::string& path) {
  const char* fn = "mcsc::drop_opaque_alpha";
  Impl::check_image(fn, image);
  if (image.channels != 2 && image.channels != 4) return image;
  const int colour = image.channels - 1;
  std::size_t transparent = 0;
  for (int r = 0; r < image.height; ++r)
    for (int c = 0; c < image.width; ++c) transparent += image.at(r, c, colour) < 1.0f ? 1 : 0;
  MCSC_REQUIRE(transparent == 0, fn,
               "'" << path << "' has " << transparent << " transparent pixel(s) (alpha < 1): composite it onto a "
                   "background first (e.g. convert IN -background white -flatten OUT)");
  Image out = make_image(image.width, image.height, colour);
  out.sixteen_bit = image.sixteen_bit;
  for (int r = 0; r < image.height; ++r)
    for (int c = 0; c < image.width; ++c)
      for (int ch = 0; ch < colour; ++ch) out.at(r, c, ch) = image.at(r, c, ch);
  return out;
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
