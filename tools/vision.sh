#!/usr/bin/env bash
# The ViT's study of docs/vision.md: LN, DyT and Derf on Fashion-MNIST over the quarter-decade lr
# grid from 3e-4 to 1e-2, 2 seeds and a third at each norm's best (the plan's table:
# tools/normlab_tools/study_plan.py, VISION). In one command, resumable (finished runs are skipped, a run
# cut short goes on from its last checkpoint; results committed in results/vision):
#   tools/vision.sh [STREAMS]     (default 2: two runs at a time, 1 thread each)
# Every run is ./train at the ViT's defaults (its row in src/models/vit.c) except the peak lr and the seed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streams=${1:-2}
out=$root/results/vision
. "$root/scripts/deps.sh"
# val/ needs a build that evaluates on the validation split: a snapshot from before it (its registry
# has no recipe ranges, added after the split) is replaced by the current build
if [ -x "$out/train" ] && ! "$out/train" --registry 2>/dev/null | grep -q '"expected"'; then rm -f "$out/train"; fi
study_setup "$out" fashion-mnist # packages, build/, matplotlib, the images, and $out/train: the snapshot
study_machine "$out"
study_streams vision "$streams"
