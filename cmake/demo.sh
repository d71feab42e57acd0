#!/usr/bin/env bash
# Runs the mcsc demo on a fresh Debian 12 machine (does its own setup): installs what is needed,
# builds Kokkos into ~/.cache/mcsc, fetches the demo photographs from Debian's python3-skimage
# package into the same cache, builds examples/csc_demo and runs it. Extra arguments go to the
# demo (see `csc_demo --help`). Output images: ./mcsc-demo-output unless --output-dir is given.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kokkos=$(bash "$here/cmake/setup.sh" --demo-data | tail -n 1)
build="${MCSC_BUILD_DIR:-$here/build}/release"
cmake -S "$here" -B "$build" -DKokkos_ROOT="$kokkos" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target csc_demo -j "$(nproc)" >/dev/null
OMP_PROC_BIND=${OMP_PROC_BIND:-false} "$build/examples/csc_demo" "$@"
