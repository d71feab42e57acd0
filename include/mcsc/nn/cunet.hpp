#pragma once
/// \file cunet.hpp
/// CU-Net (Deng & Dragotti, TPAMI 2020): common/unique feature splitting from multimodal
/// convolutional sparse coding. For a target x and a guide y (N, C, H, W):
///
///   u = net_u(x), v = net_v(y)                         unique codes (UFEM), LCSC encoders
///   z = net_z(concat(x - conv_u*u, y - conv_v*v))      common codes (CFPM), input 2C channels
///   output = G_u*u + G_c*z             (restoration)   image reconstruction (IRM)
///   output = (G_u*u + G_c*z) + G_v*v   (fusion)
///   (+ x with `residual`, the paper's residual-learning variant; for fusion, + (x + y)/2,
///   so a fusion network with zero decoders starts as the average of its two sources)
///
/// Parameter names are the official state_dict keys ("net_u.layer_in.weight", "conv_u.weight",
/// "decoder.conv_1.weight", ...), so the official weights load by name. The official
/// configuration is K = 64 filters of 9x9, 4 stages, scalar thresholds (CuNetConfig{}).
#include <string>

#include "mcsc/nn/lcsc.hpp"

namespace mcsc {

struct CuNetConfig {
  int channels = 1;   ///< C, channels of each modality
  int filters = 64;   ///< K
  int kernel = 9;     ///< s (the paper's main model uses 8, the published weights 9)
  int stages = 4;     ///< learned steps per encoder
  bool fusion = false;  ///< add G_v*v to the output (the MIF variant, decoder.conv_3)
  bool per_channel_threshold = false;
  bool residual = false;  ///< output += x, or (x + y)/2 with `fusion` (the paper's residual-learning variant; not the official weights)
};

template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class CuNet {
 public:
  using tensor_type = Tensor4<T, ExecSpace>;
  using params_type = Parameters<T, ExecSpace>;

  explicit CuNet(const CuNetConfig& config)
      : m_config(config),
        m_net_u(m_params, "net_u.", encoder_config(config, config.channels)),
        m_net_v(m_params, "net_v.", encoder_config(config, config.channels)),
        m_net_z(m_params, "net_z.", encoder_config(config, 2 * config.channels)) {
    const int C = config.channels, K = config.filters, s = config.kernel;
    m_conv_u = m_params.add("conv_u.weight", {C, K, s, s});
    m_conv_v = m_params.add("conv_v.weight", {C, K, s, s});
    m_decoder_u = m_params.add("decoder.conv_1.weight", {C, K, s, s});
    m_decoder_z = m_params.add("decoder.conv_2.weight", {C, K, s, s});
    if (config.fusion) m_decoder_v = m_params.add("decoder.conv_3.weight", {C, K, s, s});
    m_params.allocate();
  }

  static constexpr const char* type_name = "CuNet";
  const CuNetConfig& config() const { return m_config; }
  /// The configuration as stored in checkpoints.
  std::string config_string() const {
    const auto& c = m_config;
    return "channels=" + std::to_string(c.channels) + " filters=" + std::to_string(c.filters) +
           " kernel=" + std::to_string(c.kernel) + " stages=" + std::to_string(c.stages) +
           " fusion=" + std::to_string(int(c.fusion)) +
           " per_channel_threshold=" + std::to_string(int(c.per_channel_threshold)) +
           " residual=" + std::to_string(int(c.residual));
  }
  static CuNetConfig config_from_string(const std::string& text) {
    const auto kv = parse_key_values(text);
    CuNetConfig c;
    c.channels = config_int(kv, "channels");
    c.filters = config_int(kv, "filters");
    c.kernel = config_int(kv, "kernel");
    c.stages = config_int(kv, "stages");
    c.fusion = config_int(kv, "fusion") != 0;
    c.per_channel_threshold = config_int(kv, "per_channel_threshold") != 0;
    c.residual = config_int(kv, "residual") != 0;
    return c;
  }
  params_type& parameters() { return m_params; }
  const params_type& parameters() const { return m_params; }

  /// output (N, C, H, W) = CU-Net(x, y). With `training`, keeps what backward() needs.
  void forward(const tensor_type& x, const tensor_type& y, const tensor_type& output, bool training = false) {
    const char* fn = "mcsc::CuNet::forward";
    const Shape4 sx = shape_of(x);
    MCSC_REQUIRE(sx.c == m_config.channels, fn,
                 "target " << sx << " should have " << m_config.channels << " channels");
    MCSC_REQUIRE(shape_of(y) == sx, fn, "guide " << shape_of(y) << " and target " << sx << " differ in shape");
    MCSC_REQUIRE(shape_of(output) == sx, fn, "output " << shape_of(output) << " should be " << sx);
    prepare(sx, training);
    m_x = x;
    m_y = y;
    m_u = m_net_u.forward(x, {}, training);
    m_v = m_net_v.forward(y, {}, training);
    residual_into(x, m_u, m_conv_u, m_px);  // p_x = x - conv_u*u
    residual_into(y, m_v, m_conv_v, m_py);
    concat_channels(m_px, m_py, m_pz);
    m_z = m_net_z.forward(m_pz, {}, training);
    conv2d(m_u, weight(m_decoder_u), m_dec_u);
    conv2d(m_z, weight(m_decoder_z), m_dec_z);
    lincomb(T(1), m_dec_u, T(1), m_dec_z, output);
    if (m_config.fusion) {
      conv2d(m_v, weight(m_decoder_v), m_dec_v);
      axpby(T(1), m_dec_v, T(1), output);
    }
    if (m_config.residual) {
      if (m_config.fusion) {
        axpby(T(0.5), x, T(1), output);
        axpby(T(0.5), y, T(1), output);
      } else {
        axpby(T(1), x, T(1), output);
      }
    }
    m_trained_forward = training;
  }

  /// Accumulates parameter gradients for dL/d output = grad_output of the last training forward;
  /// adds dL/dx and dL/dy into grad_x / grad_y when they are not empty.
  void backward(const tensor_type& grad_output, const tensor_type& grad_x = {}, const tensor_type& grad_y = {}) {
    MCSC_REQUIRE(m_trained_forward, "mcsc::CuNet::backward", "needs a forward(..., training = true) first");
    MCSC_REQUIRE(shape_of(grad_output) == shape_of(m_x), "mcsc::CuNet::backward",
                 "gradient " << shape_of(grad_output) << " should be " << shape_of(m_x));
    const Conv2dOptions add{Boundary::zero, true};
    if (m_config.residual) {
      const T share = m_config.fusion ? T(0.5) : T(1);  // output += x, or (x + y)/2 with fusion
      if (grad_x.data()) axpby(share, grad_output, T(1), grad_x);
      if (m_config.fusion && grad_y.data()) axpby(share, grad_output, T(1), grad_y);
    }
    // Decoder.
    conv2d_weight_grad(m_u, grad_output, grad(m_decoder_u), add, &m_conv_workspace);
    conv2d_weight_grad(m_z, grad_output, grad(m_decoder_z), add, &m_conv_workspace);
    conv2d_adjoint(grad_output, weight(m_decoder_u), m_gu);
    conv2d_adjoint(grad_output, weight(m_decoder_z), m_gz);
    if (m_config.fusion) {
      conv2d_weight_grad(m_v, grad_output, grad(m_decoder_v), add, &m_conv_workspace);
      conv2d_adjoint(grad_output, weight(m_decoder_v), m_gv);
    } else {
      fill(m_gv, T(0));
    }
    // Common encoder, then the two residuals p = input - conv*codes.
    fill(m_gpz, T(0));
    m_net_z.backward(m_gz, m_gpz, {});
    split_channels(m_gpz, m_gpx, m_gpy);
    residual_backward(m_gpx, m_u, m_conv_u, m_gu, grad_x);
    residual_backward(m_gpy, m_v, m_conv_v, m_gv, grad_y);
    // Unique encoders.
    m_net_u.backward(m_gu, grad_x, {});
    m_net_v.backward(m_gv, grad_y, {});
  }

  /// Intermediates of the last forward (for inspection and the parity tests).
  const tensor_type& codes_u() const { return m_u; }
  const tensor_type& codes_v() const { return m_v; }
  const tensor_type& codes_z() const { return m_z; }
  const tensor_type& residual_x() const { return m_px; }
  const tensor_type& residual_y() const { return m_py; }
  /// The three encoders (UFEM x, UFEM y, CFPM), e.g. to initialise them from dictionaries
  /// (initialize_from_dictionaries in cunet_dictionaries.hpp).
  LcscEncoder<T, ExecSpace>& encoder_u() { return m_net_u; }
  LcscEncoder<T, ExecSpace>& encoder_v() { return m_net_v; }
  LcscEncoder<T, ExecSpace>& encoder_z() { return m_net_z; }
  const tensor_type& decoded_u() const { return m_dec_u; }
  const tensor_type& decoded_z() const { return m_dec_z; }
  const tensor_type& decoded_v() const { return m_dec_v; }

 private:
  static LcscConfig encoder_config(const CuNetConfig& c, int in_channels) {
    LcscConfig e;
    e.in_channels = in_channels;
    e.filters = c.filters;
    e.kernel = c.kernel;
    e.stages = c.stages;
    e.per_channel_threshold = c.per_channel_threshold;
    return e;
  }
  const tensor_type& weight(int i) const { return m_params.value(i); }
  const tensor_type& grad(int i) const { return m_params.grad(i); }

  /// Image-sized buffers; the code-sized gradient buffers only for training (inference memory:
  /// the three encoders' buffers and a few image-sized ones).
  void prepare(const Shape4& sx, bool training) {
    const Shape4 sc{sx.n, m_config.filters, sx.h, sx.w}, s2{sx.n, 2 * sx.c, sx.h, sx.w};
    if (!m_px.data() || shape_of(m_px) != sx) {
      m_px = make_tensor<T, ExecSpace>("mcsc::CuNet::p_x", sx);
      m_py = make_tensor<T, ExecSpace>("mcsc::CuNet::p_y", sx);
      m_pz = make_tensor<T, ExecSpace>("mcsc::CuNet::p_z", s2);
      m_dec_u = make_tensor<T, ExecSpace>("mcsc::CuNet::dec_u", sx);
      m_dec_z = make_tensor<T, ExecSpace>("mcsc::CuNet::dec_z", sx);
      m_dec_v = make_tensor<T, ExecSpace>("mcsc::CuNet::dec_v", sx);
      m_gu = m_gv = m_gz = tensor_type();
    }
    if (training && !m_gu.data()) {
      m_gu = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_u", sc);
      m_gv = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_v", sc);
      m_gz = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_z", sc);
      m_gpz = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_p_z", s2);
      m_gpx = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_p_x", sx);
      m_gpy = make_tensor<T, ExecSpace>("mcsc::CuNet::grad_p_y", sx);
    }
  }

  /// p = input - conv(codes, w)
  void residual_into(const tensor_type& input, const tensor_type& codes, int w, const tensor_type& p) const {
    conv2d(codes, weight(w), p);
    lincomb(T(1), input, T(-1), p, p);
  }
  /// Backward of p = input - conv(codes, w): grad_input += gp; grad_codes += conv'(-gp);
  /// grad_w += weight_grad(codes, -gp). gp is negated in place.
  void residual_backward(const tensor_type& gp, const tensor_type& codes, int w, const tensor_type& grad_codes,
                         const tensor_type& grad_input) const {
    if (grad_input.data()) axpby(T(1), gp, T(1), grad_input);
    scale(gp, T(-1));
    conv2d_weight_grad(codes, gp, grad(w), {Boundary::zero, true}, &m_conv_workspace);
    conv2d_adjoint(gp, weight(w), grad_codes, {Boundary::zero, true});
  }

  CuNetConfig m_config;
  params_type m_params;
  LcscEncoder<T, ExecSpace> m_net_u, m_net_v, m_net_z;
  int m_conv_u = -1, m_conv_v = -1, m_decoder_u = -1, m_decoder_z = -1, m_decoder_v = -1;
  bool m_trained_forward = false;
  tensor_type m_x, m_y, m_u, m_v, m_z;
  tensor_type m_px, m_py, m_pz, m_dec_u, m_dec_z, m_dec_v;
  tensor_type m_gu, m_gv, m_gz, m_gpz, m_gpx, m_gpy;
  mutable Conv2dWorkspace<T, typename ExecSpace::memory_space> m_conv_workspace;  // the weight gradients' buffer
};

}  // namespace mcsc
