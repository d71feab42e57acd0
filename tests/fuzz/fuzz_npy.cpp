// libFuzzer harness: .npy arrays (mcsc::read_npy), the reader of mcsc-solve's --dictionary and
// --signal. Seeds: the .npy files of ../shared/bench and crafted headers (cmake/fuzz.sh).
#include "fuzz_common.hpp"
#include "mcsc/io/npy.hpp"

namespace {
// Seeds: small valid arrays (float32, float64, 0-d, 3-d) and a header announcing 2^40 x 2^40.
void write_seeds(const std::string& dir) {
  mcsc::write_npy<float>(dir + "/f4", {2, 3}, {1, 2, 3, 4, 5, 6});
  mcsc::write_npy<double>(dir + "/f8", {3}, {1, 2, 3});
  mcsc::write_npy<float>(dir + "/scalar", {}, {7});
  mcsc::write_npy<float>(dir + "/cube", {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += char(header.size() & 0xff);
  bytes += char(header.size() >> 8);
  std::ofstream(dir + "/huge", std::ios::binary) << bytes << header << std::string(16, '\0');
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = mcsc_fuzz::write_input(data, size, ".npy");
  mcsc_fuzz::expect_clear_error([&] {
    const auto a = mcsc::read_npy<float>(path);
    // The array is what the header says: the element count matches the shape.
    const std::int64_t count = mcsc_fuzz::expected_count(a.shape);
    if (std::size_t(count) != a.values.size() || a.size() != count) std::abort();
  });
  mcsc_fuzz::expect_clear_error([&] { (void)mcsc::read_npy<double>(path); });
  return 0;
}
