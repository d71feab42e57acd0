#!/usr/bin/env python3
"""Draws docs/performance.md's figure from the JSON files of one run (standard library only).

    plot_performance.py COMPARE_TORCH.json SCALING.json OUT.svg

Three panels: (1) time per workload, mcsc beside PyTorch (compare_torch.py's medians, log
scale); (2) each side's GFLOP/s as a fraction of the same-run Eigen SGEMM rate; (3) CU-Net
official inference time per pixel against image side (bench_networks --scaling).
"""
import json
import math
import sys


def bar_panel(x0, y0, w, h, title, rows, keys, colors, log=False, unit=""):
    out = [f'<text x="{x0}" y="{y0 - 8}" font-size="13" font-weight="bold">{title}</text>']
    vmax = max(r[k] for r in rows for k in keys)
    vmin = min(r[k] for r in rows for k in keys)
    lo = math.floor(math.log10(vmin)) if log else 0.0
    hi = math.ceil(math.log10(vmax)) if log else vmax * 1.1

    def scale(v):
        if log:
            return (math.log10(v) - lo) / (hi - lo) * w
        return v / hi * w

    band = h / len(rows)
    bar = band * 0.8 / len(keys)
    for i, r in enumerate(rows):
        y = y0 + i * band
        out.append(f'<text x="{x0 - 6}" y="{y + band / 2 + 4:.1f}" font-size="11" text-anchor="end">{r["label"]}</text>')
        for j, k in enumerate(keys):
            bw = max(scale(r[k]), 1)
            by = y + band * 0.1 + j * bar
            out.append(f'<rect x="{x0}" y="{by:.1f}" width="{bw:.1f}" height="{bar:.1f}" fill="{colors[j]}"/>')
            out.append(f'<text x="{x0 + bw + 3:.1f}" y="{by + bar - 2:.1f}" font-size="9">{r[k]:.3g}{unit}</text>')
    ticks = [10 ** e for e in range(int(lo), int(hi) + 1)] if log else [hi * t / 4 for t in range(5)]
    for t in ticks:
        tx = x0 + scale(t)
        out.append(f'<line x1="{tx:.1f}" y1="{y0}" x2="{tx:.1f}" y2="{y0 + h}" stroke="#ccc" stroke-width="0.5"/>')
        out.append(f'<text x="{tx:.1f}" y="{y0 + h + 12}" font-size="9" text-anchor="middle">{t:.3g}</text>')
    return out


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    compare = json.load(open(sys.argv[1]))
    scaling = json.load(open(sys.argv[2]))
    rows = [{"label": r["workload"], "mcsc": r["mcsc_ms"], "torch": r["torch_ms"],
             "mcsc_g": r["mcsc_ratio_to_gemm"], "torch_g": r["torch_ratio_to_gemm"]} for r in compare["rows"]]
    sides = [r for r in scaling["results"] if r["workload"].startswith("scaling/side")]
    colors = ["#1f77b4", "#ff7f0e"]
    W, H = 1100, 560
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="10" y="18" font-size="12">mcsc (blue) and PyTorch (orange), {compare["threads"]} threads; '
           f'{compare["started"]}; SGEMM {compare["mcsc_gemm_gflops"]:.0f} GFLOP/s</text>']
    svg += bar_panel(170, 50, 300, 420, "time per call, ms (log scale)", rows, ["mcsc", "torch"], colors, log=True)
    svg += bar_panel(680, 50, 250, 420, "GFLOP/s / same-run SGEMM", rows, ["mcsc_g", "torch_g"], colors)
    # Scaling panel: time per pixel against side, log2 x axis.
    x0, y0, w, h = 170, 500, 0, 0  # placed below as a compact line
    if sides:
        px = [(r["shape"][2], r["seconds_per_pixel"] * 1e6) for r in sides]
        svg.append(f'<text x="{x0}" y="{y0}" font-size="12">CU-Net official inference, microseconds per pixel by side: '
                   + ", ".join(f"{s}: {v:.2f}" for s, v in px) + "</text>")
        vmax = max(v for _, v in px) * 1.2
        lx0, ly0, lw, lh = 980, 60, 100, 120
        pts = []
        for i, (s, v) in enumerate(px):
            x = lx0 + i / max(len(px) - 1, 1) * lw
            y = ly0 + lh - v / vmax * lh
            pts.append(f"{x:.1f},{y:.1f}")
            svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colors[0]}"/>')
            svg.append(f'<text x="{x:.1f}" y="{ly0 + lh + 12}" font-size="8" text-anchor="middle">{s}</text>')
        svg.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{colors[0]}"/>')
        svg.append(f'<line x1="{lx0}" y1="{ly0 + lh}" x2="{lx0 + lw}" y2="{ly0 + lh}" stroke="#888"/>')
        svg.append(f'<text x="{lx0}" y="{ly0 - 8}" font-size="11" font-weight="bold">us/pixel vs side</text>')
        svg.append(f'<text x="{lx0 - 4}" y="{ly0 + 4}" font-size="8" text-anchor="end">{vmax:.1f}</text>')
        svg.append(f'<text x="{lx0 - 4}" y="{ly0 + lh}" font-size="8" text-anchor="end">0</text>')
    svg.append("</svg>")
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {sys.argv[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
