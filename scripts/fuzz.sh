#!/usr/bin/env bash
# Fuzzes the readers with libFuzzer (clang, with AddressSanitizer and UndefinedBehaviorSanitizer):
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds each; targets: all of fuzz/)
# Targets: fuzz_checkpoint (safetensors + --resume), fuzz_dataset (plain/gzip text), fuzz_idx (IDX
# images and labels), fuzz_options (the command line), fuzz_config (two --config files). Each starts from a copy of its seed corpus (fuzz/corpus/NAME) in
# build-fuzz/corpus/NAME, which grows across runs. A crash stops the script with exit 1 and leaves
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
# -Dblas=openblas: clang's OpenMP runtime and OpenBLAS's OpenMP build would be two runtimes in one process
CC=clang build_dir build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dblas=openblas -Dnative=false
for t in "${targets[@]}"; do
    corpus=$root/build-fuzz/corpus/$t crashes=$root/build-fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes"
    cp -n "$root/fuzz/corpus/$t"/* "$corpus/"
    log=$root/build-fuzz/$t.log
    # -close_fd_mask=3: the target's own output is noise here; libFuzzer and sanitizer reports remain
    if ! ASAN_OPTIONS=detect_leaks=1 "$root/build-fuzz/fuzz/$t" -max_total_time="$secs" -close_fd_mask=3 \
            -artifact_prefix="$crashes/" "$corpus" >"$log" 2>&1; then
        tail -60 "$log" >&2
        echo "fuzz: $t crashed; the input is in $crashes/ (log: $log)" >&2
        exit 1
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
    echo "fuzz: $t: $runs runs in $secs s, no crash; corpus $(ls "$corpus" | wc -l) inputs"
done
