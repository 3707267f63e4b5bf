#!/usr/bin/env bash
# The drop-in test of docs/stability.md: trains the LN and RMSNorm models of nanoGPT's configuration
# (2000 steps, seed 1337: ./train --norm=ln --preset=nanogpt; the defaults before the one schedule),
# then replaces their norms by fitted DyT
# and DyISRU (build/apps/dropin) and evaluates them.
#   tools/dropin.sh [OUT]     (default results/stability/dropin; OUT/results.csv gathers both)
# The checkpoints (OUT/*.safetensors, 3 MB each) are kept for reuse but not committed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:-$root/results/stability/dropin}
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, $data, and $out/train: the snapshot that trains the models
for norm in ln rmsnorm; do
    [ -f "$out/$norm.safetensors" ] ||
        "$out/train" --norm=$norm --preset=nanogpt --save "$out/$norm.safetensors" --log "$out/$norm.csv" \
            --sample 0 --quiet "$data" > "$out/$norm.train.out"
    "$root/build/apps/dropin" "$out/$norm.safetensors" --data "$data" --csv "$out/$norm.dropin.csv" | tee "$out/$norm.dropin.out"
done
{ head -1 "$out/ln.dropin.csv"; tail -n +2 -q "$out/ln.dropin.csv" "$out/rmsnorm.dropin.csv"; } > "$out/results.csv"
echo "dropin: results in $out/results.csv"
