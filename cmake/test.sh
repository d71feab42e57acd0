#!/usr/bin/env bash
# Builds and runs the whole mcsc test suite on a fresh Debian 12 machine (does its own setup):
#   1. cmake/setup.sh: Debian packages (OpenMPI where apt has it) + Kokkos (OpenMP + Serial) into
#      ~/.cache/mcsc
#   2. Release build with -Wall -Wextra -Werror, every test through ctest (OpenMP with 2 threads;
#      the kernel tests also on Serial, MCSC_TEST_SPACES=core; the data-parallel training tests
#      under mpirun with 2 and 3 ranks, label 'mpi', reported skipped without OpenMPI)
#   3. the library tests again under AddressSanitizer + UndefinedBehaviorSanitizer (-O1), kept
#      short to keep CI within its budget: typed tests in float on the default execution space
#      (double where a test needs it), without the example programs and benchmarks, whose tests
#      run in step 2, and without the classical solvers' algorithm tests (MCSC_SANITIZE_SKIPS in
#      tests/CMakeLists.txt); the official-weight parity tests, label 'parity', only in step 2:
#      they are large float computations whose code paths the sanitized pass covers with smaller
#      tests), and without MPI (OpenMPI's own allocations would fail the leak check; the sharded
#      training step it drives runs here without MPI, in test_trainer)
#   4. fuzzing (cmake/fuzz.sh): the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan) and
#      the converter's fuzz loop (tools/fuzz_convert.py), MCSC_FUZZ_SECONDS each (default 30),
#      one per core side by side and nothing else beside them: run beside the builds of steps 5
#      and 6, the harnesses ran 5 to 16 times fewer inputs in their 30 s
#   5. the release suite of step 2 again (at -O2), built against Kokkos 4.6.99 (OpenMP + Serial;
#      the source snapshot in ../shared/kokkos, built once into the cache by setup.sh --kokkos
#      4.6, with its fix for GCC 12), every test on the default space (OpenMP), without the
#      headers' self-containedness check, the benchmarks, the -march=native kernel test and the
#      tests labelled 'parity' (the official-weight and SPORCO comparisons and the full-image
#      task runs, about 10 minutes): step 2 runs all of those, and their code paths run here in
#      smaller tests
#   6. a CUDA build: Kokkos 4.6.99 with CUDA (sm_90, built once into the cache by setup.sh
#      --kokkos 4.6-cuda) and mcsc compiled with its nvcc_wrapper, host-only calls inside kernels
#      as errors: every test (instantiated for the CUDA space, float, double where a test needs
#      it) and the six task programs, one per task, compiled and linked, not run (no GPU here);
#      the host code at -O0 (the device code optimised as always), which halves the step's time.
#      The five general programs (mcsc-demo, -train, -infer, -solve, -export-model) and the
#      benchmarks are left to benchmarks/gpu_check.sh (docs/gpu.md). Skipped, with the reason,
#      when there is no nvcc.
# Environment: MCSC_BUILD_DIR (default <repo>/build), MCSC_SKIP_SANITIZE=1 to skip step 3,
# MCSC_SKIP_FUZZ=1 to skip step 4, MCSC_KOKKOS4=0 to skip step 5, MCSC_CUDA_BUILD=0 to skip
# step 6, MCSC_KOKKOS_ROOT to use another installed Kokkos instead of building one for steps 2-4.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "${MCSC_KOKKOS_ROOT:-}" ]; then
  kokkos="$MCSC_KOKKOS_ROOT"
  bash "$here/cmake/setup.sh" >/dev/null  # packages only are needed, Kokkos build is cheap when cached
else
  kokkos=$(bash "$here/cmake/setup.sh" | tail -n 1)
fi
build="${MCSC_BUILD_DIR:-$here/build}"
# (nproc alone reads OMP_NUM_THREADS: with it set to 1, the build would run one job)
jobs=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
export OMP_PROC_BIND=false
# ctest runs tests in parallel, so OpenMP threads outnumber the cores: spin-waiting at barriers
# would make the many-small-kernel solver tests several times slower (tests/CMakeLists.txt).
export OMP_WAIT_POLICY=passive
# A test that needs ../shared fails when it is missing instead of skipping (tests/test_common.hpp,
# MCSC_SHARED_MISSING); without this variable such a test reports itself skipped to ctest.
export MCSC_REQUIRE_SHARED="${MCSC_REQUIRE_SHARED:-1}"

# shellcheck source=cmake/ccache_env.sh
source "$here/cmake/ccache_env.sh"
launcher=()
[ "$mcsc_ccache" = 0 ] || launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
ccache_summary() {  # the cache's hits in the build just made (nothing without ccache)
  [ ${#launcher[@]} -gt 0 ] || return 0
  echo "== ccache: $(ccache --print-stats | awk -F'\t' '$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" {h += $2}
    $1 == "cache_miss" {m = $2} END {printf "%d of %d compilations from the cache", h, h + m}')"
}

build_only() {  # name, Kokkos prefix, extra cmake args...
  local dir="$build/$1" prefix="$2"; shift 2
  echo "== configuring $dir (Kokkos: $prefix)"
  cmake -S "$here" -B "$dir" -DKokkos_ROOT="$prefix" -DMCSC_WERROR=ON ${launcher[@]+"${launcher[@]}"} "$@" >/dev/null
  echo "== building $dir"
  [ ${#launcher[@]} = 0 ] || ccache --zero-stats >/dev/null
  local start=$SECONDS
  local targets=()  # all, or those named in build_targets (space-separated)
  # shellcheck disable=SC2206
  [ -z "${build_targets:-}" ] || targets=($build_targets)
  cmake --build "$dir" -j "$jobs" ${targets[@]:+--target "${targets[@]}"} 2>&1 | grep -vE '^\[ *[0-9]+%\]|^(gmake|make)\[' || true
  cmake --build "$dir" -j "$jobs" ${targets[@]:+--target "${targets[@]}"} >/dev/null  # fails loudly if the build above failed
  echo "== built $dir in $((SECONDS - start)) s"
  ccache_summary
}
run_suite() {  # name, Kokkos prefix, ctest arguments (space-separated, may be empty), extra cmake args...
  local name="$1" prefix="$2" ctest_args="$3"; shift 3
  build_only "$name" "$prefix" "$@"
  echo "== testing $build/$name"
  # shellcheck disable=SC2086
  (cd "$build/$name" && ctest --output-on-failure -j "$jobs" --timeout 900 $ctest_args)
}

run_suite release "$kokkos" "" -DCMAKE_BUILD_TYPE=Release
if [ "${MCSC_SKIP_SANITIZE:-0}" != 1 ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite sanitize "$kokkos" "--label-exclude parity" -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1" -DMCSC_SANITIZE=ON \
    -DMCSC_CHECK_HEADERS=OFF -DMCSC_BUILD_BENCHMARKS=OFF -DMCSC_BUILD_EXAMPLES=OFF -DMCSC_TEST_SPACES=float \
    -DMCSC_ENABLE_MPI=OFF
fi
if [ "${MCSC_SKIP_FUZZ:-0}" != 1 ]; then
  start=$SECONDS
  MCSC_KOKKOS_ROOT="$kokkos" MCSC_BUILD_DIR="$build" bash "$here/cmake/fuzz.sh" "${MCSC_FUZZ_SECONDS:-30}"
  echo "== fuzzing done in $((SECONDS - start)) s"
fi
if [ "${MCSC_KOKKOS4:-1}" = 1 ]; then
  kokkos4=$(bash "$here/cmake/setup.sh" --kokkos 4.6 | tail -n 1)
  # (The headers' self-containedness check does not depend on the Kokkos version: step 2 has it.)
  # -O2 rather than Release's -O3: a fifth less compile time; step 2 tests the -O3 build.
  # Nor the benchmarks and the -march=native kernel test: step 2 builds and runs them, and neither
  # has code that depends on the Kokkos version (their build took a quarter of this step's). The
  # kernel tests on the default space (OpenMP) only: step 2 runs them on Serial too.
  run_suite release-kokkos4 "$kokkos4" "--label-exclude parity" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG" -DMCSC_CHECK_HEADERS=OFF -DMCSC_BUILD_BENCHMARKS=OFF -DMCSC_TEST_NATIVE=OFF \
    -DMCSC_TEST_SPACES=default
fi
if [ "${MCSC_CUDA_BUILD:-1}" = 1 ]; then
  status=0
  kokkos_cuda=$(bash "$here/cmake/setup.sh" --kokkos 4.6-cuda | tail -n 1) || status=$?
  if [ "$status" = 3 ]; then
    echo "== CUDA build skipped: no nvcc on this machine (setup.sh --kokkos 4.6-cuda says why above)"
  elif [ "$status" != 0 ]; then
    exit "$status"
  else
    # The tests and the six task programs (one per task); not the five general programs (mcsc-demo,
    # -train, -infer, -solve, -export-model), whose code is the tests' and the task harness' (docs/gpu.md).
    PATH="$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)"):$PATH" \
      build_targets="mcsc_tests mcsc_task_programs" build_only cuda "$kokkos_cuda" -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O0 -DCMAKE_CXX_EXTENSIONS=OFF \
      -DCMAKE_CXX_COMPILER="$kokkos_cuda/bin/nvcc_wrapper" \
      -DMCSC_CHECK_HEADERS=OFF -DMCSC_BUILD_BENCHMARKS=OFF -DMCSC_TEST_SPACES=float
    echo "== CUDA build done (compiled and linked, not run: no GPU here)"
  fi
fi
