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

# study_machine OUT: the machines a study's runs were made on, one line each in OUT/machine.txt with
# where its rows start (the CPU changes between sessions; a run's numbers depend on it only in the
# last digits, its speed more).
study_machine() {
    local machine
    machine="$(python3 "$NORMLAB_ROOT/bench/machine.py"), $(blas_configured build)"
    grep -qF "$machine" "$1/machine.txt" 2>/dev/null ||
        echo "$machine: rows from $(date -u +%F), after $(study_rows "$1") lines" >> "$1/machine.txt"
}

# study_rows OUT: the runs a study has finished (lines of its results.csv files).
study_rows() {
    local n=0 f
    for f in "$1"/*/results.csv; do [ ! -f "$f" ] || n=$((n + $(wc -l < "$f"))); done
    echo "$n"
}

# study_streams STUDY STREAMS: the runs of STUDY's plan (tools/normlab_tools/study_plan.py) into
# $out, STREAMS at a time (each one thread), with the snapshot $out/train on $data. Each stream asks
# the plan what is still needed and runs it, until nothing is; every stream walks the same list, a
# job another stream holds is skipped (its lock), so the streams keep the cores busy on whatever
# comes first. A stream with nothing free waits for the others' runs, whose results may call for
# more (an edge extension, a point's second seed).
study_streams() {
    local study=$1 k
    for k in $(seq 1 "$2"); do
        study_stream "$study" &
        sleep 5 # the streams start on different jobs
    done
    wait
}
study_stream() {
    local todo rc idle=0 before folder args
    while :; do
        rc=0
        todo=$(PYTHONPATH="$NORMLAB_ROOT/tools" python3 -m normlab_tools.study_plan "$1") || rc=$?
        if [ "$rc" = 3 ]; then sleep 60; continue; fi # the rest is running in another stream
        [ "$rc" = 0 ] || { echo "study: the plan's --todo failed ($rc)" >&2; return 1; }
        [ -n "$todo" ] || return 0
        before=$(study_rows "$out")
        while read -r folder args; do
            # shellcheck disable=SC2086 # ARGS are the sweep's words
            python3 "$NORMLAB_ROOT/tools/sweep.py" run "$out/$folder" --train "$out/train" --jobs 1 --threads 1 $args \
                "$data" < /dev/null || echo "study: the sweep into $folder failed; going on" >&2
        done <<< "$todo"
        if [ "$(study_rows "$out")" = "$before" ]; then # nothing finished: a run that fails every time
            idle=$((idle + 1))
            [ "$idle" -lt 3 ] || { echo "study: three passes finished no run; stopping (see the sweeps' output)" >&2; return 1; }
            sleep 60
        else
            idle=0
        fi
    done
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
        case " $* " in
        *" -Dlinear_gemm="*) ;;
        *) set -- "$@" "-Dlinear_gemm=$(linear_choose)" ;; # and the faster x W^T with it
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

# study_setup OUT [DATA]: what a study script needs before its runs: the packages, build/,
# matplotlib, the dataset (DATA, default tinyshakespeare's file; fashion-mnist: Debian's package; sets
# $data), the folder OUT, and OUT/train, a snapshot of the train program taken on first use
# (rebuilding while a study runs cannot mix two builds).
study_setup() {
    deps_ensure
    build_dir build
    python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
    data=${2:-$NORMLAB_ROOT/data/tinyshakespeare.txt.gz}
    if [ "$data" = fashion-mnist ]; then deps_images; else [ -f "$data" ] || "$NORMLAB_ROOT/data/fetch.sh"; fi
    mkdir -p "$1"
    [ -x "$1/train" ] || cp "$NORMLAB_ROOT/build/apps/train" "$1/train"
}
