#!/usr/bin/env bash
# Sourced by scripts/deps.sh: which BLAS a new build links (meson -Dblas=). The first setup on a
# machine installs the candidates it can, times each on the training step's own gemms with all the
# cores (bench/blas_pick.c, about 10 s), and keeps the fastest in .deps/blas-choice; later setups
# reuse it. Candidates: Debian's OpenBLAS (OpenMP build; always there), Debian's BLIS (OpenMP
# build; installed when apt-get can), and Intel's oneMKL on Intel CPUs (its PyPI wheels, unpacked
# into .deps/mkl; about 230 MB). The same run times the linear layers' forward (x W^T) through the
# fastest against the library's own tiles, and keeps the faster in .deps/linear-choice (meson
# -Dlinear_gemm). NORMLAB_BLAS=NAME skips the choice; rm .deps/blas-choice makes it again. Run
# directly: scripts/blas.sh [choose|mkl|mkl-static|table]   (table: the docs' measurements)

BLAS_DEPS=$NORMLAB_ROOT/.deps
BLAS_MKL_VERSION=2026.2.0 # the version measured in docs/performance.md

blas_multiarch() { cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu; }

# blas_mkl_fetch [static]: oneMKL's wheels from PyPI (pip download: nothing is installed into any
# Python), unpacked into .deps/mkl/{lib,include}; with "static", its static libraries (mkl-static)
# into .deps/mkl-static/lib, for a build that travels (scripts/portable_build.sh). Returns 1, with a
# message, when that cannot be done.
blas_mkl_fetch() {
    local dest=$BLAS_DEPS/mkl have=include/mkl_cblas.h pkgs="mkl mkl-include" size="about 230 MB"
    [ "${1:-}" = static ] && dest=$BLAS_DEPS/mkl-static have=lib/libmkl_core.a pkgs=mkl-static size="about 220 MB"
    [ -f "$dest/$have" ] && return 0
    local wheels=$BLAS_DEPS/wheels py p w specs=()
    py=$(command -v python3 || true)
    if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
        echo "blas: oneMKL skipped (it comes from PyPI and needs python3 -m pip)" >&2
        return 1
    fi
    echo "blas: fetching oneMKL $BLAS_MKL_VERSION ($pkgs) from PyPI into ${dest#"$NORMLAB_ROOT"/} ($size)" >&2
    for p in $pkgs; do specs+=("$p==$BLAS_MKL_VERSION"); done
    mkdir -p "$wheels" "$dest"
    "$py" -m pip download -q --no-deps --only-binary=:all: -d "$wheels" "${specs[@]}" >&2 || {
        echo "blas: oneMKL skipped: pip could not download it" >&2
        return 1
    }
    for p in $pkgs; do
        for w in "$wheels/${p//-/_}-$BLAS_MKL_VERSION"-*.whl; do
            "$py" - "$w" "$dest" <<'EOF' || return 1
import sys, zipfile, os, stat
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:  # a wheel's *.data/data/X goes to <prefix>/X
    for info in z.infolist():
        parts = info.filename.split("/")
        if len(parts) > 3 and parts[0].endswith(".data") and parts[1] == "data" and not info.is_dir():
            out = os.path.join(dest, *parts[2:])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(info) as src, open(out, "wb") as dst:
                dst.write(src.read())
            os.chmod(out, 0o755 if ".so" in out else 0o644)
EOF
        done
    done
    rm -rf "$wheels"
    [ -f "$dest/$have" ]
}

# blas_candidates: NAME=LIBRARY for each BLAS present (after installing what can be installed).
blas_candidates() {
    local ma
    ma=$(blas_multiarch)
    echo "openblas-openmp=/usr/lib/$ma/openblas-openmp/libopenblas.so.0"
    if [ ! -f "/usr/lib/$ma/blis-openmp/libblis.so" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "blas: installing Debian's BLIS (libblis-openmp-dev) to compare it" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libblis-openmp-dev >/dev/null 2>&1 ||
            echo "blas: BLIS skipped: apt-get could not install it" >&2
    fi
    [ -f "/usr/lib/$ma/blis-openmp/libblis.so" ] && echo "blis=/usr/lib/$ma/blis-openmp/libblis.so.4"
    if grep -q GenuineIntel /proc/cpuinfo 2>/dev/null && blas_mkl_fetch; then
        echo "mkl=$BLAS_DEPS/mkl/lib/libmkl_rt.so.3"
    fi
}

# blas_pick_tool: builds bench/blas_pick.c with the library's own tiles (src/tensor/small_gemm.c and
# the bias add it calls) in it, float, for this CPU; prints its path.
blas_pick_tool() {
    mkdir -p "$BLAS_DEPS/pick/normlab"
    local tool=$BLAS_DEPS/blas_pick src=$NORMLAB_ROOT/src/tensor f
    local sources=("$NORMLAB_ROOT/bench/blas_pick.c" "$src/small_gemm.c" "$src/row_broadcast.c")
    local stale=0
    [ -x "$tool" ] || stale=1
    for f in "${sources[@]}" "$src/kernels.h"; do if [ "$f" -nt "$tool" ]; then stale=1; fi; done
    if [ $stale = 1 ]; then
        echo "#pragma once // float: blas_pick times sgemm" >"$BLAS_DEPS/pick/normlab/config.h"
        cc -O3 -std=c11 -march=native -fopenmp -I"$NORMLAB_ROOT/include" -I"$BLAS_DEPS/pick" \
            "${sources[@]}" -o "$tool" -ldl || return 1
    fi
    echo "$tool"
}

# blas_choose: prints the -Dblas value for a new build (see the top of this file).
blas_choose() { pick_choice NORMLAB_BLAS blas-choice openblas-openmp; }

# linear_choose: prints the -Dlinear_gemm value for a new build: whichever of the chosen BLAS and
# the library's own tiles ran the linear layers' x W^T faster in the same timing (blas_pick).
# NORMLAB_LINEAR_GEMM=blas|tiles skips the choice.
linear_choose() { pick_choice NORMLAB_LINEAR_GEMM linear-choice blas; }

# pick_choice VAR FILE DEFAULT: $VAR when set, else what blas_pick kept in .deps/FILE, else DEFAULT.
pick_choice() {
    if [ -n "${!1:-}" ]; then
        echo "${!1}"
        return
    fi
    blas_pick
    cat "$BLAS_DEPS/$2" 2>/dev/null || echo "$3"
}

# blas_pick: times the candidates once per machine into .deps/blas-choice and .deps/linear-choice
# (when that cannot be done, neither is written, and the choosers say openblas-openmp and blas).
blas_pick() {
    local choice=$BLAS_DEPS/blas-choice linear=$BLAS_DEPS/linear-choice tool out
    [ -s "$choice" ] && [ -s "$linear" ] && return
    tool=$(blas_pick_tool) || return 0
    echo "blas: timing the BLAS libraries on the training step's gemms (once per machine)" >&2
    # shellcheck disable=SC2046
    out=$("$tool" $(blas_candidates)) || return 0
    echo "$out" | sed 's/^/  /' >&2
    echo "$out" | tail -n 1 >"$choice"
    echo "$out" | sed -n 's/^linear_gemm: //p' >"$linear"
    echo "blas: chose $(cat "$choice"), x W^T by $(cat "$linear"); another: NORMLAB_BLAS=NAME and" \
        "NORMLAB_LINEAR_GEMM=blas|tiles, or meson configure build -Dblas=NAME -Dlinear_gemm=..." >&2
}

# blas_table: the measurements docs/performance.md quotes: each candidate (and a current OpenBLAS
# from PyPI's scipy-openblas32, pthreads, for comparison only) at 1, 2 and all threads, both configs.
blas_table() {
    local tool cands j cfg py
    tool=$(blas_pick_tool)
    cands=$(blas_candidates)
    py=$(command -v python3)
    if "$py" -m pip download -q --no-deps --only-binary=:all: -d "$BLAS_DEPS/wheels" scipy-openblas32 >&2; then
        mkdir -p "$BLAS_DEPS/scipy-openblas"
        "$py" -m zipfile -e "$BLAS_DEPS"/wheels/scipy_openblas32-*.whl "$BLAS_DEPS/scipy-openblas"
        cands="$cands scipy-openblas=$(find "$BLAS_DEPS/scipy-openblas" -name 'libscipy_openblas*.so' | head -1)"
    fi
    for cfg in default big; do
        for j in $(printf '%s\n' 1 2 "$(nproc)" | sort -un); do
            # shellcheck disable=SC2086
            "$tool" --config $cfg --threads "$j" --passes $([ $cfg = big ] && echo 1 || echo 3) $cands
        done
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then # run directly
    set -euo pipefail
    NORMLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    BLAS_DEPS=$NORMLAB_ROOT/.deps
    case ${1:-choose} in
    choose) blas_choose ;;
    mkl) blas_mkl_fetch ;;
    mkl-static) blas_mkl_fetch static ;;
    table) blas_table ;;
    *) echo "usage: scripts/blas.sh [choose|mkl|mkl-static|table]" >&2; exit 2 ;;
    esac
fi
