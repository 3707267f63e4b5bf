#!/bin/bash
# A build of the benchmarks that runs on another x86-64 machine with none of Debian's packages (the
# perf issue's many-core check, docs/performance.md "On 16 cores"): bench_step and train for a named
# CPU level, oneMKL linked statically (its shared libraries are 210 MB; PyPI's mkl-static), no MPI,
# and libgomp and zlib beside them, all in one folder laid out as a build directory:
#
#   scripts/portable_build.sh [DIR] [MARCH]      (default: .portable, x86-64-v4)
#   ... copy DIR and the repository there, then:  bench/many_cores.py --build DIR
#
# DIR/bench/bench_step and DIR/apps/train are small wrappers that put DIR/lib first on the
# library path. The meson build it makes is build-portable-MARCH/.
set -euo pipefail
NORMLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out=${1:-.portable}
march=${2:-x86-64-v4}
cd "$NORMLAB_ROOT"
bash "$NORMLAB_ROOT/scripts/blas.sh" mkl # the headers
bash "$NORMLAB_ROOT/scripts/blas.sh" mkl-static

# meson's -Dblas=mkl links lib/libmkl_{intel_lp64,gnu_thread,core}.so from -Dmkl_dir: here each is
# a linker script naming the three static archives as one group (they refer to each other)
mkl=.deps/mkl-static-link
mkdir -p "$mkl/lib"
ln -sfn ../mkl/include "$mkl/include"
a=$NORMLAB_ROOT/.deps/mkl-static/lib
for n in mkl_intel_lp64 mkl_gnu_thread mkl_core; do
    echo "GROUP ( $a/libmkl_intel_lp64.a $a/libmkl_gnu_thread.a $a/libmkl_core.a )" >"$mkl/lib/lib$n.so"
done

build=build-portable-$march
[ -d "$build" ] || meson setup "$build" -Dblas=mkl -Dmkl_dir="$NORMLAB_ROOT/$mkl" -Dnative=false \
    -Dc_args="-march=$march" -Dmpi=disabled >/dev/null
ninja -C "$build" bench/bench_step apps/train >/dev/null

rm -rf "$out"
mkdir -p "$out/lib" "$out/bench" "$out/examples"
for prog in bench/bench_step apps/train; do
    cp "$build/$prog" "$out/lib/$(basename "$prog").bin"
    cat >"$out/$prog" <<'EOF'
#!/bin/sh
d=$(dirname "$(readlink -f "$0")")/../lib
LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$d/$(basename "$0").bin" "$@"
EOF
    chmod +x "$out/$prog"
done
for lib in libgomp.so.1 libz.so.1; do
    cp "$(ldd "$build/bench/bench_step" | awk -v l=$lib '$1 == l { print $3 }')" "$out/lib/"
done
if ldd "$build/bench/bench_step" | grep -q 'mkl\|not found'; then
    echo "portable_build: $build/bench/bench_step still needs a shared MKL or a missing library" >&2
    exit 1
fi
echo "$out: $(du -sh "$out" | cut -f1), built for $march; there: bench/many_cores.py --build $out"
