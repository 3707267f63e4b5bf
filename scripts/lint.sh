#!/usr/bin/env bash
# Static analysis at the level docs/reliability.md states; exits 1 on any finding.
#   scripts/lint.sh            cppcheck and clang-tidy over src/, apps/, examples/, fuzz/ (and cppcheck tests/, bench/)
# cppcheck: --enable=warning,portability,performance; the false positives, each with its reason,
#   are in scripts/cppcheck.supp.
# clang-tidy: clang-analyzer-* and bugprone-*, except
#   bugprone-easily-swappable-parameters   (B, T, C) argument lists are the API's style
#   bugprone-narrowing-conversions         real is float by design; the double accumulations narrow on purpose
#   bugprone-implicit-widening-of-multiplication-result   int products of bounded dims (C <= 65536);
#                                          tensor offsets that can grow large are size_t already
#   bugprone-suspicious-string-compare     `if (strcmp(a, b))` is idiomatic C here
#   clang-analyzer-security.insecureAPI.*  suggests Annex K functions glibc does not have
#   clang-analyzer-optin.performance.Padding  table rows keep their fields in reading order
#   bugprone-suspicious-include            fuzz/fuzz_checkpoint.c includes train.c on purpose
#   (three false positives are marked NOLINT where they occur, with the reason)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
. scripts/deps.sh
deps_ensure
deps_tool cppcheck cppcheck
deps_tool clang-tidy clang-tidy
# clang-tidy parses with clang's headers, and omp.h comes with clang's OpenMP (libomp-dev)
echo '#include <omp.h>' | clang -fsyntax-only -x c - 2>/dev/null || deps_install "clang-tidy (omp.h)" libomp-dev
build_dir build # for compile_commands.json
status=0
cppcheck --enable=warning,portability,performance --std=c11 -q -D_DEFAULT_SOURCE -Iinclude -Ibuild/include -Isrc -Iapps -Iexamples \
    --suppressions-list=scripts/cppcheck.supp --error-exitcode=1 src apps examples fuzz tests bench || status=1
checks='-*,clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-narrowing-conversions'
checks+=',-bugprone-implicit-widening-of-multiplication-result,-bugprone-suspicious-string-compare'
checks+=',-clang-analyzer-security.insecureAPI.*,-clang-analyzer-optin.performance.Padding,-bugprone-suspicious-include'
files=$(ls src/*/*.c apps/*.c examples/*.c fuzz/*.c)
# one file per process (the analyzer confuses train.c with fuzz_checkpoint.c, which includes it, when
# one process reads both), two processes at a time
if ! printf '%s\n' $files | xargs -P 2 -n 1 clang-tidy -p build --quiet --checks="$checks" --warnings-as-errors='*' \
        2> >(grep -v "warnings generated\|Suppressed\|Use -header-filter\|NOLINT" >&2); then
    status=1
fi
[ $status = 0 ] && echo "lint: cppcheck and clang-tidy clean ($(echo $files | wc -w) files)"
exit $status
