#pragma once
/// \file blocked/correlation.hpp
/// The correlation kernel of the blocked host convolutions (ops/conv2d_blocked.hpp describes the
/// design): forward and adjoint, with the fused prox epilogue of conv2d_prox, and the choice of
/// register block per shape (correlation()). Include ops/conv2d.hpp, not this detail header.
#include "mcsc/ops/blocked/common.hpp"

namespace mcsc {
namespace Impl {
namespace blocked {

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
/// outside the image (or, circular, in read periodically: rows mod H, columns mod W), with
/// wt(o,c,p,q) = w[w0 + o*wso + c*wsc + p*wsp + q*wsq]; or, with an active epilogue, out = the
/// epilogue's step of that sum (accumulate is then ignored).
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
  bool circular = false;
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
        // ---- stage the zero-padded (circular: wrapped) input rows (once, if one group holds
        // every channel): staged row r, column u is image row i0 + r - pt, column j0 + u - pl
        if (groups > 1 || ob == ob_begin) {
          for (int c = 0; c < cg; ++c) {
            const T* src_c = a.in + std::int64_t(n) * a.in_sn + std::int64_t(c0 + c) * a.in_sc;
            for (int r = 0; r < rows; ++r) {
              const int sr = i0 + r - a.pt;
              stage_image_row(stage + std::size_t(c) * plane + std::size_t(r) * ldb, src_c, a.in_sh, sr, a.H, a.W,
                              width, std::int64_t(j0) - a.pl, a.circular);
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

}  // namespace blocked
}  // namespace Impl
}  // namespace mcsc
