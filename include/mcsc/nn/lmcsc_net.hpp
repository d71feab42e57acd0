#pragma once
/// \file lmcsc_net.hpp
/// The two single-target unrolled networks, with CuNet's interface (forward(x, y, out),
/// backward, parameters, config_string) so that the trainer takes any of the three.
///
/// LcscNet (CU-Net paper appendix A, BENCHMARKS.md "LCSC network"): one LCSC encoder on x and a
/// convolutional-dictionary decoder, output = G*U (+ x with `residual`). The guide y is ignored.
///
/// LmcscNet (LMCSC paper, Fig. 1 and eq. 5): a guide encoder (LCSC on y) gives the side
/// information Z; the target encoder computes U_0 = xi_mu(P*x; Z) and
/// U_{t+1} = xi_mu(U_t - Q*(R*U_t) + P*x; Z); the decoder gives output = G*U (+ x with
/// `residual`, x being the upsampled low-resolution input). Parameters: "guide.*", "target.*"
/// (P = target.layer_in, Q = target.up_conv, R = target.down_conv, mu = target.lam*),
/// "decoder.weight".
#include <string>

#include "mcsc/nn/lcsc.hpp"

namespace mcsc {

/// Common configuration of the single-target networks.
struct UnrolledNetConfig {
  int channels = 1;
  int filters = 64;
  int kernel = 8;
  int stages = 4;
  bool tied = true;                   ///< share filters and thresholds across stages
  bool per_channel_threshold = true;  ///< thresholds / mu per code channel
  bool residual = false;              ///< output += x
  int guide_filters = 0, guide_kernel = 0;  ///< LmcscNet's guide encoder (0: as the target's)

  std::string to_string() const {
    return "channels=" + std::to_string(channels) + " filters=" + std::to_string(filters) +
           " kernel=" + std::to_string(kernel) + " stages=" + std::to_string(stages) +
           " tied=" + std::to_string(int(tied)) + " per_channel_threshold=" + std::to_string(int(per_channel_threshold)) +
           " residual=" + std::to_string(int(residual)) + " guide_filters=" + std::to_string(guide_filters) +
           " guide_kernel=" + std::to_string(guide_kernel);
  }
  static UnrolledNetConfig from_string(const std::string& text) {
    const auto kv = parse_key_values(text);
    UnrolledNetConfig c;
    c.channels = config_int(kv, "channels");
    c.filters = config_int(kv, "filters");
    c.kernel = config_int(kv, "kernel");
    c.stages = config_int(kv, "stages");
    c.tied = config_int(kv, "tied") != 0;
    c.per_channel_threshold = config_int(kv, "per_channel_threshold") != 0;
    c.residual = config_int(kv, "residual") != 0;
    c.guide_filters = config_int(kv, "guide_filters");
    c.guide_kernel = config_int(kv, "guide_kernel");
    return c;
  }
  LcscConfig encoder(ProxKind prox, int filters_, int kernel_) const {
    LcscConfig e;
    e.in_channels = channels;
    e.filters = filters_;
    e.kernel = kernel_;
    e.stages = stages;
    e.tied = tied;
    e.per_channel_threshold = per_channel_threshold;
    e.prox = prox;
    return e;
  }
};

namespace Impl {
/// out = conv(codes, decoder) (+ x); shared by both networks.
template <class Tensor, class Params>
void decode(const Params& params, int decoder, const Tensor& codes, const Tensor& x, bool residual, const Tensor& out) {
  conv2d(codes, params.value(decoder), out);
  if (residual) axpby(typename Tensor::value_type(1), x, typename Tensor::value_type(1), out);
}
/// Backward of decode: accumulates the decoder's gradient, writes dL/dcodes, adds dL/dx (residual).
template <class Tensor, class Params>
void decode_backward(const Params& params, int decoder, const Tensor& codes, const Tensor& grad_out, bool residual,
                     const Tensor& grad_codes, const Tensor& grad_x, conv2d_workspace_for<Tensor>* workspace) {
  conv2d_weight_grad(codes, grad_out, params.grad(decoder), {Boundary::zero, true}, workspace);
  conv2d_adjoint(grad_out, params.value(decoder), grad_codes);
  if (residual && grad_x.data()) axpby(typename Tensor::value_type(1), grad_out, typename Tensor::value_type(1), grad_x);
}
template <class Tensor>
void check_pair(const char* fn, int channels, const Tensor& x, const Tensor& y, const Tensor& out) {
  const Shape4 sx = shape_of(x);
  MCSC_REQUIRE(sx.c == channels, fn, "target " << sx << " should have " << channels << " channels");
  MCSC_REQUIRE(!y.data() || shape_of(y) == sx, fn, "guide " << shape_of(y) << " and target " << sx << " differ in shape");
  MCSC_REQUIRE(shape_of(out) == sx, fn, "output " << shape_of(out) << " should be " << sx);
}
/// What LcscNet and LmcscNet share: the configuration and the parameters (constructed before
/// the networks' encoders, which register into them), and the accessors the trainer, the
/// checkpoints and the programs use.
template <class T, class ExecSpace>
class UnrolledNetBase {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using params_type = Parameters<T, ExecSpace>;

  const UnrolledNetConfig& config() const { return m_config; }
  std::string config_string() const { return m_config.to_string(); }
  static UnrolledNetConfig config_from_string(const std::string& s) { return UnrolledNetConfig::from_string(s); }
  params_type& parameters() { return m_params; }
  const params_type& parameters() const { return m_params; }

 protected:
  explicit UnrolledNetBase(const UnrolledNetConfig& config) : m_config(config) {}
  UnrolledNetConfig m_config;
  params_type m_params;
};
}  // namespace Impl

template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class LcscNet : public Impl::UnrolledNetBase<T, ExecSpace> {
  using base_type = Impl::UnrolledNetBase<T, ExecSpace>;
  using base_type::m_config;
  using base_type::m_params;

 public:
  using typename base_type::params_type;
  using typename base_type::tensor_type;
  static constexpr const char* type_name = "LcscNet";

  explicit LcscNet(const UnrolledNetConfig& config)
      : base_type(config),
        m_encoder(m_params, "encoder.", config.encoder(ProxKind::soft_threshold, config.filters, config.kernel)) {
    m_decoder = m_params.add("decoder.weight", {config.channels, config.filters, config.kernel, config.kernel});
    m_params.allocate();
  }
  LcscEncoder<T, ExecSpace>& encoder() { return m_encoder; }

  /// The network as the classical solver: the encoder as exact ISTA steps of dictionary d
  /// (c, K, s, s) (see LcscEncoder::initialize_from_dictionary) and the decoder as d itself, so
  /// that without `residual` the output is the reconstruction D*U after stages + 1 ISTA
  /// iterations from zero. Needs an untied or tied paper-form encoder with odd kernel.
  void initialize_from_dictionary(const tensor_type& d, double lambda, double lipschitz) {
    m_encoder.initialize_from_dictionary(d, lambda, lipschitz);
    Kokkos::deep_copy(m_params.value(m_decoder), d);
  }

  /// output = G * LCSC(x) (+ x); y is not used.
  void forward(const tensor_type& x, const tensor_type& y, const tensor_type& output, bool training = false) {
    Impl::check_pair("mcsc::LcscNet::forward", m_config.channels, x, y, output);
    m_codes = m_encoder.forward(x, {}, training);
    Impl::decode(m_params, m_decoder, m_codes, x, m_config.residual, output);
    m_trained_forward = training;
  }
  void backward(const tensor_type& grad_output, const tensor_type& grad_x = {}, const tensor_type& = {}) {
    MCSC_REQUIRE(m_trained_forward, "mcsc::LcscNet::backward", "needs a forward(..., training = true) first");
    if (!m_grad_codes.data() || shape_of(m_grad_codes) != shape_of(m_codes))
      m_grad_codes = make_tensor_like("mcsc::LcscNet::grad_codes", m_codes);
    Impl::decode_backward(m_params, m_decoder, m_codes, grad_output, m_config.residual, m_grad_codes, grad_x, &m_conv_workspace);
    m_encoder.backward(m_grad_codes, grad_x, {});
  }
  const tensor_type& codes() const { return m_codes; }

 private:
  LcscEncoder<T, ExecSpace> m_encoder;
  int m_decoder = -1;
  bool m_trained_forward = false;
  tensor_type m_codes, m_grad_codes;
  Conv2dWorkspace<T, typename ExecSpace::memory_space> m_conv_workspace;  // the decoder gradient's buffer
};

template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class LmcscNet : public Impl::UnrolledNetBase<T, ExecSpace> {
  using base_type = Impl::UnrolledNetBase<T, ExecSpace>;
  using base_type::m_config;
  using base_type::m_params;

 public:
  using typename base_type::params_type;
  using typename base_type::tensor_type;
  static constexpr const char* type_name = "LmcscNet";

  explicit LmcscNet(const UnrolledNetConfig& config)
      : base_type(config),
        m_guide(m_params, "guide.",
                config.encoder(ProxKind::soft_threshold, config.guide_filters > 0 ? config.guide_filters : config.filters,
                               config.guide_kernel > 0 ? config.guide_kernel : config.kernel)),
        m_target(m_params, "target.", config.encoder(ProxKind::l1l1, config.filters, config.kernel)) {
    const int guide_filters = config.guide_filters > 0 ? config.guide_filters : config.filters;
    MCSC_REQUIRE(guide_filters == config.filters, "mcsc::LmcscNet",
                 "the side information Z must have the target's " << config.filters << " channels, the guide encoder has "
                                                                  << guide_filters);
    m_decoder = m_params.add("decoder.weight", {config.channels, config.filters, config.kernel, config.kernel});
    m_params.allocate();
  }

  /// output = G * LMCSC(x; Z = LCSC(y)) (+ x).
  void forward(const tensor_type& x, const tensor_type& y, const tensor_type& output, bool training = false) {
    Impl::check_pair("mcsc::LmcscNet::forward", m_config.channels, x, y, output);
    MCSC_REQUIRE(y.data() != nullptr, "mcsc::LmcscNet::forward", "needs a guide image");
    m_side = m_guide.forward(y, {}, training);
    m_codes = m_target.forward(x, m_side, training);
    Impl::decode(m_params, m_decoder, m_codes, x, m_config.residual, output);
    m_trained_forward = training;
  }
  void backward(const tensor_type& grad_output, const tensor_type& grad_x = {}, const tensor_type& grad_y = {}) {
    MCSC_REQUIRE(m_trained_forward, "mcsc::LmcscNet::backward", "needs a forward(..., training = true) first");
    if (!m_grad_codes.data() || shape_of(m_grad_codes) != shape_of(m_codes)) {
      m_grad_codes = make_tensor_like("mcsc::LmcscNet::grad_codes", m_codes);
      m_grad_side = make_tensor_like("mcsc::LmcscNet::grad_side", m_codes);
    }
    Impl::decode_backward(m_params, m_decoder, m_codes, grad_output, m_config.residual, m_grad_codes, grad_x, &m_conv_workspace);
    fill(m_grad_side, T(0));
    m_target.backward(m_grad_codes, grad_x, m_grad_side);
    m_guide.backward(m_grad_side, grad_y, {});
  }
  const tensor_type& codes() const { return m_codes; }
  const tensor_type& side_information() const { return m_side; }

 private:
  LcscEncoder<T, ExecSpace> m_guide, m_target;
  int m_decoder = -1;
  bool m_trained_forward = false;
  tensor_type m_side, m_codes, m_grad_codes, m_grad_side;
  Conv2dWorkspace<T, typename ExecSpace::memory_space> m_conv_workspace;  // the decoder gradient's buffer
};

}  // namespace mcsc
