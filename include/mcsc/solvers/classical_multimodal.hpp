#pragma once
/// \file classical_multimodal.hpp
/// The classical multimodal model of the CU-Net paper (eqs. 3-5) as a component with the life
/// cycle of the networks: configure, fit on training patches, apply to images, save and load a
/// checkpoint, and expose its common and unique parts. It is the "CU-Net without learning in
/// the network sense": coupled dictionaries (Dc, Du for x; Hc, Hv for y; Gc, Gu, Gv for the
/// target) learned by learn_coupled_dictionaries(), then per image the common/unique codes of
/// eq. 5 (common_unique()) of the high-pass parts of x and y, and the estimate
///
///   restoration (eq. 3):  x + Gc*C + Gu*U          (G fitted to the missing detail z - x)
///   fusion (eq. 4):       (xl + yl)/2 + Gc*C + Gu*U + Gv*V   (xl, yl: Tikhonov low-passes)
///
/// The task programs (examples/tasks) use it for their "Classical MCSC" rows and add, for
/// super-resolution, a guided back-projection onto the low-resolution image
/// (solvers/back_projection.hpp), which needs the degradation and so stays outside the model.
///
///     mcsc::ClassicalMultimodalConfig config;          // 8+8+8 filters of 7x7, lambda 0.02
///     mcsc::ClassicalMultimodal<float> model(config);  // random unit-norm dictionaries
///     auto [x, y, z] = mcsc::aligned_patches<float>(training_triplets, 32, 48, seed);
///     model.fit(x, y, z);                               // dictionaries, G, step constants
///     auto out = model.apply(x_test, y_test);           // out.image, out.common, out.unique_x
///     model.save("classical.mcsc");                     // ClassicalMultimodal<float>::load(...)
///
/// A trained CU-Net's dictionaries can replace the learned ones: construct the model with
/// cunet_dictionaries(net) and fit with learn_iterations = 0 (G is then refitted to the
/// classical codes). tests/test_classical_multimodal.cpp checks apply() against the solver calls
/// it composes, save/load, and the fit's guarantees.
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/baselines/fusion.hpp"
#include "mcsc/ops/conv2d_fft.hpp"
#include "mcsc/solvers/common_unique.hpp"
#include "mcsc/solvers/coupled_dictionary_learning.hpp"
#include "mcsc/data/patches.hpp"
#include "mcsc/train/checkpoint.hpp"

namespace mcsc {

/// What a ClassicalMultimodal model is: its sizes and the solver settings used by fit() and
/// apply(). Stored in its checkpoints (to_string / from_string, doubles to 17 digits).
struct ClassicalMultimodalConfig {
  int channels = 1;           ///< of x, y and the target
  int filters = 8;            ///< Kc = Ku = Kv
  int kernel = 7;             ///< filter size (odd or even)
  double lambda = 0.02;       ///< l1 weight of every code block (eq. 5), fit and apply
  int learn_iterations = 4;   ///< coupled dictionary learning iterations of fit(); 0: keep the dictionaries, fit G only
  int sweeps = 8;             ///< common_unique sweeps per image in apply()
  int inner_iterations = 10;  ///< FISTA iterations per block and sweep in apply()
  /// The coding block of fit() (per dictionary learning iteration, and for the codes G is
  /// fitted to). G only predicts well from codes computed like these: on planted data, G fitted
  /// to codes of 3 sweeps of 10 steps and applied with 10 sweeps did worse than no model
  /// (tests/test_classical_multimodal.cpp), so set sweeps / inner_iterations to these unless a
  /// validation score says otherwise.
  int fit_sweeps = 3, fit_inner_iterations = 10;
  double lowpass_lambda = 5;  ///< Tikhonov low-pass split (tikhonov_lowpass) of x and y
  bool fusion = false;        ///< eq. 4 (Gv, mean low-pass base) instead of eq. 3
  std::uint64_t seed = 1;     ///< of the random initial dictionaries

  /// Throws, naming the field, if a value is out of range.
  void check(const char* fn) const {
    MCSC_REQUIRE(channels >= 1 && filters >= 1 && kernel >= 1, fn,
                 "channels, filters and kernel must be >= 1, got " << channels << ", " << filters << ", " << kernel);
    MCSC_REQUIRE(std::isfinite(lambda) && lambda >= 0, fn, "lambda must be finite and >= 0, got " << lambda);
    MCSC_REQUIRE(learn_iterations >= 0, fn, "learn_iterations must be >= 0, got " << learn_iterations);
    MCSC_REQUIRE(sweeps >= 0 && inner_iterations >= 1, fn,
                 "sweeps must be >= 0 and inner_iterations >= 1, got " << sweeps << ", " << inner_iterations);
    MCSC_REQUIRE(fit_sweeps >= 1 && fit_inner_iterations >= 1, fn,
                 "fit_sweeps and fit_inner_iterations must be >= 1, got " << fit_sweeps << ", " << fit_inner_iterations);
    MCSC_REQUIRE(std::isfinite(lowpass_lambda) && lowpass_lambda >= 0, fn,
                 "lowpass_lambda must be finite and >= 0, got " << lowpass_lambda);
  }
  std::string to_string() const {
    std::ostringstream s;
    s << std::setprecision(17) << "channels=" << channels << " filters=" << filters << " kernel=" << kernel
      << " lambda=" << lambda << " learn_iterations=" << learn_iterations << " sweeps=" << sweeps
      << " inner_iterations=" << inner_iterations << " fit_sweeps=" << fit_sweeps
      << " fit_inner_iterations=" << fit_inner_iterations << " lowpass_lambda=" << lowpass_lambda
      << " fusion=" << int(fusion) << " seed=" << seed;
    return s.str();
  }
  static ClassicalMultimodalConfig from_string(const std::string& text) {
    const char* fn = "mcsc::ClassicalMultimodalConfig::from_string";
    const auto kv = parse_key_values(text);
    auto real = [&](const std::string& key) { return config_double(kv, key); };
    ClassicalMultimodalConfig c;
    c.channels = config_int(kv, "channels");
    c.filters = config_int(kv, "filters");
    c.kernel = config_int(kv, "kernel");
    c.lambda = real("lambda");
    c.learn_iterations = config_int(kv, "learn_iterations");
    c.sweeps = config_int(kv, "sweeps");
    c.inner_iterations = config_int(kv, "inner_iterations");
    c.fit_sweeps = config_int(kv, "fit_sweeps");
    c.fit_inner_iterations = config_int(kv, "fit_inner_iterations");
    c.lowpass_lambda = real("lowpass_lambda");
    c.fusion = config_int(kv, "fusion") != 0;
    const double seed = real("seed");
    MCSC_REQUIRE(seed >= 0 && seed == std::floor(seed) && seed < 18446744073709551616.0, fn,
                 "'seed=" << kv.at("seed") << "' is not an unsigned 64-bit integer");
    c.seed = std::stoull(kv.at("seed"));
    c.check(fn);
    return c;
  }
};

/// The classical multimodal model (see the file comment). Not thread-safe; copies of a model
/// share its dictionaries' views (Kokkos views are references), so fit() one and both change.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class ClassicalMultimodal {
 public:
  using scalar_type = T;
  using execution_space = ExecSpace;
  using tensor_type = Tensor4<T, ExecSpace>;
  using dictionaries_type = MultimodalDictionaries<T, ExecSpace>;
  /// apply() codes with the FFT operators (FftConvDictionary's default zero boundary, the
  /// boundary fit() learns with; on full images they are faster than the direct kernels).
  using dictionary_type = FftConvDictionary<T, ExecSpace>;
  static constexpr const char* type_name = "ClassicalMultimodal";

  /// What apply() returns: the estimate, its base (x, or the mean low-pass for fusion) and its
  /// parts Gc*C, Gu*U, Gv*V (unique_y empty for restoration), and the codes.
  struct Output {
    tensor_type image, base, common, unique_x, unique_y;
    CommonUniqueResult<T, ExecSpace> codes;
  };

  /// Random unit-norm dictionaries (random_multimodal_dictionaries with config.seed).
  explicit ClassicalMultimodal(const ClassicalMultimodalConfig& config)
      : ClassicalMultimodal(config, random_multimodal_dictionaries<T, ExecSpace>(
                                        config.channels, config.channels, config.channels, config.filters,
                                        config.filters, config.filters, config.kernel, config.fusion, config.seed)) {}
  /// Given dictionaries (for example cunet_dictionaries(net)), checked against the config and
  /// copied (fit() changes the model's copies, never the caller's).
  ClassicalMultimodal(const ClassicalMultimodalConfig& config, const dictionaries_type& dictionaries)
      : m_config(config), m_dicts(copy_of(dictionaries)) {
    const char* fn = "mcsc::ClassicalMultimodal";
    config.check(fn);
    const Shape4 shape{config.channels, config.filters, config.kernel, config.kernel};
    auto expect = [&](const char* name, const tensor_type& d, bool required) {
      if (!required && d.size() == 0) return;
      MCSC_REQUIRE(d.size() > 0, fn, name << " is missing");
      MCSC_REQUIRE(shape_of(d) == shape, fn, name << " is " << shape_of(d) << ", the configuration needs " << shape);
    };
    expect("Dc", m_dicts.Dc, true);
    expect("Du", m_dicts.Du, true);
    expect("Hc", m_dicts.Hc, true);
    expect("Hv", m_dicts.Hv, true);
    expect("Gc", m_dicts.Gc, true);
    expect("Gu", m_dicts.Gu, true);
    expect("Gv", m_dicts.Gv, config.fusion);
    MCSC_REQUIRE(config.fusion == (m_dicts.Gv.size() > 0), fn,
                 (config.fusion ? "a fusion model needs Gv" : "a restoration model has no Gv"));
  }

  const ClassicalMultimodalConfig& config() const { return m_config; }
  std::string config_string() const { return m_config.to_string(); }
  const dictionaries_type& dictionaries() const { return m_dicts; }
  /// Whether fit() (or load()) set the step constants; apply() needs them.
  bool fitted() const { return m_lipschitz[0] > 0; }
  /// The step constants of common_unique (L of [Dc; Hc], Du, Hv), estimated by fit() on its
  /// patches with a margin of 1.1 (a checkpoint holds them to 17 digits, exactly).
  const std::array<double, 3>& lipschitz() const { return m_lipschitz; }

  /// Splits x into its Tikhonov low-pass and high-pass parts (into low and high, allocated like x).
  void split(const tensor_type& x, tensor_type& low, tensor_type& high) const {
    low = make_tensor_like("mcsc::ClassicalMultimodal::low", x);
    high = make_tensor_like("mcsc::ClassicalMultimodal::high", x);
    LowpassOptions o;
    o.lambda = m_config.lowpass_lambda;
    o.tolerance = 1e-6;
    tikhonov_lowpass(x, low, o);
    lincomb(T(1), x, T(-1), low, high);
  }

  /// Fits the model to aligned training patches x, y and targets z (N, C, p, p): learns the
  /// dictionaries of the high-pass parts (config.learn_iterations coupled dictionary learning
  /// iterations at config.lambda, zero boundary, codes of config.fit_sweeps sweeps of
  /// config.fit_inner_iterations steps), fits G to the missing detail (restoration:
  /// z - x; fusion: z - (xl + yl)/2) and estimates the step constants. `callback` as
  /// learn_coupled_dictionaries()'s.
  CoupledDictionaryLearningResult<T, ExecSpace> fit(
      const tensor_type& x, const tensor_type& y, const tensor_type& z,
      const std::function<bool(const CoupledDictionaryLearningIterate&)>& callback = {}) {
    const char* fn = "mcsc::ClassicalMultimodal::fit";
    require_same_image_shape(fn, x, y);
    require_same_image_shape(fn, x, z);
    MCSC_REQUIRE(int(x.extent(1)) == m_config.channels, fn,
                 "the patches have " << x.extent(1) << " channels, the model " << m_config.channels);
    tensor_type xl, xh, yl, yh;
    split(x, xl, xh);
    split(y, yl, yh);
    tensor_type detail = make_tensor_like("mcsc::ClassicalMultimodal::detail", z);
    if (m_config.fusion) {  // z - (xl + yl)/2
      lincomb(T(1), z, T(-0.5), xl, detail);
      axpby(T(-0.5), yl, T(1), detail);
    } else {  // z - x
      lincomb(T(1), z, T(-1), x, detail);
    }
    CoupledDictionaryLearningOptions learn;
    learn.max_iterations = m_config.learn_iterations;
    learn.coding.lambda = m_config.lambda;
    learn.coding.max_iterations = m_config.fit_sweeps;
    learn.coding.inner_iterations = m_config.fit_inner_iterations;
    auto result =
        learn_coupled_dictionaries<ConvDictionary<T, ExecSpace>>(m_dicts, xh, yh, detail, learn, Boundary::zero, callback);
    // The zero-boundary operators' norms grow with the image towards the circulant's; on 48-pixel
    // patches of 7x7 filters the estimate is within a few per cent of it, hence the 1.1 margin
    // (not proven for filters large against the patches; the circulant bound would be).
    const dictionary_type Dc(m_dicts.Dc), Du(m_dicts.Du), Hc(m_dicts.Hc), Hv(m_dicts.Hv);
    CommonUniqueOptions probe;
    probe.lambda = m_config.lambda;
    probe.max_iterations = 0;
    const auto r = common_unique(Dc, Du, Hc, Hv, xh, yh, probe);
    m_lipschitz = {1.1 * r.lipschitz_c, 1.1 * r.lipschitz_u, 1.1 * r.lipschitz_v};
    return result;
  }

  /// The estimate for one batch of images x, y (N, C, H, W): the codes of their high-pass parts
  /// (config.sweeps sweeps of config.inner_iterations FISTA steps) and the parts they synthesise.
  Output apply(const tensor_type& x, const tensor_type& y) const {
    const char* fn = "mcsc::ClassicalMultimodal::apply";
    MCSC_REQUIRE(fitted(), fn, "the model has no step constants: fit() or load() it first");
    require_same_image_shape(fn, x, y);
    MCSC_REQUIRE(int(x.extent(1)) == m_config.channels, fn,
                 "the images have " << x.extent(1) << " channels, the model " << m_config.channels);
    tensor_type xl, xh, yl, yh;
    split(x, xl, xh);
    split(y, yl, yh);
    const dictionary_type Dc(m_dicts.Dc), Du(m_dicts.Du), Hc(m_dicts.Hc), Hv(m_dicts.Hv), Gc(m_dicts.Gc),
        Gu(m_dicts.Gu);
    CommonUniqueOptions cu;
    cu.lambda = m_config.lambda;
    cu.max_iterations = m_config.sweeps;
    cu.inner_iterations = m_config.inner_iterations;
    cu.lipschitz_c = m_lipschitz[0];
    cu.lipschitz_u = m_lipschitz[1];
    cu.lipschitz_v = m_lipschitz[2];
    Output out;
    out.codes = common_unique(Dc, Du, Hc, Hv, xh, yh, cu);
    CommonUniqueParts<T, ExecSpace> parts;
    if (m_config.fusion) {
      out.base = make_tensor_like("mcsc::ClassicalMultimodal::base", xl);
      lincomb(T(0.5), xl, T(0.5), yl, out.base);
      parts = common_unique_fusion(Gc, Gu, dictionary_type(m_dicts.Gv), out.codes);
    } else {
      out.base = x;
      parts = common_unique_restoration(Gc, Gu, out.codes);
    }
    out.image = make_tensor_like("mcsc::ClassicalMultimodal::image", x);
    lincomb(T(1), out.base, T(1), parts.target, out.image);
    out.common = parts.common;
    out.unique_x = parts.unique_x;
    out.unique_y = parts.unique_y;
    return out;
  }

  /// Writes the model (config, dictionaries, step constants) to `path` atomically (mcsc's
  /// checkpoint format, model type "ClassicalMultimodal").
  void save(const std::string& path, const std::string& notes = "") const {
    MCSC_REQUIRE(fitted(), "mcsc::ClassicalMultimodal::save", "the model is not fitted; nothing worth saving");
    Parameters<T, ExecSpace> params;
    register_parameters(params);
    for (const auto& e : params.entries()) Kokkos::deep_copy(e.value, *tensor_by_name(e.name));
    std::ostringstream state;
    state << std::setprecision(17) << config_string() << " lipschitz_c=" << m_lipschitz[0]
          << " lipschitz_u=" << m_lipschitz[1] << " lipschitz_v=" << m_lipschitz[2];
    CheckpointInfo info;
    info.model_type = type_name;
    info.model_config = state.str();  // the configuration and the fitted step constants
    info.notes = notes;
    save_checkpoint(path, params, info);
  }

  /// Reads a model written by save(); throws, naming the file, for another model type, a
  /// corrupted file or step constants that are not positive and finite.
  static ClassicalMultimodal load(const std::string& path) {
    const char* fn = "mcsc::ClassicalMultimodal::load";
    const auto info = read_checkpoint_info(path);
    MCSC_REQUIRE(info.model_type == type_name, fn, "'" << path << "' holds a " << info.model_type << ", not a " << type_name);
    const auto config = ClassicalMultimodalConfig::from_string(info.model_config);
    ClassicalMultimodal model(config);
    Parameters<T, ExecSpace> params;
    model.register_parameters(params);
    load_checkpoint(path, params, type_name, info.model_config);
    for (const auto& e : params.entries()) Kokkos::deep_copy(*model.tensor_by_name(e.name), e.value);
    const auto kv = parse_key_values(info.model_config);
    const char* keys[3] = {"lipschitz_c", "lipschitz_u", "lipschitz_v"};
    for (int k = 0; k < 3; ++k) {
      const double L = config_double(kv, keys[k]);
      MCSC_REQUIRE(std::isfinite(L) && L > 0, fn, "'" << path << "': " << keys[k] << " is " << L);
      model.m_lipschitz[std::size_t(k)] = L;
    }
    return model;
  }

 private:
  static dictionaries_type copy_of(const dictionaries_type& d) {
    auto copy = [](const tensor_type& t) {
      if (t.size() == 0) return tensor_type();
      auto out = make_tensor_like("mcsc::ClassicalMultimodal::dictionary", t);
      Kokkos::deep_copy(out, t);
      return out;
    };
    return {copy(d.Dc), copy(d.Du), copy(d.Hc), copy(d.Hv), copy(d.Gc), copy(d.Gu), copy(d.Gv)};
  }
  void register_parameters(Parameters<T, ExecSpace>& params) const {
    const Shape4 s{m_config.channels, m_config.filters, m_config.kernel, m_config.kernel};
    for (const char* name : names()) params.add(name, s);
    params.allocate();
  }
  std::vector<const char*> names() const {
    std::vector<const char*> n = {"Dc", "Du", "Hc", "Hv", "Gc", "Gu"};
    if (m_config.fusion) n.push_back("Gv");
    return n;
  }
  const tensor_type* tensor_by_name(const std::string& name) const {
    const dictionaries_type& d = m_dicts;
    if (name == "Dc") return &d.Dc;
    if (name == "Du") return &d.Du;
    if (name == "Hc") return &d.Hc;
    if (name == "Hv") return &d.Hv;
    if (name == "Gc") return &d.Gc;
    if (name == "Gu") return &d.Gu;
    return &d.Gv;
  }

  ClassicalMultimodalConfig m_config;
  dictionaries_type m_dicts;
  std::array<double, 3> m_lipschitz{0, 0, 0};
};

}  // namespace mcsc
