// libFuzzer harness: the task programs' command lines. mcsc_cli::parse_command_line with the
// options every task program has (mcsc_tasks::add_common_options, validate_common), a repeatable
// pair option read by mcsc_tasks::parse_pair, and --recipe files. The input is text: one argument
// a line; after a line '%%', the rest is a recipe file, r.ini, which the arguments may name.
// A command line may end the program (status 0 after --help, 2 with a message) or pass; anything
// else fails the run (an exception escaping, a crash, a sanitizer report), and so does a command
// line that passes with settings outside their documented ranges. Every file the options name
// lives in a scratch folder, the working directory, emptied after each input (inputs with a '/'
// in an argument or in the recipe are skipped, so that an --output-dir cannot reach outside it; give libFuzzer absolute corpus
// paths, as cmake/fuzz.sh does, since the working directory changes at the first input).
// Found: '--seed=%value%' made Boost's error message loop forever (mcsc_cli::option_error_text;
// corpus/options/placeholder_value_loop, example_task_placeholder_in_*).
#include "fuzz_common.hpp"

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <vector>

#include "../../examples/cli.hpp"
#include "../../examples/tasks/task_harness.hpp"

namespace {
namespace fs = std::filesystem;

// Seeds: typical command lines, the recipes of recipes/ (by name and as r.ini), bad values.
void write_seeds(const std::string& dir) {
  const auto put = [&](const std::string& name, const std::string& text) { std::ofstream(dir + "/" + name) << text; };
  put("plain", "--output-dir\nout\n--test\nart=a.png:b.png\n");
  put("budget", "--epochs=3\n--lr=1e-3\n--schedule=cosine\n--warmup=5\n--clip=1\n--spike-factor=10\n--holdout=2\n");
  put("bad", "--max-side\n1\n--seed=-1\n--kernel=4\n--lr=inf\n--test\n:x\n");
  put("memory", "--max-memory=512M\n--no-train\n--no-classical\n--classical-lambda=nan\n");
  put("help", "--help\n--recipe\nnone\n");
  put("pair", "--test=x=:\n--test=a:b:c\n--test\n=\n");
#ifdef MCSC_SOURCE_DIR
  for (const auto& entry : fs::directory_iterator(fs::path(MCSC_SOURCE_DIR) / "recipes")) {
    const std::string stem = entry.path().stem().string();
    std::ifstream in(entry.path());
    std::stringstream body;
    body << in.rdbuf();
    put("recipe_" + stem, "--recipe\n" + stem + "\n--no-train\n");
    put("file_" + stem, "--recipe=r.ini\n%%\n" + body.str());
  }
#endif
  put("recipe_bad", "--recipe=r.ini\n%%\n[recipe]\nname = x\n[options]\nepochs = -1\nrecipe = r.ini\nnot-an-option = 3\n");
}
[[maybe_unused]] const bool registered = (mcsc_fuzz::seed_writer = &write_seeds, true);

// The programs' messages and usage texts, which would fill the log (sanitizer reports go to fd 2).
std::ostringstream sink;

// The scratch folder (made once, the working directory from then on) and its emptying.
void enter_scratch() {
  static bool done = false;
  if (done) return;
  done = true;
  const fs::path dir = fs::temp_directory_path() / ("mcsc_fuzz_options_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::current_path(dir);
  std::cout.rdbuf(sink.rdbuf());
  std::cerr.rdbuf(sink.rdbuf());
}

void empty_scratch() {
  for (const auto& entry : fs::directory_iterator(fs::current_path())) fs::remove_all(entry.path());
  sink.str("");
}

bool finite_positive(double v) { return std::isfinite(v) && v > 0; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  enter_scratch();
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args{"fuzz_options"};
  std::string recipe;
  bool in_recipe = false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (in_recipe) {
      recipe += line + "\n";
    } else if (line == "%%") {
      in_recipe = true;
    } else {
      if (line.find('/') != std::string::npos || line.find('\0') != std::string::npos) return 0;
      args.push_back(line);
    }
  }
  // (A recipe line with '/' could name an --output-dir outside the scratch folder too.)
  if (args.size() > 64 || recipe.find('/') != std::string::npos) return 0;
  if (in_recipe) std::ofstream("r.ini", std::ios::binary) << recipe;

  mcsc_tasks::CommonSettings s;
  std::vector<std::string> pairs;
  std::vector<mcsc_tasks::NamedPair> parsed;
  boost::program_options::options_description desc("Options");
  desc.add_options()("help,h", "help")("test", boost::program_options::value(&pairs)->composing(), "[NAME=]A:B");
  mcsc_tasks::add_common_options(desc, s);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::optional<int> status;
  try {
    status = mcsc_cli::parse_command_line(int(args.size()), argv.data(), desc, "fuzzed", [&] {
      mcsc_tasks::validate_common(s);
      for (const auto& p : pairs) parsed.push_back(mcsc_tasks::parse_pair(p, "[NAME=]A:B"));
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mcsc fuzz: an exception escaped parse_command_line: %s\n", e.what());
    std::abort();
  }
  if (status && *status != 0 && *status != 2) std::abort();
  if (!status) {
    // Accepted: every setting is in the range its option documents.
    const auto& t = s.train.trainer;
    const bool ok = (s.max_side == 0 || s.max_side >= 16) && t.epochs >= 0 && t.steps_per_epoch > 0 &&
                    t.batch_size > 0 && t.patch_size >= 8 && finite_positive(t.adam.learning_rate) &&
                    t.decay_every_epochs > 0 && t.decay_gamma > 0 && t.decay_gamma <= 1 && t.warmup_steps >= 0 &&
                    std::isfinite(t.clip_norm) && t.clip_norm >= 0 && s.train.filters > 0 && s.train.kernel % 2 == 1 &&
                    std::isfinite(s.classical.lambda) && s.classical.lambda >= 0 && s.classical.patches > 0 &&
                    finite_positive(s.classical.back_projection.eps) && fs::is_directory(s.output_dir) && t.seed != 0 &&
                    parsed.size() == pairs.size();
    if (!ok) {
      std::fprintf(stderr, "mcsc fuzz: a command line passed validation with settings out of range\n");
      std::abort();
    }
    for (const auto& p : parsed)
      if (p.first.empty() || p.second.empty()) {
        std::fprintf(stderr, "mcsc fuzz: a pair with an empty side was accepted\n");
        std::abort();
      }
  }
  mcsc::set_memory_budget(std::uint64_t(256) << 20);  // undo a --max-memory
  empty_scratch();
  return 0;
}
