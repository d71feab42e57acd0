#pragma once
/// \file conv2d_team.hpp
/// Team-scratch direct convolution kernels for any execution space: the kernels conv2d,
/// conv2d_adjoint and conv2d_weight_grad (conv2d.hpp) use on device spaces (CUDA) with
/// Boundary::zero, and on any space with Conv2dOptions::kernel = ConvKernel::team (so that the
/// host test suite checks them against the reference kernels on every shape).
///
/// Their shape is the one of cuDNN's direct kernels and kokkos-kernels' team kernels:
///
/// * Forward and adjoint share one correlation kernel (the adjoint reads the transposed, flipped
///   weight through strides, as the blocked host kernels do, conv2d_blocked.hpp):
///       out[n,o,i,j] (+)= sum_{c,p,q} wt(o,c,p,q) * in[n, c, i + p - pt, j + q - pl]
///   One team computes a tile of kTileRows x kTileCols output pixels of one image for a block of
///   kOutBlock output channels. For each group of input channels it stages, cooperatively (the
///   threads of a team read consecutive columns: coalesced), the zero-padded input halo of the
///   tile and the block's weights into team scratch; then each thread takes pixels of the tile
///   and updates kOutBlock accumulators per pixel from scratch. Every output is written by
///   exactly one thread: no atomics. The partial sums of a pixel wait in scratch between channel
///   groups; each output is summed over channel groups, channels, then taps, in an order that
///   depends only on the shape, so the result is the same run to run and for any team size.
///
/// * The weight gradient gw[o,c,p,q] = sum_{n,i,j} gy[n,o,i,j] x[n,c,i+p-pt,j+q-pl], reduced
///   in two deterministic levels (no atomics): the N x H x W pixels are cut into chunks of
///   kGradRows x kGradCols pixels of one image; a team takes one (o, c) pair and a fixed,
///   strided subset of the chunks (one of `groups`), stages each chunk's zero-padded input and
///   gradient into scratch and has each thread sum the taps it owns over the chunk, in a fixed
///   order; then one kernel sums the `groups` partial results of every weight in order.
///
/// The reference kernels (conv2d_reference & co.) stay the definition these are tested against
/// (tests/test_conv2d.cpp, "[team]"). Boundary::circular, mixed scalar types and shapes whose
/// tile would not fit kScratchBytes of team scratch use the reference kernels.
#include <algorithm>
#include <cstdint>

#include <Kokkos_Core.hpp>

namespace mcsc {
namespace Impl {
namespace team {

inline constexpr int kTileRows = 8;
inline constexpr int kTileCols = 32;
inline constexpr int kOutBlock = 8;
inline constexpr int kGradRows = 8;
inline constexpr int kGradCols = 32;
inline constexpr int kGradGroups = 32;  ///< partial sums per weight at most (the first reduction level)
/// Team scratch per team: fits CUDA's default 48 KiB of shared memory per block with room left.
inline constexpr std::size_t kScratchBytes = 32 * 1024;

/// Threads per team on host spaces: 0 (the default) lets Kokkos choose (one thread per team on
/// OpenMP); a positive value asks for that many, at most the space's concurrency. The tests set
/// it to run the kernels' cooperative staging, barriers and thread-to-work mapping with several
/// threads per team on the host.
inline int& host_team_size() {
  static int size = 0;
  return size;
}

/// Threads per team: on host execution spaces Kokkos' choice (or host_team_size()), on devices
/// one per pixel of a tile (device_team_size).
template <class ExecSpace>
Kokkos::TeamPolicy<ExecSpace> team_policy(std::int64_t league, int device_team_size) {
  if constexpr (Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible) {
    (void)device_team_size;
    const int wanted = std::min(host_team_size(), ExecSpace().concurrency());
    if (wanted > 0) return Kokkos::TeamPolicy<ExecSpace>(int(league), wanted);
    return Kokkos::TeamPolicy<ExecSpace>(int(league), Kokkos::AUTO);
  } else {
    return Kokkos::TeamPolicy<ExecSpace>(int(league), device_team_size);
  }
}

/// Kokkos' league sizes are int: larger launches are left to the reference kernels.
inline bool league_fits(std::int64_t league) { return league <= std::int64_t(2147483647); }

/// The correlation described in the file comment, with the operands as raw pointers and strides
/// (unit stride along columns). Returns false (nothing done) when the tile does not fit.
template <class ExecSpace, class T>
bool correlation(const char* label, const T* in, std::int64_t in_sn, std::int64_t in_sc, std::int64_t in_sh, T* out,
                 std::int64_t out_sn, std::int64_t out_sc, std::int64_t out_sh, const T* w, std::int64_t w0,
                 std::int64_t wso, std::int64_t wsc, std::int64_t wsp, std::int64_t wsq, int N, int Cin, int Cout,
                 int H, int W, int KH, int KW, int pt, int pl, bool accumulate) {
  using scratch_view = Kokkos::View<T*, typename ExecSpace::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  constexpr int TH = kTileRows, TW = kTileCols, OB = kOutBlock, pixels = TH * TW;
  const int hh = TH + KH - 1, ww = TW + KW - 1;
  const std::size_t per_channel = std::size_t(hh) * ww + std::size_t(OB) * KH * KW;
  const std::size_t budget = kScratchBytes / sizeof(T);
  const std::size_t acc_elems = std::size_t(pixels) * OB;
  if (acc_elems + per_channel > budget) return false;
  const int group = int(std::min<std::size_t>(std::size_t(Cin), (budget - acc_elems) / per_channel));
  const std::size_t stage_elems = std::size_t(group) * hh * ww, weight_elems = std::size_t(group) * OB * KH * KW;
  const std::size_t total = acc_elems + stage_elems + weight_elems;
  const int tiles_h = (H + TH - 1) / TH, tiles_w = (W + TW - 1) / TW, blocks = (Cout + OB - 1) / OB;
  const std::int64_t league = std::int64_t(N) * blocks * tiles_h * tiles_w;
  if (league == 0) return true;
  if (!league_fits(league)) return false;
  auto policy = team_policy<ExecSpace>(league, pixels)
                    .set_scratch_size(0, Kokkos::PerTeam(scratch_view::shmem_size(total)));
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  Kokkos::parallel_for(
      label, policy, KOKKOS_LAMBDA(const member_type& team) {
        std::int64_t r = team.league_rank();
        const int tj = int(r % tiles_w);
        r /= tiles_w;
        const int ti = int(r % tiles_h);
        r /= tiles_h;
        const int ob = int(r % blocks);
        const int n = int(r / blocks);
        const int i0 = ti * TH, j0 = tj * TW, o0 = ob * OB;
        scratch_view buf(team.team_scratch(0), total);
        T* acc = buf.data();
        T* stage = acc + acc_elems;
        T* wt = stage + stage_elems;
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, int(acc_elems)), [&](const int k) { acc[k] = T(0); });
        for (int c0 = 0; c0 < Cin; c0 += group) {
          const int cg = Cin - c0 < group ? Cin - c0 : group;
          team.team_barrier();  // the previous group's reads are done
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, cg * hh * ww), [&](const int k) {
            const int c = k / (hh * ww), rr = (k / ww) % hh, cc = k % ww;
            const int y = i0 + rr - pt, x = j0 + cc - pl;
            stage[k] = (y >= 0 && y < H && x >= 0 && x < W)
                           ? in[std::int64_t(n) * in_sn + std::int64_t(c0 + c) * in_sc + std::int64_t(y) * in_sh + x]
                           : T(0);
          });
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, OB * cg * KH * KW), [&](const int k) {
            const int q = k % KW, p = (k / KW) % KH, c = (k / (KW * KH)) % cg, o = k / (KW * KH * cg);
            wt[k] = o0 + o < Cout ? w[w0 + std::int64_t(o0 + o) * wso + std::int64_t(c0 + c) * wsc +
                                      std::int64_t(p) * wsp + std::int64_t(q) * wsq]
                                  : T(0);
          });
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, pixels), [&](const int k) {
            const int ii = k / TW, jj = k % TW;
            T a[OB];
            for (int o = 0; o < OB; ++o) a[o] = acc[k * OB + o];
            for (int c = 0; c < cg; ++c)
              for (int p = 0; p < KH; ++p) {
                const T* srow = stage + (std::int64_t(c) * hh + ii + p) * ww + jj;
                const T* wrow = wt + (std::int64_t(c) * KH + p) * KW;
                for (int q = 0; q < KW; ++q) {
                  const T v = srow[q];
                  for (int o = 0; o < OB; ++o) a[o] += wrow[std::int64_t(o) * cg * KH * KW + q] * v;
                }
              }
            for (int o = 0; o < OB; ++o) acc[k * OB + o] = a[o];
          });
        }
        team.team_barrier();
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, pixels * OB), [&](const int k) {
          // o-major: consecutive threads write consecutive columns of one channel
          const int o = k / pixels, pix = k % pixels, ii = pix / TW, jj = pix % TW;
          const int i = i0 + ii, j = j0 + jj;
          if (o0 + o >= Cout || i >= H || j >= W) return;
          T& dst = out[std::int64_t(n) * out_sn + std::int64_t(o0 + o) * out_sc + std::int64_t(i) * out_sh + j];
          const T v = acc[pix * OB + o];
          dst = accumulate ? dst + v : v;
        });
      });
  return true;
}

/// The weight gradient described in the file comment (gw with unit stride along q).
template <class ExecSpace, class T>
bool weight_grad(const char* label, const T* x, std::int64_t x_sn, std::int64_t x_sc, std::int64_t x_sh, const T* gy,
                 std::int64_t gy_sn, std::int64_t gy_sc, std::int64_t gy_sh, T* gw, std::int64_t gw_so,
                 std::int64_t gw_sc, std::int64_t gw_sp, int N, int C, int O, int H, int W, int KH, int KW, int pt,
                 int pl, bool accumulate, Kokkos::View<T*, typename ExecSpace::memory_space>* cache = nullptr) {
  using scratch_view = Kokkos::View<T*, typename ExecSpace::scratch_memory_space, Kokkos::MemoryUnmanaged>;
  constexpr int RB = kGradRows, CB = kGradCols;
  const int hh = RB + KH - 1, ww = CB + KW - 1, taps = KH * KW;
  const std::size_t x_elems = std::size_t(hh) * ww, g_elems = std::size_t(RB) * CB;
  if ((x_elems + g_elems) * sizeof(T) > kScratchBytes) return false;
  const int rows = (H + RB - 1) / RB, cols = (W + CB - 1) / CB;
  const std::int64_t chunks = std::int64_t(N) * rows * cols;
  const std::int64_t weights = std::int64_t(O) * C * taps;
  if (weights == 0) return true;
  const int groups = int(std::min<std::int64_t>(std::max<std::int64_t>(chunks, 1), kGradGroups));
  if (!league_fits(std::int64_t(groups) * O * C)) return false;
  // The partial sums (every slot is written before it is read): the caller's buffer when it is
  // large enough, else a new one, which the caller keeps for the next call.
  const std::size_t partial_size = std::size_t(groups) * std::size_t(weights);
  Kokkos::View<T*, typename ExecSpace::memory_space> partial;
  if (cache && cache->extent(0) >= partial_size) {
    partial = *cache;
  } else {
    partial = Kokkos::View<T*, typename ExecSpace::memory_space>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, "mcsc::conv2d_weight_grad::partial"), partial_size);
    if (cache) *cache = partial;
  }
  auto policy = team_policy<ExecSpace>(std::int64_t(groups) * O * C, 128)
                    .set_scratch_size(0, Kokkos::PerTeam(scratch_view::shmem_size(x_elems + g_elems)));
  using member_type = typename Kokkos::TeamPolicy<ExecSpace>::member_type;
  Kokkos::parallel_for(
      label, policy, KOKKOS_LAMBDA(const member_type& team) {
        const std::int64_t r = team.league_rank();
        const int c = int(r % C), o = int((r / C) % O), g = int(r / (std::int64_t(C) * O));
        scratch_view buf(team.team_scratch(0), x_elems + g_elems);
        T* xs = buf.data();
        T* gs = xs + x_elems;
        // Slot g of this (o, c) pair's taps is this team's alone; each tap is owned by one thread
        // (the same one for every chunk), which adds one chunk's sum per step, in chunk order.
        Kokkos::parallel_for(Kokkos::TeamThreadRange(team, taps), [&](const int t) {
          partial[std::int64_t(g) * weights + (std::int64_t(o) * C + c) * taps + t] = T(0);
        });
        for (std::int64_t ch = g; ch < chunks; ch += groups) {
          const int cj = int(ch % cols), ri = int((ch / cols) % rows), n = int(ch / (std::int64_t(cols) * rows));
          const int i0 = ri * RB, j0 = cj * CB;
          team.team_barrier();  // the previous chunk's reads are done
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, int(x_elems)), [&](const int k) {
            const int y = i0 + k / ww - pt, xx = j0 + k % ww - pl;
            xs[k] = (y >= 0 && y < H && xx >= 0 && xx < W)
                        ? x[std::int64_t(n) * x_sn + std::int64_t(c) * x_sc + std::int64_t(y) * x_sh + xx]
                        : T(0);
          });
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, int(g_elems)), [&](const int k) {
            const int i = i0 + k / CB, j = j0 + k % CB;
            gs[k] = (i < H && j < W)
                        ? gy[std::int64_t(n) * gy_sn + std::int64_t(o) * gy_sc + std::int64_t(i) * gy_sh + j]
                        : T(0);
          });
          team.team_barrier();
          Kokkos::parallel_for(Kokkos::TeamThreadRange(team, taps), [&](const int t) {
            const int p = t / KW, q = t % KW;
            T s = T(0);
            for (int ii = 0; ii < RB; ++ii) {
              const T* grow = gs + ii * CB;
              const T* xrow = xs + (ii + p) * ww + q;
              for (int jj = 0; jj < CB; ++jj) s += grow[jj] * xrow[jj];
            }
            partial[std::int64_t(g) * weights + (std::int64_t(o) * C + c) * taps + t] += s;
          });
        }
      });
  Kokkos::parallel_for(
      "mcsc::conv2d_weight_grad::sum_partials", Kokkos::RangePolicy<ExecSpace>(0, weights),
      KOKKOS_LAMBDA(const std::int64_t k) {
        T s = T(0);
        for (int g = 0; g < groups; ++g) s += partial[std::int64_t(g) * weights + k];
        const int t = int(k % taps), c = int((k / taps) % C), o = int(k / (std::int64_t(taps) * C));
        T& dst = gw[std::int64_t(o) * gw_so + std::int64_t(c) * gw_sc + std::int64_t(t / KW) * gw_sp + t % KW];
        dst = accumulate ? dst + s : s;
      });
  return true;
}

}  // namespace team
}  // namespace Impl
}  // namespace mcsc
