#!/usr/bin/env bash
# The scaling study of docs/scaling.md: does the surrogates' gap to LayerNorm close with training
# length or width? In one command, resumable (finished runs are skipped; results committed):
#   tools/scaling.sh [STREAMS]     (default 2: two runs at a time, 1 thread each)
# Every run is ./train at its norm's defaults (recipe, cosine to lr/10) except for what a point sets:
# --steps (its own warmup-and-cosine schedule to the end, not a cut of a longer run), --n-embd and
# --n-head (head_dim 32: 2, 4, 8 heads at 64, 128, 256), the peak lr (a grid around the norm's best
# at the nearest measured point) and the seed. The 2,000-step default point is the frontier of
# docs/stability.md (results/stability/frontier). What runs, and in which order (the length axis
# first), is the plan's one table: tools/normlab_tools/scaling_plan.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
streams=${1:-2}
out=$root/results/scaling
. "$root/scripts/deps.sh"
study_setup "$out" # packages, build/, matplotlib, $data, and $out/train: the snapshot every run uses
rows() { cat "$out"/*/results.csv 2>/dev/null | wc -l; }
# the machines the runs were made on: one line each, with where its rows start (the CPU changes
# between sessions; a run's numbers depend on it only in the last digits, its speed more)
machine="$(python3 "$root/bench/machine.py"), $(blas_configured build)"
grep -qF "$machine" "$out/machine.txt" 2>/dev/null || echo "$machine: rows from $(date -u +%F), after $(rows) lines" >> "$out/machine.txt"

# One stream: ask the plan (tools/normlab_tools/scaling_plan.py) what is still needed and run it,
# until nothing is. Every stream walks the same list; a job another stream holds is skipped (its lock),
# so two streams keep two cores busy on whatever comes first. A stream with nothing free waits for
# the other's runs, whose results may call for more (an edge extension, a point's second seed).
stream() {
    local todo rc idle=0 before folder args
    while :; do
        rc=0
        todo=$(python3 "$root/tools/scaling_report.py" --todo) || rc=$?
        if [ "$rc" = 3 ]; then sleep 60; continue; fi # the rest is running in the other stream
        [ "$rc" = 0 ] || { echo "scaling: tools/scaling_report.py --todo failed ($rc)" >&2; return 1; }
        [ -n "$todo" ] || return 0
        before=$(rows)
        while read -r folder args; do
            # shellcheck disable=SC2086 # ARGS are the sweep's words
            python3 "$root/tools/sweep.py" run "$out/$folder" --train "$out/train" --jobs 1 --threads 1 $args "$data" < /dev/null ||
                echo "scaling: the sweep into $folder failed; going on" >&2
        done <<< "$todo"
        if [ "$(rows)" = "$before" ]; then # nothing finished: a run that fails every time
            idle=$((idle + 1))
            [ "$idle" -lt 3 ] || { echo "scaling: three passes finished no run; stopping (see the sweeps' output)" >&2; return 1; }
            sleep 60
        else
            idle=0
        fi
    done
}
for k in $(seq 1 "$streams"); do
    stream &
    sleep 5 # the streams start on different jobs
done
wait
python3 "$root/tools/scaling_report.py"
