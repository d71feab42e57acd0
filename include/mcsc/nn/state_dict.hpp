#pragma once
/// \file state_dict.hpp
/// Loading a PyTorch state_dict exported as raw float32 tensors: a folder with one
/// `<key>.f32` file per tensor and an `index.txt` of lines `key file ndim d0 d1 ...` (the format
/// of ../shared/fixtures/cunet_parity/state_dicts/). Every parameter is matched by name and
/// shape; missing or unexpected keys and shape mismatches are errors (as PyTorch's strict load).
#include <fstream>
#include <map>
#include <sstream>

#include "mcsc/io/raw.hpp"
#include "mcsc/nn/parameters.hpp"

namespace mcsc {

/// Shape of a PyTorch tensor as mcsc stores it: [n] -> (n, 1, 1, 1), [o, i, h, w] as is.
inline Shape4 torch_shape_to_shape4(const std::vector<std::int64_t>& dims) {
  std::int64_t d[4] = {1, 1, 1, 1};
  MCSC_REQUIRE(!dims.empty() && dims.size() <= 4, "mcsc::torch_shape_to_shape4",
               "tensors of rank " << dims.size() << " are not parameters of mcsc models");
  for (std::size_t i = 0; i < dims.size(); ++i) d[i] = dims[i];
  return Shape4{d[0], d[1], d[2], d[3]};
}

/// Loads every parameter of `params` from the raw export in `folder` (strict: the keys of the
/// index and of params must be the same set).
template <class T, class ExecSpace>
void load_raw_state_dict(const std::string& folder, Parameters<T, ExecSpace>& params) {
  const char* fn = "mcsc::load_raw_state_dict";
  require_regular_file(fn, folder + "/index.txt");
  std::ifstream index(folder + "/index.txt");
  MCSC_REQUIRE(index.good(), fn, "cannot open '" << folder << "/index.txt'");
  std::map<std::string, std::pair<std::string, Shape4>> entries;
  std::string line;
  int line_number = 0;
  while (std::getline(index, line)) {
    ++line_number;
    if (line.empty()) continue;
    std::istringstream ls(line);
    std::string key, file;
    int ndim = 0;
    ls >> key >> file >> ndim;
    MCSC_REQUIRE(!ls.fail() && ndim > 0, fn, "'" << folder << "/index.txt' line " << line_number << " is malformed");
    // The rank before the dimensions are read: a crafted rank must not size an allocation.
    MCSC_REQUIRE(ndim <= 4, fn, "'" << folder << "/index.txt' line " << line_number << " ('" << key << "') has rank "
                                    << ndim << "; parameters of mcsc models have 1 to 4 dimensions");
    std::vector<std::int64_t> dims(std::size_t(ndim), 0);
    for (auto& d : dims) ls >> d;
    MCSC_REQUIRE(!ls.fail(), fn, "'" << folder << "/index.txt' line " << line_number << " is malformed");
    checked_element_count(fn, "'" + folder + "/index.txt' line " + std::to_string(line_number) + " ('" + key + "')", dims, 4);
    entries[key] = {file, torch_shape_to_shape4(dims)};
  }
  for (const auto& e : params.entries())
    MCSC_REQUIRE(entries.count(e.name), fn, "parameter '" << e.name << "' is missing from '" << folder << "'");
  for (const auto& kv : entries)
    MCSC_REQUIRE(params.contains(kv.first), fn,
                 "'" << folder << "' has '" << kv.first << "', which this model does not have (another model?)");
  for (const auto& e : params.entries()) {
    const auto& found = entries[e.name];
    MCSC_REQUIRE(found.second == e.shape, fn,
                 "'" << e.name << "' is " << found.second << " in '" << folder << "' but " << e.shape << " in the model");
    auto t = read_raw_tensor<T, ExecSpace>(folder + "/" + found.first, e.shape);
    Kokkos::deep_copy(e.value, t);
  }
}

}  // namespace mcsc
