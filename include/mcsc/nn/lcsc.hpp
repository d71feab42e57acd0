#pragma once
/// \file lcsc.hpp
/// The unrolled sparse-coding encoder shared by LCSC, LMCSC and CU-Net: `stages` learned ISTA
/// steps, each one the classical step U <- prox(U - E*(D*U) + E0*x) with E, D and the threshold
/// learned (CU-Net paper appendix A; LMCSC paper eq. 5). In the paper form each step is a
/// mcsc::ProximalStage (ops/proximal_stage.hpp) on the parameters' memory, stage(j), the object
/// ProximalStage::ista builds from a dictionary for classical ISTA.
///
///   paper form (default, as the official CU-Net code):
///     p1 = E0*x,  U_0 = prox_0(p1),  U_{j+1} = prox_{j+1}(p1 + U_j - E_j*(D_j*U_j))
///   residual form (other codes):
///     U_0 = prox_0(E0*x),             U_{j+1} = prox_{j+1}(U_j + E_j*(x - D_j*U_j))
///
/// prox is the soft threshold S_theta (LCSC, CU-Net) or the l1-l1 operator xi_mu(.; Z) with side
/// information Z (LMCSC). x: (N, c, H, W); U, Z: (N, K, H, W); E0, E_j: (K, c, s, s);
/// D_j: (c, K, s, s). Filters are untied across stages unless `tied`.
///
/// Parameter names follow the official CU-Net state_dict: prefix + "layer_in.weight" (E0),
/// "down_conv_j.weight" (D_j), "up_conv_j.weight" (E_j), "lam_in", "lam_j" (thresholds; mu for
/// LMCSC). With `tied` there is one "down_conv.weight", "up_conv.weight" and "lam".
#include <sstream>
#include <string>
#include <vector>

#include "mcsc/core/memory.hpp"
#include "mcsc/nn/parameters.hpp"
#include "mcsc/ops/conv2d.hpp"
#include "mcsc/ops/conv2d_prox.hpp"
#include "mcsc/ops/prox.hpp"
#include "mcsc/ops/proximal_stage.hpp"

namespace mcsc {

enum class LcscForm { paper, residual };

/// Configuration of an LcscEncoder.
struct LcscConfig {
  int in_channels = 1;  ///< c
  int filters = 64;     ///< K
  int kernel = 9;       ///< s
  int stages = 4;       ///< number of learned steps after the first thresholding
  bool tied = false;    ///< share E, D and the threshold across stages
  bool per_channel_threshold = false;  ///< one threshold per code channel instead of one scalar
  LcscForm form = LcscForm::paper;
  ProxKind prox = ProxKind::soft_threshold;
};

template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class LcscEncoder {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using params_type = Parameters<T, ExecSpace>;

  /// Registers the encoder's parameters in `params` under `prefix` (call before allocate()).
  LcscEncoder(params_type& params, const std::string& prefix, const LcscConfig& config)
      : m_params(&params), m_config(config) {
    const char* fn = "mcsc::LcscEncoder";
    MCSC_REQUIRE(config.in_channels > 0 && config.filters > 0 && config.kernel > 0 && config.stages >= 0, fn,
                 "invalid configuration: c = " << config.in_channels << ", K = " << config.filters
                                               << ", s = " << config.kernel << ", stages = " << config.stages);
    const int c = config.in_channels, K = config.filters, s = config.kernel;
    const Shape4 threshold_shape{config.per_channel_threshold ? K : 1, 1, 1, 1};
    m_encoder0 = params.add(prefix + "layer_in.weight", {K, c, s, s});
    m_threshold0 = params.add(prefix + "lam_in", threshold_shape);
    const int distinct = config.tied ? (config.stages > 0 ? 1 : 0) : config.stages;
    for (int j = 0; j < distinct; ++j) {
      const std::string tag = config.tied ? std::string() : "_" + std::to_string(j);
      m_dictionary.push_back(params.add(prefix + "down_conv" + tag + ".weight", {c, K, s, s}));
      m_encoder.push_back(params.add(prefix + "up_conv" + tag + ".weight", {K, c, s, s}));
      m_threshold.push_back(params.add(prefix + "lam" + tag, threshold_shape));
    }
  }

  const LcscConfig& config() const { return m_config; }

  /// Makes every stage an exact ISTA step for CBPDN with dictionary d (c, K, s, s), weight lambda
  /// and step 1/L: E0 = E_j = D'/L, D_j = D, thresholds lambda/L. The paper-form encoder with S
  /// stages then computes S + 1 ISTA iterations from U = 0 (soft-threshold encoders only).
  /// Odd kernels only: for an even s the transpose of a "same" convolution is not a "same"
  /// convolution of size s (it is shifted by one pixel).
  void initialize_from_dictionary(const tensor_type& d, double lambda, double lipschitz) {
    const char* fn = "mcsc::LcscEncoder::initialize_from_dictionary";
    const int c = m_config.in_channels, K = m_config.filters, s = m_config.kernel;
    const Shape4 expected{c, K, s, s};
    MCSC_REQUIRE(shape_of(d) == expected, fn, "dictionary " << shape_of(d) << " should be " << expected);
    MCSC_REQUIRE(s % 2 == 1, fn, "kernel size " << s << " is even; the transpose of an even 'same' convolution "
                                                  "is not a 'same' convolution of that size");
    MCSC_REQUIRE(m_config.prox == ProxKind::soft_threshold && m_config.form == LcscForm::paper, fn,
                 "needs the paper form with soft thresholding");
    MCSC_REQUIRE(lambda >= 0 && lipschitz > 0, fn, "lambda = " << lambda << ", L = " << lipschitz);
    transposed_dictionary(d, lipschitz, weight(m_encoder0));  // E0 = D' / L, as ProximalStage::ista
    fill(weight(m_threshold0), T(lambda / lipschitz));
    for (std::size_t j = 0; j < m_dictionary.size(); ++j) {
      transposed_dictionary(d, lipschitz, weight(m_encoder[j]));
      Kokkos::deep_copy(weight(m_dictionary[j]), d);
      fill(weight(m_threshold[j]), T(lambda / lipschitz));
    }
  }
  /// Parameter indices: E0, its threshold, and per stage j: D_j, E_j, threshold_j.
  int encoder0() const { return m_encoder0; }
  int threshold0() const { return m_threshold0; }
  int dictionary(int j) const { return m_dictionary[std::size_t(m_config.tied ? 0 : j)]; }
  int encoder(int j) const { return m_encoder[std::size_t(m_config.tied ? 0 : j)]; }
  int threshold(int j) const { return m_threshold[std::size_t(m_config.tied ? 0 : j)]; }
  /// Stage j's dictionary D_j (c, K, s, s) as the classical solvers' operator, on the parameters'
  /// own memory (no copy): a trained encoder's dictionary goes straight to fista(),
  /// coupled_l1l1() or common_unique(), e.g. fista(encoder.stage_dictionary(0), y, options).
  /// Valid while the parameters live; a solver that updates its dictionary (learn_dictionary,
  /// update_dictionary) writes the network's weights through it.
  ConvDictionary<T, ExecSpace> stage_dictionary(int j) const {
    MCSC_REQUIRE(j >= 0 && j < m_config.stages, "mcsc::LcscEncoder::stage_dictionary",
                 "stage " << j << " of " << m_config.stages);
    return ConvDictionary<T, ExecSpace>(weight(dictionary(j)));
  }

  /// Stage j (0-based, of `stages`) as a ProximalStage on the parameters' own memory (no copy):
  /// D_j, E_j, theta_j and the prox. In the paper form forward() applies exactly these objects;
  /// the residual form computes U_j + E_j*(x - D_j*U_j) instead.
  ProximalStage<T, ExecSpace> stage(int j) const {
    MCSC_REQUIRE(j >= 0 && j < m_config.stages, "mcsc::LcscEncoder::stage", "stage " << j << " of " << m_config.stages);
    ProximalStage<T, ExecSpace> st;
    st.dictionary = weight(dictionary(j));
    st.analysis = weight(encoder(j));
    st.threshold = threshold_values(threshold(j));
    st.prox = m_config.prox;
    return st;
  }

  /// Codes U (N, K, H, W) of x (N, c, H, W); side information Z (N, K, H, W) for ProxKind::l1l1.
  /// With `training`, every intermediate is kept for backward() (x and Z must stay unchanged until
  /// then); without, the memory used does not grow with the number of stages. The returned view
  /// is the encoder's own buffer, valid until the next call.
  const tensor_type& forward(const tensor_type& x, const tensor_type& side, bool training) {
    const char* fn = "mcsc::LcscEncoder::forward";
    const Shape4 sx = shape_of(x);
    MCSC_REQUIRE(sx.c == m_config.in_channels, fn,
                 "input " << sx << " has " << sx.c << " channels, the encoder expects " << m_config.in_channels);
    const Shape4 sc{sx.n, m_config.filters, sx.h, sx.w};
    if (m_config.prox == ProxKind::l1l1) {
      MCSC_REQUIRE(side.data() != nullptr && shape_of(side) == sc, fn,
                   "side information " << (side.data() ? shape_of(side) : Shape4{}) << " should be " << sc);
    }
    prepare(sx, training);
    m_x = x;
    m_side = side;
    const int S = m_config.stages;
    // p1 = E0 x, U_0 = prox(p1); no read-back: thresholds unchecked here (see apply_prox)
    ProximalStage<T, ExecSpace>::first(x, weight(m_encoder0), threshold_values(m_threshold0), m_config.prox, m_side,
                                       m_p1, codes(0));
    for (int j = 0; j < S; ++j) {
      const auto& u = codes(j);
      const auto& r = residual(j);
      const auto& v = preactivation(j + 1);
      if (m_config.form == LcscForm::paper) {
        // r = D_j U_j, v = p1 + U_j - E_j r, U_{j+1} = prox(v), fused; v kept only for training
        stage(j).apply(u, m_p1, m_side, r, v, codes(j + 1), training);
      } else {
        conv2d(u, weight(dictionary(j)), r);        // r = D_j U_j
        lincomb(T(1), x, T(-1), r, r);              // r = x - D_j U_j (kept for backward)
        Kokkos::deep_copy(v, u);                    // v = U_j
        conv2d(r, weight(encoder(j)), v, {Boundary::zero, true});  // v += E_j r
        apply_prox(v, threshold(j), codes(j + 1));
      }
    }
    m_forward_for_training = training;
    return codes(S);
  }

  /// Given grad_codes = dL/dU (N, K, H, W) of the last forward(training = true), accumulates the
  /// parameter gradients, adds dL/dx into grad_x (if not empty) and dL/dZ into grad_side (if not
  /// empty; l1l1 only). grad_codes is not modified.
  void backward(const tensor_type& grad_codes, const tensor_type& grad_x, const tensor_type& grad_side) {
    const char* fn = "mcsc::LcscEncoder::backward";
    MCSC_REQUIRE(m_forward_for_training, fn, "needs a forward(..., training = true) first");
    MCSC_REQUIRE(shape_of(grad_codes) == shape_of(m_g), fn,
                 "gradient " << shape_of(grad_codes) << " does not match the codes " << shape_of(m_g));
    const int S = m_config.stages;
    Kokkos::deep_copy(m_g, grad_codes);
    fill(m_gp1, T(0));
    for (int j = S - 1; j >= 0; --j) {
      const auto& u = codes(j);
      const auto& r = residual(j);
      backward_prox(preactivation(j + 1), threshold(j), m_g, m_gv, grad_side);  // m_gv = dL/dV_{j+1}
      if (m_config.form == LcscForm::paper) {
        axpby(T(1), m_gv, T(1), m_gp1);                          // dL/dp1 += gV
        lincomb(T(-1), m_gv, T(0), m_gv, m_neg);                 // -gV = dL/d(E_j r)
        conv2d_weight_grad(r, m_neg, grad(encoder(j)), {Boundary::zero, true}, &m_conv_workspace);
        conv2d_adjoint(m_neg, weight(encoder(j)), m_gr);         // dL/dr
        conv2d_weight_grad(u, m_gr, grad(dictionary(j)), {Boundary::zero, true}, &m_conv_workspace);
        Kokkos::deep_copy(m_g, m_gv);                            // dL/dU_j = gV + D_j' gr
        conv2d_adjoint(m_gr, weight(dictionary(j)), m_g, {Boundary::zero, true});
      } else {
        conv2d_weight_grad(r, m_gv, grad(encoder(j)), {Boundary::zero, true}, &m_conv_workspace);
        conv2d_adjoint(m_gv, weight(encoder(j)), m_gr);          // dL/dr, r = x - D_j U_j
        if (grad_x.data()) axpby(T(1), m_gr, T(1), grad_x);
        lincomb(T(-1), m_gr, T(0), m_gr, m_gr);                  // dL/d(D_j U_j) = -gr
        conv2d_weight_grad(u, m_gr, grad(dictionary(j)), {Boundary::zero, true}, &m_conv_workspace);
        Kokkos::deep_copy(m_g, m_gv);
        conv2d_adjoint(m_gr, weight(dictionary(j)), m_g, {Boundary::zero, true});
      }
    }
    backward_prox(m_p1, m_threshold0, m_g, m_gv, grad_side);  // dL/d(E0 x)
    axpby(T(1), m_gv, T(1), m_gp1);
    conv2d_weight_grad(m_x, m_gp1, grad(m_encoder0), {Boundary::zero, true}, &m_conv_workspace);
    if (grad_x.data()) {
      MCSC_REQUIRE(shape_of(grad_x) == shape_of(m_x), fn,
                   "input gradient " << shape_of(grad_x) << " should be " << shape_of(m_x));
      conv2d_adjoint(m_gp1, weight(m_encoder0), grad_x, {Boundary::zero, true});
    }
  }

 private:
  const tensor_type& weight(int i) const { return m_params->value(i); }
  const tensor_type& grad(int i) const { return m_params->grad(i); }

  // Buffers: in training every stage has its own; in inference two code buffers alternate and
  // one pre-activation and one residual buffer serve every stage.
  const tensor_type& codes(int j) const { return m_codes[std::size_t(m_training ? j : j % 2)]; }
  const tensor_type& preactivation(int j) const {  // V_j, j >= 1 (V_0 = p1)
    return m_pre[std::size_t(m_training ? j - 1 : 0)];
  }
  const tensor_type& residual(int j) const { return m_res[std::size_t(m_training ? j : 0)]; }

  void prepare(const Shape4& sx, bool training) {
    const Shape4 sc{sx.n, m_config.filters, sx.h, sx.w};
    const int S = m_config.stages;
    const std::size_t want_codes = training ? std::size_t(S + 1) : 2;
    const std::size_t want_pre = training ? std::size_t(std::max(S, 1)) : 1;
    const std::size_t want_res = training ? std::size_t(std::max(S, 1)) : 1;
    const bool same_shape = m_p1.data() && shape_of(m_p1) == sc;
    if (same_shape && m_codes.size() >= want_codes && m_pre.size() >= want_pre && m_res.size() >= want_res &&
        (!training || m_g.data())) {
      m_training = training;
      return;
    }
    {
      // What is about to be allocated, checked against the memory budget first (host memory
      // spaces), so that a large image is refused with the figures instead of ending in
      // std::bad_alloc or the OOM killer.
      const std::size_t have_codes = same_shape ? m_codes.size() : 0, have_pre = same_shape ? m_pre.size() : 0,
                        have_res = same_shape ? m_res.size() : 0;
      const bool new_grads = training && !(same_shape && m_g.data());
      const double code_buffers = (same_shape ? 0 : 1) + (new_grads ? 5 : 0) +
                                  double(want_codes > have_codes ? want_codes - have_codes : 0) +
                                  double(want_pre > have_pre ? want_pre - have_pre : 0);
      const double image_buffers = (new_grads ? 1 : 0) + double(want_res > have_res ? want_res - have_res : 0);
      if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename ExecSpace::memory_space>::accessible) {
        std::ostringstream what;
        what << (training ? "training" : "inference") << " on " << sx << " (codes " << sc << ")";
        require_memory("mcsc::LcscEncoder", what.str(),
                       double(sizeof(T)) * (code_buffers * double(sc.size()) + image_buffers * double(sx.size())));
      }
    }
    if (!same_shape) {
      m_codes.clear();
      m_pre.clear();
      m_res.clear();
      m_p1 = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::p1", sc);
      m_g = m_gv = m_gp1 = m_neg = m_gs = tensor_type();
      m_gr = tensor_type();
      m_sums = {};
    }
    // The gradient buffers only for training: inference keeps p1, two code buffers, one
    // pre-activation and one residual, whatever the number of stages.
    if (training && !m_g.data()) {
      m_g = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::grad", sc);
      m_gv = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::grad_pre", sc);
      m_gp1 = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::grad_p1", sc);
      m_neg = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::neg_grad", sc);
      m_gr = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::grad_residual", sx);
      m_gs = make_tensor<T, ExecSpace>("mcsc::LcscEncoder::grad_side", sc);
      m_sums = Kokkos::View<double*, typename ExecSpace::memory_space>("mcsc::LcscEncoder::threshold_sums", sc.c);
    }
    while (m_codes.size() < want_codes) m_codes.push_back(make_tensor<T, ExecSpace>("mcsc::LcscEncoder::codes", sc));
    while (m_pre.size() < want_pre) m_pre.push_back(make_tensor<T, ExecSpace>("mcsc::LcscEncoder::pre", sc));
    while (m_res.size() < want_res) m_res.push_back(make_tensor<T, ExecSpace>("mcsc::LcscEncoder::residual", sx));
    m_training = training;
  }

  auto threshold_values(int threshold_index) const { return m_params->value_vector(threshold_index); }

  // The stage's proximal step reads nothing back to the host: learned thresholds may be negative,
  // and their values are not checked here (the checkpoint loader and the trainer, after every
  // step, check that every parameter is finite); a single threshold's gradient is summed through
  // m_sums (ops/prox.hpp, Impl::per_channel_sum).
  void apply_prox(const tensor_type& v, int threshold_index, const tensor_type& out) const {
    const auto theta = threshold_values(threshold_index);
    if (m_config.prox == ProxKind::soft_threshold)
      soft_threshold(v, theta, out, /*require_nonnegative=*/false, /*check_values=*/false);
    else
      l1l1_prox(v, m_side, theta, out, /*require_nonnegative=*/false, /*check_values=*/false);
  }

  /// grad_v = dL/dv from grad_out = dL/d prox(v); accumulates the threshold's and Z's gradients.
  void backward_prox(const tensor_type& v, int threshold_index, const tensor_type& grad_out, const tensor_type& grad_v,
                     const tensor_type& grad_side) {
    const auto theta = m_params->value_vector(threshold_index);
    const auto grad_theta = m_params->grad_vector(threshold_index);
    if (m_config.prox == ProxKind::soft_threshold) {
      soft_threshold_backward(v, theta, grad_out, grad_v, grad_theta, /*check_values=*/false, m_sums);
    } else {
      l1l1_prox_backward(v, m_side, theta, grad_out, grad_v, m_gs, grad_theta, /*check_values=*/false, m_sums);
      if (grad_side.data()) axpby(T(1), m_gs, T(1), grad_side);
    }
  }

  params_type* m_params;
  LcscConfig m_config;
  int m_encoder0 = -1, m_threshold0 = -1;
  std::vector<int> m_dictionary, m_encoder, m_threshold;

  bool m_training = false, m_forward_for_training = false;
  tensor_type m_x, m_side;
  tensor_type m_p1, m_g, m_gv, m_gp1, m_neg, m_gr, m_gs;
  Kokkos::View<double*, typename ExecSpace::memory_space> m_sums;  // per-channel sums of a threshold's gradient
  Conv2dWorkspace<T, typename ExecSpace::memory_space> m_conv_workspace;  // the weight gradients' buffer
  std::vector<tensor_type> m_codes, m_pre, m_res;
};

}  // namespace mcsc
