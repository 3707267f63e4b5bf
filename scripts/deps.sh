# Sourced by ./train, ./run-tests and .ci/run: make sure the system packages are present.
# As root with apt-get, installs what is missing; otherwise prints the command to run and exits 2.

deps_missing() {
    local missing=""
    command -v meson >/dev/null 2>&1 || missing="$missing meson"
    command -v ninja >/dev/null 2>&1 || missing="$missing ninja-build"
    command -v pkg-config >/dev/null 2>&1 || missing="$missing pkg-config"
    command -v cc >/dev/null 2>&1 || missing="$missing gcc"
    if command -v pkg-config >/dev/null 2>&1; then
        [ -f "/usr/lib/$(cc -print-multiarch 2>/dev/null)/openblas-openmp/libopenblas.so" ] ||
            missing="$missing libopenblas-openmp-dev"
        pkg-config --exists zlib || missing="$missing zlib1g-dev"
        pkg-config --exists libcjson || missing="$missing libcjson-dev"
        pkg-config --exists cmocka || missing="$missing libcmocka-dev"
    else
        missing="$missing libopenblas-openmp-dev zlib1g-dev libcjson-dev libcmocka-dev"
    fi
    echo "$missing"
}

# deps_install WHAT PACKAGE...: as root with apt-get, installs the packages; otherwise says that
# WHAT needs them, prints the command to run and exits 2.
deps_install() {
    local what=$1
    shift
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: $*" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq "$@" >/dev/null || {
            echo "error: apt-get could not install: $*" >&2
            exit 2
        }
    else
        echo "error: $what needs system packages that are missing" >&2
        echo "install them with:  sudo apt-get install -y $*" >&2
        exit 2
    fi
}

deps_ensure() {
    local missing
    missing=$(deps_missing)
    [ -z "$missing" ] || deps_install "normlab" $missing
}

# deps_tool PROGRAM PACKAGE...: makes sure PROGRAM runs (for the scripts that need more tools).
deps_tool() {
    local program=$1
    shift
    command -v "$program" >/dev/null 2>&1 || deps_install "$program" "$@"
}

# deps_mpi: Open MPI, for data parallel training (docs/distributed.md) and its tests. Optional: as root
# with apt-get, installed when missing; otherwise a note says what to install, and everything else
# goes on without it.
deps_mpi() {
    command -v mpirun >/dev/null 2>&1 && pkg-config --exists ompi-c 2>/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        deps_install "data parallel training" openmpi-bin libopenmpi-dev
    else
        echo "note: Open MPI is not installed: data parallel training and its tests are left out" \
             "(sudo apt-get install -y openmpi-bin libopenmpi-dev adds them)" >&2
    fi
}

# deps_images: Fashion-MNIST (Debian's dataset-fashion-mnist: four gzipped IDX files in
# /usr/share/datasets/fashion-mnist), for the ViT and its tests, unless data/fashion-mnist/ has them.
# As root with apt-get, installed when missing; otherwise a note says how to get it.
deps_images() {
    [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] && return 0
    [ -f "$NORMLAB_ROOT/data/fashion-mnist/t10k-labels-idx1-ubyte.gz" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        deps_install "the image set fashion-mnist" dataset-fashion-mnist
    else
        echo "note: Fashion-MNIST is not installed: the ViT and its tests need it" \
             "(sudo apt-get install -y dataset-fashion-mnist, or its four *-idx?-ubyte.gz files in data/fashion-mnist/)" >&2
    fi
}

# build_option DIR NAME: the value meson resolved for option NAME in the configured folder DIR.
build_option() {
    python3 - "$1/meson-info/intro-buildoptions.json" "$2" <<'PY' 2>/dev/null
import json, sys
print(next(str(o["value"]) for o in json.load(open(sys.argv[1])) if o["name"] == sys.argv[2]))
PY
}
blas_configured() { build_option "$NORMLAB_ROOT/$1" blas; }

# build_mpi_missed DIR: true when DIR was built without MPI though its -Dmpi is not 'disabled', so a
# reconfigure finds an Open MPI installed since (the caller checks that one is).
build_mpi_missed() {
    local dir=$1
    [ -f "$dir/include/normlab/config.h" ] && ! grep -q "define NL_HAVE_MPI" "$dir/include/normlab/config.h" &&
        [ "$(build_option "$dir" mpi)" != disabled ]
}

# build_dir DIR [meson options...]: configure DIR (relative to the repository) once, then bring it
# up to date. Works from any current directory.
NORMLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$NORMLAB_ROOT/scripts/blas.sh"
build_dir() {
    local dir=$NORMLAB_ROOT/$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        case " $* " in
        *" -Dblas="*) ;;
        *) set -- "$@" "-Dblas=$(blas_choose)" ;; # the fastest BLAS here (scripts/blas.sh)
        esac
        echo "building normlab in ${dir#"$NORMLAB_ROOT"/}/ (first use: meson setup, then ninja, about 15 s)" >&2
        meson setup "$dir" "$NORMLAB_ROOT" "$@" >"$dir.setup.log" 2>&1 || {
            cat "$dir.setup.log" >&2
            echo "error: meson setup $dir failed (log above)" >&2
            exit 1
        }
        rm -f "$dir.setup.log"
    elif pkg-config --exists ompi-c 2>/dev/null && build_mpi_missed "$dir"; then
        # Open MPI arrived after this folder was configured: find it (-Dmpi=auto)
        echo "Open MPI found: configuring ${dir#"$NORMLAB_ROOT"/}/ again to build with it" >&2
        meson setup --reconfigure "$dir" "$NORMLAB_ROOT" >"$dir.setup.log" 2>&1 || {
            cat "$dir.setup.log" >&2
            echo "error: meson setup --reconfigure $dir failed (log above)" >&2
            exit 1
        }
        rm -f "$dir.setup.log"
    fi
    ninja -C "$dir" >/dev/null || {
        ninja -C "$dir" >&2
        echo "error: build in $dir failed" >&2
        exit 1
    }
}

# study_setup OUT: what a study script needs before its runs: the packages, build/, matplotlib, the
# dataset (sets $data), the folder OUT, and OUT/train, a snapshot of the train program taken on first
# use (rebuilding while a study runs cannot mix two builds).
study_setup() {
    deps_ensure
    build_dir build
    python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
    data=$NORMLAB_ROOT/data/tinyshakespeare.txt.gz
    [ -f "$data" ] || "$NORMLAB_ROOT/data/fetch.sh"
    mkdir -p "$1"
    [ -x "$1/train" ] || cp "$NORMLAB_ROOT/build/apps/train" "$1/train"
}
