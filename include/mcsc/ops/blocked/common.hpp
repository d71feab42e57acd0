#pragma once
/// \file blocked/common.hpp
/// The shared part of the register-blocked host convolution kernels (ops/conv2d_blocked.hpp, which
/// describes the design): the compiler hints, the vector widths, the scratch sizes, staging of
/// zero-padded (Boundary::zero) or wrapped (Boundary::circular) rows, scratch arrays and the
/// launcher of a kernel's league of one-thread teams.
/// Include ops/conv2d.hpp, not this detail header.
#include <algorithm>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mcsc/core/compat.hpp"
#include "mcsc/ops/prox.hpp"

// Full unrolling of the small register-block loops, and no unrolling of the vector loop (GCC
// otherwise unrolls a 16-iteration loop before vectorising it and then keeps the accumulators
// on the stack); register-block functions kept out of line; prefetches (GCC's portable builtin,
// not an ISA intrinsic). Only GCC needs these; elsewhere they are no-ops.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__NVCOMPILER) && \
    !defined(__INTEL_COMPILER) && !defined(__INTEL_LLVM_COMPILER)
#define MCSC_CONV_PRAGMA(x) _Pragma(#x)
#define MCSC_CONV_UNROLL MCSC_CONV_PRAGMA(GCC unroll 32)
#define MCSC_CONV_NO_UNROLL MCSC_CONV_PRAGMA(GCC unroll 1)
#define MCSC_CONV_NOINLINE __attribute__((noinline))
#define MCSC_CONV_PREFETCH(address) __builtin_prefetch(address)
#define MCSC_CONV_PREFETCH_WRITE(address) __builtin_prefetch(address, 1)
#else
#define MCSC_CONV_NOINLINE
#define MCSC_CONV_PREFETCH(address) ((void)(address))
#define MCSC_CONV_PREFETCH_WRITE(address) ((void)(address))
#define MCSC_CONV_UNROLL
#define MCSC_CONV_NO_UNROLL
#endif

namespace mcsc {
namespace Impl {

/// v wrapped into [0, n): the index Boundary::circular reads for position v of an axis of length n.
KOKKOS_INLINE_FUNCTION int wrap_index(int v, int n) {
  const int r = v % n;
  return r < 0 ? r + n : r;
}

namespace blocked {

/// Whether conv2d & co. use the blocked kernels on ExecSpace: true for execution spaces that run
/// on the host and use host memory (Serial, OpenMP, Threads, ...), false elsewhere (Cuda, ...),
/// which keep the generic kernels; the blocked kernels are only instantiated where it is true.
/// (Specialise it to false to force the generic kernels on a host space.)
template <class ExecSpace, class = void>
struct use_blocked_kernels
    : std::integral_constant<bool, Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible &&
                                       Kokkos::SpaceAccessibility<Kokkos::HostSpace,
                                                                  typename ExecSpace::memory_space>::accessible> {};
template <class ExecSpace>
inline constexpr bool use_blocked_kernels_v = use_blocked_kernels<ExecSpace>::value;

/// Bytes of one SIMD register of the target and how many there are.
#if defined(__AVX512F__)
inline constexpr int kVectorBytes = 64;
inline constexpr int kVectorRegisters = 32;
#elif defined(__AVX__)
inline constexpr int kVectorBytes = 32;
inline constexpr int kVectorRegisters = 16;
#else
inline constexpr int kVectorBytes = 16;
inline constexpr int kVectorRegisters = 16;
#endif
inline constexpr bool kWide = kVectorRegisters >= 32;

/// Elements of T in one vector register.
template <class T>
inline constexpr int vector_width = kVectorBytes / int(sizeof(T)) > 0 ? kVectorBytes / int(sizeof(T)) : 1;

/// Widest tile strip of one team (columns), and the scratch budgets.
inline constexpr int kStripColumns = 256;
inline constexpr std::size_t kStageBytes = 192 * 1024;        // staged input rows of a channel group
inline constexpr std::size_t kPartialBytes = 24 * 1024;     // partial sums of a team's row tiles
inline constexpr std::size_t kMaxScratchBytes = 16u << 20;    // beyond this: generic kernel

inline constexpr int round_up(int v, int m) { return (v + m - 1) / m * m; }

/// Asks for rows [r0, r1) of an image (row stride ld elements, columns [0, width)) to be brought
/// into cache ahead of their staging (GCC's portable prefetch builtin; nothing elsewhere), so that
/// the loads of the next stage overlap the current computation.
template <class T>
inline void prefetch_rows(const T* image, int r0, int r1, std::int64_t ld, int width) {
  constexpr int line = 64 / int(sizeof(T));
  for (int r = r0; r < r1; ++r)
    for (int u = 0; u < width; u += line) MCSC_CONV_PREFETCH(image + std::int64_t(r) * ld + u);
}
/// The same for rows about to be written.
template <class T>
inline void prefetch_rows_for_write(T* image, int r0, int r1, std::int64_t ld, int width) {
  constexpr int line = 64 / int(sizeof(T));
  for (int r = r0; r < r1; ++r)
    for (int u = 0; u < width; u += line) MCSC_CONV_PREFETCH_WRITE(image + std::int64_t(r) * ld + u);
}
inline constexpr int ceil_div(int v, int m) { return (v + m - 1) / m; }

/// Stages one zero-padded row: dst[u] = src[u + shift] for u in [u0, u1) and 0 for the other u
/// in [0, width); src null: a row outside the image, all zeros. (memcpy for the image part: the
/// blocked kernels run on host spaces only.)
template <class T>
inline void stage_row(T* dst, const T* src, int width, int u0, int u1, std::int64_t shift) {
  if (!src) {
    std::fill(dst, dst + width, T(0));
    return;
  }
  const int v0 = std::max(0, std::min(u0, width)), v1 = std::max(v0, std::min(u1, width));
  std::fill(dst, dst + v0, T(0));
  if (v1 > v0) std::memcpy(dst + v0, src + v0 + shift, sizeof(T) * std::size_t(v1 - v0));
  std::fill(dst + v1, dst + width, T(0));
}

/// Stages one row of a periodic image (Boundary::circular): dst[u] = row[(u + shift) mod W] for
/// every u in [0, width), whatever the shift and width.
template <class T>
inline void stage_row_wrapped(T* dst, const T* row, int width, std::int64_t shift, int W) {
  std::int64_t col = shift % W;
  if (col < 0) col += W;
  for (int u = 0; u < width; col = 0) {
    const int n = int(std::min<std::int64_t>(width - u, W - col));
    std::memcpy(dst + u, row + col, sizeof(T) * std::size_t(n));
    u += n;
  }
}

/// Stages image row sr of a plane (row stride ld, H rows, W columns) for the boundary: staged
/// column u is image column u + shift; outside the image zeros, or (circular) the wrapped rows and
/// columns. The forward/adjoint and weight-gradient kernels stage their input rows with it.
template <class T>
inline void stage_image_row(T* dst, const T* plane, std::int64_t ld, int sr, int H, int W, int width,
                            std::int64_t shift, bool circular) {
  if (circular)
    stage_row_wrapped(dst, plane + std::int64_t(wrap_index(sr, H)) * ld, width, shift, W);
  else
    stage_row(dst, sr < 0 || sr >= H ? nullptr : plane + std::int64_t(sr) * ld, width, int(-shift), int(W - shift),
              shift);
}

/// Aligned pointer into a team's scratch block (the block is over-allocated by kAlign).
inline constexpr std::size_t kAlign = 64;
inline constexpr std::size_t align_bytes(std::size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

/// Scratch bytes of a team holding three arrays of n0, n1 and n2 elements of T, each aligned.
template <class T>
inline constexpr std::size_t scratch_bytes_for(std::size_t n0, std::size_t n1, std::size_t n2) {
  return align_bytes(n0 * sizeof(T)) + align_bytes(n1 * sizeof(T)) + align_bytes(n2 * sizeof(T)) + kAlign;
}

/// The three arrays of scratch_bytes_for<T>(n0, n1, n2) in the team's scratch block.
template <class T, class Member>
inline void scratch_arrays(const Member& team, std::size_t bytes, std::size_t n0, std::size_t n1, T*& p0, T*& p1,
                           T*& p2) {
  char* base = static_cast<char*>(team.team_scratch(1).get_shmem(bytes));
  base += (kAlign - reinterpret_cast<std::uintptr_t>(base) % kAlign) % kAlign;
  p0 = reinterpret_cast<T*>(base);
  p1 = reinterpret_cast<T*>(base + align_bytes(n0 * sizeof(T)));
  p2 = reinterpret_cast<T*>(base + align_bytes(n0 * sizeof(T)) + align_bytes(n1 * sizeof(T)));
}

// ================================================================== correlation (forward/adjoint)

/// Runs a blocked kernel (its plan's league of one-thread teams, each with the plan's scratch);
/// false, without running it, if the plan needs more scratch than kMaxScratchBytes.
template <class ExecSpace, class Kernel>
bool launch(const char* label, const Kernel& kernel) {
  if (kernel.plan.scratch_bytes > kMaxScratchBytes) return false;
  using Policy = Kokkos::TeamPolicy<ExecSpace, Kokkos::Schedule<Kokkos::Dynamic>>;
  Policy policy(kernel.plan.league, 1);
  Kokkos::parallel_for(label, policy.set_scratch_size(1, Kokkos::PerTeam(kernel.plan.scratch_bytes)), kernel);
  return true;
}

}  // namespace blocked
}  // namespace Impl
}  // namespace mcsc
