// libFuzzer harness: mcsc-solve's array inputs (examples/solver_common.hpp read_array): a raw
// float32 .f32 file with its shape given as text (--dictionary-shape / --image-shape), or a .npy
// file. The input's first line is the shape text, the rest the file; the first byte after the
// line chooses .f32 or .npy. Both refusals are clear: mcsc::Error for bad data, mcsc_cli::UsageError
// (exit 2 in the programs) for a bad shape option.
#include "fuzz_common.hpp"
#include "../../examples/solver_common.hpp"

namespace {
// Seeds: shapes of every accepted spelling with raw data of the right and of the wrong size.
void write_seeds(const std::string& dir) {
  const std::string data36(36, '\0'), data32(32, '\x01');
  std::ofstream(dir + "/raw3x3", std::ios::binary) << "3x3\n" << '\0' << data36;
  std::ofstream(dir + "/raw_comma", std::ios::binary) << "2,2,2\n" << '\0' << data32;
  std::ofstream(dir + "/raw_paren", std::ios::binary) << "(2, 2, 2)\n" << '\0' << data36;
  std::ofstream(dir + "/raw_big", std::ios::binary) << "99999999999x99999999x9\n" << '\0' << data32;
  std::ofstream(dir + "/npy", std::ios::binary) << "\n" << '\x01' << "\x93NUMPY";
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::size_t line = 0;
  while (line < size && data[line] != '\n') ++line;
  const std::string shape(reinterpret_cast<const char*>(data), line);
  const std::size_t start = line < size ? line + 1 : size;
  const bool npy = start < size && (data[start] & 1);
  const std::string path = mcsc_fuzz::write_input(data + start, size - start, npy ? ".npy" : ".f32");
  try {
    const auto a = mcsc_examples::read_array(path, shape, "--dictionary");
    if (std::size_t(mcsc_fuzz::expected_count(a.shape)) != a.values.size()) std::abort();
  } catch (const mcsc::Error&) {
  } catch (const mcsc_cli::UsageError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcsc fuzz: not an mcsc::Error: %s\n", e.what());
    std::abort();
  }
  return 0;
}
