#pragma once
/// \file models.hpp
/// The learned models by name, and their evaluation on whole images, for the example programs.
#include <cmath>
#include <cstdio>
#include <string>

#include "dataset.hpp"
#include "mcsc/metrics/psnr.hpp"
#include "mcsc/metrics/ssim.hpp"
#include "mcsc/nn/cunet.hpp"
#include "mcsc/nn/lmcsc_net.hpp"

namespace mcsc_examples {

/// Calls f(model) with a model of the given checkpoint type ("CuNet", "LmcscNet", "LcscNet")
/// and configuration string; returns what f returns.
template <class F>
int with_model(const std::string& type, const std::string& config, F&& f) {
  if (type == mcsc::CuNet<T, ExecSpace>::type_name) {
    mcsc::CuNet<T, ExecSpace> model(mcsc::CuNet<T, ExecSpace>::config_from_string(config));
    return f(model);
  }
  if (type == mcsc::LmcscNet<T, ExecSpace>::type_name) {
    mcsc::LmcscNet<T, ExecSpace> model(mcsc::UnrolledNetConfig::from_string(config));
    return f(model);
  }
  if (type == mcsc::LcscNet<T, ExecSpace>::type_name) {
    mcsc::LcscNet<T, ExecSpace> model(mcsc::UnrolledNetConfig::from_string(config));
    return f(model);
  }
  MCSC_REQUIRE(false, "with_model", "unknown model type '" << type << "' (CuNet, LmcscNet, LcscNet)");
  return 1;
}

struct Scores {
  double psnr = 0, ssim = 0;
};
inline Scores score(const Tensor& estimate, const Tensor& target) {
  return {mcsc::psnr(estimate, target), mcsc::ssim(estimate, target)};
}

/// Writes a (1, C, H, W) tensor as PNG (values clamped to [0, 1]).
inline void write_tensor_png(const std::string& path, const Tensor& t) { mcsc::write_png(path, mcsc::tensor_to_image(t)); }

/// Runs model on a whole sample; returns the output.
template <class Model>
Tensor run_model(Model& model, const Sample& s) {
  auto out = mcsc::make_tensor_like("output", s.target);
  model.forward(s.input, s.guide, out, false);
  return out;
}

}  // namespace mcsc_examples
