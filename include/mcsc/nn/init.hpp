#pragma once
/// \file init.hpp
/// Initialisation of a model's parameters: convolution weights from N(0, std^2) (both papers:
/// std 0.01) or Xavier/Glorot uniform (U(-b, b), b = sqrt(6 / (fan_in + fan_out)), fan = channels
/// x kh x kw, as torch.nn.init.xavier_uniform_), thresholds (names containing "lam") to a
/// constant (LMCSC: mu = 0.2). Seeded, so the same on every execution space.
#include <cmath>
#include <string>

#include "mcsc/nn/parameters.hpp"

namespace mcsc {

enum class WeightInit { normal, xavier_uniform };

struct InitOptions {
  WeightInit weights = WeightInit::normal;
  double stddev = 0.01;     ///< for WeightInit::normal
  double threshold = 0.01;  ///< initial thresholds / mu
  std::uint64_t seed = 0;
};

/// True for threshold / mu parameters (named "...lam...").
inline bool is_threshold_name(const std::string& name) { return name.find("lam") != std::string::npos; }

template <class T, class ExecSpace>
void initialize(const Parameters<T, ExecSpace>& params, const InitOptions& options) {
  std::uint64_t seed = options.seed;
  for (const auto& e : params.entries()) {
    ++seed;
    if (is_threshold_name(e.name)) {
      fill(e.value, T(options.threshold));
    } else if (options.weights == WeightInit::normal) {
      fill_normal(e.value, seed, 0.0, options.stddev);
    } else {
      const double receptive = double(e.shape.h * e.shape.w);
      const double bound = std::sqrt(6.0 / (receptive * double(e.shape.c) + receptive * double(e.shape.n)));
      fill_uniform(e.value, seed, -bound, bound);
    }
  }
}

}  // namespace mcsc
