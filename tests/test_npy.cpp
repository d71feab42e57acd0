// .npy reading and writing (include/mcsc/io/npy.hpp): round trips in float32 and float64, the
// header variants NumPy writes (versions 1.0 / 2.0, 0-d and 1-d shapes), and clear errors for
// bad files.
#include "test_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "mcsc/io/npy.hpp"

namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("mcsc_test_npy_" + std::to_string(::getpid()) + "_" + name)).string();
}

/// Writes raw bytes to a file.
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

/// A .npy file by hand: magic, version, header (padded to 64 with '\n'), then `data`.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  const std::size_t unpadded = pre + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6);
  out += char(major);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char((header.size() >> 8) & 0xff);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

template <class T>
std::string data_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

struct Cleanup {
  std::vector<std::string> paths;
  ~Cleanup() {
    for (const auto& p : paths) std::remove(p.c_str());
  }
};

}  // namespace

TEST_CASE("write_npy / read_npy round trip in float32 and float64", "[npy]") {
  Cleanup cleanup;
  const std::vector<double> values = {1.5, -2.25, 3.0e-8, 4.0e7, 0.0, -0.0, 7.125, 1.0 / 3.0, -5.5, 6.0, 8.0, 9.0};
  const std::vector<std::int64_t> shape = {2, 3, 2};
  for (bool f64 : {false, true}) {
    CAPTURE(f64);
    const std::string path = temp_path(f64 ? "rt64.npy" : "rt32.npy");
    cleanup.paths.push_back(path);
    mcsc::write_npy(path, shape, values, f64);
    // The data start at a multiple of 64 bytes, as NumPy aligns them.
    CHECK(fs::file_size(path) % 64 == (values.size() * (f64 ? 8 : 4)) % 64);
    const auto a = mcsc::read_npy<double>(path);
    CHECK(a.shape == shape);
    CHECK(a.dtype == (f64 ? "<f8" : "<f4"));
    REQUIRE(a.values.size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      CHECK(a.values[i] == (f64 ? values[i] : double(float(values[i]))));
    const auto b = mcsc::read_npy<float>(path);
    for (std::size_t i = 0; i < values.size(); ++i) CHECK(b.values[i] == float(values[i]));
  }
}

TEST_CASE("read_npy accepts the header forms NumPy writes", "[npy]") {
  Cleanup cleanup;
  const std::string path = temp_path("forms.npy");
  cleanup.paths.push_back(path);
  const std::vector<float> six = {1, 2, 3, 4, 5, 6};
  SECTION("version 1.0, 2-d") {
    write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data_bytes(six)));
    const auto a = mcsc::read_npy<float>(path);
    CHECK(a.shape == std::vector<std::int64_t>{2, 3});
    CHECK(a.values == six);
  }
  SECTION("version 2.0, 1-d, keys in another order, double quotes") {
    write_bytes(path, npy_bytes("{\"shape\": (6,), \"fortran_order\": False, \"descr\": \"<f4\"}", data_bytes(six), 2));
    const auto a = mcsc::read_npy<float>(path);
    CHECK(a.shape == std::vector<std::int64_t>{6});
    CHECK(a.values == six);
  }
  SECTION("0-d array") {
    write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                                data_bytes(std::vector<double>{2.5})));
    const auto a = mcsc::read_npy<double>(path);
    CHECK(a.shape.empty());
    CHECK(a.size() == 1);
    CHECK(a.values == std::vector<double>{2.5});
  }
  SECTION("empty array") {
    write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", ""));
    const auto a = mcsc::read_npy<float>(path);
    CHECK(a.size() == 0);
    CHECK(a.values.empty());
  }
}

TEST_CASE("read_npy_tensor reads into an (N, C, H, W) tensor and checks the count", "[npy]") {
  Cleanup cleanup;
  const std::string path = temp_path("tensor.npy");
  cleanup.paths.push_back(path);
  std::vector<float> values(2 * 3 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = float(i) - 3.5f;
  mcsc::write_npy(path, {2, 3, 4}, values);
  const auto t = mcsc::read_npy_tensor<float, Kokkos::DefaultExecutionSpace>(path, mcsc::Shape4{1, 2, 3, 4});
  const auto h = mcsc::to_host(t);
  CHECK(h(0, 1, 2, 3) == values[1 * 12 + 2 * 4 + 3]);
  CHECK(h(0, 0, 0, 0) == values[0]);
  CHECK_THROWS_WITH((mcsc::read_npy_tensor<float, Kokkos::DefaultExecutionSpace>(path, mcsc::Shape4{1, 2, 3, 5})),
                    Catch::Contains("holds (2, 3, 4) = 24 values, expected"));
  // write_npy_tensor writes the 4-d shape.
  const std::string path4 = temp_path("tensor4.npy");
  cleanup.paths.push_back(path4);
  mcsc::write_npy_tensor(path4, t);
  const auto back = mcsc::read_npy<float>(path4);
  CHECK(back.shape == std::vector<std::int64_t>{1, 2, 3, 4});
  CHECK(back.values == values);
  // NaN is refused by read_npy_tensor (read_npy itself returns it).
  std::vector<float> bad = values;
  bad[5] = std::nanf("");
  mcsc::write_npy(path, {2, 3, 4}, bad);
  CHECK(std::isnan(mcsc::read_npy<float>(path).values[5]));
  CHECK_THROWS_WITH((mcsc::read_npy_tensor<float, Kokkos::DefaultExecutionSpace>(path, mcsc::Shape4{1, 2, 3, 4})),
                    Catch::Contains("NaN/Inf"));
}

TEST_CASE("read_npy refuses bad files with clear messages", "[npy]") {
  Cleanup cleanup;
  const std::string path = temp_path("bad.npy");
  cleanup.paths.push_back(path);
  const std::string six = data_bytes(std::vector<float>{1, 2, 3, 4, 5, 6});
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

  CHECK_THROWS_WITH(mcsc::read_npy<float>(temp_path("does_not_exist.npy")), Catch::Contains("cannot read"));

  write_bytes(path, "PK\x03\x04 this is a zip, not a .npy file");
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("bad magic"));

  write_bytes(path, "\x93NUM");
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("bad magic"));

  std::string v9 = npy_bytes(dict, six);
  v9[6] = 9;
  write_bytes(path, v9);
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("version 9.0"));

  const std::string full = npy_bytes(dict, six);
  write_bytes(path, full.substr(0, full.size() - 3));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("truncated"));

  write_bytes(path, full.substr(0, 40));  // inside the header
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("truncated header"));

  write_bytes(path, full + "xx");
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("trailing bytes"));

  write_bytes(path, npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("unsupported dtype '<i4'"));

  write_bytes(path, npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("unsupported dtype '>f4'"));

  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("Fortran-order"));

  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("malformed header"));

  write_bytes(path, npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("lacks"));

  // Dimensions need a comma between them (tests/fuzz/fuzz_npy.cpp found "(15 0961176, ...)" read
  // as two dimensions).
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }", six));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("malformed header (bad shape)"));
  // An empty array with huge other dimensions is an empty array (numpy allows it), and its size()
  // is 0, not an overflow.
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776, 0), }", {}));
  const auto empty = mcsc::read_npy<float>(path);
  CHECK(empty.values.empty());
  CHECK(empty.size() == 0);
}

TEST_CASE("shapes whose size overflows are refused before anything is read or allocated", "[npy][errors]") {
  Cleanup cleanup;
  const std::string path = temp_path("overflow.npy");
  cleanup.paths.push_back(path);
  // 2^31 x 2^31 x 4 float32 values: 2^64 bytes, which wraps int64 to 0 bytes, so an unchecked
  // reader would accept an empty data section and index past it.
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 2147483648, 4), }", ""));
  CHECK_THROWS_WITH(mcsc::read_npy<float>(path), Catch::Contains("overflows"));
  write_bytes(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (65536, 65536, 65536, 65536), }", ""));
  CHECK_THROWS_WITH(mcsc::read_npy<double>(path), Catch::Contains("overflows"));
  // A zero dimension makes an empty array however large the others are.
  write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 281474976710656), }", ""));
  CHECK(mcsc::read_npy<float>(path).values.empty());

  const std::vector<int> ok = {3, 4, 5};
  CHECK(mcsc::checked_element_count("t", "ok", ok, 8) == 60);
  const std::vector<std::int64_t> huge = {std::int64_t(1) << 40, std::int64_t(1) << 20};
  CHECK(mcsc::checked_element_count("t", "huge", huge, 4) == std::int64_t(1) << 60);
  CHECK_THROWS_WITH(mcsc::checked_element_count("t", "huge", huge, 8), Catch::Contains("huge: the shape's size overflows"));
  const std::vector<std::int64_t> negative = {4, -2};
  CHECK_THROWS_WITH(mcsc::checked_element_count("t", "neg", negative), Catch::Contains("neg: negative dimension -2"));
}
