#!/usr/bin/env bash
# Fuzzes the readers with libFuzzer (clang, with AddressSanitizer and UndefinedBehaviorSanitizer):
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds each; targets: all of fuzz/)
# One fuzzer per core runs at a time. Targets: fuzz_checkpoint (safetensors + --resume), fuzz_dataset (plain/gzip text), fuzz_idx (IDX
# images and labels), fuzz_options (the command line), fuzz_config (two --config files). Each starts from a copy of its seed corpus (fuzz/corpus/NAME) in
# build-fuzz/corpus/NAME, which grows across runs. A crash makes the script exit 1 (once every target has run) and leaves
# the input in build-fuzz/crashes/NAME/; once fixed, copy it into fuzz/regressions/NAME/, where
# the test suite replays it in every build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
deps_ensure
fuzz_packages="clang libomp-dev libopenblas-dev" # the compiler, its OpenMP, the pthreads OpenBLAS
deps_tool clang $fuzz_packages
echo 'int main(void){return 0;}' | clang -x c -fopenmp - -o /dev/null 2>/dev/null || deps_install "clang -fopenmp" $fuzz_packages
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_checkpoint fuzz_config fuzz_dataset fuzz_idx fuzz_options)
for t in "${targets[@]}"; do
    [ -d "$root/fuzz/corpus/$t" ] || { echo "fuzz: no target $t (the targets: $(ls "$root/fuzz/corpus" | tr '\n' ' '))" >&2; exit 2; }
done
# -Dblas=openblas: clang's OpenMP runtime and OpenBLAS's OpenMP build would be two runtimes in one process
CC=clang build_dir build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dblas=openblas -Dnative=false
fuzz_one() { # fuzz_one TARGET: its fuzzer for $secs s; 0, or 1 with the crash's report
    local t=$1 corpus=$root/build-fuzz/corpus/$1 crashes=$root/build-fuzz/crashes/$1 log=$root/build-fuzz/$1.log runs
    mkdir -p "$corpus" "$crashes"
    cp -n "$root/fuzz/corpus/$t"/* "$corpus/"
    # -close_fd_mask=3: the target's own output is noise here; libFuzzer and sanitizer reports remain
    if ! ASAN_OPTIONS=detect_leaks=1 "$root/build-fuzz/fuzz/$t" -max_total_time="$secs" -close_fd_mask=3 \
            -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz: $t crashed; the input is in $crashes/ (log: $log)" >&2
        return 1
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
    echo "fuzz: $t: $runs runs in $secs s, no crash; corpus $(ls "$corpus" | wc -l) inputs"
}
# one fuzzer per core at a time (each is single-threaded): every target still gets its $secs
status=0 running=0
for t in "${targets[@]}"; do
    if [ $running -ge "$(nproc)" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    fuzz_one "$t" &
    running=$((running + 1))
done
while [ $running -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit $status
