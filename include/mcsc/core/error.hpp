#pragma once
/// \file error.hpp
/// Runtime checks that throw mcsc::Error with the file, line and the function named.
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
