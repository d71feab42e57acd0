#pragma once
/// \file conv2d_instantiate.hpp
/// Include in exactly one translation unit of a project that defines MCSC_EXTERN_CONV_KERNELS in
/// its other units (see the end of conv2d_blocked.hpp): it instantiates the blocked convolution
/// kernels there, for float and double on the enabled host execution spaces (Serial, OpenMP).
/// That unit must not define MCSC_EXTERN_CONV_KERNELS itself.
#if defined(MCSC_EXTERN_CONV_KERNELS)
#error "conv2d_instantiate.hpp instantiates the kernels: include it in a unit without MCSC_EXTERN_CONV_KERNELS"
#endif
#include "mcsc/ops/conv2d.hpp"

namespace mcsc {
namespace Impl {
namespace blocked {
#if defined(KOKKOS_ENABLE_SERIAL)
MCSC_CONV_KERNELS_FOR_SPACE(, Kokkos::Serial)
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
MCSC_CONV_KERNELS_FOR_SPACE(, Kokkos::OpenMP)
#endif
}  // namespace blocked
}  // namespace Impl
}  // namespace mcsc
