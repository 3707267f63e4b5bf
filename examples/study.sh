#!/usr/bin/env bash
# The stability study of docs/stability.md, in one command:
#   examples/study.sh [OUT]        (default OUT: runs/study; about 70 minutes on 2 cores)
# Runs the grids below with examples/sweep.py (2 jobs at a time, 1 thread each; run it again after
# an interrupt and it goes on where it stopped), then writes the summary tables (OUT/summary.md) and
# the plots (PNG and SVG in OUT/plots). The train program is snapshotted into OUT/train on first use,
# so rebuilding while a study runs cannot mix two builds in one study.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out=${1:-$root/runs/study}
. "$root/scripts/deps.sh"
deps_ensure
build_dir build
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib # sweep.py plots
data=$root/data/tinyshakespeare.txt.gz
[ -f "$data" ] || "$root/data/fetch.sh"
mkdir -p "$out"
[ -x "$out/train" ] || cp "$root/build/examples/train" "$out/train"

sweep() { local dir=$1; shift; /usr/bin/env python3 "$root/examples/sweep.py" run "$dir" --train "$out/train" --steps 500 --jobs 2 "$@" \
              -- --eval-interval 100 "$data"; }
start=$(date +%s)
# 1. learning rates: a log grid from 3e-4 to 3e-2 (plus the default 1e-3), every norm, default init, 3 seeds
sweep "$out" --norms ln,rmsnorm,dyt,dyisru,dytsp,dyisrusp --lrs 3e-4,6.5e-4,1e-3,1.4e-3,3e-3,6.5e-3,1.4e-2,3e-2 --seeds 1,2,3
# 2. the 1-D init grid at lr 1e-3 (alpha0; dyisru kinds beta0 = 1/alpha0^2), and the raw softplus grid
sweep "$out" --norms dyt,dyisru,dytsp,dyisrusp --lrs 1e-3 --inits 0.5,0.69,1,2,3 --raw-inits=-2,-1,1,2,4 --seeds 1,2
# 3. the 2-D grid: ln_2 (pre-MLP) takes its own value, one seed
sweep "$out" --norms dyt,dyisru,dytsp,dyisrusp --lrs 1e-3 --inits 0.5,1,2 --init2 ln2:0.5,1,2 --seeds 1
# 4. beyond the literature's grid: alpha0 near 1/std of the norms' inputs at init (~50 here)
sweep "$out/wide" --norms dyt,dyisru,dytsp,dyisrusp --lrs 1e-3 --inits 10,30 --seeds 1,2
/usr/bin/env python3 "$root/examples/sweep.py" summary "$out" | tee "$out/summary.md"
/usr/bin/env python3 "$root/examples/sweep.py" summary "$out/wide" > "$out/wide/summary.md"
/usr/bin/env python3 "$root/examples/sweep.py" plots "$out" --to "$out/plots"
/usr/bin/env python3 "$root/examples/sweep.py" plots "$out/wide" --to "$out/wide/plots"
echo "study: done in $((($(date +%s) - start) / 60)) min (this invocation); tables $out/summary.md, plots $out/plots"
