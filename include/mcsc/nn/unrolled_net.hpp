#pragma once
/// \file unrolled_net.hpp
/// What the single-target unrolled networks share (nn/lcsc_net.hpp: LcscNet, nn/lmcsc_net.hpp:
/// LmcscNet): their configuration, UnrolledNetConfig, and the decoder and parameter plumbing
/// behind CuNet's interface (forward(x, y, out), backward, parameters, config_string), so that
/// the trainer takes any of the three.
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

}  // namespace mcsc
