// Image I/O (data/image_io.hpp): every image of the shared data set reads with positive sizes
// and finite values in [0, 1]; broken files give mcsc::Error with a clear message, never a crash;
// 16-bit PNG write / read round trips are exact; the examples' pair loader rejects pairs whose
// sizes differ.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <stb/stb_image_write.h>
#include <unistd.h>

#include "mcsc/data/image_io.hpp"
#include "test_common.hpp"

#if __has_include(<boost/program_options.hpp>)
#include "../examples/dataset.hpp"
#define MCSC_TEST_HAVE_DATASET 1
#endif

using namespace mcsc;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

using mcsc_test::shared_dir;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool is_image_name(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

/// A fresh temporary folder, removed at the end of the scope.
struct TempDir {
  fs::path path;
  TempDir() {
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path = fs::temp_directory_path() / ("mcsc_test_image_io_" + std::to_string(stamp) + "_" + std::to_string(std::rand()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// An image of noise (so that compression cannot shrink it much), values k / 255.
Image noise_image(int width, int height, int channels, unsigned seed) {
  Image im = make_image(width, height, channels);
  std::mt19937 gen(seed);
  for (float& v : im.pixels) v = float(gen() % 256) / 255.0f;
  return im;
}

/// The 8-bit samples of an image with values k / 255.
std::vector<unsigned char> bytes_of(const Image& im) {
  std::vector<unsigned char> b(im.pixels.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<unsigned char>(std::lround(im.pixels[i] * 255));
  return b;
}

/// A PNG made of the signature, an IHDR with the given fields, an empty IDAT and IEND (valid
/// CRCs), i.e. a well-formed container around a nonsense header.
std::vector<unsigned char> png_with_header(std::uint32_t width, std::uint32_t height) {
  std::vector<unsigned char> png{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<unsigned char> ihdr;
  Impl::put_be32(ihdr, width);
  Impl::put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  Impl::png_chunk(png, "IHDR", ihdr);
  Impl::png_chunk(png, "IDAT", Impl::zlib_stored({0}));
  Impl::png_chunk(png, "IEND", {});
  return png;
}

void require_read_error(const std::string& path, const std::string& reason) {
  CAPTURE(path, reason);
  try {
    (void)read_image(path);
    FAIL("read_image did not throw");
  } catch (const mcsc::Error& e) {
    const std::string what = e.what();
    CAPTURE(what);
    REQUIRE(what.find("mcsc::read_image") != std::string::npos);
    REQUIRE(what.find(path) != std::string::npos);
    REQUIRE(what.find(reason) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("every image of the shared data set reads, with finite values in [0, 1]", "[image_io][shared]") {
  const fs::path root = fs::path(shared_dir()) / "data";
  if (!fs::is_directory(root)) {
    MCSC_SHARED_MISSING("no shared data at " << root.string());
  }
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file() || !is_image_name(entry.path())) continue;
    const std::string path = entry.path().string();
    CAPTURE(path);
    const Image im = read_image(path);
    REQUIRE(im.width > 0);
    REQUIRE(im.height > 0);
    REQUIRE((im.channels >= 1 && im.channels <= 4));
    REQUIRE(im.pixels.size() == std::size_t(im.width) * im.height * im.channels);
    float lo = 1, hi = 0;
    bool finite = true;
    for (float v : im.pixels) {
      finite = finite && std::isfinite(v);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    REQUIRE(finite);
    REQUIRE(lo >= 0.0f);
    REQUIRE(hi <= 1.0f);
    REQUIRE(hi > lo);  // none of them is blank
    ++count;
  }
  INFO("read " << count << " images under " << root.string());
  REQUIRE(count >= 10);
  // File units: the 8-bit depth maps read as their integer values 0..255.
  const fs::path depth = root / "depth" / "middlebury2005_art_gt.png";
  if (fs::exists(depth)) {
    const Image unit = read_image(depth.string()), raw = read_image(depth.string(), PixelScale::file);
    REQUIRE(!raw.sixteen_bit);
    REQUIRE(raw.pixels.size() == unit.pixels.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < raw.pixels.size(); ++i)
      bad += raw.pixels[i] != std::round(raw.pixels[i]) || std::abs(raw.pixels[i] / 255.0f - unit.pixels[i]) > 1e-6f;
    REQUIRE(bad == 0);
  }
}

TEST_CASE("broken image files give mcsc::Error with a clear message", "[image_io][errors]") {
  TempDir tmp;
  const Image im = noise_image(24, 16, 3, 1);
  const auto bytes = bytes_of(im);
  // Real files of each format, written here (and a real JPEG of the shared set when present).
  const std::string png = tmp / "good.png", jpg = tmp / "good.jpg", bmp = tmp / "good.bmp";
  write_png(png, im);
  REQUIRE(stbi_write_jpg(jpg.c_str(), im.width, im.height, im.channels, bytes.data(), 90) != 0);
  REQUIRE(stbi_write_bmp(bmp.c_str(), im.width, im.height, im.channels, bytes.data()) != 0);
  for (const std::string& good : {png, jpg, bmp}) REQUIRE(read_image(good).width == 24);
  std::vector<std::string> sources = {png, jpg, bmp};
  const std::string shared_jpg = (fs::path(shared_dir()) / "data" / "multi_exposure" / "merianos_flowers_1_dark.jpg").string();
  if (fs::exists(shared_jpg)) sources.push_back(shared_jpg);

  // The first half of each file.
  for (std::size_t k = 0; k < sources.size(); ++k) {
    const auto full = read_bytes(sources[k]);
    const std::string half = tmp / ("half_" + std::to_string(k) + fs::path(sources[k]).extension().string());
    write_bytes(half, std::vector<unsigned char>(full.begin(), full.begin() + std::ptrdiff_t(full.size() / 2)));
    require_read_error(half, "");
  }
  require_read_error(tmp / "half_2.bmp", "truncated BMP");
  // A PNG chunk announcing more bytes than the file holds is refused before stb sizes a buffer
  // by it (tests/fuzz/fuzz_image.cpp: 87 bytes made stb allocate 1.4 GB; the input is committed).
  {
    auto damaged = read_bytes(png);
    damaged[33] = 0x7f;  // the first chunk after IHDR (at byte 33) now announces about 2 GB
    const std::string path = tmp / "long_chunk.png";
    write_bytes(path, damaged);
    require_read_error(path, "damaged or truncated PNG");
    const std::string fuzzed = (fs::path(__FILE__).parent_path() / "fuzz" / "corpus" / "image" / "png_chunk_1_4gb").string();
    require_read_error(fuzzed, "damaged or truncated PNG");
  }

  const std::string empty = tmp / "empty.png";
  write_bytes(empty, {});
  require_read_error(empty, "cannot read");

  const std::string text = tmp / "text.png";
  write_bytes(text, {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e', '\n'});
  require_read_error(text, "cannot read");

  // A PNG whose signature is damaged.
  auto wrong_magic = read_bytes(png);
  wrong_magic[1] = 'X';
  write_bytes(tmp / "magic.png", wrong_magic);
  require_read_error(tmp / "magic.png", "cannot read");

  // Well-formed containers around nonsense headers: 0 x 0, and 2^31 - 1 squared pixels.
  write_bytes(tmp / "zero.png", png_with_header(0, 0));
  require_read_error(tmp / "zero.png", "cannot read");
  write_bytes(tmp / "huge.png", png_with_header(0x7FFFFFFFu, 0x7FFFFFFFu));
  require_read_error(tmp / "huge.png", "cannot read");
  // A BMP header announcing 0 x 0 pixels.
  auto zero_bmp = read_bytes(bmp);
  for (int k = 18; k < 26; ++k) zero_bmp[std::size_t(k)] = 0;
  write_bytes(tmp / "zero.bmp", zero_bmp);
  require_read_error(tmp / "zero.bmp", "");

  fs::create_directories(tmp.path / "folder.png");
  require_read_error(tmp / "folder.png", "directory");
  require_read_error(tmp / "missing.png", "no such file");
  REQUIRE_THROWS_WITH(read_image(""), Contains("empty path"));
}

TEST_CASE("16-bit PNG: write / read round trips are exact", "[image_io][png16]") {
  TempDir tmp;
  for (int channels = 1; channels <= 4; ++channels) {
    CAPTURE(channels);
    // 203 x 97 x channels x 2 bytes: several 65535-byte stored blocks from 2 channels on.
    Image im = make_image(203, 97, channels);
    std::mt19937 gen(static_cast<unsigned>(channels));
    for (float& v : im.pixels) v = float(gen() % 65536);
    im.pixels[0] = 0;
    im.pixels[1] = 65535;
    im.pixels[2] = 256;
    const std::string path = tmp / ("depth" + std::to_string(channels) + ".png");
    write_png16(path, im, PixelScale::file);
    REQUIRE(!fs::exists(temporary_path_for(path)));
    const Image raw = read_image(path, PixelScale::file);
    REQUIRE(raw.sixteen_bit);
    REQUIRE(raw.width == 203);
    REQUIRE(raw.height == 97);
    REQUIRE(raw.channels == channels);
    REQUIRE(raw.pixels == im.pixels);
    // The same file in [0, 1] units, and back again: exact.
    const Image unit = read_image(path);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < unit.pixels.size(); ++i) bad += std::abs(unit.pixels[i] - im.pixels[i] / 65535.0f) > 1e-7f;
    REQUIRE(bad == 0);
    const std::string again = tmp / ("again" + std::to_string(channels) + ".png");
    write_png16(again, unit);
    REQUIRE(read_image(again).pixels == unit.pixels);
    REQUIRE(read_image(again, PixelScale::file).pixels == im.pixels);
  }
  // Values are clamped; uncompressed: about 2 bytes per sample.
  Image odd = make_image(3, 1, 1);
  odd.pixels = {-0.5f, 2.0f, 0.25f};
  write_png16(tmp / "odd.png", odd);
  REQUIRE(read_image(tmp / "odd.png", PixelScale::file).pixels == std::vector<float>{0, 65535, 16384});
  // NaN/Inf pixels are refused (they used to be written as 0 or clamped: a black image, exit 0).
  for (const float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    Image poisoned = odd;
    poisoned.pixels[1] = bad;
    REQUIRE_THROWS_WITH(write_png16(tmp / "poisoned.png", poisoned), Contains("refusing to write") && Contains("1 of 3 pixel values are NaN/Inf"));
    REQUIRE_THROWS_WITH(write_png(tmp / "poisoned.png", poisoned), Contains("mcsc::write_png") && Contains("NaN/Inf"));
    REQUIRE(!fs::exists(tmp / "poisoned.png"));
  }
  REQUIRE(fs::file_size(tmp / "depth1.png") > 2 * 203 * 97);
  // 8-bit PNG in file units.
  const Image im8 = noise_image(5, 4, 2, 3);
  write_png(tmp / "eight.png", im8);
  const Image raw8 = read_image(tmp / "eight.png", PixelScale::file);
  REQUIRE(!raw8.sixteen_bit);
  for (std::size_t i = 0; i < raw8.pixels.size(); ++i) REQUIRE(raw8.pixels[i] == std::round(im8.pixels[i] * 255));
  // Errors.
  REQUIRE_THROWS_WITH(write_png16(tmp / "five.png", make_image(2, 2, 5)), Contains("mcsc::write_png16") && Contains("1 to 4"));
  REQUIRE_THROWS_WITH(write_png16(tmp / "no_such_folder/x.png", odd), Contains("mcsc::write_png16") && Contains("cannot write"));
  REQUIRE_THROWS_WITH(write_png16("", odd), Contains("empty path"));
  Image broken = make_image(2, 2, 1);
  broken.pixels.pop_back();
  REQUIRE_THROWS_WITH(write_png16(tmp / "broken.png", broken), Contains("holds 3 values"));
}

TEST_CASE("the examples' pair loader rejects images of different sizes", "[image_io][pairs]") {
#if defined(MCSC_TEST_HAVE_DATASET)
  TempDir tmp;
  write_png(tmp / "scene_nir.png", noise_image(16, 12, 1, 4));
  write_png(tmp / "scene_rgb.png", noise_image(16, 11, 3, 5));
  write_png(tmp / "other_nir.png", noise_image(8, 8, 1, 6));
  write_png(tmp / "other_rgb.png", noise_image(8, 8, 3, 7));
  const auto pairs = mcsc_examples::find_pairs(tmp.path.string(), "nir", "rgb");
  REQUIRE(pairs.size() == 2);
  REQUIRE(pairs[1].stem == "scene");
  mcsc_examples::Degradation d;
  d.kind = "noise";
  const auto ok = mcsc_examples::load_sample(pairs[0], 1, d, 0);
  REQUIRE(ok.target.extent(2) == 8);
  REQUIRE_THROWS_WITH(mcsc_examples::load_sample(pairs[1], 1, d, 0),
                      Contains("16x12") && Contains("16x11") && Contains("aligned"));
  REQUIRE_THROWS_AS(mcsc_examples::load_sample(pairs[1], 1, d, 0), mcsc::Error);
#else
  WARN("Boost.Program_options headers not found: examples/dataset.hpp not tested");
#endif
}

TEST_CASE("one alpha rule for every loader: an opaque alpha is dropped, transparency is refused", "[image_io][errors]") {
  using mcsc::drop_opaque_alpha;
  for (const int colour : {1, 3}) {
    CAPTURE(colour);
    Image im = make_image(3, 2, colour + 1);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) {
        for (int ch = 0; ch < colour; ++ch) im.at(r, c, ch) = 0.1f * float(r + c + ch);
        im.at(r, c, colour) = 1.0f;
      }
    const Image out = drop_opaque_alpha(im, "a.png");
    REQUIRE(out.channels == colour);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c)
        for (int ch = 0; ch < colour; ++ch) REQUIRE(out.at(r, c, ch) == im.at(r, c, ch));
    im.at(1, 2, colour) = 0.5f;
    REQUIRE_THROWS_WITH(drop_opaque_alpha(im, "a.png"), Contains("'a.png' has 1 transparent pixel(s)"));
  }
  const Image rgb = make_image(2, 2, 3);
  REQUIRE(drop_opaque_alpha(rgb, "b.png").channels == 3);
}

TEST_CASE("an image that would not fit the memory budget is refused before it is decoded", "[image_io][errors]") {
  // A PNG whose header announces 20000x20000 grey pixels and holds no data: 400 M samples, 2 GB
  // as stb's bytes plus the float image. stb decodes the header only (stbi_info) before the check.
  const fs::path tmp = fs::temp_directory_path() / ("mcsc_test_big_" + std::to_string(::getpid()) + ".png");
  {
    std::ofstream out(tmp, std::ios::binary);
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',          // signature
                                 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x4e, 0x20,    // length, width 20000
                                 0, 0, 0x4e, 0x20, 8, 0, 0, 0, 0, 0, 0, 0, 0,          // height, 8-bit grey, CRC
                                 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    out.write(reinterpret_cast<const char*>(png), sizeof png);
  }
  mcsc::set_memory_budget(std::uint64_t(1) << 30);
  CHECK_THROWS_WITH(read_image(tmp.string()), Contains("(20000x20000x1) needs about 2.0 GB, more than the 1.1 GB of the memory budget set"));
  mcsc::set_memory_budget(std::uint64_t(1) << 40);  // within the budget: stb then finds no pixel data
  CHECK_THROWS_WITH(read_image(tmp.string()), Contains("cannot read") && !Contains("needs"));
  mcsc::set_memory_budget(0);
  fs::remove(tmp);
  {
    // A top-down BMP (negative height) of 1029 x 131073 in 53 bytes (found by CI's fuzz_image,
    // tests/fuzz/corpus/image/bmp_negative_height_1p6gb): stbi_info reports the height as
    // negative and stb decodes |height| rows, so the check must use the magnitude (it took the
    // image as negative and let 1.6 GB through).
    const fs::path bmp = fs::temp_directory_path() / ("mcsc_test_bmp_" + std::to_string(::getpid()) + ".bmp");
    {
      std::ofstream out(bmp, std::ios::binary);
      const unsigned char bytes[] = {0x42, 0x4d, 0x66, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00,
                                     0x28, 0x00, 0x00, 0x00, 0x05, 0x04, 0x00, 0x00, 0xff, 0xff, 0xfd, 0xff, 0x01, 0x00,
                                     0x18, 0x00, 0x00, 0x2a, 0x00, 0xd4, 0xaa, 0x00, 0x00, 0x0e, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x7f, 0x2a, 0x00, 0xaa, 0x7f, 0x55, 0x00, 0xff, 0xd4, 0x00};
      out.write(reinterpret_cast<const char*>(bytes), sizeof bytes);
    }
    const mcsc_test::MemoryBudget budget(std::uint64_t(256) << 20);
    CHECK_THROWS_WITH(read_image(bmp.string()), Contains("(1029x131073x3) needs about 2.0 GB, more than the 268.4 MB of the memory budget set"));
    fs::remove(bmp);
  }
  CHECK(mcsc::parse_memory_size("8G") == std::uint64_t(8) << 30);
  CHECK(mcsc::parse_memory_size("512M") == std::uint64_t(512) << 20);
  CHECK(mcsc::parse_memory_size("100000") == 100000);
  CHECK(mcsc::parse_memory_size("1.5k") == 1536);
  CHECK(mcsc::parse_memory_size("lots") == 0);
  CHECK(mcsc::parse_memory_size("-3G") == 0);
  CHECK(mcsc::parse_memory_size("3Q") == 0);
  CHECK(mcsc::available_memory() > 0);
}
