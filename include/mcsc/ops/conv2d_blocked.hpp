#pragma once
/// \file conv2d_blocked.hpp
/// Register-blocked direct convolution kernels for host execution spaces (Serial, OpenMP, ...),
/// used by conv2d, conv2d_adjoint and conv2d_weight_grad (conv2d.hpp) when the execution space
/// runs on the host and the boundary is zero. Other spaces and Boundary::circular use the
/// generic gather kernels of conv2d.hpp (conv2d_reference, ...), which are also the reference
/// these kernels are tested against (tests/test_conv2d.cpp).
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
///   into scratch, zero-padded: this is where the zero boundary is handled (rows and columns
///   outside the image become zeros, and columns are rounded up to whole vectors of V), so the
///   inner loops have no bounds checks; it also packs the block's weights. The register block
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

/// An elementwise step fused into the store of a correlation (the LCSC / LMCSC stage update of
/// conv2d_prox, conv2d_prox.hpp): with acc the correlation at an output position,
///     v = sign * acc + a + b            (a, b: tensors like the output, or null for none)
///     pre = v                           (if pre is not null)
///     out = S_theta(v)                  (side null: soft threshold)
///     out = xi_theta(v; side)           (side not null: the l1-l1 prox)
/// theta = param[o] (param[0] for every channel if param_broadcast). a, b, pre and side have the
/// output's strides.
template <class T>
struct ProxEpilogue {
  bool active = false;
  T sign = T(1);
  const T* a = nullptr;
  const T* b = nullptr;
  T* pre = nullptr;
  const T* side = nullptr;
  const T* param = nullptr;
  bool param_broadcast = false;

  /// The step for nv (<= V) consecutive outputs at offset off of channel o; acc holds V values.
  template <int V>
  void store(std::int64_t off, int o, const T* acc, int nv, T* dst) const {
    if (nv == V)
      store_n<V, true>(off, o, acc, V, dst);
    else
      store_n<V, false>(off, o, acc, nv, dst);
  }

  /// (Full: nv == V, every loop of constant length. The operands pass through local arrays: GCC
  /// cannot tell the pointers apart and would otherwise guard each loop with overlap checks.)
  template <int V, bool Full>
  void store_n(std::int64_t off, int o, const T* acc, int nv, T* dst) const {
    const int n = Full ? V : nv;
    const T th = param[param_broadcast ? 0 : o];
    T val[V], tmp[V];
    MCSC_CONV_NO_UNROLL
    for (int v = 0; v < V; ++v) val[v] = sign * acc[v];
    if (a) {
      for (int v = 0; v < n; ++v) tmp[v] = a[off + v];
      for (int v = 0; v < n; ++v) val[v] += tmp[v];
    }
    if (b) {
      for (int v = 0; v < n; ++v) tmp[v] = b[off + v];
      for (int v = 0; v < n; ++v) val[v] += tmp[v];
    }
    if (pre)
      for (int v = 0; v < n; ++v) pre[off + v] = val[v];
    if (side) {
      for (int v = 0; v < n; ++v) tmp[v] = side[off + v];
      for (int v = 0; v < n; ++v) tmp[v] = l1l1_prox_value(val[v], tmp[v], th);
    } else {
      for (int v = 0; v < n; ++v) tmp[v] = soft_threshold_value(val[v], th);
    }
    for (int v = 0; v < n; ++v) dst[v] = tmp[v];
  }
};

/// The operands of out[n,o,i,j] (+)= sum_{c,p,q} wt(o,c,p,q) * in[n,c,i+p-pt,j+q-pl], zero
/// outside the image, with wt(o,c,p,q) = w[w0 + o*wso + c*wsc + p*wsp + q*wsq]; or, with an
/// active epilogue, out = the epilogue's step of that sum (accumulate is then ignored).
template <class T>
struct CorrelationArgs {
  const T* in = nullptr;
  std::int64_t in_sn = 0, in_sc = 0, in_sh = 0;
  T* out = nullptr;
  std::int64_t out_sn = 0, out_sc = 0, out_sh = 0;
  const T* w = nullptr;
  std::int64_t w0 = 0, wso = 0, wsc = 0, wsp = 0, wsq = 0;
  int N = 0, Cin = 0, Cout = 0, H = 0, W = 0, KH = 0, KW = 0, pt = 0, pl = 0;
  bool accumulate = false;
  ProxEpilogue<T> epilogue;
};

/// Tile geometry of a correlation with OB output channels x R rows x V columns per register block.
struct CorrelationPlan {
  int V = 0;           // columns per register block
  int strip = 0;       // columns per team (multiple of V)
  int ldb = 0;         // row stride of the staged input
  int tiles = 0;       // row tiles of R rows per team
  int rows = 0;        // staged rows per channel: tiles * R + KH - 1
  int group = 0;       // input channels staged at once
  int row_ranges = 0, col_tiles = 0, out_blocks = 0;
  int blocks_per_team = 0;  // output-channel blocks per team (all of them when one group holds every channel)
  int out_groups = 0;       // ceil(out_blocks / blocks_per_team)
  std::size_t stage_elems = 0, weight_elems = 0, tile_elems = 0;
  std::size_t scratch_bytes = 0;
  std::int64_t league = 0;
};

/// OB output channels x R rows x NV vectors of columns per register block; FKH = 0: any kernel
/// height (KH read at run time), else the kernel height, fixed (the inner loop then reuses
/// every loaded input row for all output rows of the block).
template <class T, int OB, int R, int NV, int FKH>
struct CorrelationKernel {
  static constexpr int V = NV * vector_width<T>;

  CorrelationArgs<T> a;
  CorrelationPlan plan;

  static CorrelationPlan make_plan(const CorrelationArgs<T>& a, int concurrency) {
    CorrelationPlan p;
    p.V = V;
    p.strip = std::min(round_up(a.W, V), std::max(V, kStripColumns / V * V));
    p.ldb = round_up(p.strip + a.KW - 1, 16);
    p.col_tiles = ceil_div(a.W, p.strip);
    p.out_blocks = ceil_div(a.Cout, OB);
    // Row tiles per team: as many as leave a few teams per thread (fewer, larger teams stage
    // each channel's rows in one contiguous sweep and, when every channel fits one group, stage
    // the weights once for all their tiles), while one channel's rows still fit the stage.
    const std::size_t row_bytes = std::size_t(p.ldb) * sizeof(T);
    const int all_tiles = ceil_div(a.H, R);
    const std::int64_t teams_per_range = std::int64_t(a.N) * p.col_tiles;
    const std::int64_t ranges_wanted = std::min<std::int64_t>(
        all_tiles, std::max<std::int64_t>(1, (4 * std::int64_t(concurrency) + teams_per_range - 1) / teams_per_range));
    const int by_stage = std::max(1, (int(kStageBytes / row_bytes) - (a.KH - 1)) / R);
    p.tiles = std::max(1, std::min(ceil_div(all_tiles, int(ranges_wanted)), by_stage));
    // When the input channels need several groups, the partial sums of the row tiles wait in
    // scratch between groups: keep them within kPartialBytes (in L1; measured on the networks'
    // K->1 convolutions at 512x512: 10 % faster than letting them spill to L2).
    if (std::size_t(p.tiles * R + a.KH - 1) * row_bytes * std::size_t(a.Cin) > kStageBytes) {
      const std::size_t tile_bytes = std::size_t(OB) * R * std::size_t(p.strip) * sizeof(T);
      p.tiles = std::max(1, std::min(p.tiles, int(kPartialBytes / tile_bytes)));
    }
    const std::size_t plane_bytes = std::size_t(p.tiles * R + a.KH - 1) * row_bytes;
    p.group = int(std::max<std::size_t>(1, std::min<std::size_t>(std::size_t(a.Cin), kStageBytes / plane_bytes)));
    p.rows = p.tiles * R + a.KH - 1;
    p.row_ranges = ceil_div(a.H, p.tiles * R);
    const std::size_t plane = std::size_t(p.rows) * std::size_t(p.ldb);
    p.stage_elems = plane * std::size_t(p.group);
    p.weight_elems = std::size_t(p.group) * std::size_t(a.KH) * std::size_t(a.KW) * OB;
    p.tile_elems = std::size_t(p.tiles) * OB * R * std::size_t(p.strip);
    p.scratch_bytes = scratch_bytes_for<T>(p.stage_elems, p.weight_elems, p.tile_elems);
    p.blocks_per_team = p.group >= a.Cin ? p.out_blocks : 1;
    p.out_groups = ceil_div(p.out_blocks, p.blocks_per_team);
    p.league = std::int64_t(a.N) * p.out_groups * p.row_ranges * p.col_tiles;
    return p;
  }

  /// For each of nchunks blocks of V columns (block k from column k*V of xs on):
  /// acc_out[k][o][ii][v] = acc_in[k][o][ii][v] (0 if kFirst) + the block's sums over the cg
  /// staged channels. The accumulators live in this function only, always indexed by constants,
  /// so that GCC keeps them in registers.
  template <bool kFirst>
  MCSC_CONV_NOINLINE static void block(const T* xs, int ldb, std::size_t plane, const T* wl, int cg, int KH, int KW,
                                       int nchunks, const T* acc_in, T* acc_out) {
    for (int k = 0; k < nchunks; ++k) {
      T acc[OB][R][V];
      MCSC_CONV_UNROLL
      for (int o = 0; o < OB; ++o)
        MCSC_CONV_UNROLL
        for (int ii = 0; ii < R; ++ii)
          for (int v = 0; v < V; ++v)
            acc[o][ii][v] = kFirst ? T(0) : acc_in[((std::size_t(k) * OB + o) * R + ii) * V + v];
      const int taps = KH * KW;
      for (int c = 0; c < cg; ++c) {
        const T* xc = xs + std::size_t(c) * plane + std::size_t(k) * V;
        const T* wc = wl + std::size_t(c) * taps * OB;
        if constexpr (FKH == 0) {
          // any kernel height: per tap, OB broadcast weights times R input rows
          for (int p = 0; p < KH; ++p) {
            const T* xp = xc + std::size_t(p) * ldb;
            const T* wp = wc + std::size_t(p) * KW * OB;
            for (int q = 0; q < KW; ++q) {
              const T* xq = xp + q;
              const T* wq = wp + q * OB;
              MCSC_CONV_UNROLL
              for (int ii = 0; ii < R; ++ii)
                MCSC_CONV_UNROLL
                for (int o = 0; o < OB; ++o)
                  MCSC_CONV_NO_UNROLL
                  for (int v = 0; v < V; ++v) acc[o][ii][v] += wq[o] * xq[ii * ldb + v];
            }
          }
        } else {
          // kernel height FKH known: per tap column q, the OB x FKH weights stay in registers
          // and every staged input row is loaded once and used by all output rows it feeds
          // (output row ii takes input row r with tap p = r - ii)
          for (int q = 0; q < KW; ++q) {
            T wv[OB][FKH][V];
            MCSC_CONV_UNROLL
            for (int o = 0; o < OB; ++o)
              MCSC_CONV_UNROLL
              for (int p = 0; p < FKH; ++p)
                MCSC_CONV_NO_UNROLL
                for (int v = 0; v < V; ++v) wv[o][p][v] = wc[(std::size_t(p) * KW + q) * OB + o];
            const T* xq = xc + q;
            MCSC_CONV_UNROLL
            for (int r = 0; r < R + FKH - 1; ++r) {
              T xv[V];
              MCSC_CONV_NO_UNROLL
              for (int v = 0; v < V; ++v) xv[v] = xq[std::size_t(r) * ldb + v];
              MCSC_CONV_UNROLL
              for (int ii = 0; ii < R; ++ii) {
                if (r - ii >= 0 && r - ii < FKH) {
                  MCSC_CONV_UNROLL
                  for (int o = 0; o < OB; ++o)
                    MCSC_CONV_NO_UNROLL
                    for (int v = 0; v < V; ++v) acc[o][ii][v] += wv[o][r - ii][v] * xv[v];
                }
              }
            }
          }
        }
      }
      MCSC_CONV_UNROLL
      for (int o = 0; o < OB; ++o)
        MCSC_CONV_UNROLL
        for (int ii = 0; ii < R; ++ii)
          for (int v = 0; v < V; ++v) acc_out[((std::size_t(k) * OB + o) * R + ii) * V + v] = acc[o][ii][v];
    }
  }

  template <class Member>
  void operator()(const Member& team) const {
    T *stage, *wl, *tile;
    scratch_arrays(team, plan.scratch_bytes, plan.stage_elems, plan.weight_elems, stage, wl, tile);

    std::int64_t t = team.league_rank();
    const int ct = int(t % plan.col_tiles);
    t /= plan.col_tiles;
    const int rr = int(t % plan.row_ranges);
    t /= plan.row_ranges;
    const int og = int(t % plan.out_groups);
    const int n = int(t / plan.out_groups);
    const int ob_begin = og * plan.blocks_per_team, ob_end = std::min(plan.out_blocks, ob_begin + plan.blocks_per_team);

    const int i0 = rr * plan.tiles * R, j0 = ct * plan.strip;
    const int ntiles = std::min(plan.tiles, ceil_div(a.H - i0, R));
    const int ncols = std::min(plan.strip, a.W - j0);
    const int nchunks = ceil_div(ncols, V);
    const int width = nchunks * V + a.KW - 1;  // staged columns used
    const int ldb = plan.ldb, KH = a.KH, KW = a.KW;
    const int rows = ntiles * R + KH - 1;  // staged rows used
    const std::size_t plane = std::size_t(plan.rows) * std::size_t(ldb);
    const int groups = ceil_div(a.Cin, plan.group);
    const std::int64_t taps = std::int64_t(KH) * KW;

    for (int ob = ob_begin; ob < ob_end; ++ob) {
      const int o0 = ob * OB, nout = std::min(OB, a.Cout - o0);
      for (int g = 0; g < groups; ++g) {
        const int c0 = g * plan.group, cg = std::min(plan.group, a.Cin - c0);
        // ---- stage the zero-padded input rows (once, if one group holds every channel): staged
        // row r, column u is image row i0 + r - pt, column j0 + u - pl
        if (groups > 1 || ob == ob_begin) {
          for (int c = 0; c < cg; ++c) {
            const T* src_c = a.in + std::int64_t(n) * a.in_sn + std::int64_t(c0 + c) * a.in_sc;
            for (int r = 0; r < rows; ++r) {
              const int sr = i0 + r - a.pt;
              stage_row(stage + std::size_t(c) * plane + std::size_t(r) * ldb,
                        sr < 0 || sr >= a.H ? nullptr : src_c + std::int64_t(sr) * a.in_sh, width,
                        a.pl - j0, a.W + a.pl - j0, std::int64_t(j0) - a.pl);
            }
          }
        }
        // ---- the next group's rows load while this group is computed
        if (g + 1 < groups) {
          const int r0 = std::max(0, i0 - a.pt), r1 = std::min(a.H, i0 + rows - a.pt);
          const int col0 = std::max(0, j0 - a.pl), col1 = std::min(a.W, j0 + width - a.pl);
          for (int c = c0 + cg; c < std::min(a.Cin, c0 + 2 * plan.group); ++c)
            prefetch_rows(a.in + std::int64_t(n) * a.in_sn + std::int64_t(c) * a.in_sc + col0, r0, r1, a.in_sh,
                          col1 - col0);
        }
        // ---- stage the weights of this block and group: wl[c][p][q][o]
        for (int c = 0; c < cg; ++c)
          for (int p = 0; p < KH; ++p)
            for (int q = 0; q < KW; ++q) {
              T* dst = wl + (std::size_t(c) * taps + std::size_t(p) * KW + q) * OB;
              const T* src =
                  a.w + (a.w0 + std::int64_t(o0) * a.wso + std::int64_t(c0 + c) * a.wsc + p * a.wsp + q * a.wsq);
              for (int o = 0; o < nout; ++o) dst[o] = src[o * a.wso];
              for (int o = nout; o < OB; ++o) dst[o] = T(0);
            }
        // ---- every row tile: partial sums of earlier channel groups wait in the tile buffer;
        // the last group's go to the output
        for (int rt = 0; rt < ntiles; ++rt) {
          const T* xs = stage + std::size_t(rt) * R * ldb;
          T* const part = tile + std::size_t(rt) * OB * R * plan.strip;
          const int ti0 = i0 + rt * R, nrows = std::min(R, a.H - ti0);
          if (g == groups - 1)  // the output lines (and the epilogue's operands) load while the block is computed
            for (int o = 0; o < nout; ++o) {
              const std::int64_t off = std::int64_t(n) * a.out_sn + std::int64_t(o0 + o) * a.out_sc + j0;
              prefetch_rows_for_write(a.out + off, ti0, ti0 + nrows, a.out_sh, ncols);
              const ProxEpilogue<T>& e = a.epilogue;
              if (!e.active) continue;
              if (e.a) prefetch_rows(e.a + off, ti0, ti0 + nrows, a.out_sh, ncols);
              if (e.b) prefetch_rows(e.b + off, ti0, ti0 + nrows, a.out_sh, ncols);
              if (e.side) prefetch_rows(e.side + off, ti0, ti0 + nrows, a.out_sh, ncols);
              if (e.pre) prefetch_rows_for_write(e.pre + off, ti0, ti0 + nrows, a.out_sh, ncols);
            }
          if (g == 0)
            block<true>(xs, ldb, plane, wl, cg, KH, KW, nchunks, part, part);
          else
            block<false>(xs, ldb, plane, wl, cg, KH, KW, nchunks, part, part);
          if (g < groups - 1) continue;
          // one output row after the other, left to right (part is [k][o][ii][v]): each row of the
          // output and of the epilogue's operands is one sequential stream, whatever the strides
          for (int o = 0; o < nout; ++o)
            for (int ii = 0; ii < nrows; ++ii) {
              T* const row = a.out + std::int64_t(n) * a.out_sn + std::int64_t(o0 + o) * a.out_sc +
                             std::int64_t(ti0 + ii) * a.out_sh + j0;
              for (int k = 0; k < nchunks; ++k) {
                const T* const acc = part + ((std::size_t(k) * OB + o) * R + ii) * V;
                T* const dst = row + k * V;
                const int nv = std::min(V, ncols - k * V);
                // through a local copy: GCC cannot tell the output from the scratch apart and
                // would copy element by element
                T v_acc[V];
                MCSC_CONV_NO_UNROLL
                for (int v = 0; v < V; ++v) v_acc[v] = acc[v];
                if (a.epilogue.active) {
                  a.epilogue.template store<V>(dst - a.out, o0 + o, v_acc, nv, dst);
                } else if (nv == V) {
                  if (a.accumulate) {
                    MCSC_CONV_NO_UNROLL
                    for (int v = 0; v < V; ++v) dst[v] += v_acc[v];
                  } else {
                    MCSC_CONV_NO_UNROLL
                    for (int v = 0; v < V; ++v) dst[v] = v_acc[v];
                  }
                } else if (a.accumulate) {
                  for (int v = 0; v < nv; ++v) dst[v] += v_acc[v];
                } else {
                  for (int v = 0; v < nv; ++v) dst[v] = v_acc[v];
                }
              }
            }
        }
      }
    }
  }
};

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

template <class ExecSpace, class T, int OB, int R, int NV, int FKH = 0>
bool run_correlation(const char* label, const CorrelationArgs<T>& a) {
  using Kernel = CorrelationKernel<T, OB, R, NV, FKH>;
  return launch<ExecSpace>(label, Kernel{a, Kernel::make_plan(a, int(ExecSpace().concurrency()))});
}

/// Picks the register block for the number of output channels and the kernel height; false if
/// the shape needs more scratch than kMaxScratchBytes (the caller then uses the generic kernel).
/// (Measured on the 2-core AVX-512 machine of docs/benchmarks.md: with one output channel per
/// broadcast weight GCC folds each input load into its FMA, so blocks of 1-4 output channels
/// with a run-time kernel height are load-bound at about half the FMA rate; 5 or more output
/// channels, or the fixed-height row-reuse loop, reach close to two FMAs per cycle.)
template <class ExecSpace, class T>
bool correlation(const char* label, const CorrelationArgs<T>& a) {
  constexpr int w = kWide ? 2 : 1;  // twice the rows with 32 registers
  constexpr int ob_any = kWide ? 5 : 4;  // output channels per block of the any-height kernel
  const int kh = a.KH;
  // The fixed-height variants (the networks' s = 9, 8, 5) for float only, the networks' type: every
  // variant is a separate instantiation and they dominated the compile time of every translation
  // unit using the convolutions; double takes the any-height kernels (the 1-channel cases at
  // about half the rate).
  const bool fixed = std::is_same<T, float>::value && (kh == 9 || kh == 8 || kh == 5);
  if constexpr (std::is_same<T, float>::value) {
  if (fixed && a.Cout <= 2) {
    if (a.Cout == 1) {
      if (kh == 9) return run_correlation<ExecSpace, T, 1, 8 * w, 1, 9>(label, a);
      if (kh == 8) return run_correlation<ExecSpace, T, 1, 8 * w, 1, 8>(label, a);
      return run_correlation<ExecSpace, T, 1, 8 * w, 1, 5>(label, a);
    }
    if (kh == 9) return run_correlation<ExecSpace, T, 2, 3 * w, 1, 9>(label, a);
    if (kh == 8) return run_correlation<ExecSpace, T, 2, 3 * w, 1, 8>(label, a);
    return run_correlation<ExecSpace, T, 2, 4 * w, 1, 5>(label, a);
  }
  // blocks of 3 output channels of the fixed-height kernel when they waste less than blocks of
  // ob_any of the other (e.g. 3 or 6 output channels; it runs at about 90 % of the other's rate)
  const double use_any = double(a.Cout) / (ob_any * ceil_div(a.Cout, ob_any));
  const double use_three = 0.9 * double(a.Cout) / (3 * ceil_div(a.Cout, 3));
  if (fixed && use_three > use_any) {
    if (kh == 9) return run_correlation<ExecSpace, T, 3, 2 * w, 1, 9>(label, a);
    if (kh == 8) return run_correlation<ExecSpace, T, 3, 2 * w, 1, 8>(label, a);
    return run_correlation<ExecSpace, T, 3, 3 * w, 1, 5>(label, a);
  }
  }
  if (a.Cout == 1) return run_correlation<ExecSpace, T, 1, 8 * w, 1>(label, a);
  if constexpr (kWide) return run_correlation<ExecSpace, T, 5, 5, 1>(label, a);
  return run_correlation<ExecSpace, T, 4, 2, 1>(label, a);
}

// ================================================================== weight gradient

/// gw[o,c,p,q] (+)= sum_{n,i,j} gy[n,o,i,j] * x[n,c,i+p-pt,j+q-pl], zero outside the image.
template <class T>
struct WeightGradArgs {
  const T* x = nullptr;
  std::int64_t x_sn = 0, x_sc = 0, x_sh = 0;
  const T* gy = nullptr;
  std::int64_t gy_sn = 0, gy_sc = 0, gy_sh = 0;
  T* gw = nullptr;
  std::int64_t gw_so = 0, gw_sc = 0, gw_sp = 0;
  int N = 0, C = 0, O = 0, H = 0, W = 0, KH = 0, KW = 0, pt = 0, pl = 0;
  bool accumulate = false;
};

struct WeightGradPlan {
  int V = 0;
  int wr = 0;       // image columns rounded up to whole vectors
  int kwr = 0;      // KW rounded up to whole tap blocks
  int ldx = 0;      // row stride of the staged input
  int strip = 0;    // image rows per strip
  int out_blocks = 0;
  std::size_t x_elems = 0, g_elems = 0, sum_elems = 0;
  std::size_t scratch_bytes = 0;
  std::int64_t league = 0;
};

/// OB output channels x PB tap rows x QB tap columns of vector partial sums per register block.
template <class T, int OB, int PB, int QB>
struct WeightGradKernel {
  static constexpr int V = vector_width<T>;

  WeightGradArgs<T> a;
  WeightGradPlan plan;

  static WeightGradPlan make_plan(const WeightGradArgs<T>& a) {
    WeightGradPlan p;
    p.V = V;
    p.wr = round_up(a.W, V);
    p.kwr = round_up(a.KW, QB);
    p.ldx = round_up(p.wr + p.kwr - 1, 16);
    const std::size_t row_bytes = (std::size_t(p.ldx) + std::size_t(OB) * p.wr) * sizeof(T);
    const int fit = int(kStageBytes / row_bytes) - (a.KH - 1);
    p.strip = std::max(1, std::min(a.H, fit));
    p.out_blocks = ceil_div(a.O, OB);
    p.x_elems = std::size_t(p.strip + a.KH - 1) * p.ldx;
    p.g_elems = std::size_t(OB) * p.strip * p.wr;
    p.sum_elems = std::size_t(OB) * a.KH * p.kwr;
    p.scratch_bytes = scratch_bytes_for<T>(p.x_elems, p.g_elems, p.sum_elems);
    p.league = std::int64_t(p.out_blocks) * a.C;
    return p;
  }

  template <class Member>
  void operator()(const Member& team) const {
    T *xs, *gs, *sums;
    scratch_arrays(team, plan.scratch_bytes, plan.x_elems, plan.g_elems, xs, gs, sums);

    const int c = int(team.league_rank() % a.C);
    const int ob = int(team.league_rank() / a.C);
    const int o0 = ob * OB, nout = std::min(OB, a.O - o0);
    const int KH = a.KH, KW = a.KW, kwr = plan.kwr, ldx = plan.ldx, wr = plan.wr;
    const int nchunks = wr / V;
    const int width = wr + kwr - 1;  // staged columns used

    for (std::size_t e = 0; e < plan.sum_elems; ++e) sums[e] = T(0);

    for (int n = 0; n < a.N; ++n) {
      const T* xn = a.x + std::int64_t(n) * a.x_sn + std::int64_t(c) * a.x_sc;
      for (int i0 = 0; i0 < a.H; i0 += plan.strip) {
        const int nrows = std::min(plan.strip, a.H - i0);
        // ---- stage x rows i0 - pt .. i0 + nrows - 1 + KH - 1 - pt (zero-padded) and gy rows
        for (int r = 0; r < nrows + KH - 1; ++r) {
          const int sr = i0 + r - a.pt;
          stage_row(xs + std::size_t(r) * ldx, sr < 0 || sr >= a.H ? nullptr : xn + std::int64_t(sr) * a.x_sh, width,
                    a.pl, a.W + a.pl, -std::int64_t(a.pl));
        }
        for (int o = 0; o < OB; ++o)
          for (int r = 0; r < nrows; ++r) {
            T* dst = gs + (std::size_t(o) * plan.strip + r) * wr;
            if (o >= nout) {
              for (int u = 0; u < wr; ++u) dst[u] = T(0);
              continue;
            }
            const T* src = a.gy + std::int64_t(n) * a.gy_sn + std::int64_t(o0 + o) * a.gy_sc +
                           std::int64_t(i0 + r) * a.gy_sh;
            for (int u = 0; u < a.W; ++u) dst[u] = src[u];
            for (int u = a.W; u < wr; ++u) dst[u] = T(0);
          }
        // ---- taps in blocks of PB x QB
        for (int p0 = 0; p0 < KH; p0 += PB) {
          const int np = std::min(PB, KH - p0);
          for (int q0 = 0; q0 < kwr; q0 += QB) {
            T acc[OB][PB][QB][V];
            MCSC_CONV_UNROLL
            for (int o = 0; o < OB; ++o)
              MCSC_CONV_UNROLL
              for (int pp = 0; pp < PB; ++pp)
                MCSC_CONV_UNROLL
                for (int qq = 0; qq < QB; ++qq)
                  for (int v = 0; v < V; ++v) acc[o][pp][qq][v] = T(0);
            for (int r = 0; r < nrows; ++r) {
              const T* xr = xs + std::size_t(r + p0) * ldx + q0;
              const T* gr = gs + std::size_t(r) * wr;
              for (int k = 0; k < nchunks; ++k) {
                const T* xk = xr + k * V;
                const T* gk = gr + k * V;
                MCSC_CONV_UNROLL
                for (int pp = 0; pp < PB; ++pp) {
                  if (pp < np) {
                    MCSC_CONV_UNROLL
                    for (int qq = 0; qq < QB; ++qq)
                      MCSC_CONV_UNROLL
                      for (int o = 0; o < OB; ++o)
                        MCSC_CONV_NO_UNROLL
                        for (int v = 0; v < V; ++v)
                          acc[o][pp][qq][v] +=
                              gk[std::size_t(o) * plan.strip * wr + v] * xk[std::size_t(pp) * ldx + qq + v];
                  }
                }
              }
            }
            for (int o = 0; o < OB; ++o)
              for (int pp = 0; pp < np; ++pp)
                for (int qq = 0; qq < QB; ++qq) {
                  T s = T(0);
                  for (int v = 0; v < V; ++v) s += acc[o][pp][qq][v];
                  sums[(std::size_t(o) * KH + p0 + pp) * kwr + q0 + qq] += s;
                }
          }
        }
      }
    }
    for (int o = 0; o < nout; ++o)
      for (int p = 0; p < KH; ++p) {
        T* dst = a.gw + std::int64_t(o0 + o) * a.gw_so + std::int64_t(c) * a.gw_sc + std::int64_t(p) * a.gw_sp;
        const T* s = sums + (std::size_t(o) * KH + p) * kwr;
        if (a.accumulate)
          for (int q = 0; q < KW; ++q) dst[q] += s[q];
        else
          for (int q = 0; q < KW; ++q) dst[q] = s[q];
      }
  }
};

/// The weight gradient for a fixed kernel height FKH, one (o, c) pair per team: for each tap
/// column q the FKH partial sums of gw[o, c, :, q] stay in registers while R gradient rows are
/// held in registers too, and every staged input row, loaded once, meets all the gradient rows it
/// pairs with (input row t with gradient row ii is tap p = t - ii). One output channel per team,
/// so the input is staged once per (o, c); the input loads are shared by up to min(R, FKH) FMAs.
template <class T, int FKH, int R>
struct WeightGradRowKernel {
  static constexpr int V = vector_width<T>;

  WeightGradArgs<T> a;
  WeightGradPlan plan;

  static WeightGradPlan make_plan(const WeightGradArgs<T>& a) {
    WeightGradPlan p;
    p.V = V;
    p.wr = round_up(a.W, V);
    p.kwr = a.KW;
    p.ldx = round_up(p.wr + a.KW - 1, 16);
    const std::size_t row_bytes = (std::size_t(p.ldx) + p.wr) * sizeof(T);
    const int fit = int(kStageBytes / row_bytes) - (FKH - 1);
    p.strip = std::max(R, std::min(round_up(a.H, R), fit / R * R));  // whole register blocks of rows
    p.out_blocks = a.O;
    p.x_elems = std::size_t(p.strip + FKH - 1) * p.ldx;
    p.g_elems = std::size_t(p.strip) * p.wr;
    p.sum_elems = std::size_t(FKH) * a.KW;
    p.scratch_bytes = scratch_bytes_for<T>(p.x_elems, p.g_elems, p.sum_elems);
    p.league = std::int64_t(a.O) * a.C;
    return p;
  }

  /// sums[p] += sum over the nblocks blocks of R gradient rows (row stride ld_g) and the chunks
  /// of gs[row] * xs[row + p] shifted by q columns, for p < FKH.
  MCSC_CONV_NOINLINE static void taps(const T* xs, int ldx, const T* gs, int ld_g, int nblocks, int nchunks, int q,
                                      T* sums) {
    T acc[FKH][V];
    MCSC_CONV_UNROLL
    for (int p = 0; p < FKH; ++p)
      for (int v = 0; v < V; ++v) acc[p][v] = T(0);
    for (int b = 0; b < nblocks; ++b)
      for (int k = 0; k < nchunks; ++k) {
        const T* gb = gs + std::size_t(b) * R * ld_g + std::size_t(k) * V;
        const T* xb = xs + std::size_t(b) * R * ldx + std::size_t(k) * V + q;
        T g[R][V];
        MCSC_CONV_UNROLL
        for (int ii = 0; ii < R; ++ii)
          MCSC_CONV_NO_UNROLL
          for (int v = 0; v < V; ++v) g[ii][v] = gb[std::size_t(ii) * ld_g + v];
        MCSC_CONV_UNROLL
        for (int t = 0; t < R + FKH - 1; ++t) {
          T xv[V];
          MCSC_CONV_NO_UNROLL
          for (int v = 0; v < V; ++v) xv[v] = xb[std::size_t(t) * ldx + v];
          MCSC_CONV_UNROLL
          for (int ii = 0; ii < R; ++ii)
            if (t - ii >= 0 && t - ii < FKH) {
              MCSC_CONV_NO_UNROLL
              for (int v = 0; v < V; ++v) acc[t - ii][v] += g[ii][v] * xv[v];
            }
        }
      }
    MCSC_CONV_UNROLL
    for (int p = 0; p < FKH; ++p) {
      T s = T(0);
      for (int v = 0; v < V; ++v) s += acc[p][v];
      sums[p] += s;
    }
  }

  template <class Member>
  void operator()(const Member& team) const {
    T *xs, *gs, *sums;  // sums: [q][p]
    scratch_arrays(team, plan.scratch_bytes, plan.x_elems, plan.g_elems, xs, gs, sums);

    const int c = int(team.league_rank() % a.C);
    const int o = int(team.league_rank() / a.C);
    const int KW = a.KW, ldx = plan.ldx, wr = plan.wr;
    const int nchunks = wr / V;
    const int width = wr + KW - 1;  // staged columns used

    for (std::size_t e = 0; e < plan.sum_elems; ++e) sums[e] = T(0);

    for (int n = 0; n < a.N; ++n) {
      const T* xn = a.x + std::int64_t(n) * a.x_sn + std::int64_t(c) * a.x_sc;
      const T* gn = a.gy + std::int64_t(n) * a.gy_sn + std::int64_t(o) * a.gy_sc;
      for (int i0 = 0; i0 < a.H; i0 += plan.strip) {
        const int nrows = std::min(plan.strip, a.H - i0);
        const int nblocks = ceil_div(nrows, R);
        // ---- stage x rows i0 - pt .. (zero outside the image) and gy rows (zero past the image)
        for (int r = 0; r < nblocks * R + FKH - 1; ++r) {
          const int sr = i0 + r - a.pt;
          stage_row(xs + std::size_t(r) * ldx, sr < 0 || sr >= a.H ? nullptr : xn + std::int64_t(sr) * a.x_sh, width,
                    a.pl, a.W + a.pl, -std::int64_t(a.pl));
        }
        // gy rows: read in place when the strip is whole blocks of rows and vectors (the usual
        // case), else staged with zeros past the image
        const bool in_place = a.W % V == 0 && nrows % R == 0 && a.gy_sh <= std::int64_t(1) << 30;
        const T* const g_rows = in_place ? gn + std::int64_t(i0) * a.gy_sh : gs;
        const int g_ld = in_place ? int(a.gy_sh) : wr;
        for (int r = 0; r < nblocks * R && !in_place; ++r) {
          T* dst = gs + std::size_t(r) * wr;
          if (r >= nrows) {
            for (int u = 0; u < wr; ++u) dst[u] = T(0);
            continue;
          }
          const T* src = gn + std::int64_t(i0 + r) * a.gy_sh;
          for (int u = 0; u < a.W; ++u) dst[u] = src[u];
          for (int u = a.W; u < wr; ++u) dst[u] = T(0);
        }
        // the next strip's (or image's) rows load while this one is computed
        if (i0 + plan.strip < a.H) {
          prefetch_rows(xn, std::max(0, i0 + plan.strip - a.pt), std::min(a.H, i0 + 2 * plan.strip + FKH - 1 - a.pt),
                        a.x_sh, a.W);
          prefetch_rows(gn, i0 + plan.strip, std::min(a.H, i0 + 2 * plan.strip), a.gy_sh, a.W);
        } else if (n + 1 < a.N) {
          prefetch_rows(xn + a.x_sn, 0, std::min(a.H, plan.strip + FKH - 1), a.x_sh, a.W);
          prefetch_rows(gn + a.gy_sn, 0, std::min(a.H, plan.strip), a.gy_sh, a.W);
        }
        for (int q = 0; q < KW; ++q) taps(xs, ldx, g_rows, g_ld, nblocks, nchunks, q, sums + std::size_t(q) * FKH);
      }
    }
    for (int p = 0; p < FKH; ++p) {
      T* dst = a.gw + std::int64_t(o) * a.gw_so + std::int64_t(c) * a.gw_sc + std::int64_t(p) * a.gw_sp;
      if (a.accumulate)
        for (int q = 0; q < KW; ++q) dst[q] += sums[std::size_t(q) * FKH + p];
      else
        for (int q = 0; q < KW; ++q) dst[q] = sums[std::size_t(q) * FKH + p];
    }
  }
};

template <class ExecSpace, class T, int FKH, int R>
bool run_weight_grad_rows(const char* label, const WeightGradArgs<T>& a) {
  using Kernel = WeightGradRowKernel<T, FKH, R>;
  return launch<ExecSpace>(label, Kernel{a, Kernel::make_plan(a)});
}

template <class ExecSpace, class T, int OB, int PB, int QB>
bool run_weight_grad(const char* label, const WeightGradArgs<T>& a) {
  using Kernel = WeightGradKernel<T, OB, PB, QB>;
  return launch<ExecSpace>(label, Kernel{a, Kernel::make_plan(a)});
}

/// Picks the kernel: the row-reuse kernel for the networks' kernel heights 5, 8 and 9, else the
/// generic tap-block kernel (blocks of 4 tap columns, padded).
template <class ExecSpace, class T>
bool weight_grad(const char* label, const WeightGradArgs<T>& a) {
  constexpr int w = kWide ? 2 : 1;  // twice the rows with 32 registers
  if constexpr (std::is_same<T, float>::value) {  // float only: see correlation()
    switch (a.KH) {
      case 9: return run_weight_grad_rows<ExecSpace, T, 9, 8 * w>(label, a);
      case 8: return run_weight_grad_rows<ExecSpace, T, 8, 8 * w>(label, a);
      case 5: return run_weight_grad_rows<ExecSpace, T, 5, 8 * w>(label, a);
      default: break;
    }
  }
  if (a.O == 1) return run_weight_grad<ExecSpace, T, 1, 2 * w, 4>(label, a);
  return run_weight_grad<ExecSpace, T, 2 * w, 1, 4>(label, a);
}

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
