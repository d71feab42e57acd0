#pragma once
/// \file error.hpp
/// mcsc's exceptions and the runtime checks that throw them, with the file, line and function.
///
///   mcsc::Error           the base of every exception mcsc throws; thrown itself for bad input
///                         (shapes, values, options, files): MCSC_REQUIRE
///   mcsc::NumericalError  a computation that was given valid input broke down: an objective,
///                         residual or loss became NaN/Inf, training diverged beyond its
///                         rollbacks: MCSC_REQUIRE_NUMERIC
///   mcsc::BackendError    a numerical library refused (FFTW could not plan, cuFFT failed)
///
/// All derive from std::runtime_error through mcsc::Error, so `catch (const mcsc::Error&)`
/// catches everything mcsc throws but std::bad_alloc. docs/conventions.md lists which functions
/// throw which.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace mcsc {

/// Bad input, and the base of mcsc's other exceptions. what() names the function and the values.
class Error : public std::runtime_error {
 public:
  Error(const char* file, int line, const std::string& function, const std::string& message)
      : std::runtime_error(function + ": " + message + " [" + file + ":" + std::to_string(line) + "]") {}
};

/// A computation broke down on valid input (NaN/Inf objective or residual, divergence).
class NumericalError : public Error {
 public:
  using Error::Error;
};

/// A numerical backend (FFTW, cuFFT) failed.
class BackendError : public Error {
 public:
  using Error::Error;
};

/// The number of elements of an array of shape `dims` (1 for no dimensions), for shapes that come
/// from files or command lines: refuses a negative dimension, and a product that, times
/// `element_bytes`, exceeds 2^62 bytes (so that count * element_bytes and any offset derived from
/// it cannot overflow int64), with a message naming `function` and `what`.
template <class Dims>
std::int64_t checked_element_count(const char* function, const std::string& what, const Dims& dims,
                                   std::int64_t element_bytes = 1) {
  constexpr std::int64_t limit = std::int64_t(1) << 62;
  std::int64_t count = 1;
  bool empty = false;
  for (const auto d : dims) {
    if (std::int64_t(d) < 0) throw Error(__FILE__, __LINE__, function, what + ": negative dimension " + std::to_string(d));
    empty |= d == 0;
  }
  if (empty) return 0;
  for (const auto d : dims) {
    if (std::int64_t(d) > limit / element_bytes / count)
      throw Error(__FILE__, __LINE__, function,
                  what + ": the shape's size overflows (more than 2^62 bytes); the file is damaged or crafted");
    count *= std::int64_t(d);
  }
  return count;
}

}  // namespace mcsc

/// MCSC_REQUIRE(cond, "function", "message " << value): throws mcsc::Error when cond is false.
#define MCSC_REQUIRE(cond, function, message) MCSC_REQUIRE_AS(::mcsc::Error, cond, function, message)
/// The same for a numerical breakdown: throws mcsc::NumericalError.
#define MCSC_REQUIRE_NUMERIC(cond, function, message) MCSC_REQUIRE_AS(::mcsc::NumericalError, cond, function, message)
#define MCSC_REQUIRE_AS(type, cond, function, message)                            \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::ostringstream mcsc_require_os_;                                        \
      mcsc_require_os_ << message;                                                \
      throw type(__FILE__, __LINE__, function, mcsc_require_os_.str());           \
    }                                                                             \
  } while (false)
