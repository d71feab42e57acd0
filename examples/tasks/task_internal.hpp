#pragma once
/// \file task_internal.hpp
/// Small helpers shared by the task harness's sources (task_samples.cpp, task_methods.cpp,
/// task_report.cpp, task_options.cpp); not part of the harness's interface (task_harness.hpp).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "task_harness.hpp"

namespace mcsc_tasks {
namespace internal {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// A contiguous copy of a (1, C, H, W) view (a tensor or a strided subview of one).
template <class V>
Tensor copy_of(const V& t, const std::string& label) {
  Tensor out = mcsc::make_tensor<T, ExecSpace>(label, mcsc::shape_of(t));
  Kokkos::deep_copy(out, t);
  return out;
}

/// Luma of a 3-channel tensor, the tensor itself otherwise.
inline Tensor luma_of(const Tensor& t) {
  if (t.extent(1) != 3) return t;
  Tensor y = mcsc::make_tensor<T, ExecSpace>("luma", {1, 1, std::int64_t(t.extent(2)), std::int64_t(t.extent(3))});
  mcsc::luma_bt601(t, y);
  return y;
}

/// The planes of a (1, C, H, W) tensor as a vector (CHW).
inline std::vector<float> host_planes(const Tensor& t) {
  auto h = mcsc::to_host(t);
  return std::vector<float>(h.data(), h.data() + h.span());
}

}  // namespace internal
}  // namespace mcsc_tasks
