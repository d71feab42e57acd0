/// \file task_harness.cpp
/// The shared machinery of the task programs (see task_harness.hpp), compiled once.
#include "task_harness.hpp"

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
#include "mcsc/solvers/coupled_dictionary_learning.hpp"

namespace mcsc_tasks {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// A contiguous copy of a (1, C, H, W) view (a tensor or a strided subview of one).
template <class V>
Tensor copy_of(const V& t, const std::string& label) {
  Tensor out = mcsc::make_tensor<T, ExecSpace>(label, mcsc::shape_of(t));
  Kokkos::deep_copy(out, t);
  return out;
}

/// Luma of a 3-channel tensor, the tensor itself otherwise.
Tensor luma_of(const Tensor& t) {
  if (t.extent(1) != 3) return t;
  Tensor y = mcsc::make_tensor<T, ExecSpace>("luma", {1, 1, std::int64_t(t.extent(2)), std::int64_t(t.extent(3))});
  mcsc::luma_bt601(t, y);
  return y;
}

/// The planes of a (1, C, H, W) tensor as a vector (CHW).
std::vector<float> host_planes(const Tensor& t) {
  auto h = mcsc::to_host(t);
  return std::vector<float>(h.data(), h.data() + h.span());
}
}  // namespace

// ------------------------------------------------------------------------------------ samples

Tensor load_image(const std::string& path, int channels) {
  const mcsc::Image image = mcsc::drop_opaque_alpha(mcsc::read_image(path), path);
  const Tensor all = mcsc::image_to_tensor<T, ExecSpace>(image);
  const std::int64_t H = image.height, W = image.width;
  const int have = image.channels;
  Tensor planes = mcsc::make_tensor<T, ExecSpace>("image", {1, have, H, W});
  Kokkos::deep_copy(planes, Kokkos::subview(all, Kokkos::ALL, std::make_pair(0, have), Kokkos::ALL, Kokkos::ALL));
  if (channels == have) return planes;
  if (channels == 1) return luma_of(planes);
  MCSC_REQUIRE(channels == 3, "load_image", "channels must be 1 or 3, got " << channels);
  Tensor rgb = mcsc::make_tensor<T, ExecSpace>("image", {1, 3, H, W});
  for (int c = 0; c < 3; ++c)
    Kokkos::deep_copy(Kokkos::subview(rgb, Kokkos::ALL, std::make_pair(c, c + 1), Kokkos::ALL, Kokkos::ALL), planes);
  return rgb;
}

Tensor crop(const Tensor& t, int top, int left, int h, int w) {
  MCSC_REQUIRE(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= int(t.extent(2)) && left + w <= int(t.extent(3)),
               "crop", "the window " << w << "x" << h << " at (" << top << ", " << left << ") does not fit in "
                                     << mcsc::shape_of(t));
  Tensor out = mcsc::make_tensor<T, ExecSpace>(t.label(), {std::int64_t(t.extent(0)), std::int64_t(t.extent(1)), h, w});
  Kokkos::deep_copy(out, Kokkos::subview(t, Kokkos::ALL, Kokkos::ALL, std::make_pair(top, top + h),
                                         std::make_pair(left, left + w)));
  return out;
}

Tensor centre_crop(const Tensor& t, int max_side, int multiple) {
  return mcsc_examples::centre_crop(t, max_side, multiple);
}

Sample make_sr_sample(const std::string& name, const Tensor& target, const Tensor& guide, int scale) {
  const char* fn = "make_sr_sample";
  MCSC_REQUIRE(mcsc::shape_of(target).h == mcsc::shape_of(guide).h && mcsc::shape_of(target).w == mcsc::shape_of(guide).w,
               fn, "'" << name << "': target " << mcsc::shape_of(target) << " and guide " << mcsc::shape_of(guide)
                       << " are not aligned (different sizes)");
  const int H = int(target.extent(2)) / scale * scale, W = int(target.extent(3)) / scale * scale;
  MCSC_REQUIRE(H >= 4 * scale && W >= 4 * scale, fn, "'" << name << "' is too small for x" << scale);
  Sample s;
  s.name = name;
  s.target = crop(target, 0, 0, H, W);  // MATLAB modcrop: the last rows/columns go
  s.y = crop(guide, 0, 0, H, W);
  s.low = mcsc::make_tensor<T, ExecSpace>("low", {1, std::int64_t(target.extent(1)), H / scale, W / scale});
  mcsc::imresize_bicubic(s.target, s.low);
  s.x = mcsc::make_tensor_like("bicubic", s.target);
  mcsc::imresize_bicubic(s.low, s.x);
  s.x_caption = "bicubic x" + std::to_string(scale) + " input";
  s.y_caption = "guide";
  return s;
}

Sample make_noise_sample(const std::string& name, const Tensor& clean, const Tensor& guide, double sigma,
                         std::uint64_t seed) {
  MCSC_REQUIRE(mcsc::shape_of(clean) == mcsc::shape_of(guide), "make_noise_sample",
               "'" << name << "': image " << mcsc::shape_of(clean) << " and guide " << mcsc::shape_of(guide)
                   << " differ: the modalities must be aligned");
  Sample s;
  s.name = name;
  s.target = clean;
  s.y = guide;
  s.x = mcsc::add_gaussian_noise(clean, sigma / 255.0, seed);
  std::ostringstream caption;
  caption << "noisy input (sigma " << sigma << ")";
  s.x_caption = caption.str();
  s.y_caption = "guide";
  return s;
}

Sample make_fusion_sample(const std::string& name, const Tensor& a, const Tensor& b, const Tensor& target) {
  MCSC_REQUIRE(mcsc::shape_of(a) == mcsc::shape_of(b), "make_fusion_sample",
               "'" << name << "': the sources " << mcsc::shape_of(a) << " and " << mcsc::shape_of(b)
                   << " differ: they must be registered images of one size");
  Sample s;
  s.name = name;
  s.x = a;
  s.y = b;
  s.target = target;
  s.x_caption = "source A";
  s.y_caption = "source B";
  return s;
}

NamedPair parse_pair(const std::string& text, const std::string& form) {
  NamedPair p;
  std::string rest = text;
  if (const auto eq = rest.find('='); eq != std::string::npos) {
    p.name = rest.substr(0, eq);
    rest = rest.substr(eq + 1);
  }
  const auto colon = rest.find(':');
  mcsc_cli::require(colon != std::string::npos && colon > 0 && colon + 1 < rest.size(),
                    "a pair is " + form + ", got '" + text + "'");
  p.first = rest.substr(0, colon);
  p.second = rest.substr(colon + 1);
  if (p.name.empty()) p.name = fs::path(p.first).stem().string();
  return p;
}

int training_side(int max_side, int train_crop) {
  if (train_crop == 0) return max_side;
  return max_side > 0 ? std::min(max_side, train_crop) : train_crop;
}

std::vector<NamedPair> folder_pairs(const std::string& dir_option, const std::string& data_dir,
                                    const std::string& first_suffix, const std::string& second_suffix,
                                    const std::string& option) {
  fs::path dir = dir_option;
  if (!fs::is_directory(dir) && fs::is_directory(fs::path(data_dir) / dir)) dir = fs::path(data_dir) / dir;
  MCSC_REQUIRE(fs::is_directory(dir), option, "'" << dir_option << "' is not a folder (nor one under " << data_dir << ")");
  std::vector<NamedPair> pairs;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= first_suffix.size() ||
        file.compare(file.size() - first_suffix.size(), first_suffix.size(), first_suffix) != 0)
      continue;
    const std::string stem = file.substr(0, file.size() - first_suffix.size());
    const fs::path second = dir / (stem + second_suffix);
    MCSC_REQUIRE(fs::is_regular_file(second), option, "'" << entry.path().string() << "' has no " << second.filename().string());
    pairs.push_back({stem, entry.path().string(), second.string()});
  }
  std::sort(pairs.begin(), pairs.end(), [](const NamedPair& a, const NamedPair& b) { return a.name < b.name; });
  MCSC_REQUIRE(!pairs.empty(), option,
               "'" << dir.string() << "' holds no <stem>" << first_suffix << " + <stem>" << second_suffix << " pairs");
  return pairs;
}

std::vector<mcsc::ImageTriplet> triplets(const std::vector<Sample>& samples) {
  std::vector<mcsc::ImageTriplet> out;
  for (const auto& s : samples) {
    MCSC_REQUIRE(s.target.data(), "triplets", "'" << s.name << "' has no target to train on");
    mcsc::ImageTriplet t;
    t.name = s.name;
    t.channels = int(s.target.extent(1));
    t.height = int(s.target.extent(2));
    t.width = int(s.target.extent(3));
    t.input = host_planes(s.x);
    t.guide = host_planes(s.y);
    t.target = host_planes(s.target);
    out.push_back(std::move(t));
  }
  return out;
}

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
struct ClassicalModel {
  ClassicalOptions options;
  mcsc::MultimodalDictionaries<T, ExecSpace> dicts;
  /// Step constants of common_unique, estimated once on the training patches (with a margin)
  /// instead of by 3 power iterations of up to 200 steps on every test image's full size.
  double lipschitz_c = 0, lipschitz_u = 0, lipschitz_v = 0;
};

Tensor lowpass(const Tensor& t, double lambda) {
  Tensor out = mcsc::make_tensor_like("lowpass", t);
  mcsc::LowpassOptions o;
  o.lambda = lambda;
  o.tolerance = 1e-6;
  mcsc::tikhonov_lowpass(t, out, o);
  return out;
}

/// Random aligned patches (no augmentation) of the triplets as (P, C, p, p) tensors.
std::array<Tensor, 3> training_patches(const std::vector<mcsc::ImageTriplet>& images, int count, int patch,
                                       std::uint64_t seed) {
  MCSC_REQUIRE(!images.empty(), "classical_method", "no training images");
  const int C = images[0].channels;
  std::array<Tensor, 3> out;
  std::array<Kokkos::View<T****, Kokkos::LayoutRight, Kokkos::HostSpace>, 3> host;
  for (int k = 0; k < 3; ++k) {
    out[k] = mcsc::make_tensor<T, ExecSpace>("patches", {count, C, patch, patch});
    host[k] = Kokkos::create_mirror_view(out[k]);
  }
  std::mt19937_64 rng(seed);
  for (int n = 0; n < count; ++n) {
    const auto& im = images[std::size_t(rng() % images.size())];
    MCSC_REQUIRE(im.height >= patch && im.width >= patch, "classical_method",
                 "'" << im.name << "' is smaller than the " << patch << "x" << patch << " training patches");
    const int top = int(rng() % std::uint64_t(im.height - patch + 1)), left = int(rng() % std::uint64_t(im.width - patch + 1));
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < patch; ++i)
        for (int j = 0; j < patch; ++j) {
          const std::size_t at = (std::size_t(c) * im.height + std::size_t(top + i)) * im.width + std::size_t(left + j);
          host[0](n, c, i, j) = im.input[at];
          host[1](n, c, i, j) = im.guide[at];
          host[2](n, c, i, j) = im.target[at];
        }
  }
  for (int k = 0; k < 3; ++k) Kokkos::deep_copy(out[k], host[k]);
  return out;
}
/// The classical model of `training`: its dictionaries (learned, or a CU-Net's with
/// options.dictionaries, which also renames `name`) and step constants.
std::shared_ptr<ClassicalModel> learn_classical_model(std::string& name, const std::vector<mcsc::ImageTriplet>& training,
                                                      const ClassicalOptions& options_in, bool quiet) {
  auto model = std::make_shared<ClassicalModel>();
  ClassicalOptions options = options_in;
  if (!options.dictionaries.empty()) {  // a trained CU-Net's filters instead of learned ones
    using CuNet = mcsc::CuNet<T, ExecSpace>;
    const char* fn = "--classical-dictionaries";
    const auto info = mcsc::read_checkpoint_info(options.dictionaries);
    MCSC_REQUIRE(info.model_type == CuNet::type_name, fn,
                 "'" << options.dictionaries << "' holds a " << info.model_type << "; only a CU-Net's filters map onto "
                     << "the classical dictionaries (Dc, Du, Hc, Hv)");
    const auto config = CuNet::config_from_string(info.model_config);
    const int C = training.empty() ? config.channels : training[0].channels;
    MCSC_REQUIRE(config.channels == C && config.fusion == options.fusion, fn,
                 "'" << options.dictionaries << "' is a " << config.channels << "-channel "
                     << (config.fusion ? "fusion" : "restoration") << " CU-Net; this task needs a " << C << "-channel "
                     << (options.fusion ? "fusion" : "restoration") << " one");
    CuNet net(config);
    mcsc::load_checkpoint(options.dictionaries, net.parameters(), CuNet::type_name, net.config_string());
    model->dicts = mcsc::cunet_dictionaries(net);
    options.filters = config.filters;
    options.kernel = config.kernel;
    options.learn_iterations = 0;
    name += " (dictionaries of " + fs::path(options.dictionaries).stem().string() + ")";
  }
  model->options = options;
  {
    // Before any of the work: the patches (x, y, target and their low-passes) and, per dictionary
    // learning step, the three code sets with their gradients, momenta and spectra (about four
    // copies each). A lower bound; --classical-patches 100000 used to run for a minute first.
    const int C = training.empty() ? 1 : training[0].channels;
    const double per_patch = double(options.patch) * options.patch * sizeof(T) * (5.0 * C + 4.0 * 3 * options.filters);
    mcsc::require_memory("the classical solver", "--classical-patches " + std::to_string(options.patches) + " of " +
                             std::to_string(options.patch) + "x" + std::to_string(options.patch),
                         per_patch * options.patches);
  }
  const auto t0 = Clock::now();
  auto [x, y, z] = training_patches(training, options.patches, options.patch, options.seed);
  const int C = int(x.extent(1));
  const Tensor xl = lowpass(x, options.lowpass_lambda), yl = lowpass(y, options.lowpass_lambda);
  mcsc::lincomb(T(1), x, T(-1), xl, x);  // high-pass parts
  mcsc::lincomb(T(1), y, T(-1), yl, y);
  // Restoration: G maps the codes to the missing detail z - x (so G = 0 gives back x, and the
  // least-squares fit of G can only improve on x over the training patches); fusion: G maps
  // them to z minus the mean low-pass.
  if (options.fusion) {
    mcsc::axpby(T(-0.5), xl, T(1), z);
    mcsc::axpby(T(-0.5), yl, T(1), z);
  } else {
    mcsc::axpby(T(-1), x, T(1), z);  // x holds x - xl here: z - (x - xl) - xl = z - x
    mcsc::axpby(T(-1), xl, T(1), z);
  }
  if (options.dictionaries.empty())
    model->dicts = mcsc::random_multimodal_dictionaries<T, ExecSpace>(C, C, C, options.filters, options.filters,
                                                                      options.filters, options.kernel, options.fusion,
                                                                      options.seed);
  mcsc::CoupledDictionaryLearningOptions learn;
  learn.max_iterations = options.learn_iterations;
  learn.coding.lambda = options.lambda;
  const auto result = mcsc::learn_coupled_dictionaries<mcsc::ConvDictionary<T, ExecSpace>>(
      model->dicts, x, y, z, learn, mcsc::Boundary::zero, [&](const mcsc::CoupledDictionaryLearningIterate& it) {
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
    std::cerr << "  " << name << ": learned " << options.filters << "+" << options.filters << "+" << options.filters
              << " filters of " << options.kernel << "x" << options.kernel << " from " << options.patches
              << " patches in " << std::fixed << std::setprecision(1) << seconds_since(t0) << " s"
              << std::defaultfloat << "\n";
  (void)result;
  {
    // The zero-boundary operators' norms grow with the image towards the circulant's; on 48-pixel
    // patches of 7x7 filters the estimate is within a few per cent of it, so a 1.1 margin. Not
    // proven for larger --classical-kernel against smaller --classical-patch (the circulant bound
    // of the stacked operator would be; to do).
    using Dict = mcsc::FftConvDictionary<T, ExecSpace>;
    const auto& d = model->dicts;
    mcsc::CommonUniqueOptions probe;
    probe.lambda = options.lambda;
    probe.max_iterations = 0;
    const auto r = mcsc::common_unique(Dict(d.Dc), Dict(d.Du), Dict(d.Hc), Dict(d.Hv), x, y, probe);
    model->lipschitz_c = 1.1 * r.lipschitz_c;
    model->lipschitz_u = 1.1 * r.lipschitz_u;
    model->lipschitz_v = 1.1 * r.lipschitz_v;
  }
  return model;
}
}  // namespace

Method classical_method(const std::string& method_name, const std::vector<mcsc::ImageTriplet>& training,
                        const ClassicalOptions& options, bool quiet) {
  std::string name = method_name;
  const auto model = learn_classical_model(name, training, options, quiet);
  return {name, [model](const Sample& s) {
            using Dict = mcsc::FftConvDictionary<T, ExecSpace>;
            const auto& o = model->options;
            const auto& d = model->dicts;
            Tensor xl = lowpass(s.x, o.lowpass_lambda), yl = lowpass(s.y, o.lowpass_lambda);
            Tensor xh = mcsc::make_tensor_like("x_high", s.x), yh = mcsc::make_tensor_like("y_high", s.y);
            mcsc::lincomb(T(1), s.x, T(-1), xl, xh);
            mcsc::lincomb(T(1), s.y, T(-1), yl, yh);
            const Dict Dc(d.Dc), Du(d.Du), Hc(d.Hc), Hv(d.Hv), Gc(d.Gc), Gu(d.Gu);
            mcsc::CommonUniqueOptions cu;
            cu.lambda = o.lambda;
            cu.max_iterations = o.sweeps;
            cu.inner_iterations = o.inner_iterations;
            cu.lipschitz_c = model->lipschitz_c;
            cu.lipschitz_u = model->lipschitz_u;
            cu.lipschitz_v = model->lipschitz_v;
            const auto codes = mcsc::common_unique(Dc, Du, Hc, Hv, xh, yh, cu);
            Output out;
            mcsc::CommonUniqueParts<T, ExecSpace> parts;
            Tensor base = s.x;
            if (o.fusion) {
              base = mcsc::make_tensor_like("base", xl);
              mcsc::lincomb(T(0.5), xl, T(0.5), yl, base);
              parts = mcsc::common_unique_fusion(Gc, Gu, Dict(d.Gv), codes);
              out.parts.push_back({"low-pass base", base});
            } else {
              parts = mcsc::common_unique_restoration(Gc, Gu, codes);
            }
            out.image = mcsc::make_tensor_like("classical", s.x);
            mcsc::lincomb(T(1), base, T(1), parts.target, out.image);
            back_project_sample(s, out.image, o.back_projection);
            out.parts.push_back({"common Gc*C", parts.common});
            out.parts.push_back({"unique of x Gu*U", parts.unique_x});
            if (o.fusion) out.parts.push_back({"unique of y Gv*V", parts.unique_y});
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
      mcsc::initialize_from_dictionaries(model, learned->dicts, classical.lambda, options.trainer.patch_size);
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

// ------------------------------------------------------------------------------------ the run

namespace {
/// A panel of the report: a caption and a PNG file relative to the report.
struct Panel {
  std::string caption, file;
};

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  return out;
}

/// Box-downsampled copy of an image so that its longer side is at most max_side.
mcsc::Image shrink(const mcsc::Image& im, int max_side) {
  const int f = (std::max(im.width, im.height) + max_side - 1) / max_side;
  if (f <= 1) return im;
  mcsc::Image out = mcsc::make_image(im.width / f, im.height / f, im.channels);
  for (int r = 0; r < out.height; ++r)
    for (int c = 0; c < out.width; ++c)
      for (int ch = 0; ch < im.channels; ++ch) {
        double sum = 0;
        for (int i = 0; i < f; ++i)
          for (int j = 0; j < f; ++j) sum += im.at(r * f + i, c * f + j, ch);
        out.at(r, c, ch) = float(sum / (f * f));
      }
  return out;
}

/// |a - b| averaged over channels, as (H, W) host values.
std::vector<float> abs_error(const Tensor& a, const Tensor& b) {
  const auto ha = mcsc::to_host(a), hb = mcsc::to_host(b);
  const int C = int(a.extent(1)), H = int(a.extent(2)), W = int(a.extent(3));
  std::vector<float> e(std::size_t(H) * W, 0.0f);
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) e[std::size_t(i) * W + j] += std::abs(float(ha(0, c, i, j) - hb(0, c, i, j))) / C;
  return e;
}

/// A dark-to-bright colour map (black, purple, red, orange, yellow, white) of v in [0, 1].
std::array<float, 3> heat(float v) {
  static const float stops[6][3] = {{0, 0, 0}, {0.35f, 0.05f, 0.5f}, {0.8f, 0.1f, 0.3f},
                                    {0.95f, 0.45f, 0.05f}, {1, 0.85f, 0.2f}, {1, 1, 1}};
  v = std::min(1.0f, std::max(0.0f, v)) * 5;
  const int k = std::min(4, int(v));
  const float t = v - float(k);
  return {stops[k][0] + t * (stops[k + 1][0] - stops[k][0]), stops[k][1] + t * (stops[k + 1][1] - stops[k][1]),
          stops[k][2] + t * (stops[k + 1][2] - stops[k][2])};
}

std::string format(double v, int precision) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}
}  // namespace

struct TaskRun::Impl {
  std::string title, output_dir, description;
  std::vector<Metric> metrics;
  Layout layout;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> methods, images;  // per group, in order
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<double>> values;
  std::map<std::tuple<std::string, std::string, std::string>, double> seconds;
  std::map<std::pair<std::string, std::string>, std::vector<Panel>> panels;  // (group, image)
  std::map<std::pair<std::string, std::string>, std::vector<Panel>> part_panels;

  std::string write_png(const std::string& group, const std::string& image, const std::string& what,
                        const mcsc::Image& picture) const {
    const std::string rel = "images/" + file_safe(group.empty() ? image : group + "_" + image) + "_" + file_safe(what) + ".png";
    fs::create_directories(fs::path(output_dir) / "images");
    mcsc::write_png((fs::path(output_dir) / rel).string(), shrink(picture, 640));
    return rel;
  }

  double average(const std::string& group, const std::string& method, int metric) const {
    double sum = 0;
    int n = 0;
    for (const auto& image : images.at(group)) {
      auto it = values.find({group, method, image});
      if (it == values.end() || std::isnan(it->second[std::size_t(metric)])) continue;
      sum += it->second[std::size_t(metric)];
      ++n;
    }
    return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
  }
};

TaskRun::TaskRun(std::string title, std::string output_dir, std::vector<Metric> metrics, Layout layout)
    : m(std::make_unique<Impl>()) {
  m->title = std::move(title);
  m->output_dir = std::move(output_dir);
  m->metrics = std::move(metrics);
  m->layout = layout;
  fs::create_directories(m->output_dir);
}
TaskRun::~TaskRun() = default;

void TaskRun::set_description(const std::string& text) { m->description = text; }

void TaskRun::evaluate(const std::vector<Sample>& samples, const std::vector<Method>& methods, const std::string& group) {
  if (std::find(m->groups.begin(), m->groups.end(), group) == m->groups.end()) m->groups.push_back(group);
  auto& method_list = m->methods[group];
  auto& image_list = m->images[group];
  for (const auto& method : methods)
    if (std::find(method_list.begin(), method_list.end(), method.name) == method_list.end())
      method_list.push_back(method.name);
  for (const auto& s : samples) {
    if (std::find(image_list.begin(), image_list.end(), s.name) == image_list.end()) image_list.push_back(s.name);
    auto& panels = m->panels[{group, s.name}];
    auto& parts = m->part_panels[{group, s.name}];
    panels.push_back({s.x_caption, m->write_png(group, s.name, "input_x", mcsc::tensor_to_image(s.x))});
    panels.push_back({s.y_caption, m->write_png(group, s.name, "input_y", mcsc::tensor_to_image(s.y))});
    if (s.guide_color.data())
      panels.push_back({"colour guide", m->write_png(group, s.name, "guide_color", mcsc::tensor_to_image(s.guide_color))});
    if (s.target.data())
      panels.push_back({"ground truth", m->write_png(group, s.name, "ground_truth", mcsc::tensor_to_image(s.target))});
    float error_scale = 0;
    std::vector<Panel> error_panels;
    for (const auto& method : methods) {
      const auto t0 = Clock::now();
      const Output out = method.run(s);
      Kokkos::fence();
      const double secs = seconds_since(t0);
      mcsc::require_finite(("the output of " + method.name).c_str(), out.image);
      std::vector<double> scores;
      for (const auto& metric : m->metrics) scores.push_back(metric.eval(s, out.image));
      m->values[{group, method.name, s.name}] = scores;
      m->seconds[{group, method.name, s.name}] = secs;
      std::cerr << "  " << (group.empty() ? "" : group + ", ") << s.name << ", " << method.name << ":";
      for (std::size_t k = 0; k < scores.size(); ++k)
        std::cerr << " " << m->metrics[k].name << " " << format(scores[k], m->metrics[k].precision);
      std::cerr << " (" << std::fixed << std::setprecision(2) << secs << " s)" << std::defaultfloat << "\n";
      panels.push_back({method.name, m->write_png(group, s.name, method.name, mcsc::tensor_to_image(out.image))});
      if (s.target.data()) {
        auto e = abs_error(out.image, s.target);
        if (error_scale == 0) {  // the first method's 99th percentile sets the scale of this image's maps
          std::vector<float> sorted = e;
          std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(sorted.size() * 99 / 100), sorted.end());
          error_scale = std::max(sorted[sorted.size() * 99 / 100], 1e-6f);
        }
        const int H = int(s.target.extent(2)), W = int(s.target.extent(3));
        mcsc::Image map = mcsc::make_image(W, H, 3);
        for (int i = 0; i < H; ++i)
          for (int j = 0; j < W; ++j) {
            const auto rgb = heat(e[std::size_t(i) * W + j] / error_scale);
            for (int c = 0; c < 3; ++c) map.at(i, j, c) = rgb[std::size_t(c)];
          }
        std::ostringstream caption;
        caption << "|error| of " << method.name << " (white = " << std::setprecision(3) << error_scale * s.display_scale
                << (s.display_scale == 255 ? " of 255" : "") << ")";
        error_panels.push_back({caption.str(), m->write_png(group, s.name, "error_" + method.name, map)});
      }
      for (const auto& [part_name, part] : out.parts)
        parts.push_back({method.name + ": " + part_name,
                         m->write_png(group, s.name, method.name + "_" + part_name, mcsc::tensor_to_image(part, 0, true))});
    }
    panels.insert(panels.end(), error_panels.begin(), error_panels.end());
  }
}

double TaskRun::value(const std::string& group, const std::string& method, const std::string& image, int metric) const {
  if (image == "Average") return m->images.count(group) ? m->average(group, method, metric) : std::nan("");
  auto it = m->values.find({group, method, image});
  return it == m->values.end() ? std::nan("") : it->second[std::size_t(metric)];
}

void TaskRun::print(std::ostream& os) const {
  const auto& metrics = m->metrics;
  const int cell = 9;
  std::string metric_header;
  for (const auto& metric : metrics) metric_header += (metric_header.empty() ? "" : " ") + metric.name;
  os << "\n" << m->title << "\n";
  if (m->layout == Layout::methods_as_rows) {
    for (const auto& group : m->groups) {
      const auto& images = m->images.at(group);
      std::size_t name_width = 8;
      for (const auto& method : m->methods.at(group)) name_width = std::max(name_width, method.size() + 1);
      const int group_width = int(metrics.size()) * (cell + 1) - 1;
      if (!group.empty()) os << "\n" << group << "\n";
      os << std::left << std::setw(int(name_width)) << "" << std::right;
      for (const auto& image : images) os << " | " << std::setw(group_width) << image.substr(0, std::size_t(group_width));
      os << " | " << std::setw(group_width) << "Average" << "\n";
      os << std::left << std::setw(int(name_width)) << "Method" << std::right;
      for (std::size_t k = 0; k <= images.size(); ++k) {
        os << " |";
        for (const auto& metric : metrics) os << " " << std::setw(cell) << metric.name;
      }
      os << "\n" << std::string(name_width + (images.size() + 1) * std::size_t(group_width + 3), '-') << "\n";
      for (const auto& method : m->methods.at(group)) {
        os << std::left << std::setw(int(name_width)) << method << std::right;
        for (std::size_t k = 0; k <= images.size(); ++k) {
          os << " |";
          for (std::size_t q = 0; q < metrics.size(); ++q)
            os << " " << std::setw(cell)
               << format(value(group, method, k < images.size() ? images[k] : "Average", int(q)), metrics[q].precision);
        }
        os << "\n";
      }
    }
  } else {
    // Column groups: (method, group) pairs, ordered by method then group (LMCSC Table 1: x2 x4 per method).
    std::vector<std::pair<std::string, std::string>> columns;
    std::vector<std::string> all_images;
    for (const auto& group : m->groups) {
      for (const auto& image : m->images.at(group))
        if (std::find(all_images.begin(), all_images.end(), image) == all_images.end()) all_images.push_back(image);
    }
    std::vector<std::string> all_methods;
    for (const auto& group : m->groups)
      for (const auto& method : m->methods.at(group))
        if (std::find(all_methods.begin(), all_methods.end(), method) == all_methods.end()) all_methods.push_back(method);
    for (const auto& method : all_methods)
      for (const auto& group : m->groups) {
        const auto& ms = m->methods.at(group);
        if (std::find(ms.begin(), ms.end(), method) != ms.end()) columns.push_back({method, group});
      }
    const int group_width = int(metrics.size()) * (cell + 1) - 1;
    os << std::left << std::setw(10) << "" << std::right;
    for (const auto& [method, group] : columns) {
      const std::string head = group.empty() ? method : method + " " + group;
      os << " | " << std::setw(group_width) << head.substr(0, std::size_t(group_width));
    }
    os << "\n" << std::left << std::setw(10) << "Image" << std::right;
    for (std::size_t k = 0; k < columns.size(); ++k) {
      os << " |";
      for (const auto& metric : metrics) os << " " << std::setw(cell) << metric.name;
    }
    os << "\n" << std::string(10 + columns.size() * std::size_t(group_width + 3), '-') << "\n";
    auto rows = all_images;
    rows.push_back("Average");
    for (const auto& image : rows) {
      os << std::left << std::setw(10) << image.substr(0, 10) << std::right;
      for (const auto& [method, group] : columns) {
        os << " |";
        for (std::size_t q = 0; q < metrics.size(); ++q)
          os << " " << std::setw(cell) << format(value(group, method, image, int(q)), metrics[q].precision);
      }
      os << "\n";
    }
  }
  os.flush();
}

std::string TaskRun::write() const {
  const fs::path dir(m->output_dir);
  {
    std::ofstream csv(dir / "results.csv");
    csv << "group,method,image";
    for (const auto& metric : m->metrics) csv << "," << metric.name;
    csv << ",seconds\n";
    for (const auto& group : m->groups)
      for (const auto& method : m->methods.at(group)) {
        for (const auto& image : m->images.at(group)) {
          auto it = m->values.find({group, method, image});
          if (it == m->values.end()) continue;
          csv << csv_field(group) << "," << csv_field(method) << "," << csv_field(image);
          for (double v : it->second) csv << "," << std::setprecision(8) << v;
          csv << "," << m->seconds.at({group, method, image}) << "\n";
        }
        csv << csv_field(group) << "," << csv_field(method) << ",Average";
        for (std::size_t q = 0; q < m->metrics.size(); ++q) csv << "," << std::setprecision(8) << m->average(group, method, int(q));
        csv << ",\n";
      }
  }
  {
    std::ofstream txt(dir / "table.txt");
    print(txt);
  }
  const fs::path report = dir / "report.html";
  std::ofstream html(report);
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(m->title) << "</title>\n"
       << "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}"
          "td.best{font-weight:bold;background:#e6f4e6}.grid{display:flex;flex-wrap:wrap;gap:10px}"
          "figure{margin:0;width:260px}figure img{width:260px;image-rendering:pixelated;border:1px solid #ccc}"
          "figcaption{font-size:12px}</style></head><body>\n";
  html << "<h1>" << html_escape(m->title) << "</h1>\n";
  if (!m->description.empty()) html << "<p>" << html_escape(m->description) << "</p>\n";
  for (const auto& group : m->groups) {
    const auto& images = m->images.at(group);
    if (!group.empty()) html << "<h2>" << html_escape(group) << "</h2>\n";
    html << "<table><tr><th class=\"l\" rowspan=\"2\">Method</th>";
    for (const auto& image : images) html << "<th colspan=\"" << m->metrics.size() << "\">" << html_escape(image) << "</th>";
    html << "<th colspan=\"" << m->metrics.size() << "\">Average</th></tr><tr>";
    for (std::size_t k = 0; k <= images.size(); ++k)
      for (const auto& metric : m->metrics) html << "<th>" << html_escape(metric.name) << "</th>";
    html << "</tr>\n";
    for (const auto& method : m->methods.at(group)) {
      html << "<tr><td class=\"l\">" << html_escape(method) << "</td>";
      for (std::size_t k = 0; k <= images.size(); ++k) {
        const std::string image = k < images.size() ? images[k] : "Average";
        for (std::size_t q = 0; q < m->metrics.size(); ++q) {
          const double v = value(group, method, image, int(q));
          bool best = !std::isnan(v);
          for (const auto& other : m->methods.at(group)) {
            const double w = value(group, other, image, int(q));
            if (!std::isnan(w) && (m->metrics[q].higher_is_better ? w > v : w < v)) best = false;
          }
          html << "<td" << (best ? " class=\"best\"" : "") << ">" << format(v, m->metrics[q].precision) << "</td>";
        }
      }
      html << "</tr>\n";
    }
    html << "</table>\n";
    for (const auto& image : images) {
      html << "<h3>" << html_escape(image) << (group.empty() ? "" : " (" + html_escape(group) + ")") << "</h3>\n<div class=\"grid\">\n";
      for (const auto& p : m->panels.at({group, image}))
        html << "<figure><img src=\"" << p.file << "\" alt=\"" << html_escape(p.caption) << "\"><figcaption>"
             << html_escape(p.caption) << "</figcaption></figure>\n";
      html << "</div>\n";
      const auto& parts = m->part_panels.at({group, image});
      if (!parts.empty()) {
        html << "<h4>Common and unique reconstructions (min-max normalised)</h4>\n<div class=\"grid\">\n";
        for (const auto& p : parts)
          html << "<figure><img src=\"" << p.file << "\" alt=\"" << html_escape(p.caption) << "\"><figcaption>"
               << html_escape(p.caption) << "</figcaption></figure>\n";
        html << "</div>\n";
      }
    }
  }
  html << "<p>Written by mcsc. Tables: " << "<a href=\"results.csv\">results.csv</a>, <a href=\"table.txt\">table.txt</a>.</p>\n</body></html>\n";
  return report.string();
}

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
