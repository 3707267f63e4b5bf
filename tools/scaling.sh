#!/usr/bin/env bash
# The scaling study of docs/scaling.md: does the surrogates' gap to LayerNorm close with training
# length or width? In one command, resumable (finished runs are skipped; results committed):
#   tools/scaling.sh [STREAMS]     (default 2: two runs at a time, 1 thread each)
# Every run is ./train at its norm's defaults (recipe, cosine to lr/10) except for what a point sets:
# --steps (its own warmup-and-cosine schedule to the end, not a cut of a longer run), --n-embd and
# --n-head (head_dim 32: 2, 4, 8 heads at 64, 128, 256), the peak lr (a grid around the norm's best
# at the nearest measured point) and the seed. The 2,000-step default point is the frontier of
# docs/stability.md (results/stability/frontier). Points run in the order that sets the curve first:
# the length axis (8,000 then 32,000 steps), then the width axis.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streams=${1:-2}
out=$root/results/scaling
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, matplotlib, $data, and $out/train: the snapshot every run uses
[ -s "$out/machine.txt" ] || echo "$(python3 "$root/bench/machine.py"), $(blas_configured build)" > "$out/machine.txt"

# point STEPS WIDTH SEEDS NORM LRS...: one norm's lr grid at one point
point() {
    local steps=$1 width=$2 seeds=$3 norm=$4
    shift 4
    python3 "$root/tools/sweep.py" run "$out/steps${steps}_w${width}" --train "$out/train" --steps "$steps" \
        --norms "$norm" --lrs "$(IFS=,; echo "$*")" --seeds "$seeds" --jobs 1 --threads 1 \
        -- --n-embd "$width" --n-head $((width / 32)) "$data"
}
# each norm's lrs around its best at 2,000 steps (LN, RMSNorm 5.6e-3; DyT 3.2e-3; the others 1.8e-3)
grid() { # grid STEPS WIDTH SEEDS
    point "$@" ln 3.2e-3 5.6e-3 1e-2
    point "$@" rmsnorm 3.2e-3 5.6e-3 1e-2
    point "$@" dyt 1.8e-3 3.2e-3 5.6e-3
    point "$@" dyisru 1e-3 1.8e-3 3.2e-3
    point "$@" derf 1e-3 1.8e-3 3.2e-3
}
# The seed author's second metric at 8,000 steps: the surrogates with a separate alpha0 for the
# attention norms (L2: ln_1 at 0.5 and 2 beside the recipe's 1 everywhere, L1), at the 2,000-step best lr.
l2() { # l2 SEEDS
    local norm lr
    for norm_lr in dyt:3.2e-3 dyisru:1.8e-3 derf:1.8e-3; do
        norm=${norm_lr%%:*} lr=${norm_lr#*:}
        python3 "$root/tools/sweep.py" run "$out/steps8000_w128_l2" --train "$out/train" --steps 8000 \
            --norms "$norm" --lrs "$lr" --inits 1 --init2 ln1:0.5,2 --seeds "$1" --jobs 1 --threads 1 -- "$data"
    done
}
# The points, in the order that sets the curve first. Each of STREAMS workers takes every STREAMS-th
# point and runs its jobs one at a time, so the cores stay busy (with 2 streams, no two workers ever
# share a point's folder). The expensive points (32,000 steps; 256 wide at 8,000) join once their
# cheaper neighbours have said where the optimum is: two lrs that bracket it.
points=("8000 128 1" "2000 64 1,2" "8000 128 2" "2000 256 1,2" "8000 64 1,2")
for k in $(seq 0 $((streams - 1))); do
    (for ((i = k; i < ${#points[@]}; i += streams)); do grid ${points[$i]}; done; [ "$k" != 0 ] || l2 1,2) &
done
wait
# Then every grid whose best lr sits on its edge gets the next lr beyond it, until none does
# (tools/scaling_report.py --edges lists them from the results; one at a time: they may share a folder).
while edges=$(python3 "$root/tools/scaling_report.py" --edges) && [ -n "$edges" ]; do
    while read -r steps width seeds norm lr; do point "$steps" "$width" "$seeds" "$norm" "$lr"; done <<< "$edges"
done
