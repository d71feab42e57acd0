#pragma once
/// \file error.hpp
/// Runtime checks that throw mcsc::Error with the file, line and the function named.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace mcsc {

/// Thrown on bad input (shapes, values, files). what() names the function and the offending values.
class Error : public std::invalid_argument {
 public:
  Error(const char* file, int line, const std::string& function, const std::string& message)
      : std::invalid_argument(function + ": " + message + " [" + file + ":" + std::to_string(line) + "]") {}
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
#define MCSC_REQUIRE(cond, function, message)                               \
  do {                                                                      \
    if (!(cond)) {                                                          \
      std::ostringstream mcsc_require_os_;                                  \
      mcsc_require_os_ << message;                                          \
      throw ::mcsc::Error(__FILE__, __LINE__, function, mcsc_require_os_.str()); \
    }                                                                       \
  } while (false)
