#!/usr/bin/env bash
# The dropin program end to end on a small trained model: tables and CSV for LN and RMSNorm; a clear
# error for a model without a norm to replace, or a file that is not a checkpoint.
#   tests/dropin_smoke.sh TRAIN DROPIN
set -euo pipefail
train=$1 dropin=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $(seq 200); do echo "To be, or not to be, that is the question $i: whether 'tis nobler in the mind."; done > "$dir/tiny.txt"
tiny=(--n-layer 2 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --eval-iters 2 --steps 30 --threads 1 --sample 0 --quiet)
for norm in ln rmsnorm; do
    "$train" "${tiny[@]}" --norm=$norm --save "$dir/$norm.safetensors" "$dir/tiny.txt" > /dev/null
    "$dropin" "$dir/$norm.safetensors" --data "$dir/tiny.txt" --batches 2 --threads 1 --csv "$dir/$norm.csv" > "$dir/$norm.out"
    grep -q "whole val split" "$dir/$norm.out" || { cat "$dir/$norm.out"; echo "FAIL: no losses for $norm"; exit 1; }
    fits=$(grep -c ",fit," "$dir/$norm.csv"); losses=$(grep -c ",loss," "$dir/$norm.csv")
    [ "$fits" = 5 ] && [ "$losses" = 3 ] || { cat "$dir/$norm.csv"; echo "FAIL: $fits fit rows (want 5), $losses loss rows (want 3)"; exit 1; }
    # every loss finite, every fitted value positive
    awk -F, 'NR > 1 && $2 == "loss" && !($11 + 0 > 0) { exit 1 } NR > 1 && $2 == "fit" && !($4 > 0 && $7 > 0) { exit 1 }' "$dir/$norm.csv" ||
        { cat "$dir/$norm.csv"; echo "FAIL: a loss or a fitted value is not positive"; exit 1; }
done
"$train" "${tiny[@]}" --norm=dyt --save "$dir/dyt.safetensors" "$dir/tiny.txt" > /dev/null
status=0; "$dropin" "$dir/dyt.safetensors" --data "$dir/tiny.txt" 2> "$dir/err" || status=$?
[ $status = 2 ] && grep -q "replaces LN or RMSNorm" "$dir/err" || { cat "$dir/err"; echo "FAIL: a dyt model (exit $status)"; exit 1; }
status=0; "$dropin" "$dir/tiny.txt" 2> "$dir/err" || status=$?
[ $status = 1 ] && grep -q "dropin: error" "$dir/err" || { cat "$dir/err"; echo "FAIL: not a checkpoint (exit $status)"; exit 1; }
echo "dropin smoke: ok"
