#pragma once
/// \file parameters.hpp
/// Learnable parameters of a model: every value in one flat buffer and every gradient in another
/// (so that the optimiser is one kernel over all of them and a checkpoint is one blob), each
/// parameter a named (N, C, H, W) view into both. Convolution weights are (out, in, kh, kw);
/// thresholds and mu are (C, 1, 1, 1), or (1, 1, 1, 1) for one value shared by all channels.
///
/// Use: add() every parameter, then allocate() once; the views stay valid as long as the
/// Parameters object lives.
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/core/tensor.hpp"

namespace mcsc {

template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class Parameters {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using vector_type = Vector<T, ExecSpace>;
  using flat_type = Kokkos::View<T*, Kokkos::LayoutRight, DeviceOf<ExecSpace>>;

  struct Entry {
    std::string name;
    Shape4 shape;
    std::size_t offset = 0;  ///< into values() and grads()
    tensor_type value;       ///< views into the flat buffers (after allocate())
    tensor_type grad;
  };

  Parameters() = default;
  Parameters(const Parameters&) = delete;  // the entries' views point into this object's buffers
  Parameters& operator=(const Parameters&) = delete;

  /// Registers a parameter; returns its index. Names are unique.
  int add(const std::string& name, const Shape4& shape) {
    MCSC_REQUIRE(!allocated(), "mcsc::Parameters::add", "'" << name << "' added after allocate()");
    MCSC_REQUIRE(shape.size() > 0, "mcsc::Parameters::add", "'" << name << "' has zero-size shape " << shape);
    MCSC_REQUIRE(m_index.count(name) == 0, "mcsc::Parameters::add", "'" << name << "' is already a parameter");
    Entry e;
    e.name = name;
    e.shape = shape;
    e.offset = m_size;
    m_size += std::size_t((shape.size() + 15) / 16 * 16);  // 64-byte aligned starts
    m_index[name] = int(m_entries.size());
    m_entries.push_back(e);
    return int(m_entries.size()) - 1;
  }

  /// Allocates the value and gradient buffers (zero) and makes every entry's views.
  void allocate() {
    MCSC_REQUIRE(!allocated(), "mcsc::Parameters::allocate", "called twice");
    m_values = flat_type("mcsc::Parameters::values", m_size);
    m_grads = flat_type("mcsc::Parameters::grads", m_size);
    for (auto& e : m_entries) {
      e.value = tensor_type(m_values.data() + e.offset, e.shape.n, e.shape.c, e.shape.h, e.shape.w);
      e.grad = tensor_type(m_grads.data() + e.offset, e.shape.n, e.shape.c, e.shape.h, e.shape.w);
    }
  }
  bool allocated() const { return m_values.data() != nullptr; }

  int count() const { return int(m_entries.size()); }
  /// Number of scalars in all parameters (without alignment padding).
  std::size_t num_scalars() const {
    std::size_t n = 0;
    for (const auto& e : m_entries) n += std::size_t(e.shape.size());
    return n;
  }
  const std::vector<Entry>& entries() const { return m_entries; }
  const Entry& entry(int i) const { return m_entries.at(std::size_t(i)); }
  /// Index of the parameter called name; throws if there is none.
  int find(const std::string& name) const {
    auto it = m_index.find(name);
    MCSC_REQUIRE(it != m_index.end(), "mcsc::Parameters::find", "no parameter called '" << name << "'");
    return it->second;
  }
  bool contains(const std::string& name) const { return m_index.count(name) != 0; }

  const tensor_type& value(int i) const { return checked(i).value; }
  const tensor_type& grad(int i) const { return checked(i).grad; }
  /// The parameter as a vector of its C (or 1) entries: for (C, 1, 1, 1) thresholds.
  vector_type value_vector(int i) const { return as_vector(checked(i).value); }
  vector_type grad_vector(int i) const { return as_vector(checked(i).grad); }

  /// All values / all gradients (padding between parameters stays zero).
  const flat_type& values() const { return m_values; }
  const flat_type& grads() const { return m_grads; }
  /// Size of the flat buffers (with padding).
  std::size_t flat_size() const { return m_size; }

  void zero_grad() const { Kokkos::deep_copy(m_grads, T(0)); }

 private:
  const Entry& checked(int i) const {
    MCSC_REQUIRE(allocated(), "mcsc::Parameters", "allocate() was not called");
    MCSC_REQUIRE(i >= 0 && i < count(), "mcsc::Parameters", "index " << i << " out of " << count());
    return m_entries[std::size_t(i)];
  }
  static vector_type as_vector(const tensor_type& t) { return vector_type(t.data(), t.size()); }

  std::vector<Entry> m_entries;
  std::map<std::string, int> m_index;
  std::size_t m_size = 0;
  flat_type m_values, m_grads;
};

/// "key=value key=value" (a model's configuration in a checkpoint) as a map.
inline std::map<std::string, std::string> parse_key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    const auto eq = item.find('=');
    MCSC_REQUIRE(eq != std::string::npos && eq > 0, "mcsc::parse_key_values", "'" << item << "' is not key=value");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

namespace Impl {
/// The value of key in a parsed configuration, read whole by parse(text, &used); throws naming
/// fn and the key if it is absent or not `what`.
template <class V, class Parse>
V config_value(const std::map<std::string, std::string>& config, const std::string& key, const char* fn,
               const char* what, Parse parse) {
  auto it = config.find(key);
  MCSC_REQUIRE(it != config.end(), fn, "configuration has no '" << key << "'");
  try {
    std::size_t used = 0;
    const V v = parse(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  MCSC_REQUIRE(false, fn, "'" << key << "=" << it->second << "' is not " << what);
  return V();
}
}  // namespace Impl

/// The integer value of key in a parsed configuration; throws naming the key if absent or bad.
inline int config_int(const std::map<std::string, std::string>& config, const std::string& key) {
  return Impl::config_value<int>(config, key, "mcsc::config_int", "an integer",
                                 [](const std::string& t, std::size_t* used) { return std::stoi(t, used); });
}

/// The real value of key in a parsed configuration; throws naming the key if absent or bad.
inline double config_double(const std::map<std::string, std::string>& config, const std::string& key) {
  return Impl::config_value<double>(config, key, "mcsc::config_double", "a number",
                                    [](const std::string& t, std::size_t* used) { return std::stod(t, used); });
}

}  // namespace mcsc
