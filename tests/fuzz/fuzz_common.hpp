#pragma once
// Shared by the libFuzzer harnesses (cmake/fuzz.sh builds and runs them): the bytes go to a file,
// since every reader under test takes a path, as the programs do; a reader may refuse them with
// mcsc::Error (the clear error a program prints, naming the file), and anything else fails the
// run: another exception, a crash, a leak or a sanitizer report.
#include <Kokkos_Core.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <unistd.h>

#include "mcsc/core/error.hpp"
#include "mcsc/core/memory.hpp"

namespace mcsc_fuzz {

/// A file of this process for the input (in TMPDIR, else /tmp), written afresh for each input.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const std::string& suffix) {
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir && *dir ? dir : "/tmp") + "/mcsc_fuzz_" + std::to_string(::getpid()) + suffix;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

/// Runs f; mcsc::Error is the expected refusal, anything else aborts (libFuzzer reports it).
template <class F>
void expect_clear_error(F&& f) {
  try {
    f();
  } catch (const mcsc::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcsc fuzz: not an mcsc::Error: %s\n", e.what());
    std::abort();
  }
}

/// Kokkos (cmake/fuzz.sh runs with OMP_NUM_THREADS=1) and a 256 MiB memory budget, so that an input announcing a huge array
/// is refused by the library's own estimate rather than by libFuzzer's malloc limit.
inline void initialise() {
  static bool done = false;
  if (done) return;
  done = true;
  Kokkos::initialize();
  std::atexit([] { Kokkos::finalize(); });
  mcsc::set_memory_budget(std::uint64_t(256) << 20);
}

/// The element count of a shape as a reader must report it: 0 with a zero dimension (whatever the
/// others are, as numpy allows), else the product, which must not overflow (abort: the reader let
/// an overflowing shape through).
template <class Shape>
std::int64_t expected_count(const Shape& shape) {
  for (const auto d : shape)
    if (d == 0) return 0;
  std::int64_t count = 1;
  for (const auto d : shape)
    if (__builtin_mul_overflow(count, std::int64_t(d), &count)) std::abort();
  return count;
}

/// A harness that makes its own seeds sets this (during static initialisation); with
/// MCSC_FUZZ_WRITE_SEEDS=DIR the harness then writes them into DIR and exits.
inline void (*seed_writer)(const std::string& dir) = nullptr;

}  // namespace mcsc_fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mcsc_fuzz::initialise();
  const char* dir = std::getenv("MCSC_FUZZ_WRITE_SEEDS");
  if (dir && mcsc_fuzz::seed_writer) {
    mcsc_fuzz::seed_writer(dir);
    std::exit(0);
  }
  return 0;
}
