#pragma once
/// \file trainer.hpp
/// Training of the unrolled networks (CuNet, LmcscNet, LcscNet: anything with forward(x, y, out,
/// training), backward(grad), parameters(), type_name and config_string()) on aligned
/// multimodal images: random aligned patches (with flips and rotations), forward, loss,
/// backward, Adam with step decay and optional clipping; a progress bar; per epoch a CSV row
/// (loss, validation PSNR, learning rate, time) and an atomic checkpoint (model, Adam state,
/// epoch, random-generator state), from which training resumes bit for bit.
///
/// A diverging run (NaN/Inf loss or parameters) stops with an mcsc::Error naming the epoch and
/// step; the last checkpoint on disk is the last good epoch's and is left untouched.
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/metrics/psnr.hpp"
#include "mcsc/train/checkpoint.hpp"
#include "mcsc/train/loss.hpp"
#include "mcsc/train/optim.hpp"
#include "mcsc/train/progress.hpp"

namespace mcsc {

/// One aligned training/validation image: the network input x, the guide y and the target,
/// each `channels` planes of height x width (planar CHW), values typically in [0, 1].
struct ImageTriplet {
  std::string name;
  int channels = 0, height = 0, width = 0;
  std::vector<float> input, guide, target;

  std::size_t plane_size() const { return std::size_t(height) * std::size_t(width); }
  /// Throws naming the image if the sizes disagree or values are not finite.
  void check(const char* function) const {
    const std::size_t n = std::size_t(channels) * plane_size();
    MCSC_REQUIRE(channels > 0 && height > 0 && width > 0, function, "'" << name << "' is empty");
    MCSC_REQUIRE(input.size() == n && guide.size() == n && target.size() == n, function,
                 "'" << name << "': input, guide and target sizes differ (" << input.size() << ", " << guide.size()
                     << ", " << target.size() << " values for " << channels << "x" << height << "x" << width << ")");
    for (const auto* v : {&input, &guide, &target})
      for (float f : *v) MCSC_REQUIRE(std::isfinite(f), function, "'" << name << "' holds NaN/Inf values");
  }
};

/// Draws batches of aligned random patches (same crop and same flip/rotation for the three).
class PatchSampler {
 public:
  PatchSampler(const std::vector<ImageTriplet>& images, int patch, bool augment)
      : m_images(&images), m_patch(patch), m_augment(augment) {
    const char* fn = "mcsc::PatchSampler";
    MCSC_REQUIRE(!images.empty(), fn, "no training images");
    MCSC_REQUIRE(patch > 0, fn, "patch size must be > 0");
    for (const auto& im : images) {
      im.check(fn);
      MCSC_REQUIRE(im.channels == images[0].channels, fn,
                   "'" << im.name << "' has " << im.channels << " channels, '" << images[0].name << "' "
                       << images[0].channels);
      MCSC_REQUIRE(im.height >= patch && im.width >= patch, fn,
                   "'" << im.name << "' (" << im.width << "x" << im.height << ") is smaller than the " << patch
                       << "x" << patch << " patches");
    }
  }

  int channels() const { return (*m_images)[0].channels; }

  /// Fills host tensors (batch, channels, patch, patch).
  template <class H>
  void sample(std::mt19937_64& rng, const H& x, const H& y, const H& target) const {
    const int B = int(x.extent(0)), C = channels(), P = m_patch;
    for (int b = 0; b < B; ++b) {
      const auto& im = (*m_images)[std::size_t(rng() % m_images->size())];
      const int top = int(rng() % std::uint64_t(im.height - P + 1));
      const int left = int(rng() % std::uint64_t(im.width - P + 1));
      const int transform = m_augment ? int(rng() % 8) : 0;  // the 8 flips/rotations of a square
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < P; ++i)
          for (int j = 0; j < P; ++j) {
            int r = i, s = j;
            if (transform & 1) s = P - 1 - s;  // horizontal flip
            if (transform & 2) r = P - 1 - r;  // vertical flip
            if (transform & 4) std::swap(r, s);  // transpose
            const std::size_t src = std::size_t(c) * im.plane_size() + std::size_t(top + r) * std::size_t(im.width) +
                                    std::size_t(left + s);
            x(b, c, i, j) = typename H::value_type(im.input[src]);
            y(b, c, i, j) = typename H::value_type(im.guide[src]);
            target(b, c, i, j) = typename H::value_type(im.target[src]);
          }
    }
  }

 private:
  const std::vector<ImageTriplet>* m_images;
  int m_patch;
  bool m_augment;
};

enum class LossKind { mse, l1 };

struct TrainerOptions {
  int epochs = 10;
  int steps_per_epoch = 100;
  int batch_size = 16;
  int patch_size = 64;
  bool augment = true;
  LossKind loss = LossKind::mse;
  AdamOptions adam{};
  int decay_every_epochs = 50;  ///< learning rate x decay_gamma every this many epochs
  double decay_gamma = 0.9;
  double clip_norm = 0;         ///< global gradient-norm clipping; 0: off
  std::uint64_t seed = 1;
  std::string checkpoint_path;  ///< written after every epoch when not empty
  std::string csv_path;         ///< per-epoch log when not empty
  bool progress = true;         ///< progress bar on stderr
};

/// What happened in one epoch.
struct EpochRecord {
  int epoch = 0;  ///< 1-based
  double train_loss = 0, validation_psnr = 0, learning_rate = 0, seconds = 0;
};

template <class Model>
class Trainer {
 public:
  using T = typename Model::params_type::flat_type::value_type;
  using tensor_type = typename Model::tensor_type;
  using ExecSpace = typename tensor_type::execution_space;
  using optimizer_type = Adam<T, ExecSpace>;

  Trainer(Model& model, const TrainerOptions& options)
      : m_model(&model), m_options(options), m_adam(model.parameters(), options.adam), m_rng(options.seed) {
    const char* fn = "mcsc::Trainer";
    MCSC_REQUIRE(options.epochs >= 0 && options.steps_per_epoch > 0 && options.batch_size > 0 && options.patch_size > 0,
                 fn, "epochs, steps per epoch, batch and patch sizes must be positive");
    MCSC_REQUIRE(options.clip_norm >= 0, fn, "clip_norm must be >= 0");
  }

  /// Continues from a checkpoint written by this trainer: model, Adam state, epoch, generator.
  void resume(const std::string& path) {
    const auto info = load_checkpoint(path, m_model->parameters(), Model::type_name, m_model->config_string(), &m_adam);
    MCSC_REQUIRE(info.optimizer_type == optimizer_type::type_name, "mcsc::Trainer::resume",
                 "'" << path << "' has no Adam state (a converted or inference-only file?)");
    std::istringstream in(info.rng_state);
    in >> m_rng;
    MCSC_REQUIRE(!in.fail(), "mcsc::Trainer::resume", "'" << path << "' has no valid generator state");
    m_epoch = int(info.epoch);
    m_step = info.step;
  }

  int epoch() const { return m_epoch; }
  std::int64_t step() const { return m_step; }
  optimizer_type& optimizer() { return m_adam; }

  /// Trains until options.epochs epochs are done (counting resumed ones); returns this call's
  /// epoch records. validation may be empty (PSNR then 0).
  std::vector<EpochRecord> fit(const std::vector<ImageTriplet>& train, const std::vector<ImageTriplet>& validation) {
    PatchSampler sampler(train, m_options.patch_size, m_options.augment);
    for (const auto& v : validation) v.check("mcsc::Trainer::fit");
    const Shape4 batch{m_options.batch_size, sampler.channels(), m_options.patch_size, m_options.patch_size};
    allocate(batch);
    std::vector<EpochRecord> records;
    const StepDecay decay{m_options.adam.learning_rate, m_options.decay_every_epochs, m_options.decay_gamma};
    while (m_epoch < m_options.epochs) {
      EpochRecord rec;
      rec.epoch = m_epoch + 1;
      rec.learning_rate = decay.at_epoch(m_epoch);
      m_adam.set_learning_rate(rec.learning_rate);
      ProgressBar bar("[epoch " + std::to_string(rec.epoch) + "/" + std::to_string(m_options.epochs) + "]",
                      std::int64_t(m_options.steps_per_epoch) * m_options.batch_size, "patches", m_options.progress);
      double total = 0;
      for (int s = 0; s < m_options.steps_per_epoch; ++s) {
        const double loss = train_step(sampler, rec.epoch, s + 1);
        total += loss;
        char note[64];
        std::snprintf(note, sizeof note, "loss %.4g", total / (s + 1));
        bar.update(std::int64_t(s + 1) * m_options.batch_size, note);
      }
      rec.train_loss = total / m_options.steps_per_epoch;
      rec.validation_psnr = validation.empty() ? 0.0 : validation_psnr(validation);
      rec.seconds = bar.elapsed_seconds();
      char note[96];
      if (validation.empty())
        std::snprintf(note, sizeof note, "loss %.4g  (no validation images)", rec.train_loss);
      else
        std::snprintf(note, sizeof note, "loss %.4g  validation PSNR %.2f dB", rec.train_loss, rec.validation_psnr);
      bar.finish(note);
      ++m_epoch;
      if (!m_options.checkpoint_path.empty()) save(m_options.checkpoint_path);
      if (!m_options.csv_path.empty()) append_csv(rec);
      records.push_back(rec);
    }
    return records;
  }

  /// Writes the trainer's full state (model, Adam, epoch, generator) to path.
  void save(const std::string& path) const {
    CheckpointInfo info;
    info.model_type = Model::type_name;
    info.model_config = m_model->config_string();
    info.epoch = m_epoch;
    info.step = m_step;
    std::ostringstream rng;
    rng << m_rng;
    info.rng_state = rng.str();
    save_checkpoint(path, m_model->parameters(), info, &m_adam);
  }

  /// Mean PSNR (peak 1) of the model's output on whole images.
  double validation_psnr(const std::vector<ImageTriplet>& images) {
    double sum = 0;
    for (const auto& im : images) {
      const Shape4 s{1, im.channels, im.height, im.width};
      auto x = from_planes(im.input, s), y = from_planes(im.guide, s), target = from_planes(im.target, s);
      auto out = make_tensor<T, ExecSpace>("mcsc::Trainer::validation_output", s);
      m_model->forward(x, y, out, false);
      sum += psnr(out, target);
    }
    return sum / double(images.size());
  }

 private:
  static tensor_type from_planes(const std::vector<float>& data, const Shape4& s) {
    auto t = make_tensor<T, ExecSpace>("mcsc::Trainer::image", s);
    auto h = Kokkos::create_mirror_view(t);
    for (std::size_t i = 0; i < data.size(); ++i) h.data()[i] = T(data[i]);
    Kokkos::deep_copy(t, h);
    return t;
  }

  void allocate(const Shape4& batch) {
    if (m_x.data() && shape_of(m_x) == batch) return;
    m_x = make_tensor<T, ExecSpace>("mcsc::Trainer::x", batch);
    m_y = make_tensor<T, ExecSpace>("mcsc::Trainer::y", batch);
    m_target = make_tensor<T, ExecSpace>("mcsc::Trainer::target", batch);
    m_out = make_tensor<T, ExecSpace>("mcsc::Trainer::output", batch);
    m_grad = make_tensor<T, ExecSpace>("mcsc::Trainer::grad", batch);
    m_hx = Kokkos::create_mirror_view(m_x);
    m_hy = Kokkos::create_mirror_view(m_y);
    m_htarget = Kokkos::create_mirror_view(m_target);
  }

  double train_step(const PatchSampler& sampler, int epoch, int step_in_epoch) {
    sampler.sample(m_rng, m_hx, m_hy, m_htarget);
    Kokkos::deep_copy(m_x, m_hx);
    Kokkos::deep_copy(m_y, m_hy);
    Kokkos::deep_copy(m_target, m_htarget);
    m_model->parameters().zero_grad();
    m_model->forward(m_x, m_y, m_out, true);
    const double loss = m_options.loss == LossKind::mse ? mse_loss(m_out, m_target, m_grad)
                                                        : l1_loss(m_out, m_target, m_grad);
    MCSC_REQUIRE(std::isfinite(loss), "mcsc::Trainer",
                 "training diverged at epoch " << epoch << ", step " << step_in_epoch << ": loss = " << loss
                                               << last_good(epoch));
    m_model->backward(m_grad);
    if (m_options.clip_norm > 0) clip_gradient_norm(m_model->parameters(), m_options.clip_norm);
    m_adam.step();
    ++m_step;
    const std::size_t bad = count_nonfinite(m_model->parameters().values());
    MCSC_REQUIRE(bad == 0, "mcsc::Trainer",
                 "training diverged at epoch " << epoch << ", step " << step_in_epoch << ": " << bad
                                               << " parameter value(s) became NaN/Inf" << last_good(epoch));
    return loss;
  }

  std::string last_good(int epoch) const {
    return m_options.checkpoint_path.empty() ? std::string()
                                             : "; the last good state is in '" + m_options.checkpoint_path +
                                                   "' (epoch " + std::to_string(epoch - 1) + ")";
  }

  void append_csv(const EpochRecord& r) const {
    const bool fresh = !std::ifstream(m_options.csv_path).good();
    std::ofstream csv(m_options.csv_path, std::ios::app);
    MCSC_REQUIRE(csv.good(), "mcsc::Trainer", "cannot write '" << m_options.csv_path << "'");
    if (fresh) csv << "epoch,train_loss,validation_psnr,learning_rate,seconds\n";
    csv << r.epoch << ',' << r.train_loss << ',' << r.validation_psnr << ',' << r.learning_rate << ',' << r.seconds
        << '\n';
  }

  Model* m_model;
  TrainerOptions m_options;
  optimizer_type m_adam;
  std::mt19937_64 m_rng;
  int m_epoch = 0;
  std::int64_t m_step = 0;
  tensor_type m_x, m_y, m_target, m_out, m_grad;
  typename tensor_type::HostMirror m_hx, m_hy, m_htarget;
};

}  // namespace mcsc
