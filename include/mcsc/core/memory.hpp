#pragma once
/// \file memory.hpp
/// Memory checks before work: what a step is about to allocate (known from sizes up front) is
/// compared with the memory budget, so that a request the machine cannot meet is refused with the
/// figures instead of ending in std::bad_alloc, the OOM killer or minutes of swapping.
///
/// The budget is the kernel's MemAvailable (/proc/meminfo; free pages where that is missing),
/// unless set_memory_budget() gave one (the example programs' --max-memory).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "mcsc/core/error.hpp"

namespace mcsc {

namespace Impl {
inline std::uint64_t& memory_budget_setting() {
  static std::uint64_t bytes = 0;  // 0: the machine's available memory
  return bytes;
}
}  // namespace Impl

/// Sets the budget the checks use (0: back to the machine's available memory).
inline void set_memory_budget(std::uint64_t bytes) { Impl::memory_budget_setting() = bytes; }

/// The machine's available memory in bytes: MemAvailable, or free pages without /proc/meminfo.
inline std::uint64_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {  // "MemAvailable:   23456789 kB" (some lines have no unit)
    std::istringstream fields(line);
    std::string key;
    std::uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : ~std::uint64_t(0);
}

/// The budget: set_memory_budget()'s, else available_memory().
inline std::uint64_t memory_budget() {
  const std::uint64_t set = Impl::memory_budget_setting();
  return set ? set : available_memory();
}

/// "1.5 GB", "340 MB", "12 kB" (powers of 1000).
inline std::string format_bytes(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000 && u < 6) bytes /= 1000, ++u;
  char text[32];
  std::snprintf(text, sizeof text, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return text;
}

/// Throws mcsc::Error when `bytes` (what `what` needs) exceeds the budget, with both figures.
inline void require_memory(const char* function, const std::string& what, double bytes) {
  const std::uint64_t budget = memory_budget();
  MCSC_REQUIRE(bytes <= double(budget), function,
               what << " needs about " << format_bytes(bytes) << ", more than the " << format_bytes(double(budget))
                    << (Impl::memory_budget_setting() ? " of the memory budget set (--max-memory)"
                                                      : " of memory available on this machine (--max-memory overrides)"));
}

/// Parses a size such as "8G", "512M", "1.5T", "100000" (bytes); k/M/G/T are powers of 1024.
/// Returns 0 for a malformed text.
inline std::uint64_t parse_memory_size(const std::string& text) {
  std::istringstream is(text);
  double value = -1;
  std::string suffix;
  if (!(is >> value) || value <= 0) return 0;
  is >> suffix;
  double scale = 1;
  if (suffix == "k" || suffix == "K" || suffix == "kB" || suffix == "KiB") scale = 1024.0;
  else if (suffix == "M" || suffix == "MB" || suffix == "MiB") scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GB" || suffix == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "TB" || suffix == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!suffix.empty()) return 0;
  const double bytes = value * scale;
  return bytes >= 1 && bytes < 1.8e19 ? std::uint64_t(bytes) : 0;
}

}  // namespace mcsc
