/// \file task_methods.cpp
/// The task harness: the methods compared (baselines, the classical multimodal solver, networks
/// trained here or loaded from checkpoints) and the metrics (task_harness.hpp).
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
#include "mcsc/baselines/exposure_fusion.hpp"
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

// ------------------------------------------------------------------------------------ methods

Method input_method(const std::string& name) {
  return {name, [](const Sample& s) { return Output{copy_of(s.x, "input"), {}}; }};
}

Method guided_filter_method(int radius, double eps, bool use_color_guide) {
  return {"Guided filter", [=](const Sample& s) {
            Tensor out = mcsc::make_tensor_like("guided_filter", s.x);
            const bool color = use_color_guide && s.guide_color.data() && s.x.extent(1) == 1;
            const Tensor& guide = color ? s.guide_color : s.y;
            if (s.low.data())
              mcsc::guided_upsample(s.low, guide, out, radius, eps, color);
            else if (color)
              mcsc::guided_filter_color(guide, s.x, out, radius, eps);
            else
              mcsc::guided_filter(guide, s.x, out, radius, eps);
            return Output{out, {}};
          }};
}

namespace {
/// Guided back-projection of z onto s.low (SR samples; nothing otherwise), guided by the colour
/// image for a one-channel target when there is one, else by y.
void back_project_sample(const Sample& s, const Tensor& z, const mcsc::BackProjectionOptions& options) {
  if (!s.low.data() || options.iterations == 0) return;
  const bool color = s.guide_color.data() && s.x.extent(1) == 1;
  mcsc::back_project(s.low, color ? s.guide_color : s.y, z, double(s.x.extent(2)) / double(s.low.extent(2)), options);
}
}  // namespace

Method back_projection_method(const mcsc::BackProjectionOptions& options) {
  return {"Guided back-projection", [=](const Sample& s) {
            Tensor out = copy_of(s.x, "back_projection");
            back_project_sample(s, out, options);
            return Output{out, {}};
          }};
}

Method joint_bilateral_method(double sigma_spatial, double sigma_range) {
  return {"JBU", [=](const Sample& s) {
            Tensor out = mcsc::make_tensor_like("joint_bilateral", s.x);
            mcsc::JointBilateralOptions o;
            o.sigma_spatial = sigma_spatial;
            o.sigma_range = sigma_range;
            const Tensor& guide = s.guide_color.data() && s.x.extent(1) == 1 ? s.guide_color : s.y;
            mcsc::joint_bilateral_upsample(s.low.data() ? s.low : s.x, guide, out, o);
            return Output{out, {}};
          }};
}

Method average_fusion_method() {
  return {"Average", [](const Sample& s) {
            Tensor out = mcsc::make_tensor_like("average", s.x);
            mcsc::average_fusion(s.x, s.y, out);
            return Output{out, {}};
          }};
}

Method mertens_fusion_method() {
  return {"Exposure fusion (Mertens et al.)", [](const Sample& s) {
            Tensor out = mcsc::make_tensor_like("mertens", s.x);
            mcsc::mertens_fusion(s.x, s.y, out);
            return Output{out, {}};
          }};
}

Method csr_fusion_method(bool multi_focus, int filters, int s, double lambda) {
  return {"CSR", [=](const Sample& sample) {
            auto options = multi_focus ? mcsc::CsrFusionOptions::multi_focus() : mcsc::CsrFusionOptions::multi_modal();
            options.fista.lambda = lambda;
            options.fista.max_iterations = 100;
            const int C = int(sample.x.extent(1));
            // The DCT atoms, one set per channel (channels coded independently).
            const Tensor atoms = mcsc_examples::dct_dictionary(filters, s);
            Tensor out = mcsc::make_tensor_like("csr", sample.x);
            for (int c = 0; c < C; ++c) {
              const auto range = std::make_pair(c, c + 1);
              Tensor a = copy_of(Kokkos::subview(sample.x, Kokkos::ALL, range, Kokkos::ALL, Kokkos::ALL), "a");
              Tensor b = copy_of(Kokkos::subview(sample.y, Kokkos::ALL, range, Kokkos::ALL, Kokkos::ALL), "b");
              const auto r = mcsc::csr_fusion(mcsc::FftConvDictionary<T, ExecSpace>(atoms, mcsc::Boundary::circular), a, b,
                                              options);
              Kokkos::deep_copy(Kokkos::subview(out, Kokkos::ALL, range, Kokkos::ALL, Kokkos::ALL), r.fused);
            }
            return Output{out, {}};
          }};
}

// ----------------------------------------------------------------------- classical multimodal

namespace {
using Classical = mcsc::ClassicalMultimodal<T, ExecSpace>;

/// The classical model of `training` (mcsc::ClassicalMultimodal, fitted on random aligned
/// patches; with options.dictionaries a CU-Net's filters instead of learned ones, which also
/// renames `name`).
std::shared_ptr<Classical> learn_classical_model(std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                                                 const ClassicalOptions& options, bool quiet) {
  MCSC_REQUIRE(!training.empty(), "classical_method", "no training images");
  mcsc::ClassicalMultimodalConfig config;
  config.channels = training[0].channels;
  config.filters = options.filters;
  config.kernel = options.kernel;
  config.lambda = options.lambda;
  config.learn_iterations = options.learn_iterations;
  config.sweeps = options.sweeps;
  config.inner_iterations = options.inner_iterations;
  config.lowpass_lambda = options.lowpass_lambda;
  config.fusion = options.fusion;
  config.seed = options.seed;
  std::shared_ptr<Classical> model;
  if (!options.model.empty()) {  // fitted before, loaded: no training images needed
    model = std::make_shared<Classical>(Classical::load(options.model));
    const auto& c = model->config();
    MCSC_REQUIRE(c.channels == config.channels && c.fusion == options.fusion, "--classical-model",
                 "'" << options.model << "' is a " << c.channels << "-channel " << (c.fusion ? "fusion" : "restoration")
                     << " model; this task needs a " << config.channels << "-channel "
                     << (options.fusion ? "fusion" : "restoration") << " one");
    name += " (" + fs::path(options.model).stem().string() + ")";
    if (!quiet) std::cerr << "  " << name << ": loaded " << options.model << " {" << model->config_string() << "}\n";
    return model;
  }
  if (!options.dictionaries.empty()) {  // a trained CU-Net's filters instead of learned ones
    using CuNet = mcsc::CuNet<T, ExecSpace>;
    const char* fn = "--classical-dictionaries";
    const auto info = mcsc::read_checkpoint_info(options.dictionaries);
    MCSC_REQUIRE(info.model_type == CuNet::type_name, fn,
                 "'" << options.dictionaries << "' holds a " << info.model_type << "; only a CU-Net's filters map onto "
                     << "the classical dictionaries (Dc, Du, Hc, Hv)");
    const auto net_config = CuNet::config_from_string(info.model_config);
    MCSC_REQUIRE(net_config.channels == config.channels && net_config.fusion == options.fusion, fn,
                 "'" << options.dictionaries << "' is a " << net_config.channels << "-channel "
                     << (net_config.fusion ? "fusion" : "restoration") << " CU-Net; this task needs a " << config.channels
                     << "-channel " << (options.fusion ? "fusion" : "restoration") << " one");
    CuNet net(net_config);
    mcsc::load_checkpoint(options.dictionaries, net.parameters(), CuNet::type_name, net.config_string());
    config.filters = net_config.filters;
    config.kernel = net_config.kernel;
    config.learn_iterations = 0;
    model = std::make_shared<Classical>(config, mcsc::cunet_dictionaries(net));
    name += " (dictionaries of " + fs::path(options.dictionaries).stem().string() + ")";
  } else {
    model = std::make_shared<Classical>(config);
  }
  {
    // Before any of the work: the patches (x, y, target and their low-passes) and, per dictionary
    // learning step, the three code sets with their gradients, momenta and spectra (about four
    // copies each). A lower bound; --classical-patches 100000 used to run for a minute first.
    const double per_patch =
        double(options.patch) * options.patch * sizeof(T) * (5.0 * config.channels + 4.0 * 3 * config.filters);
    mcsc::require_memory("the classical solver", "--classical-patches " + std::to_string(options.patches) + " of " +
                             std::to_string(options.patch) + "x" + std::to_string(options.patch),
                         per_patch * options.patches);
  }
  const auto t0 = Clock::now();
  const auto [x, y, z] = mcsc::aligned_patches<T, ExecSpace>(training, options.patches, options.patch, options.seed);
  model->fit(x, y, z, [&](const mcsc::CoupledDictionaryLearningIterate& it) {
    if (!quiet)
      std::cerr << "  " << name << ": dictionary learning iteration " << it.iteration << ", objective "
                << std::setprecision(6) << it.objective << " (" << std::fixed << std::setprecision(1) << it.seconds << " s)"
                << std::defaultfloat << "\n";
    return true;
  });
  if (!quiet && !options.dictionaries.empty())
    std::cerr << "  " << name << ": coded " << options.patches << " patches and fitted G in " << std::fixed
              << std::setprecision(1) << seconds_since(t0) << " s" << std::defaultfloat << "\n";
  else if (!quiet)
    std::cerr << "  " << name << ": learned " << config.filters << "+" << config.filters << "+" << config.filters
              << " filters of " << config.kernel << "x" << config.kernel << " from " << options.patches
              << " patches in " << std::fixed << std::setprecision(1) << seconds_since(t0) << " s"
              << std::defaultfloat << "\n";
  if (!options.save.empty()) {
    model->save(options.save, "mcsc task program's classical solver, fitted on " + std::to_string(options.patches) +
                                  " patches of " + std::to_string(options.patch) + "x" + std::to_string(options.patch));
    if (!quiet) std::cerr << "  " << name << ": saved to " << options.save << "\n";
  }
  return model;
}
}  // namespace

Method classical_method(const std::string& method_name, const std::vector<mcsc::ImageTriplet>& training,
                        const ClassicalOptions& options, bool quiet) {
  std::string name = method_name;
  const auto model = learn_classical_model(name, training, options, quiet);
  const auto back_projection = options.back_projection;
  return {name, [model, back_projection](const Sample& s) {
            const auto result = model->apply(s.x, s.y);
            Output out;
            out.image = result.image;
            back_project_sample(s, out.image, back_projection);
            if (model->config().fusion) out.parts.push_back({"low-pass base", result.base});
            out.parts.push_back({"common Gc*C", result.common});
            out.parts.push_back({"unique of x Gu*U", result.unique_x});
            if (model->config().fusion) out.parts.push_back({"unique of y Gv*V", result.unique_y});
            return out;
          }};
}

// ------------------------------------------------------------------------------------ networks

namespace {
using CuNet = mcsc::CuNet<T, ExecSpace>;

Method cunet_as_method(const std::string& name, std::shared_ptr<CuNet> net) {
  return {name, [net](const Sample& s) {
            MCSC_REQUIRE(int(s.x.extent(1)) == net->config().channels, "CU-Net",
                         "'" << s.name << "' has " << s.x.extent(1) << " channel(s), the model "
                             << net->config().channels);
            Output out;
            out.image = mcsc::make_tensor_like("cunet", s.x);
            net->forward(s.x, s.y, out.image, false);
            out.parts.push_back({"unique of x G_u*u", copy_of(net->decoded_u(), "unique_x")});
            out.parts.push_back({"common G_c*z", copy_of(net->decoded_z(), "common")});
            if (net->config().fusion) out.parts.push_back({"unique of y G_v*v", copy_of(net->decoded_v(), "unique_y")});
            return out;
          }};
}

void require_training_memory(const TrainOptions& o, int channels, int encoders) {
  mcsc_cli::require_training_memory(o.trainer, o.filters, o.kernel, o.stages, channels, encoders);
}

template <class Model>
void train_model(Model& model, const std::vector<mcsc::ImageTriplet>& training,
                 const std::vector<mcsc::ImageTriplet>& validation, const TrainOptions& o, const std::string& tag,
                 double threshold, bool residual_start, const std::function<void(Model&)>& initialise = {}) {
  mcsc::InitOptions init;
  init.weights = mcsc::WeightInit::xavier_uniform;
  init.threshold = threshold;
  init.seed = o.trainer.seed;
  mcsc::initialize(model.parameters(), init);
  // Residual models start as the identity: zero decoders, so output = x (fusion: (x + y)/2) before the first step
  // (the decoders get gradients at once, the encoders as soon as the decoders are non-zero).
  if (residual_start)
    for (const char* name : {"decoder.conv_1.weight", "decoder.conv_2.weight", "decoder.conv_3.weight", "decoder.weight"})
      if (model.parameters().contains(name)) mcsc::fill(model.parameters().value(model.parameters().find(name)), T(0));
  if (!o.init_from.empty()) {  // fine-tuning (a resumed run reloads its own checkpoint below instead)
    std::string converted;
    if constexpr (std::is_same_v<Model, CuNet>) {
      // A CU-Net of another channel count (an RGB model for a grey task, as the paper's medical
      // model starts from its multi-focus one): converted by mcsc::convert_cunet_channels.
      const auto info = mcsc::read_checkpoint_info(o.init_from);
      if (info.model_type == CuNet::type_name) {
        mcsc::CuNetConfig from_config;
        bool parsed = true;
        try {  // an unreadable configuration is load_checkpoint's to report, with its clearer message
          from_config = CuNet::config_from_string(info.model_config);
        } catch (const mcsc::Error&) {
          parsed = false;
        }
        const auto& c = model.config();
        if (parsed && from_config.channels != c.channels && from_config.filters == c.filters && from_config.kernel == c.kernel &&
            from_config.stages == c.stages && from_config.fusion == c.fusion &&
            from_config.per_channel_threshold == c.per_channel_threshold && from_config.residual == c.residual) {
          CuNet from(from_config);
          mcsc::load_checkpoint(o.init_from, from.parameters(), CuNet::type_name, from.config_string());
          mcsc::convert_cunet_channels(from, model);
          converted = ", converted from " + std::to_string(from_config.channels) + " to " +
                      std::to_string(model.config().channels) + " channels";
        }
      }
    }
    if (converted.empty()) {
      const auto info = mcsc::load_checkpoint(o.init_from, model.parameters(), Model::type_name, model.config_string());
      if (!o.quiet) std::cerr << "  starting from " << o.init_from << " (epoch " << info.epoch << " of its run)\n";
    } else if (!o.quiet) {
      std::cerr << "  starting from " << o.init_from << converted << "\n";
    }
  }
  auto options = o.trainer;
  options.progress = !o.quiet;
  if (!o.output_dir.empty()) {
    fs::create_directories(o.output_dir);
    options.checkpoint_path = (fs::path(o.output_dir) / (tag + ".mcsc")).string();
    options.csv_path = (fs::path(o.output_dir) / (tag + "_train_log.csv")).string();
    MCSC_REQUIRE(o.resume || o.overwrite || !fs::exists(options.checkpoint_path), "--output-dir",
                 "'" << options.checkpoint_path << "' is an earlier run's checkpoint: --resume continues it, "
                     "--overwrite replaces it, or choose another --output-dir");
    MCSC_REQUIRE(!o.resume || fs::is_regular_file(options.checkpoint_path), "--resume",
                 "there is no checkpoint '" << options.checkpoint_path << "' to resume");
    if (o.overwrite && !o.resume)
      for (const auto& stale : {options.checkpoint_path, options.csv_path,
                                mcsc::Trainer<Model>::best_path_for(options.checkpoint_path)})
        fs::remove(stale);
  }
  if (initialise && !o.resume) initialise(model);  // after the cheap checks; a resumed run reloads its checkpoint
  mcsc::Trainer<Model> trainer(model, options);
  if (o.resume) {
    trainer.resume(options.checkpoint_path);
    if (!o.quiet) std::cerr << "  resumed " << options.checkpoint_path << " after epoch " << trainer.epoch() << "\n";
  }
  const auto t0 = Clock::now();
  trainer.fit(training, validation);
  if (!o.quiet)
    std::cerr << "  trained " << tag << " (" << model.parameters().num_scalars() << " parameters) for "
              << options.epochs << " x " << options.steps_per_epoch << " batches of " << options.batch_size << " "
              << options.patch_size << "x" << options.patch_size << " patches in " << std::fixed
              << std::setprecision(1) << seconds_since(t0) << " s" << std::defaultfloat
              << (options.checkpoint_path.empty() ? "" : ", checkpoint " + options.checkpoint_path) << "\n";
  // With a held-back validation split, the model of the best validation PSNR is the result.
  const std::string best = trainer.options().best_checkpoint_path;  // derived by the trainer from checkpoint_path
  if (!validation.empty() && !best.empty() && fs::is_regular_file(best)) {
    const auto info = mcsc::load_checkpoint(best, model.parameters(), Model::type_name, model.config_string());
    if (!o.quiet) std::cerr << "  using the best validation epoch " << info.epoch << " (" << best << ")\n";
  }
}
}  // namespace

Method train_cunet_method(const std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                          const std::vector<mcsc::ImageTriplet>& validation, int channels, bool fusion,
                          const TrainOptions& options) {
  require_training_memory(options, channels, 3);
  mcsc::CuNetConfig c;
  c.channels = channels;
  c.filters = options.filters;
  c.kernel = options.kernel;
  c.stages = options.stages;
  c.fusion = fusion;
  // The paper's residual variant: output += x for restoration (trains much faster), and for
  // fusion output += (x + y)/2, so the network starts as the average of the two sources and
  // learns what to add to it (recipe version 1 of multi-focus, without it, scored below the
  // plain average: Q^AB/F 0.41 against 0.62 on Lytro 01).
  c.residual = true;
  auto net = std::make_shared<CuNet>(c);
  std::function<void(CuNet&)> initialise;
  if (options.init_classical)
    initialise = [&](CuNet& model) {
      ClassicalOptions classical = options.classical;
      classical.filters = c.filters;
      classical.kernel = c.kernel;
      classical.fusion = fusion;
      classical.dictionaries.clear();
      std::string name = "classical initialisation";
      const auto start = Clock::now();
      const auto learned = learn_classical_model(name, training, classical, options.quiet);
      mcsc::initialize_from_dictionaries(model, learned->dictionaries(), classical.lambda, options.trainer.patch_size);
      // A residual network keeps the identity start of the random initialisation (zero decoders,
      // output = x): the classical G maps the codes of high-pass parts coded jointly (eq. 5),
      // not the network's codes of the whole images, and started from it the output is far off
      // (RMSE 24-37 on 96-pixel depth crops, bicubic 0.3-6).
      const char* const decoders[] = {"decoder.conv_1.weight", "decoder.conv_2.weight", "decoder.conv_3.weight"};
      if (c.residual)
        for (const char* decoder : decoders)
          if (model.parameters().contains(decoder))
            mcsc::fill(model.parameters().value(model.parameters().find(decoder)), T(0));
      if (!options.quiet)
        std::cerr << "  CU-Net initialised from the classical solver's dictionaries (" << c.filters << "+" << c.filters
                  << "+" << c.filters << " filters of " << c.kernel << "x" << c.kernel << ", lambda " << classical.lambda
                  << ") in " << std::fixed << std::setprecision(1) << seconds_since(start) << " s\n"
                  << std::defaultfloat;
    };
  train_model(*net, training, validation, options, "cunet_trained", 0.01, c.residual, initialise);
  return cunet_as_method(name, net);
}

Method train_lmcsc_method(const std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                          const std::vector<mcsc::ImageTriplet>& validation, int channels,
                          const TrainOptions& options) {
  require_training_memory(options, channels, 2);
  mcsc::UnrolledNetConfig c;
  c.channels = channels;
  c.filters = options.filters;
  c.kernel = options.kernel;
  c.stages = options.stages;
  c.residual = true;
  auto net = std::make_shared<mcsc::LmcscNet<T, ExecSpace>>(c);
  train_model(*net, training, validation, options, "lmcsc_trained", 0.2, true);
  return {name, [net](const Sample& s) {
            Output out;
            out.image = mcsc::make_tensor_like("lmcsc", s.x);
            net->forward(s.x, s.y, out.image, false);
            return out;
          }};
}

std::vector<Sample> hold_out(std::vector<Sample>& training, int count, std::uint64_t seed) {
  return mcsc_cli::hold_out_items(training, count, seed);
}

std::string weights_row_name(const std::string& path) {
  const auto info = mcsc::read_checkpoint_info(path);
  if (info.notes.rfind("converted by tools/convert_cunet_pth.py", 0) == 0) return "CU-Net (official)";
  return fs::path(path).filename().string();
}

std::vector<Method> guide_ablations(const Method& method, const std::vector<Sample>& samples) {
  auto zero = [method](const Sample& s) {
    Sample t = s;
    t.y = mcsc::make_tensor_like("zero_guide", s.y);
    return method.run(t);
  };
  auto other = [method, samples](const Sample& s) {
    std::size_t at = 0;
    while (at < samples.size() && samples[at].name != s.name) ++at;
    Sample t = s;
    t.y = mcsc::make_tensor_like("other_guide", s.y);
    if (samples.size() > 1 && at < samples.size()) {
      const Sample& next = samples[(at + 1) % samples.size()];
      MCSC_REQUIRE(next.y.extent(1) == s.y.extent(1), "guide_ablations", "the guides have different channel counts");
      mcsc::imresize_bicubic(next.y, t.y);
    } else {  // one sample: its own guide upside down (real structure, in the wrong places)
      const auto h = mcsc::to_host(s.y);
      auto flipped = Kokkos::create_mirror_view(t.y);
      const int C = int(h.extent(1)), H = int(h.extent(2)), W = int(h.extent(3));
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < H; ++i)
          for (int j = 0; j < W; ++j) flipped(0, c, i, j) = h(0, c, H - 1 - i, j);
      Kokkos::deep_copy(t.y, flipped);
    }
    return method.run(t);
  };
  return {{method.name + ", zero guide", zero}, {method.name + ", other image's guide", other}};
}

std::string zoo_model(const std::string& name) {
#ifdef MCSC_SOURCE_DIR
  const fs::path p = fs::path(MCSC_SOURCE_DIR) / "models" / (name + ".mcsc");
  if (fs::is_regular_file(p)) return p.string();
#endif
  (void)name;
  return {};
}

Method cunet_checkpoint_method(const std::string& name, const std::string& path, int channels, bool fusion) {
  const char* fn = "cunet_checkpoint_method";
  MCSC_REQUIRE(fs::path(path).extension() != ".pth", fn,
               "'" << path << "' is a PyTorch file; convert it first: /usr/bin/python3 tools/convert_cunet_pth.py "
                   << path << " " << fs::path(path).stem().string() << ".mcsc");
  const auto info = mcsc::read_checkpoint_info(path);
  MCSC_REQUIRE(info.model_type == CuNet::type_name, fn,
               "'" << path << "' holds a " << info.model_type << ", not a CU-Net");
  const auto config = CuNet::config_from_string(info.model_config);
  MCSC_REQUIRE(config.channels == channels, fn,
               "'" << path << "' is a " << config.channels << "-channel CU-Net; this task needs " << channels);
  MCSC_REQUIRE(config.fusion == fusion, fn,
               "'" << path << "' is a " << (config.fusion ? "fusion (MIF)" : "restoration (MIR)")
                   << " CU-Net; this task needs the " << (fusion ? "fusion" : "restoration") << " variant");
  auto net = std::make_shared<CuNet>(config);
  mcsc::load_checkpoint(path, net->parameters(), CuNet::type_name, net->config_string());
  return cunet_as_method(name, net);
}

Method lmcsc_checkpoint_method(const std::string& name, const std::string& path, int channels) {
  using Net = mcsc::LmcscNet<T, ExecSpace>;
  const auto info = mcsc::read_checkpoint_info(path);
  MCSC_REQUIRE(info.model_type == Net::type_name, "lmcsc_checkpoint_method",
               "'" << path << "' holds a " << info.model_type << ", not an LMCSC network");
  const auto config = mcsc::UnrolledNetConfig::from_string(info.model_config);
  MCSC_REQUIRE(config.channels == channels, "lmcsc_checkpoint_method",
               "'" << path << "' is a " << config.channels << "-channel LMCSC network; this task needs " << channels);
  auto net = std::make_shared<Net>(config);
  mcsc::load_checkpoint(path, net->parameters(), Net::type_name, net->config_string());
  return {name, [net](const Sample& s) {
            Output out;
            out.image = mcsc::make_tensor_like("lmcsc", s.x);
            net->forward(s.x, s.y, out.image, false);
            return out;
          }};
}

Method checkpoint_method(const std::string& name, const std::string& path, int channels, bool fusion,
                         const std::vector<std::string>& allowed) {
  MCSC_REQUIRE(fs::path(path).extension() != ".pth", "--weights",
               "'" << path << "' is a PyTorch file; convert it first: /usr/bin/python3 tools/convert_cunet_pth.py "
                   << path << " " << fs::path(path).stem().string() << ".mcsc");
  const auto type = mcsc::read_checkpoint_info(path).model_type;
  std::string names;
  for (const auto& a : allowed) names += (names.empty() ? "" : " or ") + a;
  MCSC_REQUIRE(std::find(allowed.begin(), allowed.end(), type) != allowed.end(), "--weights",
               "'" << path << "' holds a " << type << "; this task runs " << names);
  if (type == mcsc::LmcscNet<T, ExecSpace>::type_name) return lmcsc_checkpoint_method(name, path, channels);
  return cunet_checkpoint_method(name, path, channels, fusion);
}

std::string resolve_weights(const std::string& option, const std::string& stem) {
  if (option.empty()) return {};
  if (!fs::is_directory(option)) return option;
  const fs::path mcsc_file = fs::path(option) / (stem + ".mcsc"), pth = fs::path(option) / (stem + ".pth");
  if (fs::exists(mcsc_file)) return mcsc_file.string();
  MCSC_REQUIRE(!fs::exists(pth), "--weights",
               "'" << option << "' holds " << pth.filename().string() << " but no " << mcsc_file.filename().string()
                   << "; convert it first: /usr/bin/python3 tools/convert_cunet_pth.py " << pth.string() << " "
                   << mcsc_file.string());
  MCSC_REQUIRE(false, "--weights", "'" << option << "' holds no " << mcsc_file.filename().string());
  return {};
}

// ------------------------------------------------------------------------------------ metrics

Metric psnr_metric() {
  return {"PSNR", 2, true, [](const Sample& s, const Tensor& out) { return mcsc::psnr(out, s.target); }};
}
Metric ssim_metric() {
  return {"SSIM", 4, true, [](const Sample& s, const Tensor& out) { return mcsc::ssim(out, s.target); }};
}
Metric rmse255_metric() {
  return {"RMSE", 2, false, [](const Sample& s, const Tensor& out) { return mcsc::rmse(out, s.target, 255.0); }};
}
Metric qabf_metric() {
  return {"Qabf", 4, true,
          [](const Sample& s, const Tensor& out) { return mcsc::qabf(luma_of(s.x), luma_of(s.y), luma_of(out)); }};
}
Metric mef_ssim_metric() {
  return {"MEF-SSIM", 4, true, [](const Sample& s, const Tensor& out) {
            // MEF-SSIM needs at least 44 pixels a side (3 scales of an 11x11 window).
            if (std::min(out.extent(2), out.extent(3)) < 44) return std::numeric_limits<double>::quiet_NaN();
            return mcsc::mef_ssim(luma_of(s.x), luma_of(s.y), luma_of(out));
          }};
}

}  // namespace mcsc_tasks
