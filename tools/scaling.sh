#!/usr/bin/env bash
# The scaling study of docs/scaling.md: does the surrogates' gap to LayerNorm close with training
# length or width? In one command, resumable (finished runs are skipped, a run cut short goes on from its last checkpoint; results committed):
#   tools/scaling.sh [STREAMS]     (default 2: two runs at a time, 1 thread each)
# Every run is ./train at its norm's defaults (recipe, cosine to lr/10) except for what a point sets:
# --steps (its own warmup-and-cosine schedule to the end, not a cut of a longer run), --n-embd and
# --n-head (head_dim 32: 2, 4, 8 heads at 64, 128, 256), the peak lr (a grid around the norm's best
# at the nearest measured point) and the seed. The 2,000-step default point is the frontier of
# docs/stability.md (results/stability/frontier). What runs, and in which order (the length axis
# first), is the plan's one table: tools/normlab_tools/study_plan.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streams=${1:-2}
out=$root/results/scaling
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, matplotlib, $data, and $out/train: the snapshot every run uses
study_machine "$out" # the machines the runs were made on (results/scaling/machine.txt)
study_streams scaling "$streams" # the plan (tools/normlab_tools/study_plan.py), two runs at a time
python3 "$root/tools/scaling_report.py"
