#pragma once
/// \file training_options.hpp
/// The trainer's budget, schedule and loss-spike options as command-line options, shared by
/// mcsc-train and the task programs (and so by the recipes, which are files of these options).
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mcsc/core/memory.hpp"
#include "mcsc/train/trainer.hpp"

namespace mcsc_cli {

/// Adds --epochs, --steps-per-epoch, --batch, --patch, --lr, --schedule, --decay-every,
/// --decay-gamma, --min-lr-fraction, --warmup, --clip, --edge-weight, --edge-scale and --spike-factor bound to t (and the
/// schedule's name to `schedule`), each help text starting with `prefix`.
inline void add_training_options(po::options_description& desc, mcsc::TrainerOptions& t, std::string& schedule,
                                 const std::string& prefix) {
  auto help = [&](const char* text) { return (prefix + text); };
  // (po copies each help text.)
  desc.add_options()("epochs", with_default(t.epochs), help("epochs").c_str())(
      "steps-per-epoch", with_default(t.steps_per_epoch), help("batches per epoch").c_str())(
      "batch", with_default(t.batch_size), help("patches per batch").c_str())(
      "patch", with_default(t.patch_size), help("patch side").c_str())(
      "lr", with_default(t.adam.learning_rate), help("Adam learning rate").c_str())(
      "schedule", with_default(schedule),
      help("learning-rate schedule: step (x --decay-gamma every --decay-every epochs) or cosine").c_str())(
      "decay-every", with_default(t.decay_every_epochs), help("step schedule: period in epochs").c_str())(
      "decay-gamma", with_default(t.decay_gamma), help("step schedule: factor").c_str())(
      "min-lr-fraction", with_default(t.min_lr_fraction), help("cosine schedule: the last rate as a fraction of --lr").c_str())(
      "warmup", with_default(t.warmup_steps), help("linear learning-rate warm-up steps").c_str())(
      "clip", with_default(t.clip_norm), help("gradient-norm clipping (0: off)").c_str())(
      "edge-weight", with_default(t.edge_weighting.gain),
      help("extra loss weight on the target's edges: each pixel's loss x (1 + this x min(1, its largest neighbour "
           "difference / --edge-scale)); 0: unweighted")
          .c_str())(
      "edge-scale", with_default(t.edge_weighting.scale),
      help("the neighbour difference (0-1 intensity) that counts as a full edge for --edge-weight").c_str())(
      "spike-factor", with_default(t.spike_factor),
      help("roll back when the recent batch losses exceed this x their running median, or one batch its square, "
           "or an epoch loss this x the earlier epochs' median (0: off)")
          .c_str());
}

/// Moves `count` items, chosen by a seeded Fisher-Yates shuffle, from `training` into the
/// returned validation set; both keep their original order.
template <class Item>
std::vector<Item> hold_out_items(std::vector<Item>& training, int count, std::uint64_t seed) {
  MCSC_REQUIRE(count >= 0 && std::size_t(count) < training.size(), "--holdout",
               "cannot hold back " << count << " of " << training.size() << " training pairs (at least one must stay)");
  std::vector<std::size_t> order(training.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[std::size_t(rng() % i)]);
  std::vector<bool> held(training.size(), false);
  for (int k = 0; k < count; ++k) held[order[std::size_t(k)]] = true;
  std::vector<Item> kept, validation;
  for (std::size_t i = 0; i < training.size(); ++i) (held[i] ? validation : kept).push_back(std::move(training[i]));
  training = std::move(kept);
  return validation;
}

/// Checks them (UsageError) and sets t.schedule from its name.
inline void validate_training_options(mcsc::TrainerOptions& t, const std::string& schedule) {
  require(t.epochs >= 0 && t.steps_per_epoch > 0 && t.batch_size > 0 && t.patch_size >= 8,
          "--epochs >= 0, --steps-per-epoch > 0, --batch > 0 and --patch >= 8");
  require(t.adam.learning_rate > 0 && std::isfinite(t.adam.learning_rate), "--lr must be > 0");
  require(schedule == "step" || schedule == "cosine", "--schedule must be step or cosine");
  t.schedule = schedule == "cosine" ? mcsc::Schedule::cosine : mcsc::Schedule::step;
  require(t.decay_every_epochs > 0 && t.decay_gamma > 0 && t.decay_gamma <= 1,
          "--decay-every must be > 0 and --decay-gamma in (0, 1]");
  require(t.min_lr_fraction >= 0 && t.min_lr_fraction <= 1, "--min-lr-fraction must be in [0, 1]");
  require(t.warmup_steps >= 0, "--warmup must be >= 0");
  require(t.clip_norm >= 0 && std::isfinite(t.clip_norm), "--clip must be >= 0");
  require(t.edge_weighting.gain >= 0 && std::isfinite(t.edge_weighting.gain), "--edge-weight must be >= 0");
  require(t.edge_weighting.scale > 0 && std::isfinite(t.edge_weighting.scale), "--edge-scale must be > 0");
  require(t.spike_factor == 0 || (t.spike_factor > 1 && std::isfinite(t.spike_factor)), "--spike-factor must be 0 or > 1");
}

/// Before any of the work (the model is not even built): what one training step keeps for the
/// backward pass, at least the codes before and after every stage's prox for each encoder (CU-Net
/// 3, LMCSC 2, LCSC 1), and the parameters (two filter banks per stage of each encoder) with
/// their gradients and Adam moments, in float. A lower bound (mcsc::Error beyond the memory
/// budget): --stages 100000 used to run for half a minute first.
inline void require_training_memory(const mcsc::TrainerOptions& t, int filters, int kernel, int stages, int channels,
                                    int encoders) {
  const double codes = double(t.batch_size) * t.patch_size * t.patch_size * filters * sizeof(float);
  const double parameters = double(encoders) * (stages + 1) * 2 * filters * channels * double(kernel) * kernel;
  mcsc::require_memory("training",
                       "a network of " + std::to_string(stages) + " stages of " + std::to_string(filters) + " filters " +
                           std::to_string(kernel) + "x" + std::to_string(kernel) + " on batches of " +
                           std::to_string(t.batch_size) + " patches of " + std::to_string(t.patch_size) + "x" +
                           std::to_string(t.patch_size),
                       codes * 2.0 * encoders * (stages + 1) + 4.0 * sizeof(float) * parameters);
}

}  // namespace mcsc_cli
