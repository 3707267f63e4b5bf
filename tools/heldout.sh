#!/usr/bin/env bash
# The reruns the held-out-seed protocol needs (tools/normlab_tools/protocol.py), in one command,
# resumable (finished runs are skipped; results committed as they finish):
#   tools/heldout.sh
# 1. results/defaults/eval: the seven norms at their defaults, evaluation seeds 4, 5, 6 and 1337 (the
#    default seed: what the README's first command gives). Each default lr was chosen on the
#    frontier's seeds 1-3 (results/stability/frontier), so these seeds took no part in choosing it.
#    Two runs at a time, one thread each.
# 2. results/defaults/noise: the same runs of the seven norms built with another BLAS and gemm
#    (BLIS, -Dlinear_gemm=blas, in build-blis/): how far one seed's run moves when only the
#    arithmetic's order changes, beside the seeds' spread.
# 3. the scaling study's plan (tools/scaling.sh), whose points end in evaluation seeds at the lr
#    chosen on their selection seeds.
# 4. the interventions' plan (tools/interventions.sh): evaluation seeds 3, 4 and 5 at each
#    intervention's lr chosen on seeds 1 and 2.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/deps.sh"
out=$root/results/defaults
study_setup "$out/eval" # packages, build/, $data, and eval/train: the snapshot every run uses
machine() { [ -s "$1/machine.txt" ] || echo "$(python3 "$root/bench/machine.py"), $2" > "$1/machine.txt"; }
machine "$out/eval" "$(blas_configured build), linear_gemm $(build_option build linear_gemm)"
sweep() { local dir=$1 train=$2; shift 2; python3 "$root/tools/sweep.py" run "$dir" --train "$train" --jobs 2 --threads 1 "$@" -- "$data"; }
sweep "$out/eval" "$out/eval/train" --seeds 4,5,6,1337 # 1337: the default seed (the README's first command)

[ -f /usr/lib/"$(gcc -print-multiarch)"/blis-openmp/libblis.so ] || deps_install "the BLIS build" libblis-openmp-dev
build_dir build-blis -Dblas=blis -Dlinear_gemm=blas -Dmpi=disabled
mkdir -p "$out/noise"
[ -x "$out/noise/train" ] || cp "$root/build-blis/apps/train" "$out/noise/train"
machine "$out/noise" "blis, linear_gemm blas"
sweep "$out/noise" "$out/noise/train" --seeds 4,5,6,1337 # every norm: each range pools both builds

"$root/tools/scaling.sh" 2
# 4. the interventions' evaluation seeds 4 and 5 at each one's lr chosen on seeds 1 and 2 (seed 3 ran)
"$root/tools/interventions.sh" 2
# 5. the ViT's frontier again into results/vision/val, its lr chosen on the validation split (seeds 1
#    and 2) and reported on seeds 3-5 (results/vision/train must be a build with that split: one made
#    after 2026-12-07; rm it to have study_setup copy the current build)
"$root/tools/vision.sh" 2
