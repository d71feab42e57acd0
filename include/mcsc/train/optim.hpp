#pragma once
/// \file optim.hpp
/// Optimisers over a model's Parameters (one kernel over the flat value/gradient buffers):
/// Adam (bias-corrected, as torch.optim.Adam, with optional L2 weight decay) and SGD with
/// momentum; global gradient-norm clipping; step learning-rate decay.
#include <cmath>
#include <string>
#include <vector>

#include "mcsc/nn/parameters.hpp"

namespace mcsc {

struct AdamOptions {
  double learning_rate = 1e-3;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;  ///< L2 term added to the gradient (torch.optim.Adam's weight_decay)
};

/// Adam: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
/// w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps),  g = grad + weight_decay * w.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class Adam {
 public:
  using params_type = Parameters<T, ExecSpace>;
  using flat_type = typename params_type::flat_type;
  static constexpr const char* type_name = "adam";

  Adam(params_type& params, const AdamOptions& options) : m_params(&params), m_options(options) {
    MCSC_REQUIRE(params.allocated(), "mcsc::Adam", "the parameters are not allocated");
    MCSC_REQUIRE(options.learning_rate > 0 && options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 &&
                     options.beta2 < 1 && options.eps > 0 && options.weight_decay >= 0,
                 "mcsc::Adam", "invalid options: lr " << options.learning_rate << ", betas (" << options.beta1 << ", "
                                                      << options.beta2 << "), eps " << options.eps << ", weight decay "
                                                      << options.weight_decay);
    m_first = flat_type("mcsc::Adam::first_moment", params.flat_size());
    m_second = flat_type("mcsc::Adam::second_moment", params.flat_size());
  }

  /// One update of every parameter from its gradient (gradients are not cleared).
  void step() {
    ++m_steps;
    const T b1 = T(m_options.beta1), b2 = T(m_options.beta2);
    const T eps = T(m_options.eps), wd = T(m_options.weight_decay);
    const T step_size = T(m_options.learning_rate / (1 - std::pow(m_options.beta1, double(m_steps))));
    const T root_correction2 = T(std::sqrt(1 - std::pow(m_options.beta2, double(m_steps))));
    auto w = m_params->values();
    auto g = m_params->grads();
    auto m = m_first;
    auto v = m_second;
    Kokkos::parallel_for(
        "mcsc::Adam::step", Kokkos::RangePolicy<ExecSpace>(0, w.extent(0)), KOKKOS_LAMBDA(const std::size_t i) {
          const T grad = g(i) + wd * w(i);
          m(i) = b1 * m(i) + (T(1) - b1) * grad;
          v(i) = b2 * v(i) + (T(1) - b2) * grad * grad;
          w(i) -= step_size * m(i) / (math::sqrt(v(i)) / root_correction2 + eps);
        });
  }

  double learning_rate() const { return m_options.learning_rate; }
  void set_learning_rate(double lr) { m_options.learning_rate = lr; }
  const AdamOptions& options() const { return m_options; }
  std::int64_t steps() const { return m_steps; }
  /// State, for checkpoints: step count and the two moment buffers (flat, like the parameters).
  void set_steps(std::int64_t t) { m_steps = t; }
  const flat_type& first_moment() const { return m_first; }
  const flat_type& second_moment() const { return m_second; }
  /// The buffers a checkpoint must hold to resume exactly.
  std::vector<flat_type> state_buffers() const { return {m_first, m_second}; }

 private:
  params_type* m_params;
  AdamOptions m_options;
  std::int64_t m_steps = 0;
  flat_type m_first, m_second;
};

struct SgdOptions {
  double learning_rate = 1e-2;
  double momentum = 0;
  double weight_decay = 0;
};

/// SGD with momentum (torch.optim.SGD): b = momentum b + g (b = g at the first step), w -= lr b.
template <class T, class ExecSpace = Kokkos::DefaultExecutionSpace>
class Sgd {
 public:
  using params_type = Parameters<T, ExecSpace>;
  using flat_type = typename params_type::flat_type;
  static constexpr const char* type_name = "sgd";

  Sgd(params_type& params, const SgdOptions& options) : m_params(&params), m_options(options) {
    MCSC_REQUIRE(params.allocated(), "mcsc::Sgd", "the parameters are not allocated");
    MCSC_REQUIRE(options.learning_rate > 0 && options.momentum >= 0 && options.weight_decay >= 0, "mcsc::Sgd",
                 "invalid options: lr " << options.learning_rate << ", momentum " << options.momentum);
    m_buffer = flat_type("mcsc::Sgd::momentum", params.flat_size());
  }
  void step() {
    const T lr = T(m_options.learning_rate), mu = T(m_options.momentum), wd = T(m_options.weight_decay);
    const bool first = m_steps == 0;
    ++m_steps;
    auto w = m_params->values();
    auto g = m_params->grads();
    auto b = m_buffer;
    Kokkos::parallel_for(
        "mcsc::Sgd::step", Kokkos::RangePolicy<ExecSpace>(0, w.extent(0)), KOKKOS_LAMBDA(const std::size_t i) {
          const T grad = g(i) + wd * w(i);
          b(i) = first ? grad : mu * b(i) + grad;
          w(i) -= lr * b(i);
        });
  }
  double learning_rate() const { return m_options.learning_rate; }
  void set_learning_rate(double lr) { m_options.learning_rate = lr; }
  std::int64_t steps() const { return m_steps; }
  void set_steps(std::int64_t t) { m_steps = t; }
  const flat_type& first_moment() const { return m_buffer; }
  std::vector<flat_type> state_buffers() const { return {m_buffer}; }

 private:
  params_type* m_params;
  SgdOptions m_options;
  std::int64_t m_steps = 0;
  flat_type m_buffer;
};

/// Scales all gradients so that their global l2 norm is at most max_norm (as
/// torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
template <class T, class ExecSpace>
double clip_gradient_norm(const Parameters<T, ExecSpace>& params, double max_norm) {
  MCSC_REQUIRE(max_norm > 0, "mcsc::clip_gradient_norm", "max_norm must be > 0, got " << max_norm);
  auto g = params.grads();
  const double norm = std::sqrt(dot(g, g));
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient < 1) scale(g, T(coefficient));
  return norm;
}

/// Learning rate multiplied by gamma every step_epochs epochs (the CU-Net paper: 0.9 every 50).
struct StepDecay {
  double initial = 1e-4;
  int step_epochs = 50;
  double gamma = 0.9;
  double at_epoch(int epoch) const { return initial * std::pow(gamma, double(epoch / (step_epochs > 0 ? step_epochs : 1))); }
};

}  // namespace mcsc
