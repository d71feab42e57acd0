# Sourced by cmake/test.sh and cmake/fuzz.sh (with $here the checkout): when ccache is installed
# (setup.sh installs Debian's where apt has it) and MCSC_CCACHE is not 0, exports its settings and
# sets mcsc_ccache=1: objects kept in the cache directory beside the Kokkos builds, paths taken
# relative to the checkout (a clone anywhere hits), at most CCACHE_MAXSIZE (default 3G). A later
# run recompiles only the translation units a change touched; the first run on a machine fills it.
mcsc_ccache=0
if [ "${MCSC_CCACHE:-1}" = 1 ] && command -v ccache >/dev/null; then
  export CCACHE_DIR="${CCACHE_DIR:-${MCSC_CACHE:-$HOME/.cache/mcsc}/ccache}" CCACHE_BASEDIR="$here" CCACHE_NOHASHDIR=1
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-3G}"
  mcsc_ccache=1
fi
