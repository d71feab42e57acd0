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
#include <string>

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

}  // namespace mcsc
