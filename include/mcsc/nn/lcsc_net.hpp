#pragma once
/// \file lcsc_net.hpp
/// LcscNet (CU-Net paper appendix A; ../shared/BENCHMARKS.md "LCSC network"): one LCSC encoder on x and a
/// convolutional-dictionary decoder, output = G*U (+ x with `residual`). The guide y is ignored.
/// CuNet's interface (nn/unrolled_net.hpp), so the trainer takes it as any network.
#include "mcsc/nn/unrolled_net.hpp"

namespace mcsc {

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

}  // namespace mcsc
