#!/usr/bin/env bash
# The train program under valgrind memcheck: no invalid reads or writes, no use of uninitialised
# values, and nothing definitely, indirectly or possibly lost at exit, on a short training run and
# the paths around it (resume, sampling a checkpoint, a corrupt checkpoint, bad usage).
#   scripts/memcheck.sh         (about a minute; builds build-valgrind without -march=native,
#                                 since valgrind cannot decode AVX-512)
# "Still reachable" blocks are not counted: they are libgomp's thread-team state, alive until exit.
# Every run passes --threads 1: with more, libgomp's idle pool threads show as "possibly lost".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
deps_ensure
deps_tool valgrind valgrind
build_dir build-valgrind -Dblas=openblas-openmp -Dnative=false -Dbuildtype=debugoptimized
train=$root/build-valgrind/apps/train
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -c "import random; random.seed(1); print(''.join(random.choice('abcdefgh ,.\n') for _ in range(20000)))" > small.txt
tiny="--n-layer 2 --n-head 2 --n-embd 32 --block-size 32 --batch-size 4 --eval-iters 2 --threads 1"
status=0
check() { # check EXPECTED-EXIT ARGS...: runs train under memcheck
    local want=$1 got=0
    shift
    NORMLAB_NO_REEXEC=1 valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
        --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 "$train" "$@" >out.txt 2>&1 || got=$?
    if [ "$got" = "$want" ] && ! grep -q "^==[0-9]*==" out.txt; then
        echo "memcheck: clean: train $*"
    else
        echo "memcheck: FAILED (exit $got, expected $want): train $*" >&2
        cat out.txt >&2
        status=1
    fi
}
check 0 $tiny --norm=dyt --steps 10 --eval-interval 5 --sample 20 --save a.st --log a.csv --stats-every 2 small.txt
check 0 $tiny --norm=dyt --steps 14 --resume a.st --save a.st small.txt
check 0 --steps 0 --resume a.st --sample 50 --prompt "abc" --threads 1
check 0 $tiny --norm=dyisrusp --bias --dropout 0.1 --dump-step d.st small.txt
head -c 3000 a.st > cut.st
check 1 --steps 0 --resume cut.st --sample 5 --threads 1
check 2 --norm=nope small.txt
exit $status
