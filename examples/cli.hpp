#pragma once
/// \file cli.hpp
/// What every mcsc example program does around its work: Boost.Program_options parsing with
/// --help, --kokkos-* arguments passed on to Kokkos, bad command lines reported with the usage
/// text and exit status 2, Kokkos initialised around the work, errors reported with status 1.
///
/// Recipes: a program that has a --recipe option reads that file (or recipes/NAME.ini of the
/// source tree for a bare name) as a Boost.Program_options configuration file of its own long
/// options, one `option = value` a line, at the top or in an [options] section; options given on
/// the command line win. A [recipe] section (name, version, why, ...) describes the recipe.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <new>
#include <optional>
#include <typeinfo>

#include <unistd.h>
#include <sstream>
#include <stdexcept>
#include <string>

#include <boost/program_options.hpp>

#include <Kokkos_Core.hpp>

#include "mcsc/core/error.hpp"
#include "mcsc/core/memory.hpp"

namespace mcsc_cli {

namespace po = boost::program_options;

/// A bad command line: reported with the usage text, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The message of a Boost.Program_options error. Boost's own what() replaces each placeholder
/// (%value%, %option%, ...) of its template until none is left, so a value that contains its own
/// placeholder (`--seed=%value%`, found by tests/fuzz/fuzz_options.cpp) made it loop forever,
/// growing the message: every program hung on such a command line. When a value holds a '%', its
/// '%' are masked while Boost formats a copy of the error (as the base class: an ambiguous
/// option's list of matches is then left out) and restored in its text; otherwise Boost's own
/// message is used unchanged.
inline std::string option_error_text(const po::error& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (!named) return e.what();
  struct Masked : po::error_with_option_name {
    explicit Masked(const po::error_with_option_name& e) : po::error_with_option_name(e) {}
    static void mask(std::string& v) { std::replace(v.begin(), v.end(), '%', '\x01'); }
    bool has_percent() const {
      for (const auto& s : m_substitutions)
        if (s.second.find('%') != std::string::npos) return true;
      for (const auto& d : m_substitution_defaults)  // (first: the text a default replaces; second: its value)
        if (d.second.second.find('%') != std::string::npos) return true;
      return false;
    }
    void mask_values() {
      for (auto& s : m_substitutions) mask(s.second);
      for (auto& d : m_substitution_defaults) mask(d.second.second);
    }
  };
  Masked masked(*named);
  if (!masked.has_percent()) return e.what();
  masked.mask_values();
  std::string text = masked.what();
  std::replace(text.begin(), text.end(), '\x01', '%');
  return text;
}

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

/// The file a --recipe value names: an existing path, else <source>/recipes/<value>.ini.
inline std::string recipe_path(const std::string& value) {
  if (std::filesystem::is_regular_file(value)) return value;
#ifdef MCSC_SOURCE_DIR
  const auto named = std::filesystem::path(MCSC_SOURCE_DIR) / "recipes" / (value + ".ini");
  if (std::filesystem::is_regular_file(named)) return named.string();
#endif
  throw UsageError("--recipe: '" + value + "' is neither a file nor a recipe name under recipes/");
}

/// Boost.Program_options converts "-1" to an unsigned option (a seed) as 2^64 - 1 without a word:
/// refuse a negative value given to any option whose value is of an unsigned type.
inline void refuse_negative_unsigned(const po::parsed_options& parsed, const po::variables_map& vm) {
  for (const auto& option : parsed.options) {
    if (option.unregistered || !vm.count(option.string_key)) continue;
    const auto& type = vm[option.string_key].value().type();
    const bool is_unsigned = type == typeid(unsigned) || type == typeid(unsigned long) ||
                             type == typeid(unsigned long long) || type == typeid(unsigned short);
    for (const std::string& token : option.value)
      if (is_unsigned && token.find('-') != std::string::npos)
        throw UsageError("--" + option.string_key + " must be >= 0 (got '" + token + "')");
  }
}

/// Stores the options of the recipe file into vm (values already there, from the command line, win).
inline void store_recipe(const std::string& value, const po::options_description& options, po::variables_map& vm) {
  const std::string path = recipe_path(value);
  std::ifstream in(path);
  if (!in) throw UsageError("--recipe: cannot read '" + path + "'");
  po::parsed_options parsed(&options);
  try {
    parsed = po::parse_config_file(in, options, true);
  } catch (const po::error& e) {
    throw UsageError("--recipe '" + path + "': " + option_error_text(e));
  }
  std::vector<po::option> kept;
  for (auto o : parsed.options) {
    if (o.string_key.rfind("recipe.", 0) == 0) continue;  // the recipe's own description
    if (o.string_key.rfind("options.", 0) == 0) {          // [options] section
      o.string_key = o.string_key.substr(8);
      o.unregistered = options.find_nothrow(o.string_key, false) == nullptr;
    }
    if (o.unregistered) throw UsageError("--recipe '" + path + "': '" + o.string_key + "' is not an option of this program");
    if (o.string_key == "recipe") throw UsageError("--recipe '" + path + "': a recipe cannot name another recipe");
    kept.push_back(o);
  }
  parsed.options = kept;
  try {
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw UsageError("--recipe '" + path + "': " + option_error_text(e));
  }
  refuse_negative_unsigned(parsed, vm);
}

/// Output locations are checked before any work (a run used to compute for minutes and then
/// fail to write): `dir` is created if needed and must be a writable folder.
inline void require_output_dir(const std::string& option, const std::string& dir) {
  namespace fs = std::filesystem;
  require(!dir.empty(), option + " must not be empty");
  std::error_code ec;
  require(!fs::exists(dir, ec) || fs::is_directory(dir, ec), option + " '" + dir + "' exists and is not a folder");
  fs::create_directories(dir, ec);
  require(!ec, option + " '" + dir + "' cannot be created: " + ec.message());
  require(::access(dir.c_str(), W_OK | X_OK) == 0, option + " '" + dir + "' is not writable");
}

/// `file` (to be written) must not be a folder, and its folder must exist and be writable.
inline void require_output_file(const std::string& option, const std::string& file) {
  namespace fs = std::filesystem;
  require(!file.empty(), option + " must not be empty");
  std::error_code ec;
  require(!fs::is_directory(file, ec), option + " '" + file + "' is a folder; give a file name");
  const fs::path parent = fs::path(file).has_parent_path() ? fs::path(file).parent_path() : fs::path(".");
  require(fs::is_directory(parent, ec), option + " '" + file + "': the folder '" + parent.string() + "' does not exist");
  require(::access(parent.c_str(), W_OK | X_OK) == 0, option + " '" + file + "': the folder '" + parent.string() +
                                                          "' is not writable");
}

/// The program's options and those every program has (--max-memory, stored into max_memory).
inline po::options_description with_common_options(const po::options_description& options, std::string& max_memory) {
  po::options_description common("Every program");
  common.add_options()("max-memory", po::value(&max_memory)->value_name("SIZE"),
                       "memory budget for the checks made before large allocations (e.g. 8G, 512M; default: "
                       "the memory available on this machine)");
  po::options_description all;
  all.add(options).add(common);
  return all;
}

inline void print_usage(std::ostream& os, const char* program, const std::string& about, const po::options_description& all) {
  os << "Usage: " << program << " [options]\n" << about << "\nKokkos options (--kokkos-threads=N, ...) are passed on to Kokkos.\n\n" << all;
}

/// Parses the command line (and a --recipe), applies --max-memory and runs validate() (which
/// throws UsageError): returns the program's exit status when it ends here (0 after --help, 2 on a
/// bad command line, with the message and the usage text on stderr), nothing when the work may
/// start. Touches no Kokkos state (tests/fuzz/fuzz_options.cpp calls it alone).
inline std::optional<int> parse_command_line(int argc, char* argv[], const po::options_description& options,
                                             const std::string& about, const std::function<void()>& validate) {
  std::string max_memory;
  const po::options_description all = with_common_options(options, max_memory);
  try {
    const auto parsed = po::command_line_parser(argc, argv).options(all).allow_unregistered().run();
    for (const std::string& arg : po::collect_unrecognized(parsed.options, po::include_positional))
      if (arg.rfind("--kokkos-", 0) != 0)
        throw UsageError((arg.rfind("-", 0) == 0 ? "unrecognised option '" : "unexpected argument '") + arg + "'");
    po::variables_map vm;
    po::store(parsed, vm);
    refuse_negative_unsigned(parsed, vm);
    if (vm.count("recipe") && !vm.count("help")) store_recipe(vm["recipe"].as<std::string>(), options, vm);
    if (vm.count("help")) {
      print_usage(std::cout, argv[0], about, all);
      return 0;
    }
    po::notify(vm);
    if (vm.count("max-memory")) {
      const std::uint64_t bytes = mcsc::parse_memory_size(max_memory);
      require(bytes > 0, "--max-memory '" + max_memory + "' is not a size (e.g. 8G, 512M, 100000)");
      mcsc::set_memory_budget(bytes);
    }
    validate();
  } catch (const std::exception& e) {  // po::error and UsageError
    const auto* option_error = dynamic_cast<const po::error*>(&e);
    std::cerr << argv[0] << ": " << (option_error ? option_error_text(*option_error) : e.what()) << "\n\n";
    print_usage(std::cerr, argv[0], about, all);
    return 2;
  }
  return std::nullopt;
}

/// parse_command_line (validate() throws UsageError; `about` is printed above the options in the
/// usage text), then work() between Kokkos::initialize and Kokkos::finalize: its status,
/// 2 for a UsageError it throws (an option that does not fit the data), 1 for any other error.
inline int run(int argc, char* argv[], const po::options_description& options, const std::string& about,
               const std::function<void()>& validate, const std::function<int()>& work) {
  if (const auto done = parse_command_line(argc, argv, options, about, validate)) return *done;
  Kokkos::initialize(argc, argv);
  int status = 1;
  try {  // every Kokkos view lives inside work(), so all are gone before finalize()
    status = work();
  } catch (const UsageError& e) {  // an option that does not fit the data
    std::cerr << argv[0] << ": " << e.what() << "\n\n";
    std::string unused;
    print_usage(std::cerr, argv[0], about, with_common_options(options, unused));
    status = 2;
  } catch (const std::bad_alloc&) {
    std::cerr << argv[0] << ": error: out of memory (std::bad_alloc): the images and options given need more "
                            "memory than this machine can allocate\n";
  } catch (const std::exception& e) {  // mcsc::Error and the rest
    std::cerr << argv[0] << ": error: " << e.what() << "\n";
  }
  Kokkos::finalize();
  return status;
}

}  // namespace mcsc_cli
