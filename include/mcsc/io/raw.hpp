#pragma once
/// \file raw.hpp
/// Raw little-endian float32 arrays (C order, no header), as exported for fixtures and
/// benchmarks: read into / written from tensors, with clear errors for missing, short or long
/// files and for NaN/Inf.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "mcsc/core/tensor.hpp"
#include "mcsc/io/file.hpp"

namespace mcsc {

/// Reads exactly `count` float32 values from path.
inline std::vector<float> read_raw_f32(const std::string& path, std::size_t count) {
  const char* fn = "mcsc::read_raw_f32";
  require_regular_file(fn, path);
  MCSC_REQUIRE(count <= (std::size_t(1) << 60), fn,
               "'" << path << "': " << count << " float32 values cannot be read (the shape's size overflows)");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MCSC_REQUIRE(in.good(), fn, "cannot open '" << path << "'");
  const std::streamoff bytes = in.tellg();
  MCSC_REQUIRE(bytes == std::streamoff(count * sizeof(float)), fn,
               "'" << path << "' has " << bytes << " bytes, expected " << count * sizeof(float) << " (" << count
                   << " float32 values)" << (bytes < std::streamoff(count * sizeof(float)) ? ": truncated" : ""));
  std::vector<float> data(count);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(data.data()), std::streamsize(count * sizeof(float)));
  MCSC_REQUIRE(in.good(), fn, "read error in '" << path << "'");
  return data;
}

/// Reads a raw float32 file of the given shape into a new tensor; rejects NaN/Inf.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> read_raw_tensor(const std::string& path, const Shape4& shape) {
  const std::int64_t dims[4] = {shape.n, shape.c, shape.h, shape.w};
  const auto data = read_raw_f32(path, std::size_t(checked_element_count("mcsc::read_raw_tensor", "'" + path + "'", dims, 4)));
  auto t = make_tensor<T, ExecSpace>(path, shape);
  auto h = Kokkos::create_mirror_view(t);
  for (std::size_t i = 0; i < data.size(); ++i) h.data()[i] = T(data[i]);
  Kokkos::deep_copy(t, h);
  require_finite("mcsc::read_raw_tensor", t);
  return t;
}

/// Writes a tensor as raw float32.
template <class V>
void write_raw_tensor(const std::string& path, const V& t) {
  auto h = to_host(t);
  std::vector<float> data(h.span());
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = float(h.data()[i]);
  std::ofstream out(path, std::ios::binary);
  MCSC_REQUIRE(out.good(), "mcsc::write_raw_tensor", "cannot write '" << path << "'");
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(float)));
  MCSC_REQUIRE(out.good(), "mcsc::write_raw_tensor", "write error in '" << path << "'");
}

}  // namespace mcsc
