#!/usr/bin/env bash
# The interventions study of docs/stability.md: what would make the surrogates as stable as LayerNorm?
# LN, DyT and Derf at 2,000 steps over the frontier's lr grid from 1.8e-3 to 3e-2 under each
# intervention alone: qk-norm (LN's kind and the norm's own), z-loss 1e-4, both soft caps (50 and
# 30), LN as the final norm, Muon over its own lr (the plan's table: tools/normlab_tools/study_plan.py,
# INTERVENTIONS). In one command, resumable (finished runs are skipped, a run cut short goes on from
# its last checkpoint; results committed in
# results/interventions):
#   tools/interventions.sh [STREAMS]     (default 2: two runs at a time, 1 thread each)
# Every run is ./train at its norm's defaults except the peak lr (Muon's: --muon-lr), the seed and its
# intervention; the baseline is the frontier's runs (results/stability/frontier).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streams=${1:-2}
out=$root/results/interventions
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, matplotlib, $data, and $out/train: the snapshot every run uses
study_machine "$out"
study_streams interventions "$streams"
python3 "$root/tools/interventions_report.py"
