#!/usr/bin/env python3
"""Before and after a change: bench_conv and bench_networks of two builds, interleaved in one run.

    compare_builds.py BEFORE_BENCH_DIR AFTER_BENCH_DIR [--rounds-conv 3] [--rounds-networks 5]
                      [--inputs ../shared/bench/inputs] [--work DIR] [--analyse-only]

Each BENCH_DIR holds the bench_conv and bench_networks binaries of one build (for a revision:
`git worktree add /tmp/before REV`, then a Release build of its benchmarks with the same Kokkos).
Round by round, the before and the after binary run in turn (A B A B ...), so a drift of the
machine's speed falls on both; the JSON of every run is kept in --work. Then, per workload, the
ratio after/before of the median time in each round, the median of those ratios and their range,
and the median fraction of the same run's SGEMM rate of each side. A ratio is a slowdown only
where every round agrees (its minimum above 1; with one round, any noise counts); run it with
nothing else on the machine. A new call first removes the JSON of earlier calls from --work;
rounds are paired by their number; a workload that is not in every round of both sides (added or
renamed by the change) is listed, not compared.
Standard library only; exits 1 when a benchmark run fails.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time


def run_rounds(kind, binary, rounds, dirs, work, extra):
    for old in glob.glob(os.path.join(work, f"{kind}_*_*.json")):  # no stale rounds of an earlier call
        os.remove(old)
    for r in range(1, rounds + 1):
        for side, d in dirs:
            out = os.path.join(work, f"{kind}_{side}_{r}.json")
            cmd = [os.path.join(d, binary), "--json", out] + extra
            start = time.time()
            with open(os.path.join(work, f"{kind}_{side}_{r}.txt"), "w") as log:
                rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
            print(f"{kind} {side} round {r}: exit {rc}, {time.time() - start:.0f} s", flush=True)
            if rc != 0:
                sys.exit(f"compare_builds.py: {' '.join(cmd)} failed (exit {rc}); see {log.name}")


def workloads(doc, kind):
    if kind == "conv":
        return {f"{r['shape']} {r['kernel']}x{r['kernel']} {r['op']} {r['method']}": r for r in doc["conv"]}
    return {r["workload"]: r for r in doc["results"]}


def rounds_of(kind, side, work):
    """{round number: the run's JSON} of one side."""
    out = {}
    for f in glob.glob(os.path.join(work, f"{kind}_{side}_*.json")):
        r = os.path.basename(f)[len(f"{kind}_{side}_"):-len(".json")]
        if r.isdigit():
            out[int(r)] = json.load(open(f))
    return out


def analyse(kind, work):
    before, after = rounds_of(kind, "before", work), rounds_of(kind, "after", work)
    rounds = sorted(set(before) & set(after))  # paired by round number
    if not rounds:
        print(f"\n{kind}: no round with both sides in '{work}'")
        return
    print(f"\n{kind}: {len(rounds)} interleaved rounds. after/before = the ratio of median times (above 1: slower)")
    print(f"{'workload':46s} {'median':>7s} {'min':>6s} {'max':>6s}  {'of SGEMM before':>15s} {'after':>6s}")
    medians, slower, unpaired = [], [], set()
    keys = []
    for r in rounds:
        for k in list(workloads(before[r], kind)) + list(workloads(after[r], kind)):
            if k not in keys:
                keys.append(k)
    for key in keys:
        pairs = [(workloads(before[r], kind).get(key), workloads(after[r], kind).get(key)) for r in rounds]
        if any(b is None or a is None for b, a in pairs):  # added, removed or renamed by the change
            unpaired.add(key)
            continue
        ratios = [a["median_s"] / b["median_s"] for b, a in pairs]
        gb = statistics.median(b["ratio_to_gemm"] for b, _ in pairs)
        ga = statistics.median(a["ratio_to_gemm"] for _, a in pairs)
        m = statistics.median(ratios)
        medians.append(m)
        if min(ratios) > 1:
            slower.append(key)
        print(f"{key:46s} {m:7.3f} {min(ratios):6.3f} {max(ratios):6.3f}  {gb:15.3f} {ga:6.3f}")
    gemm = {side: [round(d[r]["gemm"]["gflops"], 1) for r in rounds] for side, d in (("before", before), ("after", after))}
    print(f"{len(medians)} workloads: median of the medians {statistics.median(medians):.3f}, "
          f"largest {max(medians):.3f}, smallest {min(medians):.3f}; slower in every round: "
          f"{len(slower)}{' (' + ', '.join(slower) + ')' if slower else ''}")
    print(f"SGEMM GFLOP/s, run by run: before {gemm['before']}, after {gemm['after']}")
    if unpaired:
        print(f"not compared (not in every round of both sides): {', '.join(sorted(unpaired))}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds-conv", type=int, default=3)
    p.add_argument("--rounds-networks", type=int, default=5)
    p.add_argument("--inputs", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "bench", "inputs"))
    p.add_argument("--work", default="compare_builds")
    p.add_argument("--analyse-only", action="store_true", help="only read the JSON files already in --work")
    a = p.parse_args()
    if a.rounds_conv < 0 or a.rounds_networks < 0:
        p.error("--rounds-conv and --rounds-networks must be >= 0")
    if a.analyse_only:
        if not os.path.isdir(a.work):
            p.error(f"--analyse-only: no folder '{a.work}'")
    else:
        os.makedirs(a.work, exist_ok=True)
        for d in (a.before, a.after):
            for b in ("bench_conv", "bench_networks"):
                if not os.access(os.path.join(d, b), os.X_OK):
                    p.error(f"no executable {b} in '{d}'")
        os.environ.setdefault("OMP_NUM_THREADS", "2")
        os.environ.setdefault("OMP_PROC_BIND", "false")
        dirs = [("before", a.before), ("after", a.after)]
        run_rounds("conv", "bench_conv", a.rounds_conv, dirs, a.work, ["--no-reference"])
        run_rounds("networks", "bench_networks", a.rounds_networks, dirs, a.work, ["--inputs", a.inputs])
    analyse("conv", a.work)
    analyse("networks", a.work)


if __name__ == "__main__":
    main()
