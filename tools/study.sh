#!/usr/bin/env bash
# The stability study of docs/stability.md, in one command:
#   tools/study.sh [OUT]        (default OUT: results/stability, whose results.csv files are committed)
# 1. The frontier: seven norms at their recipes (docs/training.md, "Defaults"), peak lr on a log grid
#    from 3e-4 to 3e-2, 3 seeds, 2000 steps, cosine to lr/10 (./train's schedule); DyT and Derf again
#    with the embedding scale off. (The recipes' default lr is each norm's best on this frontier.)
#    tools/sweep.py runs it 2 at a time with 1 thread each, seed 1 of everything first; a job is
#    recorded when it finishes, so running this again skips what is done (a clean clone: everything
#    committed) and goes on where an interrupt stopped it.
# 2. The drop-in test: default LN and RMSNorm models trained once (checkpoints in OUT/dropin, not
#    committed), every norm replaced by a fitted DyT and DyISRU (apps/dropin).
# 3. The report: every table of docs/stability.md rewritten in place and every plot in
#    docs/stability/ drawn again, from OUT's results alone (tools/stability_report.py).
# About 3 hours of 2 cores from nothing; the report alone takes seconds.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:-$root/results/stability}
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, matplotlib, $data, and $out/train: the snapshot every run uses

lrs=3e-4,5.6e-4,1e-3,1.8e-3,3.2e-3,5.6e-3,1e-2,1.8e-2,3e-2
# Every job is ./train at its norm's defaults (recipe, schedule: cosine to lr/10) except for what is
# given here: the peak lr (the grid), the seed, and for the ablation --emb-scale=off.
sweep() { local dir=$1; shift; python3 "$root/tools/sweep.py" run "$dir" --train "$out/train" --steps 2000 \
              --jobs 2 --lrs "$lrs" "$@" -- "$data"; }
start=$(date +%s)
for seed in 1 2 3; do
    sweep "$out/frontier" --seeds "$seed" # every norm (the registry's: ./train --registry)
    sweep "$out/scale_off" --norms dyt,derf --opt emb-scale=off --seeds "$seed"
done
# 2. the drop-in test (skipped when its results are there)
[ -f "$out/dropin/results.csv" ] || "$root/tools/dropin.sh" "$out/dropin"
# 3. tables and plots
python3 "$root/tools/stability_report.py" "$out" --doc "$root/docs/stability.md"
echo "study: done in $((($(date +%s) - start) / 60)) min (this invocation); docs/stability.md and docs/stability/ rewritten"
