#!/usr/bin/env bash
# mcsc fresh-machine setup (Debian 12). Idempotent: a second run only checks and returns.
#
#   cmake/setup.sh                    Debian packages (OpenMPI, ccache where apt has them) + Kokkos 3.4 (OpenMP +
#                                     Serial) into the cache
#   cmake/setup.sh --demo-data        also the demo photographs (from Debian packages, into the cache)
#   cmake/setup.sh --kokkos 4.6       also Kokkos 4.6.99 (OpenMP + Serial) from ../shared/kokkos
#   cmake/setup.sh --kokkos 4.6-cuda  also Kokkos 4.6.99 with CUDA (sm_90, OpenMP host); needs nvcc
#                                     (PATH or /usr/local/cuda/bin): without it, exits 3 and says so
#
# Prints the install prefix of the Kokkos asked for (default 3.4) on its last line (for
# -DKokkos_ROOT=...). The cache lives outside the repository: $MCSC_CACHE, default ~/.cache/mcsc.
# The Kokkos 4.6 source is the snapshot in $MCSC_SHARED/kokkos (default: ../shared beside the
# repository; its README says what it is).
# The system's apt configuration is not changed: Kokkos' source comes from Debian's `trilinos`
# source package through a private deb-src list written into the cache, derived from the
# machine's own apt sources (same mirrors, same keys).
set -euo pipefail

CACHE="${MCSC_CACHE:-$HOME/.cache/mcsc}"
KOKKOS_PREFIX="$CACHE/kokkos-openmp"
WANT_DEMO=0
WANT_KOKKOS=3.4
while [ $# -gt 0 ]; do
  case "$1" in
    --demo-data) WANT_DEMO=1 ;;
    --kokkos)
      [ $# -ge 2 ] || { echo "setup.sh: --kokkos needs a value: 3.4, 4.6 or 4.6-cuda" >&2; exit 2; }
      WANT_KOKKOS="$2"; shift
      case "$WANT_KOKKOS" in 3.4|4.6|4.6-cuda) ;; *)
        echo "setup.sh: --kokkos '$WANT_KOKKOS' is not one of 3.4, 4.6, 4.6-cuda" >&2; exit 2 ;;
      esac ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

log() { printf '[mcsc-setup] %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    log "not root and no sudo: install the packages listed in cmake/setup.sh by hand"; fi
fi

# ---------------------------------------------------------------- Debian packages
PACKAGES=(build-essential cmake pkg-config dpkg-dev xz-utils
          libfftw3-dev libeigen3-dev libboost-program-options-dev catch2
          libstb-dev libpng-dev python3 clang libomp-dev)
# The packages of those given that are not installed, one per line.
not_installed() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
apt_install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2; }
mapfile -t missing < <(not_installed "${PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  apt_install "${missing[@]}"
fi

# Optional packages, so that a machine whose apt cannot reach them still builds everything else:
# MPI (Debian's OpenMPI) for mcsc::mpi and its tests (CMake then leaves MPI out and says so in
# ctest), and ccache, which cmake/test.sh uses when it is there.
mapfile -t missing < <(not_installed libopenmpi-dev openmpi-bin ccache)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing optional Debian packages: ${missing[*]}"
  # From apt's cache first (no network needed when the .debs are there), then after an update.
  if ! apt_install "${missing[@]}" && ! { $SUDO apt-get update -qq && apt_install "${missing[@]}"; }; then
    log "could not install ${missing[*]}: without OpenMPI mcsc is built without its MPI part (MCSC_ENABLE_MPI off)"
  fi
fi

# ---------------------------------------------------------------- private apt state in the cache
APT_DIR="$CACHE/apt"
apt_private() {
  apt-get -o Dir::Etc::SourceList="$APT_DIR/sources.list" \
          -o Dir::Etc::SourceParts="$APT_DIR/sources.list.d" \
          -o Dir::State::Lists="$APT_DIR/lists" \
          -o Dir::Cache="$APT_DIR/cache" \
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}
prepare_private_apt() {
  [ -f "$APT_DIR/.ready" ] && return 0
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/sources.list.d"
  : > "$APT_DIR/sources.list"
  # Copy the machine's own sources, binary and source types both (deb822 and one-line formats).
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -e 's/^Types:.*/Types: deb deb-src/' "$f" > "$APT_DIR/sources.list.d/$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^\s*deb\s' /etc/apt/sources.list | sed -e 'p' -e 's/^\(\s*\)deb\s/\1deb-src /' \
      >> "$APT_DIR/sources.list" || true
  fi
  log "updating the private package lists in $APT_DIR"
  apt_private update -qq >&2
  touch "$APT_DIR/.ready"
}

# ---------------------------------------------------------------- Kokkos from Debian's trilinos source
# (only when Kokkos 3.4 is asked for: --kokkos 4.6* needs neither the network nor this build)
if [ "$WANT_KOKKOS" = 3.4 ] && [ ! -f "$KOKKOS_PREFIX/.mcsc-complete" ]; then
  prepare_private_apt
  SRC="$CACHE/src"
  mkdir -p "$SRC"
  if ! ls "$SRC"/trilinos_*.orig.tar.* >/dev/null 2>&1; then
    log "downloading Debian's trilinos source package (about 170 MB, once)"
    (cd "$SRC" && apt_private source --download-only trilinos >&2)
  fi
  tarball=$(ls "$SRC"/trilinos_*.orig.tar.* | head -n 1)
  KOKKOS_SRC="$SRC/kokkos-src"
  if [ ! -f "$KOKKOS_SRC/CMakeLists.txt" ]; then
    log "extracting packages/kokkos from $(basename "$tarball")"
    rm -rf "$SRC/extract" "$KOKKOS_SRC"; mkdir -p "$SRC/extract"
    tar -xf "$tarball" -C "$SRC/extract" --wildcards '*/packages/kokkos/*'
    mv "$(find "$SRC/extract" -maxdepth 3 -type d -path '*/packages/kokkos' | head -n 1)" "$KOKKOS_SRC"
    rm -rf "$SRC/extract"
  fi
  build_log="$CACHE/kokkos-build.log"
  log "building Kokkos (OpenMP + Serial) into $KOKKOS_PREFIX (log: $build_log)"
  rm -rf "$SRC/kokkos-build"
  if ! { cmake -S "$KOKKOS_SRC" -B "$SRC/kokkos-build" -DCMAKE_BUILD_TYPE=Release \
           -DCMAKE_INSTALL_PREFIX="$KOKKOS_PREFIX" -DCMAKE_CXX_STANDARD=17 \
           -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
           -DKokkos_ENABLE_OPENMP=ON -DKokkos_ENABLE_SERIAL=ON \
           -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF &&
         cmake --build "$SRC/kokkos-build" -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" &&
         cmake --install "$SRC/kokkos-build"; } > "$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    log "the Kokkos build failed; full log: $build_log"
    exit 1
  fi
  touch "$KOKKOS_PREFIX/.mcsc-complete"
fi

# ---------------------------------------------------------------- demo photographs (never committed)
# python3-skimage: photographs and Middlebury Motorcycle (left view + float disparity, .npz ->
# .npy with Python's zipfile); opencv-doc: Middlebury Aloe (left view + ground-truth disparity).
# The packages are downloaded, not installed, and deleted after the files are copied out.
if [ "$WANT_DEMO" = 1 ]; then
  DATA="$CACHE/data"
  if [ ! -f "$DATA/.ready-2" ]; then
    prepare_private_apt
    rm -rf "$DATA/root" "$DATA/debs"
    mkdir -p "$DATA/debs" "$DATA/root"
    log "fetching python3-skimage's and opencv-doc's bundled images into $DATA (packages are downloaded, not installed)"
    (cd "$DATA/debs" && apt_private download python3-skimage opencv-doc >&2)
    dpkg-deb -x "$DATA"/debs/python3-skimage_*.deb "$DATA/root"
    skd=$(dirname "$(find "$DATA/root" -name camera.png -path '*skimage/data/*' | head -n 1)")
    for f in camera.png astronaut.png coffee.png motorcycle_left.png motorcycle_right.png \
             motorcycle_disp.npz brick.png grass.png; do
      [ -f "$skd/$f" ] && cp "$skd/$f" "$DATA/$f"
    done
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("arr_0.npy"))' \
      "$DATA/motorcycle_disp.npz" "$DATA/motorcycle_disp.npy"
    dpkg-deb --fsys-tarfile "$DATA"/debs/opencv-doc_*.deb |
      tar -x -C "$DATA/root" ./usr/share/doc/opencv-doc/examples/data/aloeL.jpg ./usr/share/doc/opencv-doc/examples/data/aloeGT.png
    cp "$DATA"/root/usr/share/doc/opencv-doc/examples/data/aloe{L.jpg,GT.png} "$DATA/"
    rm -rf "$DATA/root" "$DATA/debs"
    touch "$DATA/.ready" "$DATA/.ready-2"
  fi
fi

# ---------------------------------------------------------------- Kokkos 4.6 from ../shared/kokkos
# The snapshot's README gives these configurations; an OpenMP build takes a minute or two, the
# CUDA one 10-25 minutes on 2 cores (10 measured here; once: the install is cached, about 9 MB).
build_kokkos4() {  # variant (openmp | cuda) -> prints the prefix
  local variant="$1" prefix="$CACHE/kokkos4-$1"
  # (-2: built with cmake/kokkos-4.6.99-gcc12.patch; an earlier install without it is rebuilt)
  if [ -f "$prefix/.mcsc-complete-2" ]; then echo "$prefix"; return 0; fi
  local shared="${MCSC_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared}"
  local tarball
  tarball=$(ls "$shared"/kokkos/kokkos-4.6.99-*.tar.gz 2>/dev/null | head -n 1 || true)
  if [ -z "$tarball" ]; then
    log "no Kokkos 4.6 snapshot: $shared/kokkos/kokkos-4.6.99-*.tar.gz not found (set MCSC_SHARED to the folder holding kokkos/)"
    exit 1
  fi
  local src="$CACHE/src/kokkos-4.6.99" build="$CACHE/src/kokkos4-$variant-build" build_log="$CACHE/kokkos4-$variant-build.log"
  if [ ! -f "$src/.mcsc-from-$(basename "$tarball")" ]; then
    log "extracting $(basename "$tarball")"
    rm -rf "$src" "$CACHE/src/kokkos4-extract"; mkdir -p "$CACHE/src/kokkos4-extract"
    tar -xzf "$tarball" -C "$CACHE/src/kokkos4-extract"
    mv "$(find "$CACHE/src/kokkos4-extract" -mindepth 1 -maxdepth 1 -type d | head -n 1)" "$src"
    rm -rf "$CACHE/src/kokkos4-extract"
    touch "$src/.mcsc-from-$(basename "$tarball")"
  fi
  # GCC 12.2-12.5 miscompile the snapshot's constexpr SharedAllocationTracker() in release builds:
  # every default-constructed View then crashes when destroyed (kokkos/kokkos#7464, #8187; fixed
  # upstream by #8223 and #9262, after this snapshot). The patch is upstream's change.
  if [ ! -f "$src/.mcsc-gcc12-patched" ]; then
    patch -p1 --forward -d "$src" < "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kokkos-4.6.99-gcc12.patch" >&2
    touch "$src/.mcsc-gcc12-patched"
  fi
  local args=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_CXX_STANDARD=17
              -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DKokkos_ENABLE_OPENMP=ON
              -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF)
  if [ "$variant" = cuda ]; then
    args+=(-DKokkos_ENABLE_CUDA=ON -DKokkos_ARCH_HOPPER90=ON -DKokkos_ENABLE_CUDA_LAMBDA=ON
           -DCMAKE_CXX_COMPILER="$src/bin/nvcc_wrapper")
  else
    args+=(-DKokkos_ENABLE_SERIAL=ON)
  fi
  log "building Kokkos 4.6.99 ($variant) into $prefix (log: $build_log)"
  rm -rf "$build"
  if ! { cmake -S "$src" -B "$build" "${args[@]}" && cmake --build "$build" -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" &&
         cmake --install "$build"; } > "$build_log" 2>&1; then
    tail -n 40 "$build_log" >&2
    log "the Kokkos 4.6.99 ($variant) build failed; full log: $build_log"
    exit 1
  fi
  rm -rf "$build"
  touch "$prefix/.mcsc-complete-2"
  echo "$prefix"
}

case "$WANT_KOKKOS" in
  3.4) echo "$KOKKOS_PREFIX" ;;
  4.6) build_kokkos4 openmp ;;
  4.6-cuda)
    if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
    if ! command -v nvcc >/dev/null; then
      log "no nvcc (neither on PATH nor in /usr/local/cuda/bin): the Kokkos CUDA build is skipped"
      exit 3
    fi
    build_kokkos4 cuda ;;
esac
