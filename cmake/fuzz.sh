#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with Debian's clang (-fsanitize=fuzzer,address,
# undefined) against the Kokkos 3.4 install of cmake/setup.sh, and runs each for SECONDS
# (default 60), then the converter's fuzz loop (tools/fuzz_convert.py, harness name 'convert')
# for as long. Fails on any crash, leak, sanitizer report or unexpected exception (a reader may
# only refuse an input with mcsc::Error; the converter only with its own error, within 2 GiB),
# and prints each harness' executions per second.
#   bash cmake/fuzz.sh [SECONDS] [HARNESS...]
# Corpora: the seeds each harness writes (MCSC_FUZZ_WRITE_SEEDS), a few real files of ../shared
# (copied into the build folder, not into the repository: the .npy/.f32 dictionaries of
# ../shared/bench/inputs, the smallest PNG and the BMP of ../shared/data) and tests/fuzz/corpus/
# (committed: inputs that once found a defect, kept as regressions). What a run finds new goes
# to the build folder's corpus, which later runs reuse. Environment: MCSC_BUILD_DIR (default
# <repo>/build), MCSC_KOKKOS_ROOT (another Kokkos install built with OpenMP or Serial).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=60
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
# (libFuzzer reads -max_total_time=0 as "no limit")
[ "$seconds" -ge 1 ] || { echo "fuzz.sh: SECONDS must be at least 1, got '$seconds'" >&2; exit 2; }
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(npy array image checkpoint state_dict options convert)
kokkos=${MCSC_KOKKOS_ROOT:-$(bash "$here/cmake/setup.sh" | tail -n 1)}
out=${MCSC_BUILD_DIR:-$here/build}/fuzz
shared=$(cd "$here/.." && pwd)/shared
mkdir -p "$out"
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (setup.sh installs clang)" >&2; exit 1; }
# shellcheck source=cmake/ccache_env.sh
source "$here/cmake/ccache_env.sh"
compile=(clang++)
[ "$mcsc_ccache" = 0 ] || compile=(ccache clang++)
klib=$kokkos/lib
[ -d "$klib" ] || klib=$kokkos/lib64
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -fopenmp -Wall -Wextra -Werror -DEIGEN_NO_CUDA -I"$here/include" -isystem "$kokkos/include")
libs=("$klib/libkokkoscontainers.a" "$klib/libkokkoscore.a" -lstb -lfftw3f -lfftw3 -lfftw3f_threads -lfftw3_threads -ldl -lpthread)
export OMP_NUM_THREADS=1 OMP_PROC_BIND=false
# Harnesses are built, then run, MCSC_FUZZ_JOBS at a time (default: one per core; each harness and
# each clang++ is one process on one core). Each writes what it has to say to $out/say_<h>, printed
# in order once all are done, and its status to $out/status_<h>.
# (nproc alone reads OMP_NUM_THREADS, which is 1 here)
jobs=${MCSC_FUZZ_JOBS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: MCSC_FUZZ_JOBS must be a positive integer, got '$jobs'" >&2; exit 2; }
for h in "${harnesses[@]}"; do
  [ "$h" = convert ] || [ -f "$here/tests/fuzz/fuzz_$h.cpp" ] || { echo "fuzz.sh: no harness '$h' ($here/tests/fuzz/fuzz_$h.cpp)" >&2; exit 2; }
done
throttle() {  # waits until fewer than $jobs background jobs run
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
}

build_harness() {
  local h=$1 src=$here/tests/fuzz/fuzz_$1.cpp bin=$out/fuzz_$1 start=$SECONDS
  local sources=("$src") objects=() extra=() link=() i ok=1
  if [ "$h" = options ]; then  # the options harness runs the task programs' own option code
    sources+=("$here"/examples/tasks/task_{samples,methods,report,options}.cpp)
    extra=(-DMCSC_SOURCE_DIR="\"$here\"")
    link=(-lboost_program_options)
  fi
  # One object per source, compiled side by side (the options harness' five took 2.5 minutes in a row).
  for i in "${!sources[@]}"; do
    objects+=("$out/obj_${h}_$i.o")
    "${compile[@]}" "${flags[@]}" "${extra[@]}" -c "${sources[$i]}" -o "${objects[$i]}" > "$out/build_${h}_$i.log" 2>&1 &
  done
  for i in "${!sources[@]}"; do wait %$((i + 1)) || ok=0; done
  [ $ok = 1 ] && clang++ "${flags[@]}" "${objects[@]}" -o "$bin" "${libs[@]}" "${link[@]}" > "$out/build_${h}_link.log" 2>&1 || ok=0
  rm -f "${objects[@]}"
  if [ $ok = 1 ]; then
    echo "== fuzz_$h built in $((SECONDS - start)) s"
  else
    echo "!! fuzz_$h failed to build:"; cat "$out"/build_"${h}"_*.log; return 1
  fi
}

run_harness() {
  local h=$1 bin=$out/fuzz_$1 seeds=$out/seeds_$1 corpus=$out/corpus_$1 log=$out/fuzz_$1.log
  if [ "$h" = convert ]; then
    echo "== fuzz_convert.py: $seconds s"
    local ok=1
    /usr/bin/python3 "$here/tools/fuzz_convert.py" --seconds "$seconds" --crash-dir "$out/crash_convert" \
      > "$out/fuzz_convert.log" 2>&1 || ok=0
    if [ $ok = 0 ]; then
      echo "!! fuzz_convert.py failed; inputs in $out/crash_convert; log: $out/fuzz_convert.log"
      tail -n 20 "$out/fuzz_convert.log" || true
    fi
    echo "   $(tail -n 1 "$out/fuzz_convert.log" | sed 's/^fuzz_convert.py: //')"
    [ $ok = 1 ]; return
  fi
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus"
  MCSC_FUZZ_WRITE_SEEDS=$seeds "$bin" >/dev/null 2>&1 || true
  case $h in
    npy|array) cp "$shared"/bench/inputs/dict_sporco_G8x8x32_layout-MHW_32x8x8.npy "$seeds"/ 2>/dev/null || true ;;
    image) cp "$shared"/data/depth/middlebury2005_books_lr_x16_noisy.png "$seeds"/ 2>/dev/null || true ;;
  esac
  local committed=()
  [ -d "$here/tests/fuzz/corpus/$h" ] && committed=("$here/tests/fuzz/corpus/$h")
  echo "== fuzz_$h: $seconds s"
  if (cd "$out" && "$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -timeout=20 -print_final_stats=1 -artifact_prefix="$out/crash_$h-" "$corpus" "$seeds" "${committed[@]}") >"$log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
    echo "   $runs inputs, $((runs / (seconds > 0 ? seconds : 1))) per second; corpus $(ls "$corpus" | wc -l) files"
  else
    echo "!! fuzz_$h failed; the input is $out/crash_$h-*; log: $log"
    grep -E 'ERROR|error|mcsc fuzz|SUMMARY|==[0-9]+==' "$log" | head -20 || true
    return 1
  fi
}

in_background() {  # phase, harness: runs "<phase>_harness h" in the background, into say_/status_ files
  throttle
  ( status=0; "$1_harness" "$2" > "$out/say_$2" 2>&1 || status=$?; echo $status > "$out/status_$2" ) &
}
report() {  # prints every harness' say_ file in order; fails if any status is not 0
  wait
  local h failed=0
  for h in "${harnesses[@]}"; do
    [ -f "$out/say_$h" ] || continue
    cat "$out/say_$h"
    [ "$(cat "$out/status_$h" 2>/dev/null || echo 1)" = 0 ] || failed=1
    rm -f "$out/say_$h" "$out/status_$h"
  done
  return $failed
}

# The options harness (five translation units, the longest build by far) first, so the others build beside it.
build_order=()
for h in "${harnesses[@]}"; do [ "$h" = options ] && build_order=(options "${build_order[@]}") || build_order+=("$h"); done
for h in "${build_order[@]}"; do
  [ "$h" = convert ] && continue
  bin=$out/fuzz_$h
  if [ ! -x "$bin" ] || [ -n "$(find "$here/include" "$here/tests/fuzz" "$here/examples" -newer "$bin" -name '*.?pp' -print -quit)" ]; then
    rm -f "$bin"  # a failed build leaves no stale binary to be run or to look up to date
    in_background build "$h"
  fi
done
report || exit 1
status=0
for h in "${harnesses[@]}"; do in_background run "$h"; done
report || status=1
exit $status
