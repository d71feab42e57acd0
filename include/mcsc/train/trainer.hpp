#pragma once
/// \file trainer.hpp
/// Training of the unrolled networks (CuNet, LmcscNet, LcscNet: anything with forward(x, y, out,
/// training), backward(grad), parameters(), type_name and config_string()) on aligned
/// multimodal images: random aligned patches (with flips and rotations), forward, loss,
/// backward, Adam with a schedule (step decay or cosine, optional linear warm-up) and optional
/// clipping; a progress bar (rate, epoch and run ETA); per epoch an atomic checkpoint (model,
/// Adam state, epoch, random-generator state and the trainer's own state: history, rate scale,
/// best validation score), from which training resumes bit for bit, and the CSV log rewritten
/// from the history the checkpoint holds (so log and checkpoint always agree).
///
/// Loss spikes: the median of the last spike_recent batch losses above spike_factor x the
/// median of the spike_window batch losses before them (a sustained jump; single hard batches
/// are part of training: on depth SR one batch in a few hundred is 10-15x the median), one batch
/// loss above spike_factor^2 x that median, an epoch loss above spike_factor x the median of the
/// earlier epochs' losses, or a NaN/Inf loss or parameter rolls the model and Adam back to the
/// end of the last good epoch,
/// multiplies the learning rate by spike_lr_factor and repeats the epoch (with new patches); the
/// event is in the epoch's record and the log. After max_rollbacks rollbacks the run stops with
/// an mcsc::Error naming the epoch, the step and the last good checkpoint, which is left as it was.
///
/// With validation images, the checkpoint of the best validation PSNR is kept beside the last
/// (best_checkpoint_path, by default <checkpoint stem>.best<extension>).
///
/// Data parallelism (options.shards, options.communicator): the batch is split into `shards`
/// equal parts whose gradients and losses are computed separately and summed in shard order, so
/// the step's gradient is the same bit for bit however the shards are spread over ranks. With a
/// communicator of R ranks (R dividing shards) each rank computes shards/R of them; every rank
/// draws the whole batch from the same generator (the draws are 16 bytes a patch), gathers every
/// shard's gradient (Communicator::allgather, host-staged where the parameters live on a
/// device), sums them in shard order and makes the same Adam step, so the ranks' models stay
/// identical without a broadcast. Rank 0 alone writes the checkpoints and the log; validation
/// images are split over the ranks and their scores gathered. A run on R ranks with S shards
/// equals a one-process run with S shards bit for bit, and a checkpoint resumes on any number
/// of ranks that divides S. shards = 1 (alone, the default) is the plain whole-batch step.
/// With a communicator, fit(), validation_psnr() and resume() are collective, and an exception
/// on one rank leaves the others waiting: run the work under mcsc::mpi::run_or_abort.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "mcsc/core/communicator.hpp"
#include "mcsc/data/patches.hpp"
#include "mcsc/metrics/psnr.hpp"
#include "mcsc/train/checkpoint.hpp"
#include "mcsc/train/loss.hpp"
#include "mcsc/train/optim.hpp"
#include "mcsc/train/progress.hpp"

namespace mcsc {

/// Learning-rate schedule: step (x decay_gamma every decay_every_epochs epochs, the papers') or
/// cosine (from the initial rate to min_lr_fraction x it over all steps of the run).
enum class Schedule { step, cosine };

struct TrainerOptions {
  int epochs = 10;
  int steps_per_epoch = 100;
  int batch_size = 16;
  int patch_size = 64;
  bool augment = true;
  /// > 0: every training input patch is target + input_noise N(0, 1), drawn afresh (denoising);
  /// 0: the input stored with the image. Validation always uses the stored input.
  double input_noise = 0;
  LossKind loss = LossKind::mse;
  /// Per-pixel loss weights from the target's edges (edge_loss_weights); gain 0: unweighted.
  /// Validation PSNR stays unweighted.
  EdgeLossWeighting edge_weighting{};
  AdamOptions adam{};
  int decay_every_epochs = 50;  ///< learning rate x decay_gamma every this many epochs
  double decay_gamma = 0.9;
  Schedule schedule = Schedule::step;
  double min_lr_fraction = 0.01;  ///< cosine: the last step's rate is this fraction of the first
  int warmup_steps = 0;           ///< linear warm-up: step t < warmup_steps runs at (t+1)/warmup_steps of the rate
  double clip_norm = 0;           ///< global gradient-norm clipping; 0: off
  double spike_factor = 10;       ///< loss-spike guard (see the file comment); 0: off (NaN/Inf still rolls back)
  int spike_window = 64;          ///< batch losses the reference median is taken over (checked once 16 are in)
  int spike_recent = 8;           ///< recent batch losses whose median must jump for a sustained spike
  double spike_lr_factor = 0.5;   ///< learning-rate factor applied at each rollback
  int max_rollbacks = 8;          ///< rollbacks allowed in one run before it stops
  std::uint64_t seed = 1;
  /// Memory for the batches drawn ahead: their draws (16 bytes a patch) and, denoising, their
  /// noise (8 bytes a pixel), made on the host for as many steps of an epoch as fit (at least
  /// one) and copied to the device at once, and the host generator's state after each step
  /// (2.5 KB). The run is the same bit for bit for any value.
  std::size_t draw_ahead_bytes = std::size_t(64) << 20;
  std::string checkpoint_path;       ///< written after every epoch when not empty
  std::string best_checkpoint_path;  ///< best validation PSNR; empty: derived from checkpoint_path
  std::string csv_path;              ///< per-epoch log when not empty (rewritten from the history each epoch)
  bool progress = true;              ///< progress bar on stderr (rank 0's only)
  /// The batch in this many equal parts, their gradients summed in shard order (see the file
  /// comment); batch_size must be a multiple of it and it a multiple of the number of ranks.
  /// 0: the number of ranks (1 without a communicator: the whole batch at once).
  int shards = 0;
  /// The ranks of a data-parallel run (mcsc::mpi::Communicator); null: this process alone.
  std::shared_ptr<Communicator> communicator;
  /// Called before every step with the 0-based global step and the scheduled rate; returns the
  /// rate to use (a rate finder, a test provoking a spike). Not saved in checkpoints.
  std::function<double(std::int64_t step, double rate)> rate_hook;
};

/// The per-step learning rate of options before rollbacks: warm-up, then step decay or cosine.
inline double scheduled_learning_rate(const TrainerOptions& o, std::int64_t step) {
  const double initial = o.adam.learning_rate;
  const std::int64_t total = std::int64_t(o.epochs) * o.steps_per_epoch;
  double rate = initial;
  if (o.schedule == Schedule::cosine) {
    const double t = total > 1 ? double(std::min(step, total - 1)) / double(total - 1) : 0.0;
    const double low = initial * o.min_lr_fraction;
    rate = low + (initial - low) * 0.5 * (1 + std::cos(3.14159265358979323846 * t));
  } else {
    const int epoch = int(step / std::max(1, o.steps_per_epoch));
    rate = StepDecay{initial, o.decay_every_epochs, o.decay_gamma}.at_epoch(epoch);
  }
  if (step < o.warmup_steps) rate *= double(step + 1) / double(o.warmup_steps);
  return rate;
}

namespace Impl {
/// out(i) = (rows(0, i) + rows(1, i) + ... + rows(S - 1, i)) x (1 / S), summed in row order: the
/// same bits whatever runs it.
template <class Rows, class Out>
void mean_of_rows(const Rows& rows, const Out& out) {
  using T = typename Out::non_const_value_type;
  const int count = int(rows.extent(0));
  const T inv = T(1) / T(count);
  Kokkos::parallel_for(
      "mcsc::mean_of_rows", Kokkos::RangePolicy<typename Out::execution_space>(0, out.extent(0)),
      KOKKOS_LAMBDA(const std::size_t i) {
        T sum = rows(0, i);
        for (int s = 1; s < count; ++s) sum += rows(s, i);
        out(i) = sum * inv;
      });
}
}  // namespace Impl

/// What happened in one epoch.
struct EpochRecord {
  int epoch = 0;  ///< 1-based
  double train_loss = 0, validation_psnr = 0;
  double learning_rate = 0;  ///< the rate of the epoch's last step
  double seconds = 0;        ///< the epoch's wall time, repeats after rollbacks included
  bool best = false;         ///< the best validation PSNR so far (its checkpoint was kept)
  std::string event;         ///< rollbacks during this epoch, or empty
};

/// The batch-loss test of the loss-spike guard (see the file comment): check(loss) returns why
/// the loss is a spike, or an empty string and then remembers it. The window of remembered
/// losses is the state a checkpoint keeps.
class LossSpikeGuard {
 public:
  /// factor 0: only NaN/Inf losses are spikes.
  LossSpikeGuard(double factor = 10, int window = 64, int recent = 8)
      : m_factor(factor), m_window(std::size_t(window)), m_recent(std::size_t(recent)) {
    MCSC_REQUIRE(factor == 0 || factor > 1, "mcsc::LossSpikeGuard", "factor must be 0 (off) or > 1, got " << factor);
    MCSC_REQUIRE(window >= 16 && recent >= 1, "mcsc::LossSpikeGuard", "window must be >= 16 and recent >= 1");
  }

  std::string check(double loss) {
    if (!std::isfinite(loss)) return "the loss or a parameter became NaN/Inf";
    std::ostringstream why;
    if (m_factor > 0 && m_losses.size() >= 16 + m_recent - 1) {
      const auto split = m_losses.end() - std::ptrdiff_t(m_recent - 1);
      const double m = median(std::vector<double>(m_losses.begin(), split));
      std::vector<double> last(split, m_losses.end());
      last.push_back(loss);
      if (loss > m_factor * m_factor * m) {
        why << "batch loss " << loss << " > " << m_factor * m_factor << " x the running median " << m;
        return why.str();
      }
      if (median(last) > m_factor * m) {
        why << "the median of the last " << m_recent << " batch losses " << median(last) << " > " << m_factor
            << " x the running median before them " << m;
        return why.str();
      }
    }
    m_losses.push_back(loss);
    if (m_losses.size() > m_window + m_recent - 1) m_losses.erase(m_losses.begin());
    return {};
  }

  const std::vector<double>& losses() const { return m_losses; }
  void set_losses(std::vector<double> losses) { m_losses = std::move(losses); }

  static double median(std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  }

 private:
  double m_factor;
  std::size_t m_window, m_recent;
  std::vector<double> m_losses;
};

template <class Model>
class Trainer {
 public:
  using T = typename Model::params_type::flat_type::value_type;
  using tensor_type = typename Model::tensor_type;
  using ExecSpace = typename tensor_type::execution_space;
  using optimizer_type = Adam<T, ExecSpace>;
  using flat_type = typename Model::params_type::flat_type;

  Trainer(Model& model, const TrainerOptions& options)
      : m_model(&model), m_options(options), m_adam(model.parameters(), options.adam), m_rng(options.seed),
        m_guard(options.spike_factor, options.spike_window, options.spike_recent) {
    const char* fn = "mcsc::Trainer";
    MCSC_REQUIRE(options.epochs >= 0 && options.steps_per_epoch > 0 && options.batch_size > 0 && options.patch_size > 0,
                 fn, "epochs, steps per epoch, batch and patch sizes must be positive");
    MCSC_REQUIRE(options.clip_norm >= 0, fn, "clip_norm must be >= 0");
    MCSC_REQUIRE(options.warmup_steps >= 0, fn, "warmup_steps must be >= 0");
    MCSC_REQUIRE(options.min_lr_fraction >= 0 && options.min_lr_fraction <= 1, fn, "min_lr_fraction must be in [0, 1]");
    MCSC_REQUIRE(options.spike_factor == 0 || options.spike_factor > 1, fn, "spike_factor must be 0 (off) or > 1");
    MCSC_REQUIRE(options.spike_window >= 16, fn, "spike_window must be >= 16");
    MCSC_REQUIRE(options.spike_recent >= 1, fn, "spike_recent must be >= 1");
    MCSC_REQUIRE(options.spike_lr_factor > 0 && options.spike_lr_factor < 1, fn, "spike_lr_factor must be in (0, 1)");
    MCSC_REQUIRE(options.max_rollbacks >= 0, fn, "max_rollbacks must be >= 0");
    if (options.communicator) {
      m_rank = options.communicator->rank();
      m_ranks = options.communicator->size();
      MCSC_REQUIRE(m_ranks >= 1 && m_rank >= 0 && m_rank < m_ranks, fn,
                   "the communicator says rank " << m_rank << " of " << m_ranks);
    }
    MCSC_REQUIRE(options.shards >= 0, fn, "shards must be >= 0 (0: the number of ranks), got " << options.shards);
    m_shards = options.shards == 0 ? m_ranks : options.shards;
    MCSC_REQUIRE(m_shards % m_ranks == 0, fn,
                 "shards (" << m_shards << ") must be a multiple of the number of ranks (" << m_ranks << ")");
    MCSC_REQUIRE(options.batch_size % m_shards == 0, fn,
                 "the batch size (" << options.batch_size << ") must be a multiple of shards (" << m_shards << ")");
    if (m_options.best_checkpoint_path.empty() && !m_options.checkpoint_path.empty())
      m_options.best_checkpoint_path = best_path_for(m_options.checkpoint_path);
  }

  /// <stem>.best<extension> beside a checkpoint path.
  static std::string best_path_for(const std::string& checkpoint) {
    const std::filesystem::path p(checkpoint);
    return (p.parent_path() / (p.stem().string() + ".best" + p.extension().string())).string();
  }

  /// Continues from a checkpoint written by this trainer: model, Adam state, epoch, generator,
  /// history, rate scale and best score.
  void resume(const std::string& path) {
    const auto info = load_checkpoint(path, m_model->parameters(), Model::type_name, m_model->config_string(), &m_adam);
    MCSC_REQUIRE(info.optimizer_type == optimizer_type::type_name, "mcsc::Trainer::resume",
                 "'" << path << "' has no Adam state (a converted or inference-only file?)");
    std::istringstream in(info.rng_state);
    in >> m_rng;
    MCSC_REQUIRE(!in.fail(), "mcsc::Trainer::resume", "'" << path << "' has no valid generator state");
    m_epoch = int(info.epoch);
    m_step = info.step;
    read_state(info.notes, path);
  }

  int epoch() const { return m_epoch; }
  std::int64_t step() const { return m_step; }
  optimizer_type& optimizer() { return m_adam; }
  /// Every epoch so far (resumed ones included), as the CSV log shows them.
  const std::vector<EpochRecord>& history() const { return m_history; }
  int rollbacks() const { return m_rollbacks; }
  /// Product of the rollbacks' rate factors (1 without rollbacks).
  double rate_scale() const { return m_rate_scale; }
  const TrainerOptions& options() const { return m_options; }
  /// This process' rank and the number of ranks (0 and 1 without a communicator).
  int rank() const { return m_rank; }
  int ranks() const { return m_ranks; }
  /// The batch's shards (options.shards, or the number of ranks for 0).
  int shards() const { return m_shards; }

  /// Trains until options.epochs epochs are done (counting resumed ones); returns this call's
  /// epoch records. validation may be empty (PSNR then 0, no best checkpoint).
  std::vector<EpochRecord> fit(const std::vector<ImageTriplet>& train, const std::vector<ImageTriplet>& validation) {
    const PatchSampler sampler(train, m_options.patch_size, m_options.augment, m_options.input_noise,
                               "mcsc::Trainer::fit");  // checks the images, naming them
    return fit(DeviceImageSet<T, ExecSpace>(train), validation);  // the one copy of the training images
  }

  /// The same, on training images already in the execution space's memory (a DeviceImageSet, made
  /// from ImageTriplets or from device tensors): the same draws, so the same run bit for bit as
  /// fit() on the ImageTriplets the set holds.
  std::vector<EpochRecord> fit(const DeviceImageSet<T, ExecSpace>& images, const std::vector<ImageTriplet>& validation) {
    const PatchSampler sampler(images.channels(), images.sizes(), m_options.patch_size, m_options.augment,
                               m_options.input_noise, "mcsc::Trainer::fit");
    for (const auto& v : validation) v.check("mcsc::Trainer::fit");
    const Shape4 batch{m_options.batch_size / m_shards, sampler.channels(), m_options.patch_size, m_options.patch_size};
    allocate(batch);
    allocate_draws(sampler);
    take_snapshot();
    std::vector<EpochRecord> records;
    const auto run_start = std::chrono::steady_clock::now();
    const int first_epoch = m_epoch;
    while (m_epoch < m_options.epochs) {
      EpochRecord rec;
      rec.epoch = m_epoch + 1;
      double seconds = 0;
      for (;;) {  // the epoch, repeated after a rollback
        ProgressBar bar("[epoch " + std::to_string(rec.epoch) + "/" + std::to_string(m_options.epochs) + "]",
                        std::int64_t(m_options.steps_per_epoch) * m_options.batch_size, "patches",
                        m_options.progress && m_rank == 0);
        double total = 0;
        std::string spike;
        int last = 0;  // the last step made, from 0
        m_ahead_first = m_ahead_count = 0;  // nothing drawn for this epoch (or its repeat) yet
        for (int s = 0; s < m_options.steps_per_epoch && spike.empty(); ++s) {
          rec.learning_rate = set_rate();
          const double loss = train_step(sampler, images, s);
          last = s;
          spike = batch_spike(loss, rec.epoch, s + 1);
          total += loss;
          char note[64];
          std::snprintf(note, sizeof note, "loss %.4g", total / (s + 1));
          bar.update(std::int64_t(s + 1) * m_options.batch_size, note);
        }
        if (spike.empty()) {
          rec.train_loss = total / m_options.steps_per_epoch;
          spike = epoch_spike(rec.train_loss, rec.epoch);
        }
        seconds += bar.elapsed_seconds();
        if (spike.empty()) {
          rec.validation_psnr = validation.empty() ? 0.0 : validation_psnr(validation);
          rec.seconds = seconds;
          rec.best = !validation.empty() && std::isfinite(rec.validation_psnr) && rec.validation_psnr > m_best_psnr;
          bar.finish(epoch_note(rec, validation.empty(), run_start, first_epoch));
          break;
        }
        bar.finish("rolled back: " + spike);
        rewind_draws(last);
        rollback(spike, rec);
      }
      ++m_epoch;
      if (rec.best) m_best_psnr = rec.validation_psnr;
      m_history.push_back(rec);
      if (m_rank == 0 && !m_options.checkpoint_path.empty()) save(m_options.checkpoint_path);
      if (m_rank == 0 && rec.best && !m_options.best_checkpoint_path.empty()) save(m_options.best_checkpoint_path);
      if (m_rank == 0 && !m_options.csv_path.empty()) write_csv();
      take_snapshot();
      records.push_back(rec);
    }
    return records;
  }

  /// Writes the trainer's full state (model, Adam, epoch, generator, history) to path.
  void save(const std::string& path) const {
    CheckpointInfo info;
    info.model_type = Model::type_name;
    info.model_config = m_model->config_string();
    info.epoch = m_epoch;
    info.step = m_step;
    std::ostringstream rng;
    rng << m_rng;
    info.rng_state = rng.str();
    info.notes = state_string();
    save_checkpoint(path, m_model->parameters(), info, &m_adam);
  }

  /// Mean PSNR (peak 1) of the model's output on whole images. With a communicator, image k is
  /// scored on rank k mod R and the scores are gathered and summed in image order: the value one
  /// process alone computes, bit for bit.
  double validation_psnr(const std::vector<ImageTriplet>& images) {
    std::vector<double> mine(images.size(), 0.0);
    for (std::size_t k = 0; k < images.size(); ++k) {
      if (int(k % std::size_t(m_ranks)) != m_rank) continue;
      const auto& im = images[k];
      const Shape4 s{1, im.channels, im.height, im.width};
      auto x = from_planes(im.input, s), y = from_planes(im.guide, s), target = from_planes(im.target, s);
      auto out = make_tensor<T, ExecSpace>("mcsc::Trainer::validation_output", s);
      m_model->forward(x, y, out, false);
      mine[k] = psnr(out, target);
    }
    std::vector<double> all(mine.size() * std::size_t(m_ranks));
    if (m_ranks > 1) m_options.communicator->allgather(mine.data(), all.data(), mine.size());
    else all = mine;
    double sum = 0;
    for (std::size_t k = 0; k < images.size(); ++k) sum += all[(k % std::size_t(m_ranks)) * mine.size() + k];
    return sum / double(images.size());
  }

 private:
  static constexpr const char* state_tag = "mcsc-trainer-state 1";

  static tensor_type from_planes(const std::vector<float>& data, const Shape4& s) {
    auto t = make_tensor<T, ExecSpace>("mcsc::Trainer::image", s);
    auto h = Kokkos::create_mirror_view(t);
    for (std::size_t i = 0; i < data.size(); ++i) h.data()[i] = T(data[i]);
    Kokkos::deep_copy(t, h);
    return t;
  }

  void allocate(const Shape4& batch) {
    if (!m_good_values.data()) {
      m_good_values = flat_type("mcsc::Trainer::good_values", m_model->parameters().flat_size());
      for (const auto& b : m_adam.state_buffers()) m_good_state.push_back(flat_type("mcsc::Trainer::good_state", b.extent(0)));
    }
    if (m_shards > 1 && !m_shard_grads.data()) {
      const std::size_t n = m_model->parameters().flat_size(), mine = std::size_t(m_shards / m_ranks);
      m_shard_grads = shard_grads_type("mcsc::Trainer::shard_grads", mine, n);
      m_hshard_grads = Kokkos::create_mirror_view(m_shard_grads);
      m_all_grads = shard_grads_type("mcsc::Trainer::all_grads", std::size_t(m_shards), n);
      m_hall_grads = Kokkos::create_mirror_view(m_all_grads);
    }
    if (m_x.data() && shape_of(m_x) == batch) return;
    m_x = make_tensor<T, ExecSpace>("mcsc::Trainer::x", batch);
    m_y = make_tensor<T, ExecSpace>("mcsc::Trainer::y", batch);
    m_target = make_tensor<T, ExecSpace>("mcsc::Trainer::target", batch);
    m_out = make_tensor<T, ExecSpace>("mcsc::Trainer::output", batch);
    m_grad = make_tensor<T, ExecSpace>("mcsc::Trainer::grad", batch);
    if (m_options.edge_weighting.enabled()) m_weights = make_tensor<T, ExecSpace>("mcsc::Trainer::loss_weights", batch);
  }

  /// The buffers of the draws made ahead (draw_ahead): as many steps as fit in
  /// options.draw_ahead_bytes, at least one, at most an epoch; the generator's state after each.
  void allocate_draws(const PatchSampler& sampler) {
    const std::size_t n = std::size_t(m_options.batch_size);  // the whole batch, every shard's
    const std::size_t noise_per_step = sampler.has_input_noise() ? n * (m_x.size() / m_x.extent(0)) : 0;
    const std::size_t bytes_per_step =
        n * 4 * sizeof(int) + noise_per_step * sizeof(double) + sizeof(std::mt19937_64);  // the state kept
    m_ahead_capacity =
        int(std::clamp<std::size_t>(m_options.draw_ahead_bytes / bytes_per_step, 1, std::size_t(m_options.steps_per_epoch)));
    const std::size_t steps = std::size_t(m_ahead_capacity);
    m_draws = typename DeviceImageSet<T, ExecSpace>::draws_type("mcsc::Trainer::draws", steps * n);
    m_hdraws = Kokkos::create_mirror_view(m_draws);
    m_noise = {};
    m_hnoise = {};
    if (noise_per_step > 0) {
      m_noise = typename DeviceImageSet<T, ExecSpace>::noise_type("mcsc::Trainer::noise", steps * noise_per_step);
      m_hnoise = Kokkos::create_mirror_view(m_noise);
    }
    m_ahead_states.assign(steps, m_rng);
  }

  /// Makes the draws of steps `step` .. of this epoch (as many as the buffers hold, not past the
  /// epoch's end) with the sampler's generator, in the order train_step() uses them, keeps the
  /// generator's state after each step's draws (a rollback goes on from there, as if nothing had
  /// been drawn ahead), and copies them to the device at once: one copy for many steps.
  void draw_ahead(const PatchSampler& sampler, int step) {
    const std::size_t n = std::size_t(m_options.batch_size);
    const std::size_t noise_per_step = m_noise.data() ? n * (m_x.size() / m_x.extent(0)) : 0;
    m_ahead_first = step;
    m_ahead_count = std::min(m_ahead_capacity, m_options.steps_per_epoch - step);
    for (int k = 0; k < m_ahead_count; ++k) {
      sampler.draw(m_rng, int(n), m_hdraws.data() + 4 * n * std::size_t(k),
                   noise_per_step ? m_hnoise.data() + noise_per_step * std::size_t(k) : nullptr);
      m_ahead_states[std::size_t(k)] = m_rng;
    }
    Kokkos::deep_copy(m_draws, m_hdraws);
    if (noise_per_step) Kokkos::deep_copy(m_noise, m_hnoise);
  }

  /// After a rollback at step `last` of the epoch (counted from 0, always in the part drawn
  /// last): the generator goes back to its state after that step's draws. (The epoch's repeat
  /// drops the draws made ahead of it: fit() empties the buffers at every epoch's start.)
  void rewind_draws(int last) { m_rng = m_ahead_states[std::size_t(last - m_ahead_first)]; }

  /// The rate of the next step: schedule x rollback scale, then the hook.
  double set_rate() {
    double rate = scheduled_learning_rate(m_options, m_step) * m_rate_scale;
    if (m_options.rate_hook) rate = m_options.rate_hook(m_step, rate);
    m_adam.set_learning_rate(rate);
    return rate;
  }

  /// Step `step` of the epoch (from 0); returns the batch loss (NaN when the loss or a parameter
  /// is not finite). On a device the step reads one scalar back to the host, the loss with the
  /// parameters' finiteness (loss_unless_nonfinite), and copies nothing across memory spaces:
  /// the batches' draws (4 ints a patch, drawn on the host by the sampler's generator) and, for
  /// denoising, their noise are made and copied for many steps at once (draw_ahead: a whole
  /// epoch, up to options.draw_ahead_bytes), and the patches are cut on the device from the images copied there
  /// once (DeviceImageSet). Gradient clipping, when asked for, reads back the gradient norm
  /// too. A NaN loss makes the step's update NaN as well, and the rollback that follows restores
  /// the state before it.
  double train_step(const PatchSampler& sampler, const DeviceImageSet<T, ExecSpace>& images, int step) {
    if (step < m_ahead_first || step >= m_ahead_first + m_ahead_count) draw_ahead(sampler, step);
    const std::size_t first = std::size_t(step - m_ahead_first) * std::size_t(m_options.batch_size);
    if (m_shards > 1) return sharded_step(images, first);
    images.gather(m_draws, m_noise, m_x, m_y, m_target, first);
    gradient_of_batch();
    ++m_step;
    if (m_options.clip_norm > 0) clip_gradient_norm(m_model->parameters(), m_options.clip_norm);
    m_adam.step();
    return loss_unless_nonfinite(m_options.loss, m_out, m_target, m_model->parameters().values(), m_nonfinite,
                                 m_weights);
  }

  /// The parameters' gradient of the loss on the batch in m_x, m_y, m_target.
  void gradient_of_batch() {
    m_model->parameters().zero_grad();
    m_model->forward(m_x, m_y, m_out, true);
    if (m_options.edge_weighting.enabled()) edge_loss_weights(m_options.edge_weighting, m_target, m_weights);
    loss_gradient(m_options.loss, m_out, m_target, m_grad, m_weights);
    m_model->backward(m_grad);
  }

  /// A step of options.shards shards, this rank's shards/R of them computed here (the batch's
  /// patches first + shard x B/S ..): every shard's gradient and loss gathered on every rank,
  /// summed in shard order, one Adam step. Reads back this rank's shard losses and, for the
  /// finiteness of the parameters, one count.
  double sharded_step(const DeviceImageSet<T, ExecSpace>& images, std::size_t first) {
    const int mine = m_shards / m_ranks;
    const std::size_t per_shard = std::size_t(m_x.extent(0)), n = m_model->parameters().flat_size();
    std::vector<double> losses(static_cast<std::size_t>(mine)), all_losses(static_cast<std::size_t>(m_shards));
    const flat_type none;  // loss_unless_nonfinite watching nothing: the shard's loss alone
    for (int j = 0; j < mine; ++j) {
      images.gather(m_draws, m_noise, m_x, m_y, m_target, first + std::size_t(m_rank * mine + j) * per_shard);
      gradient_of_batch();
      Kokkos::deep_copy(Kokkos::subview(m_shard_grads, std::size_t(j), Kokkos::ALL), m_model->parameters().grads());
      losses[std::size_t(j)] = loss_unless_nonfinite(m_options.loss, m_out, m_target, none, m_nonfinite, m_weights);
    }
    ++m_step;
    if (m_ranks > 1) {  // through host memory (no copy where the parameters live there)
      Kokkos::deep_copy(m_hshard_grads, m_shard_grads);
      m_options.communicator->allgather(m_hshard_grads.data(), m_hall_grads.data(), std::size_t(mine) * n);
      Kokkos::deep_copy(m_all_grads, m_hall_grads);
      m_options.communicator->allgather(losses.data(), all_losses.data(), losses.size());
    } else {
      Kokkos::deep_copy(m_all_grads, m_shard_grads);
      all_losses = losses;
    }
    Impl::mean_of_rows(m_all_grads, m_model->parameters().grads());
    if (m_options.clip_norm > 0) clip_gradient_norm(m_model->parameters(), m_options.clip_norm);
    m_adam.step();
    double loss = 0;
    m_nonfinite_shard = -1;
    for (int s = 0; s < m_shards; ++s) {
      loss += all_losses[std::size_t(s)];
      if (m_nonfinite_shard < 0 && !std::isfinite(all_losses[std::size_t(s)])) m_nonfinite_shard = s;
    }
    loss /= double(m_shards);
    if (count_nonfinite(m_model->parameters().values()) != 0) return std::numeric_limits<double>::quiet_NaN();
    return loss;
  }

  static double median(std::vector<double> v) { return LossSpikeGuard::median(std::move(v)); }

  /// Empty, or why this batch loss is a spike (the guard), naming where.
  std::string batch_spike(double loss, int epoch, int step_in_epoch) {
    std::string why = m_guard.check(loss);
    if (why.empty()) return why;
    if (m_shards > 1 && m_nonfinite_shard >= 0)  // which part of the batch went wrong first, and where
      why += " (first in shard " + std::to_string(m_nonfinite_shard) + ", computed on rank " +
             std::to_string(m_nonfinite_shard / (m_shards / m_ranks)) + ")";
    return "epoch " + std::to_string(epoch) + ", step " + std::to_string(step_in_epoch) + ": " + why;
  }

  /// Empty, or why this epoch loss is a spike (against the median of the earlier epochs).
  std::string epoch_spike(double loss, int epoch) const {
    if (m_options.spike_factor <= 0 || m_history.size() < 2) return {};
    std::vector<double> earlier;
    for (const auto& r : m_history) earlier.push_back(r.train_loss);
    const double m = median(earlier);
    if (loss <= m_options.spike_factor * m) return {};
    std::ostringstream why;
    why << "epoch " << epoch << ": epoch loss " << loss << " > " << m_options.spike_factor
        << " x the median of the earlier epochs " << m;
    return why.str();
  }

  void take_snapshot() {
    Kokkos::deep_copy(m_good_values, m_model->parameters().values());
    const auto state = m_adam.state_buffers();
    for (std::size_t k = 0; k < state.size(); ++k) Kokkos::deep_copy(m_good_state[k], state[k]);
    m_good_adam_steps = m_adam.steps();
    m_good_step = m_step;
    m_good_window = m_guard.losses();
    m_good_finite = count_nonfinite(m_good_values) == 0;
  }

  void rollback(const std::string& why, EpochRecord& rec) {
    ++m_rollbacks;
    MCSC_REQUIRE_NUMERIC(m_rollbacks <= m_options.max_rollbacks, "mcsc::Trainer",
                 "training diverged at " << why << "; " << m_options.max_rollbacks << " rollback(s) did not help"
                                         << last_good(rec.epoch));
    MCSC_REQUIRE_NUMERIC(m_good_finite, "mcsc::Trainer",
                 "training diverged at " << why << "; the state to roll back to holds NaN/Inf values too"
                                         << last_good(rec.epoch));
    Kokkos::deep_copy(m_model->parameters().values(), m_good_values);
    const auto state = m_adam.state_buffers();
    for (std::size_t k = 0; k < state.size(); ++k) Kokkos::deep_copy(state[k], m_good_state[k]);
    m_adam.set_steps(m_good_adam_steps);
    m_step = m_good_step;
    m_guard.set_losses(m_good_window);
    m_rate_scale *= m_options.spike_lr_factor;
    std::ostringstream event;
    event << (rec.event.empty() ? "" : "; ") << "rollback " << m_rollbacks << " (" << why
          << "): back to the end of epoch " << rec.epoch - 1 << ", learning rate x" << m_options.spike_lr_factor;
    rec.event += event.str();
    if (m_options.progress && m_rank == 0)
      std::fprintf(stderr, "  %s\n", event.str().c_str() + (event.str()[0] == ';' ? 2 : 0));
  }

  std::string epoch_note(const EpochRecord& rec, bool no_validation, std::chrono::steady_clock::time_point start,
                         int first_epoch) const {
    char note[160];
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int done = rec.epoch - first_epoch, left = m_options.epochs - rec.epoch;
    const double eta = done > 0 ? elapsed / done * left : 0;
    if (no_validation)
      std::snprintf(note, sizeof note, "loss %.4g  (no validation images)  run ETA %d:%02d:%02d", rec.train_loss,
                    int(eta) / 3600, int(eta) / 60 % 60, int(eta) % 60);
    else
      std::snprintf(note, sizeof note, "loss %.4g  validation PSNR %.2f dB%s  run ETA %d:%02d:%02d", rec.train_loss,
                    rec.validation_psnr, rec.best ? " (best)" : "", int(eta) / 3600, int(eta) / 60 % 60, int(eta) % 60);
    return note;
  }

  std::string last_good(int epoch) const {
    return m_options.checkpoint_path.empty() ? std::string()
                                             : "; the last good state is in '" + m_options.checkpoint_path +
                                                   "' (epoch " + std::to_string(epoch - 1) + ")";
  }

  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) out += (c == '\n' || c == '\t') ? ' ' : c;
    return out;
  }

  /// The trainer's own state as text (the checkpoint's notes): rate scale, rollbacks, best
  /// score, the batch-loss window and the history, doubles printed exactly (%.17g).
  std::string state_string() const {
    std::ostringstream os;
    os.precision(17);
    os << state_tag << "\nrate_scale\t" << m_rate_scale << "\nrollbacks\t" << m_rollbacks << "\nbest_psnr\t"
       << m_best_psnr << "\nwindow";
    for (double l : m_guard.losses()) os << '\t' << l;
    for (const auto& r : m_history)
      os << "\nepoch\t" << r.epoch << '\t' << r.train_loss << '\t' << r.validation_psnr << '\t' << r.learning_rate
         << '\t' << r.seconds << '\t' << int(r.best) << '\t' << escape(r.event);
    return os.str();
  }

  void read_state(const std::string& notes, const std::string& path) {
    m_history.clear();
    m_guard.set_losses({});
    m_rate_scale = 1;
    m_rollbacks = 0;
    m_best_psnr = -std::numeric_limits<double>::infinity();
    if (notes.rfind(state_tag, 0) != 0) return;  // written by an older mcsc: no trainer state
    std::istringstream in(notes);
    std::string line;
    std::getline(in, line);
    auto bad = [&](const std::string& what) {
      MCSC_REQUIRE(false, "mcsc::Trainer::resume", "'" << path << "' has a malformed trainer state (" << what << ")");
    };
    auto number = [&](const std::string& text) {
      try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        if (used == text.size()) return v;
      } catch (const std::exception&) {
      }
      bad("'" + text + "' is not a number");
      return 0.0;
    };
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::size_t a = 0;
      for (std::size_t b; (b = line.find('\t', a)) != std::string::npos; a = b + 1) f.push_back(line.substr(a, b - a));
      f.push_back(line.substr(a));
      if (f[0] == "rate_scale" && f.size() == 2) m_rate_scale = number(f[1]);
      else if (f[0] == "rollbacks" && f.size() == 2) m_rollbacks = int(number(f[1]));
      else if (f[0] == "best_psnr" && f.size() == 2) m_best_psnr = f[1] == "-inf" ? -std::numeric_limits<double>::infinity() : number(f[1]);
      else if (f[0] == "window") {
        std::vector<double> window;
        for (std::size_t k = 1; k < f.size(); ++k) window.push_back(number(f[k]));
        m_guard.set_losses(window);
      } else if (f[0] == "epoch" && f.size() == 8) {
        EpochRecord r;
        r.epoch = int(number(f[1]));
        r.train_loss = number(f[2]);
        r.validation_psnr = number(f[3]);
        r.learning_rate = number(f[4]);
        r.seconds = number(f[5]);
        r.best = number(f[6]) != 0;
        r.event = f[7];
        m_history.push_back(r);
      } else {
        bad("line '" + line + "'");
      }
    }
    if (int(m_history.size()) != m_epoch) bad("history of " + std::to_string(m_history.size()) + " epochs, epoch " + std::to_string(m_epoch));
  }

  /// The log, rewritten from the history (atomically: temporary file, then rename).
  void write_csv() const {
    write_file_atomically("mcsc::Trainer", m_options.csv_path, [&](const std::string& tmp) {
      std::ofstream csv(tmp, std::ios::trunc);
      csv.precision(8);
      csv << "epoch,train_loss,validation_psnr,learning_rate,seconds,best,event\n";
      for (const auto& r : m_history) {
        std::string event = r.event;
        std::replace(event.begin(), event.end(), '"', '\'');
        csv << r.epoch << ',' << r.train_loss << ',' << r.validation_psnr << ',' << r.learning_rate << ','
            << r.seconds << ',' << int(r.best) << ",\"" << event << "\"\n";
      }
      csv.close();  // a failure to close is a failed write too
      return !csv.fail();
    });
  }

  using shard_grads_type = Kokkos::View<T**, Kokkos::LayoutRight, typename flat_type::device_type>;

  Model* m_model;
  TrainerOptions m_options;
  int m_rank = 0, m_ranks = 1, m_shards = 1;
  // Sharded steps: this rank's shards' gradients, every shard's (gathered), and their host mirrors.
  shard_grads_type m_shard_grads, m_all_grads;
  typename shard_grads_type::HostMirror m_hshard_grads, m_hall_grads;
  int m_nonfinite_shard = -1;  // the first shard of the last step whose loss was NaN/Inf
  optimizer_type m_adam;
  std::mt19937_64 m_rng;
  int m_epoch = 0;
  std::int64_t m_step = 0;
  tensor_type m_x, m_y, m_target, m_out, m_grad;
  tensor_type m_weights;  // the loss weights of the batch; empty when unweighted
  // The draws of steps m_ahead_first .. + m_ahead_count - 1 of the epoch (draw_ahead), on the
  // device, and their input noise (denoising) or empty; the generator's state after each step's.
  typename DeviceImageSet<T, ExecSpace>::draws_type m_draws;
  typename DeviceImageSet<T, ExecSpace>::draws_type::HostMirror m_hdraws;
  typename DeviceImageSet<T, ExecSpace>::noise_type m_noise;
  typename DeviceImageSet<T, ExecSpace>::noise_type::HostMirror m_hnoise;
  std::vector<std::mt19937_64> m_ahead_states;
  int m_ahead_capacity = 1, m_ahead_first = 0, m_ahead_count = 0;
  Kokkos::View<int, typename ExecSpace::memory_space> m_nonfinite{"mcsc::Trainer::nonfinite"};  // loss_unless_nonfinite's flag
  // Loss-spike guard and history.
  LossSpikeGuard m_guard;
  std::vector<EpochRecord> m_history;
  double m_rate_scale = 1;
  int m_rollbacks = 0;
  double m_best_psnr = -std::numeric_limits<double>::infinity();
  // The state at the end of the last good epoch (rollback target).
  flat_type m_good_values;
  std::vector<flat_type> m_good_state;
  std::int64_t m_good_adam_steps = 0, m_good_step = 0;
  std::vector<double> m_good_window;
  bool m_good_finite = true;
};

}  // namespace mcsc
