#!/usr/bin/env bash
# The mcsc demo on a fresh Debian 12 machine (does its own setup): RGB-guided depth
# super-resolution x4 on real Middlebury scenes from Debian packages (never committed): Aloe
# (opencv-doc) is the test scene, Motorcycle (python3-skimage) the training scene. It compares
# bicubic upsampling, the guided filter, joint bilateral upsampling, the classical multimodal
# solver (coupled dictionaries + common/unique sparse coding) and a CU-Net trained here for a few
# minutes on the CPU, prints the table (RMSE on 0-255, SSIM) and writes an HTML report.
#
#   bash cmake/demo.sh                                   # output: ./mcsc-demo-output/report.html
#   bash cmake/demo.sh --weights ../shared/weights/cunet/depth_ks9.pth   # adds the official CU-Net row
#
# --weights takes an mcsc checkpoint or an official .pth file (converted on the fly into the cache
# with tools/convert_cunet_pth.py, which needs no PyTorch). Every other argument goes to
# mcsc-task-depth-sr (see --help), e.g. --epochs 20 for a longer training run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kokkos=$(bash "$here/cmake/setup.sh" --demo-data | tail -n 1)
cache="${MCSC_CACHE:-$HOME/.cache/mcsc}"
data="$cache/data"
build="${MCSC_BUILD_DIR:-$here/build}/release"
cmake -S "$here" -B "$build" -DKokkos_ROOT="$kokkos" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target mcsc-task-depth-sr -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" >/dev/null

args=()
output=(--output-dir mcsc-demo-output)
overwrite=(--overwrite)  # the demo trains afresh each run, replacing its own earlier checkpoint
while [ $# -gt 0 ]; do
  if [ "$1" = --weights ] && [ $# -ge 2 ] && [[ "$2" == *.pth ]]; then
    converted="$cache/weights/$(basename "$2" .pth).mcsc"
    mkdir -p "$cache/weights"
    [ -f "$converted" ] || python3 "$here/tools/convert_cunet_pth.py" "$2" "$converted" >&2
    args+=(--weights "$converted")
    shift 2
  else
    case "$1" in --output-dir|--output-dir=*) output=() ;; --resume) overwrite=() ;; esac
    args+=("$1")
    shift
  fi
done

OMP_PROC_BIND=${OMP_PROC_BIND:-false} "$build/examples/mcsc-task-depth-sr" \
  --title "Demo: RGB-guided depth super-resolution on Middlebury Aloe (trained on Motorcycle)" \
  --test "Aloe=$data/aloeGT.png:$data/aloeL.jpg" \
  --train "Motorcycle=$data/motorcycle_disp.npy:$data/motorcycle_left.png" --fill-holes \
  "${output[@]}" "${overwrite[@]}" "${args[@]}"
