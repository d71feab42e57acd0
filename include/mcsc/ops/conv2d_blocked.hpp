#pragma once
/// \file conv2d_blocked.hpp
/// Register-blocked direct convolution kernels for host execution spaces (Serial, OpenMP, ...),
/// used by conv2d, conv2d_adjoint and conv2d_weight_grad (conv2d.hpp) when the execution space
/// runs on the host, for both boundaries. Other spaces use the team kernels (conv2d_team.hpp) or
/// the generic gather kernels of conv2d.hpp (conv2d_reference, ...), which are also the
/// reference these kernels are tested against (tests/test_conv2d.cpp).
///
/// Design (plain C++ loops that GCC -O3 vectorises over the image width; no intrinsics, no
/// allocation: each Kokkos team, of one thread, works in its team scratch):
///
/// * Forward and adjoint share one "correlation" kernel (CorrelationKernel)
///       out[n,o,i,j] (+)= sum_{c,p,q} wt(o,c,p,q) * in[n, c, i + p - pt, j + q - pl]
///   The forward pass is that with wt = w; the adjoint is that with the transposed, flipped
///   weight wt(c,o,p,q) = w[o, c, kh-1-p, kw-1-q] and pt' = kh-1-pt (read through strides).
///   A team computes, for one image, a strip of up to kStripColumns columns, a range of row
///   tiles of R rows, and blocks of OB output channels (all of them when every input channel
///   fits the stage at once). For a group of input channels it copies the input rows it needs
///   into scratch: this is where the boundary is handled (rows and columns
///   outside the image become zeros, or for Boundary::circular the wrapped image rows and
///   columns, and columns are rounded up to whole vectors of V), so the inner loops have no
///   bounds checks; it also packs the block's weights. The register block
///   is OB output channels x R rows x V columns, in two variants:
///     - any kernel height (FKH = 0): per tap (c, p, q), OB broadcast weights times R input
///       vectors; efficient with OB >= 5 (GCC then loads each input vector once for OB FMAs),
///       used for 4 or more output channels;
///     - fixed kernel height FKH (5, 8, 9) for 1-3 output channels: per tap column q, the
///       OB x FKH weights stay in registers and each of the R + FKH - 1 staged input rows is
///       loaded once and used for every output row it feeds (row r feeds output row ii with
///       tap p = r - ii).
///   The accumulators live in a separate (not inlined) function, indexed by constants only, so
///   that GCC keeps them in registers. Partial sums of earlier channel groups wait in scratch;
///   rows, columns and channels of a block beyond the tensor are computed and not stored.
///   Every output is summed over c, then the taps, in an order that depends only on the shape,
///   so the result does not depend on the thread count.
///
/// * The weight gradient gw[o,c,p,q] = sum_{n,i,j} gy[n,o,i,j] x[n,c,i+p-pt,j+q-pl]: every gw
///   entry is reduced by exactly one team in a fixed order, so the result does not depend on the
///   thread count or the schedule. For kernel heights 5, 8 and 9 (WeightGradRowKernel) a team
///   takes one (o, c) pair: it walks the images and strips of rows, stages the zero-padded
///   input rows and the gradient rows, and for each tap column q keeps the FKH partial sums of
///   gw[o,c,:,q] and R gradient rows in registers while each staged input row is loaded once
///   and used with all the gradient rows it pairs with. Other heights use WeightGradKernel:
///   a block of OB output channels of one input channel per team, and per step OB gradient
///   vectors times a PB x QB block of taps (tap columns padded to whole blocks).
///
/// The block sizes are chosen per shape at run time among a few instantiations (see
/// correlation() and weight_grad() at the end); the widths follow the target's vector registers
/// (AVX-512: 32 registers of 64 bytes, else 16 registers of 32 or 16 bytes), known from the
/// compiler's predefined macros, and were tuned on the 2-core AVX-512 machine of
/// docs/benchmarks.md.
///
/// The code: blocked/common.hpp (hints, widths, staging, scratch, launch), blocked/correlation.hpp
/// (forward, adjoint, the prox epilogue), blocked/weight_grad.hpp; this header adds the explicit
/// instantiation declarations.
#include "mcsc/ops/blocked/correlation.hpp"
#include "mcsc/ops/blocked/weight_grad.hpp"

namespace mcsc {
namespace Impl {
namespace blocked {

/// Compile time: the blocked kernels are many instantiations (register blocks x kernel heights x
/// scalar types x execution spaces), compiled again in every translation unit that uses the
/// convolutions. A project with many such units can compile them once: define
/// MCSC_EXTERN_CONV_KERNELS in every unit (the declarations below stop the implicit
/// instantiation) and build one unit that includes <mcsc/ops/conv2d_instantiate.hpp>, with the
/// same compiler flags. mcsc's tests and examples do so; the library stays header-only.
#define MCSC_CONV_KERNELS_FOR(prefix, Space, T)                                               \
  prefix template bool correlation<Space, T>(const char*, const CorrelationArgs<T>&); \
  prefix template bool weight_grad<Space, T>(const char*, const WeightGradArgs<T>&);
#define MCSC_CONV_KERNELS_FOR_SPACE(prefix, Space) \
  MCSC_CONV_KERNELS_FOR(prefix, Space, float)      \
  MCSC_CONV_KERNELS_FOR(prefix, Space, double)
#if defined(MCSC_EXTERN_CONV_KERNELS)
#if defined(KOKKOS_ENABLE_SERIAL)
MCSC_CONV_KERNELS_FOR_SPACE(extern, Kokkos::Serial)
#endif
#if defined(KOKKOS_ENABLE_OPENMP)
MCSC_CONV_KERNELS_FOR_SPACE(extern, Kokkos::OpenMP)
#endif
#endif

}  // namespace blocked
}  // namespace Impl
}  // namespace mcsc

#undef MCSC_CONV_PRAGMA
#undef MCSC_CONV_UNROLL
#undef MCSC_CONV_NO_UNROLL
#undef MCSC_CONV_NOINLINE
#undef MCSC_CONV_PREFETCH
#undef MCSC_CONV_PREFETCH_WRITE
