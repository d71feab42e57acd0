#pragma once
/// \file blocked/weight_grad.hpp
/// The weight-gradient kernels of the blocked host convolutions (ops/conv2d_blocked.hpp describes
/// the design): one team per gradient entry block, in a fixed order, and the choice of kernel per
/// shape (weight_grad()). Include ops/conv2d.hpp, not this detail header.
#include "mcsc/ops/blocked/common.hpp"

namespace mcsc {
namespace Impl {
namespace blocked {

// ================================================================== weight gradient

/// gw[o,c,p,q] (+)= sum_{n,i,j} gy[n,o,i,j] * x[n,c,i+p-pt,j+q-pl], x zero outside the image (or,
/// circular, read periodically: rows mod H, columns mod W).
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
  bool circular = false;
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
        // ---- stage x rows i0 - pt .. i0 + nrows - 1 + KH - 1 - pt (zero-padded or wrapped) and gy rows
        for (int r = 0; r < nrows + KH - 1; ++r) {
          const int sr = i0 + r - a.pt;
          stage_image_row(xs + std::size_t(r) * ldx, xn, a.x_sh, sr, a.H, a.W, width, -std::int64_t(a.pl), a.circular);
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
        // ---- stage x rows i0 - pt .. (zero or wrapped outside the image) and gy rows (zero past the image)
        for (int r = 0; r < nblocks * R + FKH - 1; ++r) {
          const int sr = i0 + r - a.pt;
          stage_image_row(xs + std::size_t(r) * ldx, xn, a.x_sh, sr, a.H, a.W, width, -std::int64_t(a.pl), a.circular);
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

}  // namespace blocked
}  // namespace Impl
}  // namespace mcsc
