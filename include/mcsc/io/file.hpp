#pragma once
/// \file file.hpp
/// What every reader of a file does first: refuse a path that is not a regular file (missing,
/// a folder, a device, a pipe) with a message naming it, before opening it. (A folder opened as
/// a stream reports a size of 2^63 - 1 bytes, which readers then tried to allocate.)
#include <filesystem>
#include <string>
#include <system_error>

#include "mcsc/core/error.hpp"

namespace mcsc {

/// Throws mcsc::Error naming `function` and `path` unless path is an existing regular file (a
/// symbolic link to one is fine).
inline void require_regular_file(const char* function, const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  MCSC_REQUIRE(!path.empty(), function, "empty file path");
  MCSC_REQUIRE(std::filesystem::exists(status), function, "cannot read '" << path << "': no such file");
  MCSC_REQUIRE(!std::filesystem::is_directory(status), function,
               "cannot read '" << path << "': it is a directory (a folder), not a file");
  MCSC_REQUIRE(std::filesystem::is_regular_file(status), function,
               "cannot read '" << path << "': not a regular file (a device, pipe or socket)");
}

}  // namespace mcsc
