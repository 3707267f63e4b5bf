#!/usr/bin/env bash
# The README's table of the seven norms at their defaults, in one command:
#   tools/defaults.sh [OUT]     (default OUT: results/defaults/seeds, whose results.csv is committed)
# Each job is exactly `./train --norm=NORM --seed=S tinyshakespeare` (tools/sweep.py with no grid
# options), seeds 1-3. Seed 1 runs alone on every core (the table's wall time and tokens/s), seeds 2
# and 3 two at a time with 1 thread each. Resumable: finished jobs are skipped. Then the README's
# table is rewritten from the results (tools/stability_report.py). About 25 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:-$root/results/defaults/seeds}
. "$root/scripts/deps.sh"
study_setup "$out/.." # packages, build/, matplotlib, $data, and the snapshot ../train every run uses
sweep() { python3 "$root/tools/sweep.py" run "$out" --train "$out/../train" "$@" -- "$data"; }
# the machine the timed runs (seed 1) ran on, named once, with its BLAS
mkdir -p "$out"
[ -s "$out/machine.txt" ] || echo "$(python3 "$root/bench/machine.py"), $(blas_configured build)" > "$out/machine.txt"
sweep --seeds 1 --jobs 1
sweep --seeds 2,3 --jobs 2 --threads 1
python3 "$root/tools/stability_report.py" "$root/results/stability" --readme "$root/README.md"
