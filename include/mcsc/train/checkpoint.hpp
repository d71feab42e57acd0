#pragma once
/// \file checkpoint.hpp
/// mcsc's checkpoint format: one binary file holding a model's parameters (names, shapes,
/// values), its type and configuration, and optionally the optimiser state, the epoch/step
/// counters and the trainer's random-generator state, so that training resumes bit-exactly.
///
/// Layout (little-endian), format version 1:
///   "MCSCCKPT" | u32 version | u32 scalar bytes (4 or 8)
///   str model type | str model config | str optimizer type | str rng state | str notes
///   i64 epoch | i64 step | f64 learning rate | i64 optimizer steps
///   u32 parameter count, then per parameter: str name | 4 x i64 shape | values
///   u32 optimizer buffer count, then per buffer: u64 length | values
///   u64 FNV-1a hash of every byte before it
/// where str is u64 length + bytes. Files are written to a temporary name, flushed to disk and
/// renamed, so a crash never leaves a half-written checkpoint under the real name.
/// `tools/convert_cunet_pth.py` writes this format from the official PyTorch files.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "mcsc/io/file.hpp"
#include "mcsc/nn/parameters.hpp"

namespace mcsc {

/// Everything in a checkpoint besides the tensors.
struct CheckpointInfo {
  std::string model_type;      ///< e.g. "CuNet"
  std::string model_config;    ///< the model's config_string()
  std::string optimizer_type;  ///< "" (none), "adam", "sgd"
  std::string rng_state;       ///< the trainer's generator, as written by operator<<
  std::string notes;
  std::int64_t epoch = 0, step = 0, optimizer_steps = 0;
  double learning_rate = 0;
  std::uint32_t version = 1;
  std::uint32_t scalar_bytes = 0;
};

namespace Impl {
inline constexpr char checkpoint_magic[8] = {'M', 'C', 'S', 'C', 'C', 'K', 'P', 'T'};
inline constexpr std::uint32_t checkpoint_version = 1;

inline std::uint64_t fnv1a(const char* data, std::size_t n) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (std::size_t i = 0; i < n; ++i) {
    h ^= std::uint8_t(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

class ByteWriter {
 public:
  template <class P>
  void pod(const P& v) {
    const char* p = reinterpret_cast<const char*>(&v);
    m_bytes.insert(m_bytes.end(), p, p + sizeof(P));
  }
  void str(const std::string& s) {
    pod(std::uint64_t(s.size()));
    m_bytes.insert(m_bytes.end(), s.begin(), s.end());
  }
  template <class T, class V>
  void values(const V& view) {  // host-copies a contiguous view, written as T
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), view);
    for (std::size_t i = 0; i < h.span(); ++i) pod(T(h.data()[i]));
  }
  std::vector<char>& bytes() { return m_bytes; }

 private:
  std::vector<char> m_bytes;
};

class ByteReader {
 public:
  ByteReader(const std::vector<char>& bytes, std::string path) : m_bytes(bytes), m_path(std::move(path)) {}
  template <class P>
  P pod() {
    need(sizeof(P));
    P v;
    std::memcpy(&v, m_bytes.data() + m_pos, sizeof(P));
    m_pos += sizeof(P);
    return v;
  }
  std::string str() {
    const auto n = pod<std::uint64_t>();
    need(n);
    std::string s(m_bytes.data() + m_pos, std::size_t(n));
    m_pos += std::size_t(n);
    return s;
  }
  /// Reads count values stored with `bytes` bytes each into a contiguous view of any scalar type.
  template <class V>
  void values(const V& view, std::size_t count, std::uint32_t bytes) {
    auto h = Kokkos::create_mirror_view(view);
    MCSC_REQUIRE(h.span() == count, "mcsc::load_checkpoint", "internal size mismatch in '" << m_path << "'");
    for (std::size_t i = 0; i < count; ++i)
      h.data()[i] = bytes == 4 ? typename V::value_type(pod<float>()) : typename V::value_type(pod<double>());
    Kokkos::deep_copy(view, h);
  }
  void skip(std::size_t n) {
    need(n);
    m_pos += n;
  }

 private:
  void need(std::size_t n) const {
    // m_pos <= size always; n is compared with what is left (m_pos + n could wrap for a crafted n)
    MCSC_REQUIRE(n <= m_bytes.size() - m_pos, "mcsc::load_checkpoint", "'" << m_path << "' ends early (truncated?)");
  }
  const std::vector<char>& m_bytes;
  std::string m_path;
  std::size_t m_pos = 0;
};

/// The whole file, its checksum verified; throws for missing, truncated or corrupted files.
inline std::vector<char> read_verified_checkpoint(const std::string& path) {
  const char* fn = "mcsc::load_checkpoint";
  require_regular_file(fn, path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  MCSC_REQUIRE(in.good(), fn, "cannot open '" << path << "'");
  const std::streamoff size = in.tellg();
  MCSC_REQUIRE(size >= std::streamoff(sizeof(checkpoint_magic) + 8 + 8), fn,
               "'" << path << "' is " << size << " bytes: not an mcsc checkpoint (truncated?)");
  std::vector<char> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(bytes.data(), size);
  MCSC_REQUIRE(std::memcmp(bytes.data(), checkpoint_magic, sizeof(checkpoint_magic)) == 0, fn,
               "'" << path << "' is not an mcsc checkpoint (bad magic)");
  std::uint64_t stored;
  std::memcpy(&stored, bytes.data() + bytes.size() - 8, 8);
  MCSC_REQUIRE(stored == fnv1a(bytes.data(), bytes.size() - 8), fn,
               "'" << path << "' is truncated or corrupted (checksum mismatch)");
  bytes.resize(bytes.size() - 8);
  return bytes;
}

inline CheckpointInfo read_checkpoint_info(ByteReader& r, const std::string& path) {
  r.skip(sizeof(checkpoint_magic));
  CheckpointInfo info;
  info.version = r.pod<std::uint32_t>();
  MCSC_REQUIRE(info.version == checkpoint_version, "mcsc::load_checkpoint",
               "'" << path << "' has format version " << info.version << "; this mcsc reads version "
                   << checkpoint_version);
  info.scalar_bytes = r.pod<std::uint32_t>();
  MCSC_REQUIRE(info.scalar_bytes == 4 || info.scalar_bytes == 8, "mcsc::load_checkpoint",
               "'" << path << "' stores " << info.scalar_bytes << "-byte scalars");
  info.model_type = r.str();
  info.model_config = r.str();
  info.optimizer_type = r.str();
  info.rng_state = r.str();
  info.notes = r.str();
  info.epoch = r.pod<std::int64_t>();
  info.step = r.pod<std::int64_t>();
  info.learning_rate = r.pod<double>();
  info.optimizer_steps = r.pod<std::int64_t>();
  return info;
}

/// Writes bytes + checksum to path atomically (temporary file, fsync, rename).
inline void write_atomically(const std::string& path, std::vector<char>& bytes) {
  const char* fn = "mcsc::save_checkpoint";
  const std::uint64_t hash = fnv1a(bytes.data(), bytes.size());
  const char* h = reinterpret_cast<const char*>(&hash);
  bytes.insert(bytes.end(), h, h + 8);
  write_file_atomically(fn, path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) return false;
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                    ::fsync(::fileno(f)) == 0;
    return std::fclose(f) == 0 && ok;
  });
}
}  // namespace Impl

/// Saves params (and the optimiser's state if optimizer is not null) with info to path.
/// Optimizer: anything with type_name, steps(), learning_rate() and state_buffers().
template <class T, class ExecSpace, class Optimizer = void>
void save_checkpoint(const std::string& path, const Parameters<T, ExecSpace>& params, CheckpointInfo info,
                     const Optimizer* optimizer = nullptr) {
  Impl::ByteWriter w;
  for (char c : Impl::checkpoint_magic) w.pod(c);
  w.pod(Impl::checkpoint_version);
  w.pod(std::uint32_t(sizeof(T)));
  if constexpr (!std::is_void<Optimizer>::value) {
    if (optimizer) {
      info.optimizer_type = Optimizer::type_name;
      info.optimizer_steps = optimizer->steps();
      info.learning_rate = optimizer->learning_rate();
    }
  }
  w.str(info.model_type);
  w.str(info.model_config);
  w.str(info.optimizer_type);
  w.str(info.rng_state);
  w.str(info.notes);
  w.pod(info.epoch);
  w.pod(info.step);
  w.pod(info.learning_rate);
  w.pod(info.optimizer_steps);
  w.pod(std::uint32_t(params.count()));
  for (const auto& e : params.entries()) {
    w.str(e.name);
    const std::int64_t extents[] = {e.shape.n, e.shape.c, e.shape.h, e.shape.w};  // not a braced list: nvcc 13
    for (std::int64_t d : extents) w.pod(d);
    w.template values<T>(e.value);
  }
  std::uint32_t buffers = 0;
  if constexpr (!std::is_void<Optimizer>::value) {
    if (optimizer) buffers = std::uint32_t(optimizer->state_buffers().size());
    w.pod(buffers);
    if (optimizer)
      for (const auto& b : optimizer->state_buffers()) {
        w.pod(std::uint64_t(b.extent(0)));
        w.template values<T>(b);
      }
  } else {
    w.pod(buffers);
  }
  Impl::write_atomically(path, w.bytes());
}

/// The header of a checkpoint (model type, configuration, counters) without loading tensors.
inline CheckpointInfo read_checkpoint_info(const std::string& path) {
  const auto bytes = Impl::read_verified_checkpoint(path);
  Impl::ByteReader r(bytes, path);
  return Impl::read_checkpoint_info(r, path);
}

/// Loads a checkpoint into params (and the optimiser, if given and the file has its state).
/// Refuses, with a message, a file of another model type or configuration, with other parameter
/// names or shapes, or a truncated/corrupted file. Returns the header.
template <class T, class ExecSpace, class Optimizer = void>
CheckpointInfo load_checkpoint(const std::string& path, Parameters<T, ExecSpace>& params,
                               const std::string& model_type, const std::string& model_config,
                               Optimizer* optimizer = nullptr) {
  const char* fn = "mcsc::load_checkpoint";
  const auto bytes = Impl::read_verified_checkpoint(path);
  Impl::ByteReader r(bytes, path);
  const CheckpointInfo info = Impl::read_checkpoint_info(r, path);
  MCSC_REQUIRE(info.model_type == model_type, fn,
               "'" << path << "' holds a " << info.model_type << ", not a " << model_type);
  MCSC_REQUIRE(info.model_config == model_config, fn,
               "'" << path << "' was made for " << model_type << " {" << info.model_config << "}, this model is {"
                   << model_config << "}");
  const auto count = r.pod<std::uint32_t>();
  MCSC_REQUIRE(count == std::uint32_t(params.count()), fn,
               "'" << path << "' has " << count << " parameters, the model " << params.count());
  for (const auto& e : params.entries()) {
    const std::string name = r.str();
    Shape4 shape;
    shape.n = r.pod<std::int64_t>();
    shape.c = r.pod<std::int64_t>();
    shape.h = r.pod<std::int64_t>();
    shape.w = r.pod<std::int64_t>();
    MCSC_REQUIRE(name == e.name && shape == e.shape, fn,
                 "'" << path << "' has '" << name << "' " << shape << " where the model has '" << e.name << "' "
                     << e.shape);
    r.values(e.value, std::size_t(shape.size()), info.scalar_bytes);
    const std::size_t bad = count_nonfinite(e.value);
    MCSC_REQUIRE(bad == 0, fn, "'" << path << "': parameter '" << e.name << "' holds " << bad << " NaN/Inf value(s)");
  }
  const auto buffers = r.pod<std::uint32_t>();
  if constexpr (!std::is_void<Optimizer>::value) {
    if (optimizer && buffers > 0) {
      MCSC_REQUIRE(info.optimizer_type == Optimizer::type_name, fn,
                   "'" << path << "' holds " << info.optimizer_type << " state, not " << Optimizer::type_name);
      const auto targets = optimizer->state_buffers();
      MCSC_REQUIRE(buffers == targets.size(), fn, "'" << path << "' has " << buffers << " optimizer buffers");
      for (const auto& b : targets) {
        const auto n = r.pod<std::uint64_t>();
        MCSC_REQUIRE(n == b.extent(0), fn, "'" << path << "': optimizer buffer of " << n << " values, expected "
                                               << b.extent(0));
        r.values(b, std::size_t(n), info.scalar_bytes);
      }
      optimizer->set_steps(info.optimizer_steps);
      optimizer->set_learning_rate(info.learning_rate);
    }
  }
  return info;
}

}  // namespace mcsc
