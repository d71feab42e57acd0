#!/usr/bin/env bash
# Data-parallel training on this machine, interleaved in one run (docs/distributed.md):
# bench_mpi_training on 1 rank x 2 threads and on 2 ranks x 1 thread, ROUNDS rounds (default 3),
# medians and their ratio, then a model of N nodes from the measured step and gather size.
#   benchmarks/bench_mpi.sh BUILD_DIR [ROUNDS] [NETWORK] [BATCH]
# Model (stated, not measured): N nodes (N dividing B) of this machine's speed, each computing B/N
# patches a step in (1-rank step time) / N, plus the gather of every other node's gradient over a link of
# LINK_GBPS GB/s (default 10) with LATENCY_US microseconds (default 5) per message, ring order.
set -euo pipefail
build="${1:?usage: bench_mpi.sh BUILD_DIR [ROUNDS] [NETWORK] [BATCH]}"
rounds="${2:-3}"
network="${3:-cunet-official}"
batch="${4:-16}"
bench="$build/benchmarks/bench_mpi_training"
[ -x "$bench" ] || { echo "bench_mpi.sh: no $bench (configure with MCSC_ENABLE_MPI=ON and build bench_mpi_training)" >&2; exit 2; }
# --bind-to none: OpenMPI binds each rank to one core by default, which put the 1-rank run's two
# threads on one core (measured: 12 patches/s under mpirun against 24 without it).
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  OMP_NUM_THREADS=2 OMP_PROC_BIND=false OMP_WAIT_POLICY=passive "${mpirun[@]}" -np 1 \
    -x OMP_NUM_THREADS -x OMP_PROC_BIND -x OMP_WAIT_POLICY "$bench" --network "$network" --batch "$batch" | tee -a "$out"
  OMP_NUM_THREADS=1 OMP_PROC_BIND=false OMP_WAIT_POLICY=passive "${mpirun[@]}" -np 2 \
    -x OMP_NUM_THREADS -x OMP_PROC_BIND -x OMP_WAIT_POLICY "$bench" --network "$network" --batch "$batch" | tee -a "$out"
done
/usr/bin/python3 - "$out" "${LINK_GBPS:-10}" "${LATENCY_US:-5}" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
link, latency = float(sys.argv[2]) * 1e9, float(sys.argv[3]) * 1e-6
by = {}
for r in rows:
    by.setdefault(r["ranks"], []).append(r)
one, two = by[1], by[2]
m1 = statistics.median(r["patches_per_s"] for r in one)
m2 = statistics.median(r["patches_per_s"] for r in two)
print(f"\n{one[0]['network']}, batch {one[0]['batch']}, {len(one)} rounds interleaved (medians):")
print(f"  1 rank x 2 threads: {m1:.2f} patches/s ({statistics.median(r['ms_per_step'] for r in one):.1f} ms/step)")
print(f"  2 ranks x 1 thread: {m2:.2f} patches/s ({statistics.median(r['ms_per_step'] for r in two):.1f} ms/step), "
      f"{two[0]['bytes_sent_per_step'] / 1e6:.3f} MB sent per rank per step")
print(f"  ratio 2 ranks / 1 rank: {m2 / m1:.3f}")
params = one[0]["parameters"]
grad = 4 * params
step1 = statistics.median(r["ms_per_step"] for r in one) / 1e3
print(f"\nmodel ({params} parameters, {grad / 1e6:.2f} MB a gradient; link {link / 1e9:g} GB/s, {latency * 1e6:g} us a message):")
print("  nodes  step (ms)  gather (ms)  patches/s  efficiency")
for n in (n for n in (1, 2, 4, 8, 16, 32, 64) if one[0]["batch"] % n == 0):  # a shard a node at least
    compute = step1 / n
    gather = 0 if n == 1 else (n - 1) * (grad / link + latency)
    t = compute + gather
    rate = one[0]["batch"] / t
    print(f"  {n:5d}  {1e3 * t:9.1f}  {1e3 * gather:11.2f}  {rate:9.1f}  {rate / (n * one[0]['batch'] / step1):10.2f}")
PY
