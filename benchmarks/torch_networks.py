#!/usr/bin/python3
"""The networks of ../shared/BENCHMARKS.md ("Networks") in PyTorch, timed as bench_networks times
mcsc's: a training step (forward + MSE loss + backward + torch.optim.Adam update) on the fixed
batch of 16 patches 64x64 and an inference of the 512x512 pair, float32 on the CPU with
torch.set_num_threads(2) (--threads). Run with Debian's python3-torch: /usr/bin/python3.

The networks mirror mcsc's classes (include/mcsc/nn/*.hpp) and their parameters one for one:
  cunet-official  CU-Net, K = 64, 9x9, 4 untied stages, scalar thresholds (mcsc CuNetConfig{})
  cunet-paper     the same with 8x8 filters
  lcsc            LCSC encoder (K = 64, 8x8, 4 tied stages, per-channel thresholds) + decoder K->1
  lmcsc           guide LCSC encoder and target LMCSC encoder (K = 85, 5x5, 4 tied stages,
                  per-channel thresholds / mu), decoder K->1
Conventions as mcsc (docs/conventions.md): stride 1, no bias, zero 'same' padding (PyTorch's
padding='same'; for an even s, (s-1)/2 before and s/2 after), cross-correlation; soft threshold
sign(u) relu(|u| - theta); LMCSC's xi_mu(v; z) = argmin_u 1/2 (u - v)^2 + mu (|u| + |u - z|) in
the closed form of include/mcsc/ops/prox.hpp. An encoder stage is mcsc's "paper form"
U <- prox(E0*x + U - E_j*(D_j*U)), with a first threshold U_0 = prox(E0*x).

Initialisation: by default the same as bench_networks (weights N(0, 0.01^2), thresholds 0.01,
LMCSC's mu 0.2; seeded); the networks with a PyTorch reference (cunet-paper, lcsc, lmcsc) start
from the reference's initial weights ../shared/bench/inputs/torch_*_init_weights.npz when they
exist, as bench_networks does when compare_torch.py gives it them (--init default to refuse).

--check loads those weights into networks of the reference's own structure (CU-Net: per-channel
thresholds and its stage form U + E_j(x - D_j U)) and into the mcsc-structured ones, runs the
forward on the batch and compares with torch_*_forward_out_init (max |diff| / max |ref|).

Memory: every workload runs in a fresh process (--no-isolate: all in this one); its figure is the
growth of the peak resident set (VmHWM of /proc/self/status, reset through /proc/self/clear_refs
once the inputs are loaded) over the resident set at that moment: PyTorch's tensors plus
whatever its allocator and libraries touch; not the same measure as bench_networks' count of
Kokkos allocations.

Prints a JSON document on stdout (and writes it to --json); progress on stderr.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import warnings

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    sys.stderr.write("torch_networks.py: needs PyTorch and NumPy (Debian: python3-torch; run with /usr/bin/python3): %s\n" % e)
    sys.exit(2)

# PyTorch warns that padding='same' with an even kernel pads a copy of the input: it does, as
# mcsc's "same" convention asks (the cost is part of what is measured).
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INPUTS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench", "inputs"))

# name, kind, K, s, stages, reference network (or None)
NETS = [
    ("cunet-official", "cunet", 64, 9, 4, None),
    ("cunet-paper", "cunet", 64, 8, 4, "cunet"),
    ("lcsc", "lcsc", 64, 8, 4, "lcsc"),
    ("lmcsc", "lmcsc", 85, 5, 4, "lmcsc"),
]


def conv(x, w):
    return F.conv2d(x, w, padding="same")


def soft_threshold(v, theta):
    return torch.sign(v) * F.relu(v.abs() - theta)


def l1l1_prox(v, z, mu):
    """xi_mu(v; z) as mcsc::l1l1_prox_value: reduced to z >= 0 by xi(v; z) = -xi(-v; -z)."""
    sg = 1 - 2 * (z < 0).to(v.dtype)
    a, b, m2 = sg * v, sg * z, 2 * mu
    u = torch.where(a < -m2, a + m2,
                    torch.where(a <= 0, torch.zeros_like(a),
                                torch.where(a < b, a, torch.where(a <= b + m2, b, a - m2))))
    return sg * u


class Lcsc(nn.Module):
    """mcsc::LcscEncoder: E0 (K, c, s, s), theta0; per stage (one set if tied) D (c, K, s, s),
    E (K, c, s, s), theta. form 'paper' (mcsc): U <- prox(p1 + U - E(D U)); 'residual' (the
    reference's CU-Net): U <- prox(U + E(x - D U))."""

    def __init__(self, c, K, s, stages, tied, per_channel, prox="soft", form="paper"):
        super().__init__()
        self.stages, self.tied, self.prox, self.form = stages, tied, prox, form
        t = (1, K if per_channel else 1, 1, 1)
        self.E0 = nn.Parameter(torch.empty(K, c, s, s))
        self.theta0 = nn.Parameter(torch.empty(t))
        n = (1 if stages > 0 else 0) if tied else stages
        self.D = nn.ParameterList([nn.Parameter(torch.empty(c, K, s, s)) for _ in range(n)])
        self.E = nn.ParameterList([nn.Parameter(torch.empty(K, c, s, s)) for _ in range(n)])
        self.theta = nn.ParameterList([nn.Parameter(torch.empty(t)) for _ in range(n)])

    def _prox(self, v, theta, side):
        return soft_threshold(v, theta) if self.prox == "soft" else l1l1_prox(v, side, theta)

    def forward(self, x, side=None):
        p1 = conv(x, self.E0)
        u = self._prox(p1, self.theta0, side)
        for j in range(self.stages):
            i = 0 if self.tied else j
            r = conv(u, self.D[i])
            if self.form == "paper":
                v = p1 + u - conv(r, self.E[i])
            else:
                v = u + conv(x - r, self.E[i])
            u = self._prox(v, self.theta[i], side)
        return u


class CuNet(nn.Module):
    def __init__(self, K, s, stages, per_channel=False, form="paper"):
        super().__init__()
        self.net_u = Lcsc(1, K, s, stages, False, per_channel, form=form)
        self.net_v = Lcsc(1, K, s, stages, False, per_channel, form=form)
        self.net_z = Lcsc(2, K, s, stages, False, per_channel, form=form)
        self.conv_u = nn.Parameter(torch.empty(1, K, s, s))
        self.conv_v = nn.Parameter(torch.empty(1, K, s, s))
        self.dec_u = nn.Parameter(torch.empty(1, K, s, s))
        self.dec_z = nn.Parameter(torch.empty(1, K, s, s))

    def forward(self, x, y):
        u = self.net_u(x)
        v = self.net_v(y)
        z = self.net_z(torch.cat([x - conv(u, self.conv_u), y - conv(v, self.conv_v)], 1))
        return conv(u, self.dec_u) + conv(z, self.dec_z)


class LcscNet(nn.Module):
    def __init__(self, K, s, stages):
        super().__init__()
        self.encoder = Lcsc(1, K, s, stages, True, True)
        self.decoder = nn.Parameter(torch.empty(1, K, s, s))

    def forward(self, x, y=None):
        return conv(self.encoder(x), self.decoder)


class LmcscNet(nn.Module):
    def __init__(self, K, s, stages):
        super().__init__()
        self.guide = Lcsc(1, K, s, stages, True, True)
        self.target = Lcsc(1, K, s, stages, True, True, prox="l1l1")
        self.decoder = nn.Parameter(torch.empty(1, K, s, s))

    def forward(self, x, y):
        return conv(self.target(x, self.guide(y)), self.decoder)


def build(kind, K, s, stages, per_channel=False, form="paper"):
    if kind == "cunet":
        return CuNet(K, s, stages, per_channel, form)
    if kind == "lcsc":
        return LcscNet(K, s, stages)
    return LmcscNet(K, s, stages)


def default_init(net, kind, seed=1):
    """Weights N(0, 0.01^2), thresholds 0.01, LMCSC's mu 0.2 (as bench_networks)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "theta" in name:
                p.fill_(0.2 if name.startswith("target.") else 0.01)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)


def load_reference(net, kind, npz_path):
    """The reference's initial weights (npz) into a network of this file (mapping as
    compare_torch.py's export for mcsc). Per-channel reference thresholds go into scalar ones as
    their mean (they are all equal)."""
    ref = {k: torch.from_numpy(v.astype(np.float32)) for k, v in np.load(npz_path).items()}

    def put(p, key):
        v = ref[key]
        with torch.no_grad():
            p.copy_(v if v.shape == p.shape else v.mean().reshape(p.shape))

    def encoder(m, prefix, tied):
        put(m.E0, prefix + "E.0.weight")
        put(m.theta0, prefix + "theta.0")
        for j in range(len(m.D)):
            put(m.E[j], "%sE.%d.weight" % (prefix, 0 if tied else j + 1))
            put(m.D[j], "%sD.%d.weight" % (prefix, j))
            put(m.theta[j], "%stheta.%d" % (prefix, 0 if tied else j + 1))

    if kind == "cunet":
        for m, prefix in ((net.net_u, "lu."), (net.net_v, "lv."), (net.net_z, "lc.")):
            encoder(m, prefix, False)
        put(net.conv_u, "Du.weight")
        put(net.conv_v, "Dv.weight")
        put(net.dec_u, "Gu.weight")
        put(net.dec_z, "Gc.weight")
    elif kind == "lcsc":
        encoder(net.encoder, "enc.", True)
        put(net.decoder, "dec.weight")
    else:
        encoder(net.guide, "guide.", True)
        put(net.target.E0, "P.weight")
        put(net.target.E[0], "Q.weight")
        put(net.target.D[0], "R.weight")
        put(net.target.theta0, "mu")
        put(net.target.theta[0], "mu")
        put(net.decoder, "dec.weight")


def conv_passes(kind, S, training):
    """As bench_networks' conv_passes(): convolution passes in units of one 1->K pass."""
    enc_f, enc_b = 1 + 2 * S, 4 * S + 1
    if kind == "cunet":
        return 4 * enc_f + 4 + ((4 + 2 * (enc_b + 1) + 4 + 2 * enc_b) if training else 0)
    if kind == "lcsc":
        return enc_f + 1 + ((2 + enc_b) if training else 0)
    return 2 * enc_f + 1 + ((2 + 2 * enc_b) if training else 0)


def read_f32(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape).copy())


def centre(t, p):
    o = (t.shape[-1] - p) // 2
    return t[..., o:o + p, o:o + p].contiguous()


def image(path, side):
    full = read_f32(path, (1, 1, 512, 512))
    if side <= 512:
        return centre(full, side)
    reps = math.ceil(side / 1024) * 2
    tiled = torch.cat([full, full.flip(-1)] * (reps // 2), -1)
    tiled = torch.cat([tiled, tiled.flip(-2)] * (reps // 2), -2)
    return tiled[..., :side, :side].contiguous()


def summarize(samples):
    s = sorted(samples)
    return {"median_s": statistics.median(s), "min_s": s[0], "max_s": s[-1], "samples": len(s)}


def time_calls(call, repeats, warmup, min_time=0.0):
    for _ in range(warmup):
        call()
    samples, total = [], 0.0
    while len(samples) < repeats or (total < min_time and len(samples) < 10000):
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        samples.append(dt)
        total += dt
    return summarize(samples)


def status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_gemm(n, repeats):
    a, b = torch.rand(n, n), torch.rand(n, n)
    c = torch.empty(n, n)
    t = time_calls(lambda: torch.mm(a, b, out=c), repeats, 1)
    t["n"] = n
    t["flop"] = 2.0 * n ** 3
    t["gflops"] = t["flop"] / t["median_s"] * 1e-9
    return t


def run_check(inputs, images):
    """Reference weights -> forward on the batch, against the reference's output."""
    x = read_f32(os.path.join(inputs, "torch_batch_x_16x1x64x64.f32"), (16, 1, 64, 64))[:images]
    y = read_f32(os.path.join(inputs, "torch_batch_guide_y_16x1x64x64.f32"), (16, 1, 64, 64))[:images]
    target = read_f32(os.path.join(inputs, "torch_batch_target_16x1x64x64.f32"), (16, 1, 64, 64))[:images]
    ref_json = {}
    try:
        with open(os.path.join(inputs, "torch_reference_outputs.json")) as f:
            ref_json = json.load(f)
    except OSError:
        pass
    out = []
    variants = [("cunet", "cunet", 64, 8, "residual", "reference structure (per-channel thresholds, U + E_j(x - D_j U))"),
                ("cunet", "cunet", 64, 8, "paper", "mcsc structure (per-channel thresholds, p1 + U - E_j D_j U)"),
                ("lcsc", "lcsc", 64, 8, "paper", "mcsc structure (E0 = E, theta0 = theta loaded tied)"),
                ("lmcsc", "lmcsc", 85, 5, "paper", "mcsc structure (E0 = E, theta0 = theta loaded tied)")]
    for name, kind, K, s, form, what in variants:
        net = build(kind, K, s, 4, per_channel=True, form=form)
        load_reference(net, kind, os.path.join(inputs, "torch_%s_init_weights.npz" % name))
        expected = read_f32(os.path.join(inputs, "torch_%s_forward_out_init_16x1x64x64.f32" % name),
                            (16, 1, 64, 64))[:images]
        with torch.no_grad():
            o = net(x, y)
        diff = (o - expected).abs().max().item()
        scale = expected.abs().max().item()
        rec = {"network": name, "structure": what, "images": images, "max_abs_diff": diff, "max_abs_reference": scale,
               "rel_max": diff / scale, "rel_l2": ((o - expected).norm() / expected.norm()).item(),
               "mse_loss": F.mse_loss(o, target).item()}
        if images == 16 and name in ref_json:
            rec["reference_mse_loss"] = ref_json[name].get("mse_loss_init")
        out.append(rec)
        sys.stderr.write("[check %s, %s] rel.max %.2e, rel.L2 %.2e\n" % (name, form, rec["rel_max"], rec["rel_l2"]))
    return out


def measure_workload(a, workload):
    """Times one workload (this process); returns its record."""
    name, _, wk = workload.partition("/")
    _, kind, K, s, S, ref = next(n for n in NETS if n[0] == name)
    train = wk == "train"
    n, side = (a.batch, a.patch) if train else (1, a.image)
    if train:
        rd = lambda f: centre(read_f32(os.path.join(a.inputs, f), (16, 1, 64, 64))[:a.batch], a.patch)
        bx, by, bt = (rd("torch_batch_x_16x1x64x64.f32"), rd("torch_batch_guide_y_16x1x64x64.f32"),
                      rd("torch_batch_target_16x1x64x64.f32"))
    else:
        ix = image(os.path.join(a.inputs, "skimage_camera_512_512x512.f32"), a.image)
        iy = image(os.path.join(a.inputs, "skimage_moon_512_512x512.f32"), a.image)
    flop = 2.0 * n * side * side * K * s * s * conv_passes(kind, S, train)
    sys.stderr.write("[%s] %dx%dx%d, %.4g GFLOP per call ..." % (workload, n, side, side, flop * 1e-9))
    sys.stderr.flush()
    rss0 = status_kib("VmRSS")
    peak_ok = reset_peak_rss()
    net = build(kind, K, s, S)
    use_ref = a.init == "reference" and ref is not None
    npz = os.path.join(a.inputs, "torch_%s_init_weights.npz" % ref) if ref else None
    if use_ref and os.path.exists(npz):
        load_reference(net, kind, npz)
    else:
        use_ref = False
        default_init(net, kind)
    loss_value = None
    if train:
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        state = {}

        def step():
            opt.zero_grad()
            loss = F.mse_loss(net(bx, by), bt)
            loss.backward()
            opt.step()
            state["loss"] = loss

        t = time_calls(step, a.repeats, a.warmup, a.min_time)
        loss_value = state["loss"].item()
    else:
        def infer():
            with torch.inference_mode():
                return net(ix, iy)

        t = time_calls(infer, a.repeats, a.warmup, a.min_time)
    peak = (status_kib("VmHWM") - rss0) * 1024 if peak_ok else None
    gflops = flop / t["median_s"] * 1e-9
    sys.stderr.write(" median %.1f ms, %.2f GFLOP/s\n" % (t["median_s"] * 1e3, gflops))
    return {"workload": workload, "network": name, "kind": wk, "shape": [n, 1, side, side], "stages": S,
            "flop": flop, **t, "gflops": gflops, "peak_rss_growth_bytes": peak,
            "seconds_per_pixel": t["median_s"] / (n * side * side), "loss": loss_value,
            "init": "reference" if use_ref else "default"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", default=DEFAULT_INPUTS, help="folder of the benchmark inputs (%(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (%(default)s)")
    ap.add_argument("--repeats", "-r", type=int, default=3, help="timed calls per workload (--quick: 1)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls before them (%(default)s)")
    ap.add_argument("--min-time", type=float, default=0.0, help="keep timing until the calls add up to this (s)")
    ap.add_argument("--only", nargs="+", default=[], help="networks (cunet-official, cunet-paper, lcsc, lmcsc), "
                    "kinds (train, infer) or workloads (lcsc/train)")
    ap.add_argument("--batch", type=int, default=16, help="training images (1-16; --quick: 2)")
    ap.add_argument("--patch", type=int, default=64, help="training patch side, centre crop (--quick: 32)")
    ap.add_argument("--image", type=int, default=512, help="inference image side (--quick: 64)")
    ap.add_argument("--gemm-size", type=int, default=2048, help="side of the torch.mm reference (--quick: 512)")
    ap.add_argument("--init", choices=["reference", "default"], default="reference",
                    help="start cunet-paper, lcsc and lmcsc from the reference's initial weights (default) or "
                         "from the default initialisation")
    ap.add_argument("--check", action="store_true", help="also run the same-computation check")
    ap.add_argument("--check-only", action="store_true", help="only the same-computation check")
    ap.add_argument("--check-images", type=int, default=16, help="images of the batch the check runs")
    ap.add_argument("--quick", action="store_true", help="smoke run: batch 2 of 32x32, 64x64 inference, 1 call")
    ap.add_argument("--json", help="also write the JSON here")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run every workload in this process (default: a fresh process each, for its memory figure)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.quick:
        a.repeats = 1 if a.repeats == 3 else a.repeats
        a.batch = 2 if a.batch == 16 else a.batch
        a.patch = 32 if a.patch == 64 else a.patch
        a.image = 64 if a.image == 512 else a.image
        a.gemm_size = 512 if a.gemm_size == 2048 else a.gemm_size
    if a.threads < 1 or a.repeats < 1 or a.warmup < 0 or a.min_time < 0 or a.gemm_size < 1 or a.image < 1:
        ap.error("--threads, --repeats, --gemm-size and --image must be positive, --warmup and --min-time >= 0")
    if not 1 <= a.batch <= 16 or not 1 <= a.patch <= 64 or not 1 <= a.check_images <= 16:
        ap.error("--batch and --check-images must be 1 to 16, --patch 1 to 64")
    names = {n[0] for n in NETS}
    for o in a.only:
        net, _, kind = o.partition("/")
        if not ((o in names or o in ("train", "infer")) or (net in names and kind in ("train", "infer"))):
            ap.error("--only: unknown workload '%s'" % o)

    torch.set_num_threads(a.threads)
    if a.worker:
        print(json.dumps(measure_workload(a, a.worker)))
        return 0
    doc = {"benchmark": "torch_networks", "command": " ".join(sys.argv), "torch_version": torch.__version__,
           "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
           "mkldnn": torch.backends.mkldnn.is_available(), "precision": "float32",
           "loadavg_before": open("/proc/loadavg").read().strip() if os.path.exists("/proc/loadavg") else "n/a",
           "options": {"repeats": a.repeats, "warmup": a.warmup, "batch": a.batch, "patch": a.patch,
                       "image": a.image, "quick": a.quick, "init": a.init},
           "flop_model": "2 x multiply-adds of every convolution pass (as bench_networks)",
           "memory_model": "growth of VmHWM over VmRSS during the workload (VmHWM reset via /proc/self/clear_refs)",
           "check": [], "results": []}
    if a.check or a.check_only:
        doc["check"] = run_check(a.inputs, a.check_images)
    if not a.check_only:
        sys.stderr.write("[torch.mm] %dx%d, %d thread(s) ..." % (a.gemm_size, a.gemm_size, a.threads))
        doc["gemm"] = measure_gemm(a.gemm_size, 1 if a.quick else 5)
        sys.stderr.write(" %.1f GFLOP/s\n" % doc["gemm"]["gflops"])
        for name, kind, K, s, S, ref in NETS:
            for wk in ("train", "infer"):
                if a.only and not any(o in (name, wk, name + "/" + wk) for o in a.only):
                    continue
                if a.no_isolate:
                    rec = measure_workload(a, name + "/" + wk)
                else:  # a fresh process per workload, so that its peak resident set is its own
                    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name + "/" + wk,
                           "--inputs", a.inputs, "--threads", str(a.threads), "--repeats", str(a.repeats),
                           "--warmup", str(a.warmup), "--min-time", str(a.min_time), "--batch", str(a.batch),
                           "--patch", str(a.patch), "--image", str(a.image), "--init", a.init]
                    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
                    if p.returncode != 0:
                        sys.stderr.write("torch_networks.py: %s failed (exit status %d)\n" % (name + "/" + wk,
                                                                                                 p.returncode))
                        return 1
                    rec = json.loads(p.stdout)
                rec["ratio_to_gemm"] = rec["gflops"] / doc["gemm"]["gflops"]
                doc["results"].append(rec)
    doc["loadavg_after"] = open("/proc/loadavg").read().strip() if os.path.exists("/proc/loadavg") else "n/a"
    text = json.dumps(doc, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)
    if a.check or a.check_only:
        bad = [c for c in doc["check"] if c["rel_max"] > 1e-4]
        if bad:
            sys.stderr.write("torch_networks.py: check failed for %s\n" % ", ".join(c["network"] for c in bad))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
