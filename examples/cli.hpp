#pragma once
/// \file cli.hpp
/// What every mcsc example program does around its work: Boost.Program_options parsing with
/// --help, --kokkos-* arguments passed on to Kokkos, bad command lines reported with the usage
/// text and exit status 2, Kokkos initialised around the work, errors reported with status 1.
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <boost/program_options.hpp>

#include <Kokkos_Core.hpp>

#include "mcsc/core/error.hpp"

namespace mcsc_cli {

namespace po = boost::program_options;

/// A bad command line: reported with the usage text, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws UsageError(message) unless ok.
inline void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

/// A po::value bound to `target` whose default is its current value, shown as `<<` writes it
/// (0.1, not 0.10000000000000001).
template <class V>
po::typed_value<V>* with_default(V& target) {
  std::ostringstream shown;
  shown << target;
  return po::value(&target)->default_value(target, shown.str());
}

/// Parses, validates (validate() throws UsageError) and runs work() between Kokkos::initialize
/// and Kokkos::finalize. `about` is printed above the options in the usage text.
inline int run(int argc, char* argv[], const po::options_description& options, const std::string& about,
               const std::function<void()>& validate, const std::function<int()>& work) {
  auto usage = [&](std::ostream& os) {
    os << "Usage: " << argv[0] << " [options]\n" << about << "\nKokkos options (--kokkos-threads=N, ...) are passed on to Kokkos.\n\n" << options;
  };
  try {
    const auto parsed = po::command_line_parser(argc, argv).options(options).allow_unregistered().run();
    for (const std::string& arg : po::collect_unrecognized(parsed.options, po::include_positional))
      if (arg.rfind("--kokkos-", 0) != 0)
        throw UsageError((arg.rfind("-", 0) == 0 ? "unrecognised option '" : "unexpected argument '") + arg + "'");
    po::variables_map vm;
    po::store(parsed, vm);
    if (vm.count("help")) {
      usage(std::cout);
      return 0;
    }
    po::notify(vm);
    validate();
  } catch (const std::exception& e) {  // po::error and UsageError
    std::cerr << argv[0] << ": " << e.what() << "\n\n";
    usage(std::cerr);
    return 2;
  }
  Kokkos::initialize(argc, argv);
  int status = 1;
  try {  // every Kokkos view lives inside work(), so all are gone before finalize()
    status = work();
  } catch (const UsageError& e) {  // an option that does not fit the data
    std::cerr << argv[0] << ": " << e.what() << "\n\n";
    usage(std::cerr);
    status = 2;
  } catch (const std::exception& e) {  // mcsc::Error and the rest
    std::cerr << argv[0] << ": error: " << e.what() << "\n";
  }
  Kokkos::finalize();
  return status;
}

}  // namespace mcsc_cli
