#!/usr/bin/env bash
# scripts/deps.sh's decisions about a configured build folder, on folders made to look like meson's:
# whether a build made before Open MPI was installed gets reconfigured to find it (build_mpi_missed),
# and the options meson resolved (build_option). Usage: tests/test_deps.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/deps.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
# folder DIR MPI_VALUE HAVE_MPI: a configured folder whose -Dmpi is MPI_VALUE, built with MPI or not
folder() {
    mkdir -p "$1/meson-info" "$1/include/normlab"
    # meson lists every choice beside the value: 'disabled' appears in the entry whatever the value
    printf '[{"name": "blas", "value": "blis", "choices": ["openblas-openmp", "mkl", "blis"]}, {"name": "mpi", "value": "%s", "section": "user", "choices": ["enabled", "disabled", "auto"], "type": "combo"}]\n' \
        "$2" > "$1/meson-info/intro-buildoptions.json"
    if [ "$3" = yes ]; then echo "#define NL_HAVE_MPI 1" > "$1/include/normlab/config.h"; else echo "// no MPI" > "$1/include/normlab/config.h"; fi
}
expect() { # expect WANT DESCRIPTION COMMAND...
    local want=$1 what=$2 got=no
    shift 2
    if "$@"; then got=yes; fi
    if [ "$got" != "$want" ]; then echo "FAIL: $what: want $want, got $got"; fails=$((fails + 1)); else echo "ok: $what"; fi
}
folder "$tmp/auto" auto no
folder "$tmp/enabled" enabled no
folder "$tmp/off" disabled no
folder "$tmp/has" auto yes
expect yes "-Dmpi=auto, built before Open MPI: reconfigure" build_mpi_missed "$tmp/auto"
expect yes "-Dmpi=enabled, built without it: reconfigure" build_mpi_missed "$tmp/enabled"
expect no "-Dmpi=disabled: leave it" build_mpi_missed "$tmp/off"
expect no "built with MPI: leave it" build_mpi_missed "$tmp/has"
expect no "not configured: nothing to reconfigure" build_mpi_missed "$tmp/none"
[ "$(build_option "$tmp/auto" blas)" = blis ] && echo "ok: build_option reads the resolved value" ||
    { echo "FAIL: build_option blas gave '$(build_option "$tmp/auto" blas)'"; fails=$((fails + 1)); }
[ $fails = 0 ] || exit 1
