#pragma once
/// \file file.hpp
/// What every reader of a file does first: refuse a path that is not a regular file (missing,
/// a folder, a device, a pipe) with a message naming it, before opening it. (A folder opened as
/// a stream reports a size of 2^63 - 1 bytes, which readers then tried to allocate.)
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

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

/// The temporary name of an atomic write of `path` by this process: "<path>.tmp.<pid>".
inline std::string temporary_path_for(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

/// Removes the "<path>.tmp.<pid>" files that processes which no longer run left behind (a write
/// cut off between creating its temporary file and renaming it into place). Files of running
/// processes, this one included, are left alone; nothing is reported (best effort). The pid is
/// looked up on this machine, in this pid namespace: a writer on another host sharing the folder
/// (NFS) or in another container would look dead, so do not point two machines' runs at one folder.
inline void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(digits);
    std::error_code removed;  // a file that cannot be removed does not stop the scan
    if (pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH)) fs::remove(it->path(), removed);
  }
}

/// Writes `path` atomically: write(tmp) writes the whole file to tmp = temporary_path_for(path)
/// (closing it) and returns whether that worked; then tmp is renamed to path. A reader sees the
/// old file or the new one, never a part. On failure tmp is removed and mcsc::Error names
/// `function`, the file and the system's reason (errno), where there is one. The checkpoints,
/// images and training logs are written through it.
template <class Write>
void write_file_atomically(const char* function, const std::string& path, Write&& write) {
  remove_stale_temporaries(path);
  const std::string tmp = temporary_path_for(path);
  errno = 0;
  const bool ok = write(tmp);
  const int saved = errno;
  const auto reason = [](int e) { return e ? std::string(": ") + std::strerror(e) : std::string(); };
  if (!ok) {
    std::remove(tmp.c_str());
    MCSC_REQUIRE(false, function, "cannot write '" << tmp << "'" << reason(saved) << " (disk full or not writable?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    MCSC_REQUIRE(false, function, "cannot rename '" << tmp << "' to '" << path << "'" << reason(e));
  }
}

}  // namespace mcsc
