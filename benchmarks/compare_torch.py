#!/usr/bin/python3
"""mcsc's bench_networks against the same networks in PyTorch (torch_networks.py), run
alternately on the same machine: bench_networks, torch_networks.py, bench_networks, ... for
--rounds rounds (at least 3), each program a fresh process timing every workload --repeats times
after --warmup untimed calls. Per workload the median over the rounds of each round's median is
reported: mcsc ms, PyTorch ms, mcsc/PyTorch (time ratio: < 1 means mcsc is faster) and
PyTorch/mcsc (mcsc's speed-up), each side's GFLOP/s and its ratio to the same-run SGEMM
rate (Eigen's SGEMM in the bench_networks runs, for both; torch.mm's rate is reported beside
it: Debian's PyTorch does its matrix products through the generic BLAS, its convolutions through
oneDNN). Writes a JSON file and a Markdown table.

Before the rounds it exports the PyTorch reference's initial weights
(../shared/bench/inputs/torch_*_init_weights.npz) as mcsc raw state dicts, with mcsc's parameter
names (the mapping is in REFERENCE_TO_MCSC), and runs the same-computation check:
bench_networks --check-only (mcsc's output against the reference's forward output) and
torch_networks.py --check-only (the PyTorch networks against the same). The timed networks of
both programs then start from those weights (cunet-paper, lcsc, lmcsc; cunet-official has no
reference and starts from the default initialisation in both).

--check-only does the export and mcsc's check only: plain Python 3 (zipfile), no PyTorch or NumPy,
so that ctest can run it. The PyTorch side needs Debian's python3-torch: /usr/bin/python3.

Example (docs/performance.md):
  /usr/bin/python3 benchmarks/compare_torch.py --bench build-net/benchmarks/bench_networks
"""
import argparse
import ast
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_INPUTS = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench", "inputs"))
WORKLOADS = ["cunet-official/train", "cunet-official/infer", "cunet-paper/train", "cunet-paper/infer",
             "lcsc/train", "lcsc/infer", "lmcsc/train", "lmcsc/infer"]


def _encoder(mcsc_prefix, ref_prefix, stages, tied):
    """mcsc LcscEncoder names <- reference names. The reference ties E0 to E and theta0 to theta
    in its tied encoders (one E.0, theta.0), so both mcsc parameters take them."""
    m = {mcsc_prefix + "layer_in.weight": ref_prefix + "E.0.weight", mcsc_prefix + "lam_in": ref_prefix + "theta.0"}
    if tied:
        m[mcsc_prefix + "up_conv.weight"] = ref_prefix + "E.0.weight"
        m[mcsc_prefix + "down_conv.weight"] = ref_prefix + "D.0.weight"
        m[mcsc_prefix + "lam"] = ref_prefix + "theta.0"
    else:
        for j in range(stages):
            m["%sup_conv_%d.weight" % (mcsc_prefix, j)] = "%sE.%d.weight" % (ref_prefix, j + 1)
            m["%sdown_conv_%d.weight" % (mcsc_prefix, j)] = "%sD.%d.weight" % (ref_prefix, j)
            m["%slam_%d" % (mcsc_prefix, j)] = "%stheta.%d" % (ref_prefix, j + 1)
    return m


def _mapping():
    cunet = {}
    for mp, rp in (("net_u.", "lu."), ("net_v.", "lv."), ("net_z.", "lc.")):
        cunet.update(_encoder(mp, rp, 4, False))
    cunet.update({"conv_u.weight": "Du.weight", "conv_v.weight": "Dv.weight",
                  "decoder.conv_1.weight": "Gu.weight", "decoder.conv_2.weight": "Gc.weight"})
    lcsc = _encoder("encoder.", "enc.", 4, True)
    lcsc["decoder.weight"] = "dec.weight"
    lmcsc = _encoder("guide.", "guide.", 4, True)
    lmcsc.update({"target.layer_in.weight": "P.weight", "target.up_conv.weight": "Q.weight",
                  "target.down_conv.weight": "R.weight", "target.lam_in": "mu", "target.lam": "mu",
                  "decoder.weight": "dec.weight"})
    return {"cunet": cunet, "lcsc": lcsc, "lmcsc": lmcsc}


#: mcsc parameter name <- reference parameter name, per reference network.
REFERENCE_TO_MCSC = _mapping()


def read_npy_bytes(data, what):
    """(shape, raw little-endian float32 bytes) of a .npy file's content (format 1.0-3.0)."""
    if data[:6] != b"\x93NUMPY":
        raise ValueError("%s is not a .npy file" % what)
    major = data[6]
    if major == 1:
        (hlen,), start = struct.unpack("<H", data[8:10]), 10
    else:
        (hlen,), start = struct.unpack("<I", data[8:12]), 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["descr"] != "<f4" or header["fortran_order"]:
        raise ValueError("%s: expected little-endian float32 in C order, got %s" % (what, header))
    shape = tuple(header["shape"])
    count = 1
    for d in shape:
        count *= d
    body = data[start + hlen:]
    if len(body) != 4 * count:
        raise ValueError("%s: %d data bytes for shape %s" % (what, len(body), shape))
    return shape, body


def export_reference_weights(inputs, out_dir):
    """Writes out_dir/<net>/index.txt and .f32 files (mcsc/nn/state_dict.hpp's raw format) for
    cunet, lcsc and lmcsc from the reference npz files."""
    for net, mapping in REFERENCE_TO_MCSC.items():
        path = os.path.join(inputs, "torch_%s_init_weights.npz" % net)
        with zipfile.ZipFile(path) as z:
            arrays = {n[:-4] if n.endswith(".npy") else n: read_npy_bytes(z.read(n), "%s:%s" % (path, n))
                      for n in z.namelist()}
        unused = set(arrays) - set(mapping.values())
        if unused:
            raise ValueError("%s has parameters the mapping does not use: %s" % (path, sorted(unused)))
        folder = os.path.join(out_dir, net)
        os.makedirs(folder, exist_ok=True)
        lines = []
        for key, ref_key in sorted(mapping.items()):
            shape, body = arrays[ref_key]
            if len(shape) == 4 and shape[0] == 1 and shape[2:] == (1, 1):  # thresholds (1, K, 1, 1) -> (K, 1, 1, 1)
                shape = (shape[1], 1, 1, 1)
            fname = key + ".f32"
            with open(os.path.join(folder, fname), "wb") as f:
                f.write(body)
            lines.append("%s %s %d %s" % (key, fname, len(shape), " ".join(str(d) for d in shape)))
        with open(os.path.join(folder, "index.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def run(cmd, what, quiet=False):
    """Runs cmd (progress of the child on our stderr); returns its stdout. Exits on failure."""
    sys.stderr.write("compare_torch: %s: %s\n" % (what, " ".join(cmd)))
    sys.stderr.flush()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if not quiet else subprocess.DEVNULL, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout)
        sys.stderr.write("compare_torch: %s failed with exit status %d\n" % (what, p.returncode))
        sys.exit(p.returncode if p.returncode > 0 else 1)
    return p.stdout


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="the bench_networks executable")
    ap.add_argument("--torch-script", default=os.path.join(HERE, "torch_networks.py"), help="%(default)s")
    ap.add_argument("--python", default="/usr/bin/python3",
                    help="interpreter for torch_networks.py (Debian's python3-torch: %(default)s)")
    ap.add_argument("--inputs", default=DEFAULT_INPUTS, help="benchmark inputs (%(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="A B rounds, at least 3 (%(default)s)")
    ap.add_argument("--repeats", type=int, default=1, help="timed calls per workload per round (%(default)s)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls before them (%(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="threads of both (OMP_NUM_THREADS, "
                    "torch.set_num_threads; %(default)s)")
    ap.add_argument("--only", nargs="+", default=[], help="workloads as bench_networks --only")
    ap.add_argument("--quick", action="store_true", help="pass --quick to both (smoke run)")
    ap.add_argument("--check-only", action="store_true",
                    help="export the reference weights and run mcsc's same-computation check only (no PyTorch)")
    ap.add_argument("--check-images", type=int, default=16, help="images of the batch the checks run (%(default)s)")
    ap.add_argument("--work-dir", help="where the exported weights and the per-round JSON go (default: a new "
                    "temporary folder, kept)")
    ap.add_argument("--json", default="compare_torch.json", help="summary JSON (%(default)s)")
    ap.add_argument("--markdown", default="compare_torch.md", help="summary Markdown table (%(default)s)")
    a = ap.parse_args()
    if a.rounds < 3 and not a.check_only and not a.quick:
        ap.error("--rounds must be at least 3")
    if a.rounds < 1 or a.repeats < 1 or a.warmup < 0 or a.threads < 1 or not 1 <= a.check_images <= 16:
        ap.error("--rounds, --repeats and --threads must be positive, --warmup >= 0, --check-images 1 to 16")
    if not os.access(a.bench, os.X_OK):
        ap.error("--bench: '%s' is not an executable" % a.bench)

    work = a.work_dir or tempfile.mkdtemp(prefix="compare_torch.")
    os.makedirs(work, exist_ok=True)
    env_note = "OMP_NUM_THREADS=%d OMP_PROC_BIND=false" % a.threads
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OMP_PROC_BIND"] = "false"
    weights = os.path.join(work, "reference_weights")
    export_reference_weights(a.inputs, weights)
    sys.stderr.write("compare_torch: reference weights exported to %s\n" % weights)

    check_json = os.path.join(work, "mcsc_check.json")
    out = run([a.bench, "--check-only", "--reference-weights", weights, "--inputs", a.inputs, "--check-images",
               str(a.check_images), "--json", check_json], "mcsc same-computation check")
    sys.stdout.write(out)
    if a.check_only:
        return 0
    with open(check_json) as f:
        mcsc_check = json.load(f)["check"]
    torch_check = json.loads(run([a.python, a.torch_script, "--check-only", "--inputs", a.inputs, "--check-images",
                                  str(a.check_images), "--threads", str(a.threads)], "PyTorch same-computation check"))
    common = ["--repeats", str(a.repeats), "--warmup", str(a.warmup), "--inputs", a.inputs]
    if a.quick:
        common.append("--quick")
    if a.only:
        common += ["--only"] + a.only
    mcsc_runs, torch_runs = [], []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = open("/proc/loadavg").read().strip() if os.path.exists("/proc/loadavg") else "n/a"
    for r in range(a.rounds):
        path = os.path.join(work, "mcsc_round%d.json" % r)
        run([a.bench, "--reference-weights", weights, "--no-check", "--json", path] + common,
            "round %d/%d, mcsc" % (r + 1, a.rounds))
        with open(path) as f:
            mcsc_runs.append(json.load(f))
        path = os.path.join(work, "torch_round%d.json" % r)
        run([a.python, a.torch_script, "--threads", str(a.threads), "--json", path] + common,
            "round %d/%d, PyTorch" % (r + 1, a.rounds))
        with open(path) as f:
            torch_runs.append(json.load(f))
    load_after = open("/proc/loadavg").read().strip() if os.path.exists("/proc/loadavg") else "n/a"

    def per_workload(runs, key):
        table = {}
        for doc in runs:
            for res in doc["results"]:
                table.setdefault(res["workload"], []).append(res.get(key))
        return table

    m_t, t_t = per_workload(mcsc_runs, "median_s"), per_workload(torch_runs, "median_s")
    m_mem, t_mem = per_workload(mcsc_runs, "peak_bytes"), per_workload(torch_runs, "peak_rss_growth_bytes")
    flop = {res["workload"]: res["flop"] for doc in mcsc_runs for res in doc["results"]}
    shape = {res["workload"]: res["shape"] for doc in mcsc_runs for res in doc["results"]}
    m_gemm = median([d["gemm"]["gflops"] for d in mcsc_runs])
    t_gemm = median([d["gemm"]["gflops"] for d in torch_runs])
    rows = []
    for w in WORKLOADS:
        if w not in m_t or w not in t_t:
            continue
        mm, tm = median(m_t[w]), median(t_t[w])
        row = {"workload": w, "shape": shape[w], "flop": flop[w], "mcsc_ms": mm * 1e3, "torch_ms": tm * 1e3,
               "mcsc_over_torch": mm / tm, "torch_over_mcsc": tm / mm,
               "mcsc_gflops": flop[w] / mm * 1e-9, "torch_gflops": flop[w] / tm * 1e-9,
               "mcsc_ratio_to_gemm": flop[w] / mm * 1e-9 / m_gemm, "torch_ratio_to_gemm": flop[w] / tm * 1e-9 / m_gemm,
               "mcsc_round_medians_ms": [v * 1e3 for v in m_t[w]], "torch_round_medians_ms": [v * 1e3 for v in t_t[w]],
               "mcsc_peak_mib": fmt_mib(median(m_mem[w])), "torch_peak_rss_growth_mib": fmt_mib(median(t_mem[w]))}
        rows.append(row)

    header = ("| workload | shape | GFLOP | mcsc ms | PyTorch ms | mcsc/PyTorch | PyTorch/mcsc | mcsc GFLOP/s (/GEMM) "
              "| PyTorch GFLOP/s (/GEMM) | mcsc peak MiB | PyTorch peak RSS growth MiB |")
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for r in rows:
        lines.append("| %s | %s | %.2f | %.1f | %.1f | %.2f | %.2f | %.2f (%.3f) | %.2f (%.3f) | %s | %s |" % (
            r["workload"], "x".join(str(d) for d in r["shape"]), r["flop"] * 1e-9, r["mcsc_ms"], r["torch_ms"],
            r["mcsc_over_torch"], r["torch_over_mcsc"], r["mcsc_gflops"], r["mcsc_ratio_to_gemm"], r["torch_gflops"],
            r["torch_ratio_to_gemm"], fmt(r["mcsc_peak_mib"], ".1f"), fmt(r["torch_peak_rss_growth_mib"], ".1f")))
    checks = ["| check | max abs diff | rel. max | rel. L2 | match |", "| --- | --- | --- | --- | --- |"]
    for c in mcsc_check:
        checks.append("| mcsc %s vs reference | %.3g | %.2g | %.2g | %s |" % (
            c["network"], c["max_abs_diff"], c["rel_max"], c["rel_l2"], "yes" if c["match"] else "NO"))
    for c in torch_check["check"]:
        checks.append("| PyTorch %s (%s) vs reference | %.3g | %.2g | %.2g | %s |" % (
            c["network"], c["structure"], c["max_abs_diff"], c["rel_max"], c["rel_l2"],
            "yes" if c["rel_max"] <= 1e-4 else "NO"))
    m0, t0 = mcsc_runs[0], torch_runs[0]
    meta = [
        "%s; %d rounds (mcsc, PyTorch alternately), %d timed call(s) after %d warm-up per workload per round; "
        "medians over the rounds" % (started, a.rounds, a.repeats, a.warmup),
        "mcsc: Kokkos %s (%s), %d thread(s), Eigen SGEMM %d: %.1f GFLOP/s (median over rounds)" % (
            m0["kokkos_version"], m0["execution_space"], m0["threads"], m0["gemm"]["n"], m_gemm),
        "PyTorch %s, %d thread(s) (torch.set_num_threads), torch.mm %d: %.1f GFLOP/s (median over rounds; for "
        "information: both /GEMM columns are to the Eigen SGEMM rate, the machine's)" % (
            t0["torch_version"], t0["threads"], t0["gemm"]["n"], t_gemm),
        "%s; /proc/loadavg before: %s; after: %s" % (env_note, load_before, load_after),
    ]
    md = "\n".join(["- " + m for m in meta] + ["", *lines, "", *checks]) + "\n"
    sys.stdout.write("\n" + md)
    with open(a.markdown, "w") as f:
        f.write(md)
    summary = {"benchmark": "compare_torch", "command": " ".join(sys.argv), "started": started,
               "loadavg_before": load_before, "loadavg_after": load_after, "rounds": a.rounds,
               "repeats": a.repeats, "warmup": a.warmup, "threads": a.threads, "mcsc_gemm_gflops": m_gemm,
               "torch_gemm_gflops": t_gemm, "rows": rows, "mcsc_check": mcsc_check, "torch_check": torch_check["check"],
               "mcsc_runs": mcsc_runs, "torch_runs": torch_runs}
    with open(a.json, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    sys.stderr.write("compare_torch: wrote %s and %s (rounds in %s)\n" % (a.json, a.markdown, work))
    return 0


def fmt_mib(v):
    return None if v is None else v / 2.0 ** 20


if __name__ == "__main__":
    sys.exit(main())
