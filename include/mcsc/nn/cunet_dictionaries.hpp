#pragma once
/// \file cunet_dictionaries.hpp
/// A trained CU-Net's filters as the classical multimodal model's dictionaries, so that the
/// classical solvers (common_unique(), learn_coupled_dictionaries()'s target fit) can run with
/// what a network learned. The correspondence (CU-Net paper, eqs. 3-5 and Fig. 3):
///
///   Du = conv_u          the network's own synthesis of x's unique part (p_x = x - conv_u*u)
///   Hv = conv_v          the same for y
///   [Dc; Hc] = D_S of net_z, the last stage's synthesis dictionary of the common encoder, whose
///                      input is [x - Du*u; y - Hv*v]: its first C output channels are Dc (x),
///                      the next C are Hc (y)
///   Gu = decoder.conv_1, Gc = decoder.conv_2, Gv = decoder.conv_3 (fusion)
///
/// Every tensor is a copy (the network's parameters are not aliased). The network's codes are
/// not the classical codes of these dictionaries (its thresholds and encoders are learned), so
/// callers normally refit G to the classical codes (learn_coupled_dictionaries() with
/// max_iterations = 0 does: it codes once and fits Gc, Gu, Gv starting from these).
///
/// initialize_from_dictionaries() goes the other way: a CU-Net that starts as the classical
/// solver's iteration on given dictionaries (each encoder exact ISTA steps), to train from there.
#include <string>

#include "mcsc/ops/lipschitz.hpp"

#include "mcsc/nn/cunet.hpp"
#include "mcsc/solvers/coupled_dictionary_learning.hpp"

namespace mcsc {

template <class T, class ExecSpace>
MultimodalDictionaries<T, ExecSpace> cunet_dictionaries(const CuNet<T, ExecSpace>& net) {
  const char* fn = "mcsc::cunet_dictionaries";
  const auto& config = net.config();
  MCSC_REQUIRE(config.stages >= 1, fn,
               "a CU-Net with 0 stages has no synthesis dictionary in its common encoder (net_z); "
               "at least 1 stage is needed");
  const auto& params = net.parameters();
  auto copy = [&](const std::string& name) {
    const auto& v = params.value(params.find(name));
    auto out = make_tensor<T, ExecSpace>("mcsc::cunet_dictionaries::" + name, shape_of(v));
    Kokkos::deep_copy(out, v);
    return out;
  };
  MultimodalDictionaries<T, ExecSpace> d;
  d.Du = copy("conv_u.weight");
  d.Hv = copy("conv_v.weight");
  d.Gu = copy("decoder.conv_1.weight");
  d.Gc = copy("decoder.conv_2.weight");
  if (config.fusion) d.Gv = copy("decoder.conv_3.weight");
  const auto& common = params.value(params.find("net_z.down_conv_" + std::to_string(config.stages - 1) + ".weight"));
  const int C = config.channels, K = config.filters, s = config.kernel;
  d.Dc = make_tensor<T, ExecSpace>("mcsc::cunet_dictionaries::Dc", Shape4{C, K, s, s});
  d.Hc = make_tensor<T, ExecSpace>("mcsc::cunet_dictionaries::Hc", Shape4{C, K, s, s});
  Kokkos::deep_copy(d.Dc, Kokkos::subview(common, std::make_pair(0, C), Kokkos::ALL, Kokkos::ALL, Kokkos::ALL));
  Kokkos::deep_copy(d.Hc, Kokkos::subview(common, std::make_pair(C, 2 * C), Kokkos::ALL, Kokkos::ALL, Kokkos::ALL));
  return d;
}

/// Initialises `net` from classical dictionaries (the inverse of cunet_dictionaries()): net_u as
/// ISTA steps on Du, net_v on Hv, net_z on [Dc; Hc] (LcscEncoder::initialize_from_dictionary:
/// E = D'/L, D_j = D, thresholds lambda / L), conv_u = Du, conv_v = Hv, and the decoders Gu, Gc
/// (and Gv for a fusion network). L is 1.01 x the power-iteration estimate of ||D||^2 on
/// `image` x `image` codes with zero boundaries (the "same" convolutions the network uses).
/// Needs the paper form, scalar or per-channel thresholds, odd kernels; every dictionary
/// (C, K, s, s) with the network's C, K and s.
template <class T, class ExecSpace>
void initialize_from_dictionaries(CuNet<T, ExecSpace>& net, const MultimodalDictionaries<T, ExecSpace>& d,
                                  double lambda, int image = 64) {
  const char* fn = "mcsc::initialize_from_dictionaries";
  const auto& config = net.config();
  const int C = config.channels, K = config.filters, s = config.kernel;
  const Shape4 expected{C, K, s, s};
  MCSC_REQUIRE(image > 0 && lambda >= 0 && std::isfinite(lambda), fn, "lambda = " << lambda << ", image = " << image);
  const std::pair<const char*, const Tensor4<T, ExecSpace>*> all[] = {
      {"Dc", &d.Dc}, {"Du", &d.Du}, {"Hc", &d.Hc}, {"Hv", &d.Hv}, {"Gc", &d.Gc}, {"Gu", &d.Gu}};
  for (const auto& [name, t] : all)
    MCSC_REQUIRE(t->data() != nullptr && shape_of(*t) == expected, fn,
                 name << " " << (t->data() ? shape_of(*t) : Shape4{}) << " should be " << expected << " (the network's C, K, s)");
  MCSC_REQUIRE(!config.fusion || (d.Gv.data() != nullptr && shape_of(d.Gv) == expected), fn,
               "a fusion CU-Net needs Gv " << expected);
  auto lipschitz = [&](const Tensor4<T, ExecSpace>& dict) {
    return 1.01 * power_iteration(ConvDictionary<T, ExecSpace>(dict), Shape4{1, K, image, image});
  };
  auto common = make_tensor<T, ExecSpace>("mcsc::initialize_from_dictionaries::common", Shape4{2 * C, K, s, s});
  Kokkos::deep_copy(Kokkos::subview(common, std::make_pair(0, C), Kokkos::ALL, Kokkos::ALL, Kokkos::ALL), d.Dc);
  Kokkos::deep_copy(Kokkos::subview(common, std::make_pair(C, 2 * C), Kokkos::ALL, Kokkos::ALL, Kokkos::ALL), d.Hc);
  net.encoder_u().initialize_from_dictionary(d.Du, lambda, lipschitz(d.Du));
  net.encoder_v().initialize_from_dictionary(d.Hv, lambda, lipschitz(d.Hv));
  net.encoder_z().initialize_from_dictionary(common, lambda, lipschitz(common));
  auto& params = net.parameters();
  auto set = [&](const char* name, const Tensor4<T, ExecSpace>& value) {
    Kokkos::deep_copy(params.value(params.find(name)), value);
  };
  set("conv_u.weight", d.Du);
  set("conv_v.weight", d.Hv);
  set("decoder.conv_1.weight", d.Gu);
  set("decoder.conv_2.weight", d.Gc);
  if (config.fusion) set("decoder.conv_3.weight", d.Gv);
}

}  // namespace mcsc
