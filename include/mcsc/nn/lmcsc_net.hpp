#pragma once
/// \file lmcsc_net.hpp
/// LmcscNet (LMCSC paper, Fig. 1 and eq. 5): a guide encoder (LCSC on y) gives the side
/// information Z; the target encoder computes U_0 = xi_mu(P*x; Z) and
/// U_{t+1} = xi_mu(U_t - Q*(R*U_t) + P*x; Z); the decoder gives output = G*U (+ x with
/// `residual`, x being the upsampled low-resolution input). Parameters: "guide.*", "target.*"
/// (P = target.layer_in, Q = target.up_conv, R = target.down_conv, mu = target.lam*),
/// "decoder.weight". CuNet's interface (nn/unrolled_net.hpp), so the trainer takes it as any
/// network. (Includes nn/lcsc_net.hpp, which held LcscNet before it had its own header.)
#include "mcsc/nn/lcsc_net.hpp"
#include "mcsc/nn/unrolled_net.hpp"

namespace mcsc {

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
