#pragma once
/// \file npy.hpp
/// NumPy .npy files (format versions 1.0, 2.0 and 3.0) of little-endian float32 ('<f4') or
/// float64 ('<f8') arrays in C order: read into a host array of any floating type, or into an
/// (N, C, H, W) tensor; write float32 / float64 arrays.
///
/// Errors (mcsc::Error naming the file) for a missing file, a bad magic string or version, a
/// malformed header, a dtype other than '<f4' / '<f8' (big-endian, integers, ...), Fortran order,
/// and a data section shorter ("truncated") or longer than the shape says.
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "mcsc/core/error.hpp"
#include "mcsc/io/file.hpp"
#include "mcsc/core/tensor.hpp"

namespace mcsc {

/// An array read from a .npy file: its shape (empty for a 0-d array) and its values in C order.
template <class T>
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<T> values;
  std::string dtype;  ///< as stored: "<f4" or "<f8"

  /// Number of elements (1 for a 0-d array; 0 with a zero dimension, whatever the others are:
  /// the readers check the product of a non-empty shape, not of an empty one).
  std::int64_t size() const {
    for (std::int64_t d : shape)
      if (d == 0) return 0;
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
  }
};

/// The shape as "(a, b, c)", as NumPy prints it.
inline std::string npy_shape_string(const std::vector<std::int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

namespace Impl {

/// What a .npy header says.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

/// Parses the header dictionary {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }.
inline NpyHeader parse_npy_header(const std::string& text, const std::string& path) {
  const char* fn = "mcsc::read_npy";
  NpyHeader h;
  std::size_t pos = 0;
  auto skip_space = [&] {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  };
  auto expect = [&](char c) {
    skip_space();
    MCSC_REQUIRE(pos < text.size() && text[pos] == c, fn,
                 "'" << path << "': malformed header (expected '" << c << "' at offset " << pos << "): " << text);
    ++pos;
  };
  auto quoted = [&] {
    skip_space();
    MCSC_REQUIRE(pos < text.size() && (text[pos] == '\'' || text[pos] == '"'), fn,
                 "'" << path << "': malformed header (expected a string at offset " << pos << "): " << text);
    const char q = text[pos++];
    const std::size_t end = text.find(q, pos);
    MCSC_REQUIRE(end != std::string::npos, fn, "'" << path << "': malformed header (unterminated string): " << text);
    std::string s = text.substr(pos, end - pos);
    pos = end + 1;
    return s;
  };
  bool have_descr = false, have_order = false, have_shape = false;
  expect('{');
  for (;;) {
    skip_space();
    if (pos < text.size() && text[pos] == '}') break;
    const std::string key = quoted();
    expect(':');
    skip_space();
    if (key == "descr") {
      h.descr = quoted();
      have_descr = true;
    } else if (key == "fortran_order") {
      if (text.compare(pos, 4, "True") == 0) {
        h.fortran_order = true;
        pos += 4;
      } else if (text.compare(pos, 5, "False") == 0) {
        h.fortran_order = false;
        pos += 5;
      } else {
        MCSC_REQUIRE(false, fn, "'" << path << "': malformed header (fortran_order is not True/False): " << text);
      }
      have_order = true;
    } else if (key == "shape") {
      expect('(');
      for (;;) {
        skip_space();
        if (pos < text.size() && text[pos] == ')') {
          ++pos;
          break;
        }
        MCSC_REQUIRE(pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])), fn,
                     "'" << path << "': malformed header (bad shape): " << text);
        std::int64_t d = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
          d = 10 * d + (text[pos++] - '0');
          MCSC_REQUIRE(d <= (std::int64_t(1) << 48), fn, "'" << path << "': absurd dimension in header: " << text);
        }
        if (pos < text.size() && text[pos] == 'L') ++pos;  // Python 2 long suffix
        h.shape.push_back(d);
        skip_space();
        // a comma or the closing parenthesis: "(15 0961176)" is not two dimensions
        MCSC_REQUIRE(pos < text.size() && (text[pos] == ',' || text[pos] == ')'), fn,
                     "'" << path << "': malformed header (bad shape): " << text);
        if (text[pos] == ',') ++pos;
      }
      have_shape = true;
    } else {
      MCSC_REQUIRE(false, fn, "'" << path << "': unknown header key '" << key << "': " << text);
    }
    skip_space();
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  MCSC_REQUIRE(have_descr && have_order && have_shape, fn,
               "'" << path << "': header lacks descr, fortran_order or shape: " << text);
  return h;
}

inline std::uint32_t read_le(const unsigned char* p, int bytes) {
  std::uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline bool host_is_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

}  // namespace Impl

/// Reads a .npy file of float32 or float64 values (little-endian, C order) as an array of T.
template <class T = float>
NpyArray<T> read_npy(const std::string& path) {
  static_assert(std::is_floating_point<T>::value, "mcsc::read_npy: T must be a floating-point type");
  const char* fn = "mcsc::read_npy";
  require_regular_file(fn, path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MCSC_REQUIRE(in.good(), fn, "cannot open '" << path << "'");
  const std::int64_t file_size = std::int64_t(in.tellg());
  in.seekg(0);
  unsigned char preamble[12] = {};
  in.read(reinterpret_cast<char*>(preamble), 10);
  MCSC_REQUIRE(in.gcount() == 10 && std::memcmp(preamble, "\x93NUMPY", 6) == 0, fn,
               "'" << path << "' is not a .npy file (bad magic string; expected \\x93NUMPY)");
  const int major = preamble[6], minor = preamble[7];
  MCSC_REQUIRE((major == 1 || major == 2 || major == 3) && minor == 0, fn,
               "'" << path << "': unsupported .npy format version " << major << "." << minor
                   << " (1.0, 2.0 and 3.0 are read)");
  std::int64_t header_len = 0, preamble_len = 10;
  if (major == 1) {
    header_len = Impl::read_le(preamble + 8, 2);
  } else {
    in.read(reinterpret_cast<char*>(preamble + 10), 2);
    MCSC_REQUIRE(in.gcount() == 2, fn, "'" << path << "': truncated header");
    header_len = Impl::read_le(preamble + 8, 4);
    preamble_len = 12;
  }
  MCSC_REQUIRE(preamble_len + header_len <= file_size, fn,
               "'" << path << "': truncated header (" << header_len << " header bytes announced, file has "
                   << file_size << " bytes)");
  std::string text(std::size_t(header_len), '\0');
  in.read(&text[0], std::streamsize(header_len));
  MCSC_REQUIRE(in.gcount() == header_len, fn, "'" << path << "': truncated header");
  const Impl::NpyHeader h = Impl::parse_npy_header(text, path);

  NpyArray<T> array;
  array.shape = h.shape;
  array.dtype = h.descr;
  int width = 0;
  if (h.descr == "<f4" || (h.descr == "=f4" && Impl::host_is_little_endian())) width = 4;
  if (h.descr == "<f8" || (h.descr == "=f8" && Impl::host_is_little_endian())) width = 8;
  MCSC_REQUIRE(width != 0, fn,
               "'" << path << "': unsupported dtype '" << h.descr
                   << "' (float32 '<f4' and float64 '<f8', little-endian, are read)");
  MCSC_REQUIRE(!h.fortran_order, fn,
               "'" << path << "': Fortran-order arrays are not supported (save a C-order array, e.g. "
                      "np.save(path, np.ascontiguousarray(a)))");
  MCSC_REQUIRE(Impl::host_is_little_endian(), fn, "big-endian hosts are not supported");
  const std::int64_t count = checked_element_count(fn, "'" + path + "': the header's shape " + npy_shape_string(h.shape),
                                                  h.shape, width);
  const std::int64_t expected = count * width, available = file_size - preamble_len - header_len;
  MCSC_REQUIRE(available == expected, fn,
               "'" << path << "': the data section has " << available << " bytes, the header's shape "
                   << npy_shape_string(h.shape) << " of " << h.descr << " needs " << expected
                   << (available < expected ? " (truncated)" : " (trailing bytes)"));
  array.values.resize(std::size_t(count));
  if (width == 4) {
    std::vector<float> raw(static_cast<std::size_t>(count));
    in.read(reinterpret_cast<char*>(raw.data()), std::streamsize(expected));
    MCSC_REQUIRE(in.gcount() == expected, fn, "read error in '" << path << "'");
    for (std::size_t i = 0; i < raw.size(); ++i) array.values[i] = T(raw[i]);
  } else {
    std::vector<double> raw(static_cast<std::size_t>(count));
    in.read(reinterpret_cast<char*>(raw.data()), std::streamsize(expected));
    MCSC_REQUIRE(in.gcount() == expected, fn, "read error in '" << path << "'");
    for (std::size_t i = 0; i < raw.size(); ++i) array.values[i] = T(raw[i]);
  }
  return array;
}

/// Reads a .npy array into a new (N, C, H, W) tensor of the given shape, whose element count must
/// equal the file's (the file's own shape is not otherwise constrained: the caller decides how
/// its axes map, e.g. (K, s, s) -> (1, K, s, s)). Rejects NaN/Inf.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
Tensor4<T, ExecSpace> read_npy_tensor(const std::string& path, const Shape4& shape) {
  const NpyArray<T> a = read_npy<T>(path);
  MCSC_REQUIRE(a.size() == shape.size(), "mcsc::read_npy_tensor",
               "'" << path << "' holds " << npy_shape_string(a.shape) << " = " << a.size() << " values, expected "
                   << shape << " = " << shape.size());
  auto t = make_tensor<T, ExecSpace>(path, shape);
  auto h = Kokkos::create_mirror_view(t);
  for (std::size_t i = 0; i < a.values.size(); ++i) h.data()[i] = a.values[i];
  Kokkos::deep_copy(t, h);
  require_finite("mcsc::read_npy_tensor", t);
  return t;
}

/// Writes `values` (C order, shape `shape`) as a version 1.0 .npy file of float32 ('<f4', the
/// default) or float64 ('<f8', with as_float64).
template <class T>
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const std::vector<T>& values,
               bool as_float64 = false) {
  const char* fn = "mcsc::write_npy";
  std::int64_t count = 1;
  for (std::int64_t d : shape) {
    MCSC_REQUIRE(d >= 0, fn, "negative dimension in shape " << npy_shape_string(shape));
    count *= d;
  }
  MCSC_REQUIRE(count == std::int64_t(values.size()), fn,
               "shape " << npy_shape_string(shape) << " needs " << count << " values, got " << values.size());
  MCSC_REQUIRE(Impl::host_is_little_endian(), fn, "big-endian hosts are not supported");
  std::string header = std::string("{'descr': '") + (as_float64 ? "<f8" : "<f4") +
                       "', 'fortran_order': False, 'shape': " + npy_shape_string(shape) + ", }";
  const std::size_t unpadded = 10 + header.size() + 1;  // preamble + header + '\n'
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  MCSC_REQUIRE(header.size() <= 65535, fn, "header too long for format 1.0");
  std::ofstream out(path, std::ios::binary);
  MCSC_REQUIRE(out.good(), fn, "cannot write '" << path << "'");
  const unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                      static_cast<unsigned char>(header.size() & 0xff),
                                      static_cast<unsigned char>(header.size() >> 8)};
  out.write(reinterpret_cast<const char*>(preamble), 10);
  out.write(header.data(), std::streamsize(header.size()));
  if (as_float64) {
    const std::vector<double> data(values.begin(), values.end());
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(double)));
  } else {
    const std::vector<float> data(values.begin(), values.end());
    out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size() * sizeof(float)));
  }
  MCSC_REQUIRE(out.good(), fn, "write error in '" << path << "'");
}

/// Writes a tensor as a float32 .npy file of shape (N, C, H, W).
template <class V>
void write_npy_tensor(const std::string& path, const V& t) {
  auto h = to_host(t);
  std::vector<float> data(h.span());
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = float(h.data()[i]);
  write_npy(path, {std::int64_t(t.extent(0)), std::int64_t(t.extent(1)), std::int64_t(t.extent(2)),
                   std::int64_t(t.extent(3))},
            data);
}

}  // namespace mcsc
