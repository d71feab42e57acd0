#!/usr/bin/env bash
# The first run on a CUDA GPU, in one command (issue 13, "Ready for the first GPU"):
#
#   bash benchmarks/gpu_check.sh OUT_DIR
#
# on a machine with an NVIDIA GPU, nvcc, this repository and the Debian packages of cmake/setup.sh.
#   1. Kokkos 4.6.99 with CUDA: $MCSC_KOKKOS_CUDA when set (an install brought along, e.g. this
#      machine's ~/.cache/mcsc/kokkos4-cuda, about 9 MB), else built by cmake/setup.sh
#      --kokkos 4.6-cuda from ../shared/kokkos (about 2 minutes on 16 cores).
#   2. mcsc with its nvcc_wrapper (Release, every test instantiated on every enabled execution
#      space: MCSC_TEST_SPACES=all), built with every core.
#   3. the whole ctest suite on the device (tests that need ../shared report "skipped" when it is
#      not beside the repository; MCSC_SHARED_DIR points elsewhere), log in OUT_DIR/ctest.log.
#   4. bench_conv, bench_networks and bench_solvers (the last two need ../shared/bench/inputs or
#      $MCSC_BENCH_INPUTS; without it they are skipped, saying so), JSON in OUT_DIR.
# OUT_DIR/summary.txt says what ran, how long each step took and how each ended. Every step runs
# even if an earlier one fails (the exit status is then 1), so one run gives every figure it can.
# Stops each step at its share of MCSC_GPU_CHECK_SECONDS (default 540 s in all).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="${1:-}"
if [ -z "$out" ]; then echo "usage: bash benchmarks/gpu_check.sh OUT_DIR" >&2; exit 2; fi
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
summary="$out/summary.txt"
: > "$summary"
status=0
budget="${MCSC_GPU_CHECK_SECONDS:-540}"
start=$SECONDS
note() { echo "$*" | tee -a "$summary"; }
left() { echo $(( budget - (SECONDS - start) )); }
step() {  # name, seconds cap, command...: runs it with a timeout, logs to OUT_DIR/<name>.log
  local name="$1" cap="$2"; shift 2
  local t0=$SECONDS rc=0
  [ "$cap" -gt "$(left)" ] && cap=$(left)
  if [ "$cap" -le 0 ]; then note "$name: not run (time budget spent)"; status=1; return 1; fi
  timeout "$cap" "$@" > "$out/$name.log" 2>&1 || rc=$?
  note "$name: exit $rc after $((SECONDS - t0)) s (log: $name.log)"
  [ "$rc" = 0 ] || status=1
  return "$rc"
}

export PATH="$PATH:/usr/local/cuda/bin"
if ! command -v nvcc >/dev/null; then note "no nvcc: nothing to do"; exit 1; fi
note "nvcc: $(nvcc --version | tail -n 1)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"
else
  note "no nvidia-smi: the tests will fail at Kokkos::initialize without a GPU"
fi
# (nproc alone reads OMP_NUM_THREADS: with it set to 1, the build would run one job)
jobs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)

kokkos="${MCSC_KOKKOS_CUDA:-}"
if [ -z "$kokkos" ]; then
  step kokkos 300 bash "$here/cmake/setup.sh" --kokkos 4.6-cuda
  kokkos=$(tail -n 1 "$out/kokkos.log")
fi
if [ ! -x "$kokkos/bin/nvcc_wrapper" ]; then note "no Kokkos CUDA install at '$kokkos'"; exit 1; fi
note "kokkos: $kokkos"

build="$here/build/gpu"
step configure 120 cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKokkos_ROOT="$kokkos" \
  -DCMAKE_CXX_COMPILER="$kokkos/bin/nvcc_wrapper" -DMCSC_CHECK_HEADERS=OFF -DMCSC_TEST_SPACES=all || exit 1
step build 420 cmake --build "$build" -j "$jobs" || exit 1

export OMP_PROC_BIND=false OMP_WAIT_POLICY=passive
step ctest 300 bash -c "cd '$build' && ctest --output-on-failure -j 4 --timeout 240"

inputs="${MCSC_BENCH_INPUTS:-$here/../shared/bench/inputs}"
step bench_conv 120 "$build/benchmarks/bench_conv" --json "$out/bench_conv.json"
if [ -d "$inputs" ]; then
  step bench_networks 180 "$build/benchmarks/bench_networks" --inputs "$inputs" --json "$out/bench_networks.json"
  step bench_solvers 180 "$build/benchmarks/bench_solvers" --inputs "$inputs" --json "$out/bench_solvers.json"
else
  note "bench_networks, bench_solvers: skipped, no benchmark inputs at '$inputs' (set MCSC_BENCH_INPUTS)"
  status=1
fi
note "total: $((SECONDS - start)) s, status $status"
exit "$status"
