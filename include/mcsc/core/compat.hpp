#pragma once
/// \file compat.hpp
/// The one place where Kokkos 3.4 and Kokkos 4.x differ for mcsc.
#include <Kokkos_Core.hpp>

namespace mcsc {
namespace math {
#if KOKKOS_VERSION >= 30700
using Kokkos::atan;
using Kokkos::exp;
using Kokkos::fabs;
using Kokkos::floor;
using Kokkos::isfinite;
using Kokkos::pow;
using Kokkos::sqrt;
using Kokkos::tan;
#else
using Kokkos::Experimental::atan;
using Kokkos::Experimental::exp;
using Kokkos::Experimental::fabs;
using Kokkos::Experimental::floor;
using Kokkos::Experimental::isfinite;
using Kokkos::Experimental::pow;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tan;
#endif

/// max/min/sign without relying on a particular Kokkos version's names.
template <class T>
KOKKOS_INLINE_FUNCTION T max(T a, T b) { return a > b ? a : b; }
template <class T>
KOKKOS_INLINE_FUNCTION T min(T a, T b) { return a < b ? a : b; }
template <class T>
KOKKOS_INLINE_FUNCTION T sign(T a) { return a > T(0) ? T(1) : (a < T(0) ? T(-1) : T(0)); }
}  // namespace math

/// True when the execution space runs on the host (FFTW, host pointers usable).
template <class ExecSpace>
inline constexpr bool is_host_space_v =
    Kokkos::SpaceAccessibility<Kokkos::HostSpace, typename ExecSpace::memory_space>::accessible;

/// Kokkos::initialize with the device given (on a device backend: which GPU of the node this
/// process uses; -1: Kokkos' own choice); host backends ignore it. Threads and the rest come from
/// the environment (OMP_NUM_THREADS, KOKKOS_* variables), not from a command line.
inline void initialize_kokkos_on_device(int device_id) {
#if KOKKOS_VERSION >= 30700
  Kokkos::InitializationSettings settings;
  if (device_id >= 0) settings.set_device_id(device_id);
  Kokkos::initialize(settings);
#else
  Kokkos::InitArguments args;
  args.device_id = device_id;
  Kokkos::initialize(args);
#endif
}

}  // namespace mcsc
