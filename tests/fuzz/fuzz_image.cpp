// libFuzzer harness: images (mcsc::read_image: PNG 8/16 bit, JPEG, BMP, the formats stb_image
// reads), as the task programs and mcsc-infer load them. Seeds: the PNG/JPEG files of
// ../shared/data and crafted BMP headers (cmake/fuzz.sh).
#include "fuzz_common.hpp"
#include "mcsc/data/image_io.hpp"

namespace {
// Seeds: a 5x3 image as 8-bit and 16-bit PNG (grey and RGB), BMP and JPEG.
void write_seeds(const std::string& dir) {
  for (const int channels : {1, 3}) {
    mcsc::Image im = mcsc::make_image(5, 3, channels);
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = float(i % 7) / 6.f;
    const std::string c = std::to_string(channels);
    mcsc::write_png(dir + "/png8_" + c, im);
    mcsc::write_png16(dir + "/png16_" + c, im);
    std::vector<unsigned char> bytes(im.pixels.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(255 * im.pixels[i]);
    stbi_write_bmp((dir + "/bmp_" + c).c_str(), 5, 3, channels, bytes.data());
    stbi_write_jpg((dir + "/jpg_" + c).c_str(), 5, 3, channels, bytes.data(), 90);
  }
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = mcsc_fuzz::write_input(data, size, ".img");
  for (const auto scale : {mcsc::PixelScale::unit, mcsc::PixelScale::file})
    mcsc_fuzz::expect_clear_error([&] {
      const mcsc::Image im = mcsc::read_image(path, scale);
      if (im.width <= 0 || im.height <= 0 || im.channels < 1 || im.channels > 4 ||
          im.pixels.size() != std::size_t(im.width) * std::size_t(im.height) * std::size_t(im.channels))
        std::abort();
    });
  return 0;
}
