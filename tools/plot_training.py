#!/usr/bin/env python3
"""Draws training curves from the trainer's CSV logs as one SVG (standard library only).

    plot_training.py OUT.svg LABEL=train_log.csv[@SECONDS] [LABEL=train_log.csv[@SECONDS] ...]

@SECONDS starts that curve later (work done before the first epoch, e.g. the classical
dictionary learning of --init-classical).

Two panels against wall time (minutes, the epochs' cumulative `seconds`): the epoch's training
loss (log scale) and the validation PSNR; epochs with a rollback event are circled, the best
validation epoch is filled.
"""
import csv
import math
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
LEGEND_COLUMNS = 3


def read_log(spec):
    path, start = spec, 0.0
    head, _, offset = spec.rpartition("@")
    if head:
        try:  # a trailing @SECONDS; an '@' followed by anything else is part of the path
            start, path = float(offset), head
        except ValueError:
            pass
    rows = []
    with open(path, newline="") as f:
        t = start
        for r in csv.DictReader(f):
            t += float(r["seconds"])
            rows.append({"minutes": t / 60, "loss": float(r["train_loss"]), "psnr": float(r["validation_psnr"]),
                         "best": r.get("best", "0") == "1", "event": r.get("event", "")})
    if not rows:
        raise SystemExit("plot_training: %s has no epochs" % path)
    return rows


def panel(x0, y0, w, h, title, series, key, log):
    out = ['<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>' % (x0, y0 - 8, title)]
    values = [r[key] for _, rows in series for r in rows if r[key] > 0 or not log]
    tmax = max(r["minutes"] for _, rows in series for r in rows)
    lo, hi = min(values), max(values)
    if log:
        lo, hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        fy = lambda v: y0 + h - (math.log10(v) - lo) / max(hi - lo, 1e-9) * h
        ticks = [10 ** e for e in range(int(lo), int(hi) + 1)]
    else:
        pad = max((hi - lo) * 0.08, 0.05)
        lo, hi = lo - pad, hi + pad
        fy = lambda v: y0 + h - (v - lo) / (hi - lo) * h
        ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
    fx = lambda m: x0 + m / tmax * w
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (x0, y0, w, h))
    for t in ticks:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (x0, fy(t), x0 + w, fy(t)))
        out.append('<text x="%d" y="%.1f" font-size="9" text-anchor="end">%.3g</text>' % (x0 - 4, fy(t) + 3, t))
    for k in range(5):
        m = tmax * k / 4
        out.append('<text x="%.1f" y="%d" font-size="9" text-anchor="middle">%.0f</text>' % (fx(m), y0 + h + 12, m))
    out.append('<text x="%d" y="%d" font-size="10" text-anchor="middle">minutes</text>' % (x0 + w / 2, y0 + h + 26))
    for i, (label, rows) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        pts = [(fx(r["minutes"]), fy(r[key])) for r in rows if r[key] > 0 or not log]
        out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (
            c, " ".join("%.1f,%.1f" % p for p in pts)))
        for r in rows:
            if log and r[key] <= 0:
                continue
            x, y = fx(r["minutes"]), fy(r[key])
            if r["event"]:
                out.append('<circle cx="%.1f" cy="%.1f" r="6" fill="none" stroke="black"/>' % (x, y))
            if key == "psnr" and r["best"]:
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (x, y, c))
    return out


def main():
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        print(__doc__, file=sys.stderr)
        return 2
    series = [(a.split("=", 1)[0], read_log(a.split("=", 1)[1])) for a in sys.argv[2:]]
    rows = (len(series) + LEGEND_COLUMNS - 1) // LEGEND_COLUMNS
    W, H = 960, 380 + 16 * rows
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="%d" height="%d" fill="white"/>' % (W, H)]
    svg += panel(70, 40, 360, 270, "training loss (MSE, log scale)", series, "loss", True)
    svg += panel(560, 40, 360, 270, "validation PSNR (dB)", series, "psnr", False)
    for i, (label, _) in enumerate(series):  # LEGEND_COLUMNS labels a row, below the panels
        y = 350 + 16 * (i // LEGEND_COLUMNS)
        x = 70 + 300 * (i % LEGEND_COLUMNS)
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (
            x, y, x + 24, y, COLORS[i % len(COLORS)]))
        svg.append('<text x="%d" y="%d" font-size="11">%s</text>' % (x + 30, y + 4, label))
    svg.append('<text x="%d" y="%d" font-size="10">filled: a new best validation epoch; ringed: a rollback</text>' % (
        70, 350 + 16 * rows + 4))
    svg.append("</svg>")
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(svg) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
