/// \file task_options.cpp
/// The task harness: the options every task program shares (task_harness.hpp).
#include "task_internal.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "../models.hpp"
#include "../solver_common.hpp"
#include "../training_options.hpp"
#include "mcsc/baselines/fusion.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/baselines/guided_filter.hpp"
#include "mcsc/baselines/joint_bilateral.hpp"
#include "mcsc/metrics/fusion.hpp"
#include "mcsc/nn/cunet_dictionaries.hpp"
#include "mcsc/nn/init.hpp"
#include "mcsc/solvers/classical_multimodal.hpp"
#include "mcsc/solvers/coupled_dictionary_learning.hpp"

namespace mcsc_tasks {

using namespace internal;

// ------------------------------------------------------------------------------------ options

namespace {
/// A notifier refusing an empty value ("--weights ''" used to mean no weights: a silent full run).
std::function<void(const std::string&)> not_empty(const std::string& option) {
  return [option](const std::string& v) { mcsc_cli::require(!v.empty(), option + " must not be empty"); };
}
}  // namespace

void add_common_options(po::options_description& desc, CommonSettings& s) {
  using mcsc_cli::with_default;
  auto& t = s.train.trainer;
  // clang-format off
  desc.add_options()
    ("output-dir", with_default(s.output_dir), "where report.html, results.csv, table.txt, images and checkpoints go")
    ("data-dir", po::value(&s.data_dir)->value_name("DIR"), "the shared data folder (default: $MCSC_SHARED_DIR/data or ../shared/data)")
    ("max-side", with_default(s.max_side), "centre-crop every image to at most this side (0: whole images)")
    ("recipe", po::value(&s.recipe)->value_name("FILE|NAME"), "read options from a recipe (recipes/NAME.ini or a file; the command line wins)")
    ("weights", po::value(&s.weights)->value_name("FILE")->notifier(not_empty("--weights")), "a checkpoint of a model this task runs (a zoo model, one trained with --output-dir, or official CU-Net weights converted by tools/convert_cunet_pth.py): adds its row, named after the file ('CU-Net (official)' for converted official weights)")
    ("no-train", po::bool_switch(&s.no_train), "skip the networks trained here")
    ("no-zoo", po::bool_switch(&s.no_zoo), "skip the row of the model trained here and committed under models/")
    ("guide-ablation", po::bool_switch(&s.guide_ablation), "add rows of the zoo and --weights models run with a zero guide and with another image's guide")
    ("no-classical", po::bool_switch(&s.no_classical), "skip the classical multimodal solver")
    ("holdout", with_default(s.holdout), "training: pairs held back from the training set to validate on after every epoch")
    ("resume", po::bool_switch(&s.train.resume), "training: continue the run whose checkpoint is in --output-dir")
    ("overwrite", po::bool_switch(&s.train.overwrite), "training: replace an earlier run's checkpoint in --output-dir")
    ("init-from", po::value(&s.train.init_from)->value_name("FILE|ZOO-NAME")->notifier(not_empty("--init-from")), "training: fine-tune, starting from this checkpoint of the same architecture (a file, or a zoo model's name such as flash-denoise25-cunet) instead of a random initialisation; a CU-Net that differs only in its channel count is converted to grey or from grey")
    ("filters", with_default(s.train.filters), "trained networks: filters K")
    ("kernel", with_default(s.train.kernel), "trained networks: filter size s")
    ("stages", with_default(s.train.stages), "trained networks: unrolled stages per encoder")
    ("classical-filters", with_default(s.classical.filters), "classical solver: filters per dictionary (Kc = Ku = Kv)")
    ("classical-kernel", with_default(s.classical.kernel), "classical solver: filter size")
    ("classical-lambda", with_default(s.classical.lambda), "classical solver: l1 weight")
    ("classical-learn", with_default(s.classical.learn_iterations), "classical solver: dictionary-learning iterations")
    ("classical-patches", with_default(s.classical.patches), "classical solver: training patches")
    ("classical-sweeps", with_default(s.classical.sweeps), "classical solver: common/unique sweeps per image")
    ("classical-inner", with_default(s.classical.inner_iterations), "classical solver: FISTA iterations per sweep and part")
    ("init-classical", po::bool_switch(&s.train.init_classical), "training, CU-Net: start from the classical solver's dictionaries (learned first from the training images with --classical-lambda/-learn/-patches and the network's --filters and --kernel, never taken from --classical-dictionaries; every encoder then computes ISTA steps on them) instead of a random initialisation")
    ("classical-model", po::value(&s.classical.model)->value_name("FILE")->notifier(not_empty("--classical-model")), "classical solver: load a fitted model (an mcsc checkpoint of type ClassicalMultimodal, as --classical-save writes) instead of fitting one on the training images; the row is named after the file")
    ("classical-save", po::value(&s.classical.save)->value_name("FILE")->notifier(not_empty("--classical-save")), "classical solver: write the fitted model to FILE (refuses an existing file); load it later with --classical-model, or in C++ with mcsc::ClassicalMultimodal<float>::load")
    ("classical-dictionaries", po::value(&s.classical.dictionaries)->value_name("FILE|ZOO-NAME")->notifier(not_empty("--classical-dictionaries")), "classical solver: use a trained CU-Net's filters (a checkpoint, or a zoo model's name such as depth-x4-cunet) as its dictionaries instead of learning them (each filter scaled to unit norm, as learned ones are; G is refitted); the row is named after it")
    ("classical-back-projections", with_default(s.classical.back_projection.iterations), "classical solver, super-resolution: guided back-projection iterations onto the low-resolution image (0: none)")
    ("classical-bp-radius", with_default(s.classical.back_projection.radius), "classical solver: guided-filter radius of the back-projection (0: bicubic, no guide)")
    ("classical-bp-eps", with_default(s.classical.back_projection.eps), "classical solver: guided-filter eps of the back-projection")
    ("seed", with_default(s.seed), "seed of noise, patches and initialisation")
    ("quiet", po::bool_switch(&s.train.quiet), "no progress bars");
  // clang-format on
  mcsc_cli::add_training_options(desc, t, s.schedule, "training: ");
}

void validate_common(CommonSettings& s) {
  using mcsc_cli::require;
  auto& t = s.train.trainer;
  require(s.max_side == 0 || s.max_side >= 16, "--max-side must be 0 (whole images) or at least 16");
  mcsc_cli::validate_training_options(t, s.schedule);
  require(s.holdout >= 0, "--holdout must be >= 0");
  require(!(s.train.resume && s.train.overwrite), "--resume and --overwrite exclude each other");
  require(s.train.filters > 0 && s.train.kernel > 0 && s.train.kernel % 2 == 1 && s.train.stages >= 0,
          "--filters > 0, --kernel odd and > 0, --stages >= 0");
  require(std::isfinite(s.classical.lambda), "--classical-lambda must be finite");
  require(std::isfinite(s.classical.back_projection.eps), "--classical-bp-eps must be finite");
  require(s.classical.filters > 0 && s.classical.kernel > 0 && s.classical.lambda >= 0 && s.classical.learn_iterations >= 0 &&
              s.classical.patches > 0 && s.classical.sweeps >= 0 && s.classical.inner_iterations > 0,
          "--classical-filters/-kernel/-patches/-inner > 0, --classical-lambda/-learn/-sweeps >= 0");
  require(s.classical.back_projection.iterations >= 0 && s.classical.back_projection.radius >= 0 &&
              s.classical.back_projection.eps > 0,
          "--classical-back-projections >= 0, --classical-bp-radius >= 0, --classical-bp-eps > 0");
  mcsc_cli::require_output_dir("--output-dir", s.output_dir);
  // A checkpoint option takes a file or a zoo model's name; the name becomes the file's path.
  const auto resolve_checkpoint = [](const char* option, std::string& value) {
    if (value.empty() || fs::is_regular_file(value)) return;
    const std::string zoo = zoo_model(value);
    require(!zoo.empty(), std::string(option) + " '" + value + "' is neither a checkpoint file nor a model under models/");
    value = zoo;
  };
  resolve_checkpoint("--init-from", s.train.init_from);
  resolve_checkpoint("--classical-dictionaries", s.classical.dictionaries);
  require(!(s.train.init_classical && !s.train.init_from.empty()), "--init-classical and --init-from exclude each other");
  require(!(s.train.init_classical && s.no_train), "--init-classical starts a network trained here; --no-train trains none");
  require(s.classical.model.empty() || s.classical.dictionaries.empty(),
          "--classical-model and --classical-dictionaries exclude each other");
  require(s.classical.model.empty() || s.classical.save.empty(),
          "--classical-model loads a fitted model; --classical-save writes one fitted here (use one of them)");
  require(s.classical.model.empty() || fs::is_regular_file(s.classical.model),
          "--classical-model '" + s.classical.model + "' is not a file");
  require(s.classical.save.empty() || !fs::exists(s.classical.save),
          "--classical-save '" + s.classical.save + "' exists; remove it or choose another name (nothing is overwritten)");
  if (!s.classical.model.empty()) {
    const auto type = mcsc::read_checkpoint_info(s.classical.model).model_type;
    require(type == mcsc::ClassicalMultimodal<T, ExecSpace>::type_name,
            "--classical-model: '" + s.classical.model + "' holds a " + type + ", not a ClassicalMultimodal model");
  }
  if (!s.classical.dictionaries.empty()) {
    const auto type = mcsc::read_checkpoint_info(s.classical.dictionaries).model_type;
    require(type == mcsc::CuNet<T, ExecSpace>::type_name,
            "--classical-dictionaries: '" + s.classical.dictionaries + "' holds a " + type +
                "; only a CU-Net's filters map onto the classical dictionaries (Dc, Du, Hc, Hv)");
  }
  if (s.data_dir.empty()) s.data_dir = default_data_dir();
  t.seed = s.seed ? s.seed : 1;
  s.classical.seed = t.seed;
  s.train.output_dir = s.output_dir;
  s.classical.patch = std::min(s.classical.patch, std::max(16, s.max_side > 0 ? s.max_side / 2 : s.classical.patch));
  s.train.classical = s.classical;
}

std::string default_data_dir() {
  if (const char* env = std::getenv("MCSC_SHARED_DIR")) return (fs::path(env) / "data").string();
#ifdef MCSC_SOURCE_DIR
  const fs::path beside = fs::path(MCSC_SOURCE_DIR) / ".." / "shared" / "data";
  if (fs::exists(beside)) return fs::weakly_canonical(beside).string();
#endif
  return "../shared/data";
}

}  // namespace mcsc_tasks
