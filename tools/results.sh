#!/usr/bin/env bash
# Regenerates the tables and figures of docs/results.md from the zoo (models/) and ../shared:
# every task's table with the baselines, the classical multimodal solver, the zoo model, the
# official CU-Net checkpoint where one exists and the guide ablations; the training curves.
#
#   bash tools/results.sh [OUT]        (default OUT: mcsc-results; needs a release build)
#
# Environment: MCSC_BUILD_DIR (default <repo>/build), MCSC_SHARED_DIR (default <repo>/../shared).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${MCSC_BUILD_DIR:-$here/build}/release/examples"
shared="${MCSC_SHARED_DIR:-$here/../shared}"
out="${1:-mcsc-results}"
mkdir -p "$out"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_PROC_BIND=false
python3 "$here/tools/convert_cunet_pth.py" "$shared/weights/cunet/depth_ks9.pth" "$out/depth_ks9.mcsc" >/dev/null

echo "== depth x4 (Middlebury Art and Books, full images)"
"$build/mcsc-task-depth-sr" --data-dir "$shared/data" --no-train --guide-ablation --weights "$out/depth_ks9.mcsc" \
  --output-dir "$out/depth-x4" --quiet
echo "== NIR x4 (EPFL 0026 and 0030, full images)"
"$build/mcsc-task-nir-sr" --data-dir "$shared/data" --scale 4 --no-train --guide-ablation --output-dir "$out/nir-x4" --quiet
echo "== NIR x2 (EPFL 0026 and 0030, full images)"
"$build/mcsc-task-nir-sr" --data-dir "$shared/data" --scale 2 --no-train --guide-ablation --output-dir "$out/nir-x2" --quiet

echo "== flash denoising sigma 25, 50, 75 (the two cave pairs, full images)"
for sigma in 25 50 75; do
  python3 "$here/tools/convert_cunet_pth.py" "$shared/weights/cunet/denoise$sigma.pth" "$out/denoise$sigma.mcsc" >/dev/null
done
"$build/mcsc-task-flash-denoise" --data-dir "$shared/data" --no-train --no-classical --guide-ablation --weights "$out" \
  --output-dir "$out/flash" --quiet
echo "== flash denoising, the classical solver's rows (dictionaries from flash_noflash_train, as the zoo model's data)"
"$build/mcsc-task-flash-denoise" --data-dir "$shared/data" --no-train --no-zoo --train-dir flash_noflash_train \
  --train-crop 512 --holdout 2 --output-dir "$out/flash-classical" --quiet

echo "== multi-focus fusion (Lytro 01 and Clock, full images; CSR: the training run's table, --no-csr here)"
python3 "$here/tools/convert_cunet_pth.py" "$shared/weights/cunet/multi_focus.pth" "$out/multi_focus.mcsc" >/dev/null
"$build/mcsc-task-multi-focus" --data-dir "$shared/data" --no-train --no-classical --no-csr --weights "$out/multi_focus.mcsc" \
  --output-dir "$out/multi-focus" --quiet

echo "== multi-exposure fusion (the four real pairs, full images: average, Mertens, zoo, official; --no-csr)"
python3 "$here/tools/convert_cunet_pth.py" "$shared/weights/cunet/multi_exposure.pth" "$out/multi_exposure.mcsc" >/dev/null
"$build/mcsc-task-multi-exposure" --data-dir "$shared/data" --no-train --no-classical --no-csr --weights "$out/multi_exposure.mcsc" \
  --output-dir "$out/multi-exposure" --quiet
echo "== medical fusion (the two brain slices; the official multi_focus model on them replicated to RGB)"
"$build/mcsc-task-medical-fusion" --data-dir "$shared/data" --no-train --no-classical --no-csr --weights "$out/multi_focus.mcsc" \
  --output-dir "$out/medical" --quiet

echo "== training curves"
mkdir -p "$here/docs/results"
python3 "$here/tools/plot_training.py" "$here/docs/results/training_curves.svg" \
  "depth x4 CU-Net v2 (fine-tuned)=$here/models/depth-x4-cunet-v2.train_log.csv" \
  "depth x4 CU-Net v3 (edge-weighted, from v2)=$here/models/depth-x4-cunet.train_log.csv@7407" \
  "NIR x4 LMCSC=$here/models/nir-x4-lmcsc.train_log.csv" \
  "NIR x4 CU-Net=$here/models/nir-x4-cunet.train_log.csv" \
  "NIR x2 LMCSC (fine-tuned)=$here/models/nir-x2-lmcsc.train_log.csv" \
  "NIR x2 CU-Net (fine-tuned)=$here/models/nir-x2-cunet.train_log.csv" \
  "flash sigma 25 CU-Net=$here/models/flash-denoise25-cunet.train_log.csv" \
  "flash sigma 50 CU-Net (fine-tuned)=$here/models/flash-denoise50-cunet.train_log.csv" \
  "flash sigma 75 CU-Net (fine-tuned)=$here/models/flash-denoise75-cunet.train_log.csv" \
  "multi-focus CU-Net=$here/models/multi-focus-cunet.train_log.csv" \
  "multi-exposure CU-Net (fine-tuned, Mertens targets)=$here/models/multi-exposure-cunet.train_log.csv" \
  "medical CU-Net (fine-tuned)=$here/models/medical-fusion-cunet.train_log.csv"
echo "tables: $out/*/table.txt; reports: $out/*/report.html"
