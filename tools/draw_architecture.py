#!/usr/bin/env python3
"""Draws docs/architecture.svg: the layers of include/mcsc and the one stage shared by the
classical and the learned solvers (standard-library Python; rerun after moving headers).

    /usr/bin/python3 tools/draw_architecture.py docs/architecture.svg
"""
import sys
from xml.sax.saxutils import escape

LAYERS = [
    ("programs (examples/, benchmarks/)", ["mcsc-task-*  (tasks/task_harness)", "mcsc-solve  mcsc-demo",
                                           "mcsc-train  mcsc-infer  mcsc-export-model",
                                           "bench_conv  bench_networks  bench_solvers"], "#f4e3c1"),
    ("train/", ["trainer", "optim (Adam)  loss (edge-weighted)", "checkpoint  progress"], "#dbe9f6"),
    ("nn/  (learned, unrolled)", ["lcsc: LcscEncoder (the stage)", "lcsc_net  lmcsc_net  cunet",
                                  "unrolled_net  parameters  init",
                                  "cunet_dictionaries (nets <-> dictionaries)"], "#dbe9f6"),
    ("solvers/  (classical)", ["fista (ISTA)  coupled_l1l1  admm", "common_unique  objective", "dictionary_learning",
                               "coupled_dictionary_learning", "classical_multimodal  back_projection"], "#e2f0d9"),
    ("ops/  (kernels)", ["conv2d (ConvDictionary)  conv2d_blocked", "conv2d_team  conv2d_fft  fft_backend",
                         "prox (ProxKind, scalar prox)  prox_step  proximal_stage", "conv2d_prox (fused stage epilogue)",
                         "broadcast  power_iteration  lipschitz"], "#eeeeee"),
    ("core/", ["tensor (Tensor4, Shape4)  compat", "error (Error, NumericalError, BackendError)",
               "memory (budget)"], "#eeeeee"),
]
SIDE = [("data/  io/", ["degrade  resample  color  patches", "image_io  npy  raw  file"]),
        ("metrics/  baselines/", ["psnr  ssim  fusion", "guided_filter  joint_bilateral", "fusion (CSR, low-pass)"])]
STAGE = [
    ("One stage, two uses:  U <- prox_theta( U - E*(D*U) + E0*x )", True),
    ("classical (solvers/fista.hpp; ISTA: accelerate = false): E = E0 = D'/L, theta = lambda/L, fixed;", False),
    ("   the step is ops/prox_step.hpp prox_gradient_step (ProxPenalty: soft threshold, non-negative, l1-l1 with side)",
     False),
    ("learned (nn/lcsc.hpp LcscEncoder, one stage): E_j, D_j, E0, theta_j trained; the step is ops/conv2d_prox.hpp,",
     False),
    ("   whose epilogue calls the same scalar prox functions of ops/prox.hpp (soft_threshold_value, l1l1_prox_value)",
     False),
    ("the stage as one type: ops/proximal_stage.hpp ProximalStage {D, E, theta, prox}.apply(); ProximalStage::ista",
     False),
    ("   builds it from a dictionary (E = D'/L); LcscEncoder::stage(j) is one on the parameters' memory",
     False),
    ("the bridge: initialize_from_dictionary (E = D'/L) makes the encoder compute ISTA; stage_dictionary(j) hands D_j",
     False),
    ("   to fista() / coupled_l1l1() as a ConvDictionary on the same memory (tests/test_unfolding.cpp checks both)", False),
]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="980" height="760" '
           'font-family="DejaVu Sans, sans-serif" font-size="13">', '<rect width="100%" height="100%" fill="white"/>',
           '<text x="20" y="16" font-size="13" font-weight="bold">include/mcsc: each layer uses the layers below it '
           '(and data/io/metrics/baselines at the side; see architecture.md for the one exception)</text>']
    y = 34
    for name, items, colour in LAYERS:
        h = 26 + 18 * ((len(items) + 1) // 2)
        out.append(f'<rect x="20" y="{y}" width="690" height="{h}" rx="6" fill="{colour}" stroke="#555"/>')
        out.append(f'<text x="30" y="{y + 18}" font-weight="bold">{escape(name)}</text>')
        for i, item in enumerate(items):
            out.append(f'<text x="{40 + (i % 2) * 335}" y="{y + 38 + 18 * (i // 2)}">{escape(item)}</text>')
        y += h + 14
    side_y = 114
    for name, items in SIDE:
        h = 26 + 18 * len(items)
        out.append(f'<rect x="730" y="{side_y}" width="230" height="{h}" rx="6" fill="#f7e6ef" stroke="#555"/>')
        out.append(f'<text x="740" y="{side_y + 18}" font-weight="bold">{escape(name)}</text>')
        for i, item in enumerate(items):
            out.append(f'<text x="745" y="{side_y + 38 + 18 * i}">{escape(item)}</text>')
        side_y += h + 20
    y += 6
    out.append(f'<rect x="20" y="{y}" width="940" height="150" rx="6" fill="#fff8d6" stroke="#a08000"/>')
    for i, (text, bold) in enumerate(STAGE):
        weight = ' font-weight="bold"' if bold else ""
        out.append(f'<text x="32" y="{y + 22 + 19 * i}"{weight}>{escape(text)}</text>')
    out.append("</svg>")
    with open(sys.argv[1], "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
