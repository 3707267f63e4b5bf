#!/usr/bin/env bash
# Two short runs with --log (two seeds of one setting and a second norm), then
# tools/compare_runs.py on them and a checkpoint, then the report opened in headless Chromium
# (scripts/report_check.sh). The check CI runs for the compare tool; about 30 s.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
deps_ensure
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
build_dir build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text="$root/data/tinyshakespeare.txt.gz"
[ -f "$text" ] || text="$root/apps/outlier_sample.txt" # any text will do
small="--n-layer 2 --n-head 2 --n-embd 32 --block-size 32 --batch-size 8 --steps 60 --eval-interval 20 --eval-iters 2 --sample 0 --quiet --threads 1"
for run in "ln 1" "ln 2" "dyt 1"; do
    set -- $run
    "$root/build/apps/train" $small --norm="$1" --seed "$2" --log "$tmp/runs/$1-s$2.csv" "$text" >/dev/null
done
"$root/build/apps/train" $small --norm=dyt --steps 10 --save "$tmp/runs/dyt.safetensors" "$text" >/dev/null
python3 "$root/tools/compare_runs.py" "$tmp"/runs/*.csv "$tmp/runs/dyt.safetensors" --out "$tmp/report"
"$root/scripts/report_check.sh" "$tmp/report/report.html"
"$root/scripts/report_check.sh" --self-test
# a hostile log (names that are paths, values that are markup): its report stays in its folder, and
# Chromium runs none of its planted scripts
NORMLAB_NEED_CHROMIUM=1 python3 -m pytest -q -p no:cacheprovider "$root/tools/tests/test_report.py" -k "hostile or escaped or names_from"
