#!/usr/bin/env bash
# The search behind the element-wise norms' recipes (their defaults: ./train --help, docs/training.md,
# "Defaults"; their lr since comes from the frontier of docs/stability.md), resumable: run it again after an interrupt and it goes on where it stopped.
#   tools/recipe_search.sh proxy     one factor at a time around the published recipe, 1000 steps,
#                                       seed 1: results/recipe/proxy/results.csv
#   tools/recipe_search.sh combine   the two factors that moved the loss most in the proxy stage
#                                       (the scale and alpha0 at ln_2/ln_f), larger together, then
#                                       alpha0 at ln_1, lr and the multiplier around the best of those:
#                                       results/recipe/combine/results.csv
#   tools/recipe_search.sh long      the best proxy settings and their neighbours at the full
#                                       2000 steps, seed 1 (the proxy favours a larger lr: 1000 steps
#                                       reward speed): results/recipe/long/results.csv
#   tools/recipe_search.sh confirm   the chosen recipes and the literature's plain init, 2000
#                                       steps, seeds 1-3, beside LayerNorm: results/recipe/confirm/
#   tools/recipe_search.sh runnerup  each norm's second-best setting, seeds 1-3 (into confirm/)
#   tools/recipe_search.sh report    the tables of every stage: results/recipe/TABLES.md
# The start (the DyT and Derf authors' GPT-2 recipe): embedding scale sqrt(n_embd) = 11.3137,
# alpha0 1 at ln_1, ln_2 and ln_f, lr 1e-3, the scalars at the plain lr. The dyisru kinds take
# alpha0 as beta0 = 1/alpha0^2 (the same slope at 0).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/results/recipe"
norms=${NORMS:-dyt,derf,dyisru,dytsp,dyisrusp}
# the train program, snapshotted on first use so that rebuilding during the search changes nothing
mkdir -p "$out"
[ -x "$out/train" ] || { "$root/train" --help >/dev/null && cp "$root/build/apps/train" "$out/train"; }
# (the search ran before the one schedule: its runs decay to nanoGPT's 1e-4, not to lr/10)
sweep() { python3 "$root/tools/sweep.py" run "$@" --train "$out/train" -- --min-lr=1e-4; }

# the base point's value of each factor, and the values tried beside it
scale=11.3137 a1=1 a2=1 mult=1 lr=1e-3
axes() { # the --opt axes with one factor replaced by its list
    local s=$scale x1=$a1 x2=$a2 m=$mult
    case $1 in scale) s=$2 ;; a1) x1=$2 ;; a2) x2=$2 ;; mult) m=$2 ;; esac
    echo --opt emb-scale=$s --opt alpha0-ln1=$x1 --opt alpha0-ln2+alpha0-lnf=$x2 --opt scalar-lr-mult=$m
}

plain() {
    sweep "$out/confirm" --norms "$norms" --inits=0.5 --opt emb-scale=off --opt scalar-lr-mult=1 \
        --seeds "${PLAIN_SEEDS:-1,2,3}" --steps 2000 --lrs 1e-3
}

case ${1:-proxy} in
proxy)
    p=(--norms "$norms" --inits= --seeds 1 --steps 1000)
    sweep "$out/proxy" "${p[@]}" --lrs $lr $(axes scale 5.6569,11.3137,22.627,45.255,90.51)
    sweep "$out/proxy" "${p[@]}" --lrs $lr $(axes a1 0.5,2)
    sweep "$out/proxy" "${p[@]}" --lrs $lr $(axes a2 0.3,3)
    sweep "$out/proxy" "${p[@]}" --lrs $lr $(axes mult 10)
    sweep "$out/proxy" "${p[@]}" --lrs 2e-3,4e-3 $(axes none x)
    sweep "$out/proxy" --norms ln --seeds 1 --steps 1000 --lrs $lr
    ;;
combine)
    p=(--norms "$norms" --inits= --seeds 1 --steps 1000)
    sweep "$out/combine" "${p[@]}" --lrs $lr --opt emb-scale=22.627,45.255 --opt alpha0-ln1=1 \
        --opt alpha0-ln2+alpha0-lnf=3,10 --opt scalar-lr-mult=1
    ;;
long)
    p=(--norms "$norms" --inits= --seeds 1 --steps 2000)
    one() { sweep "$out/long" "${p[@]}" --lrs $4 --opt emb-scale=$1 --opt alpha0-ln1=$2 \
                --opt alpha0-ln2+alpha0-lnf=$3 --opt scalar-lr-mult=$5; }
    #   scale   ln_1 ln_2/f lr    mult
    one 22.627  1    1      1e-3  1
    one 11.3137 1    3      1e-3  1
    one 22.627  1    1      2e-3  1
    one 11.3137 1    3      2e-3  1
    # lr 2e-3 was the largest step forward at 2000 steps: further along it
    one 22.627  1    1      3e-3  1
    one 22.627  1    1      4e-3  1
    # alpha moving slower (dytsp's softplus slows it by sigmoid(raw) = 0.73 at alpha 1, and dytsp
    # beat dyt at 3e-3): the scalars at 0.3 x lr
    NORMS_SLOW=${NORMS_SLOW:-dyt,derf,dyisrusp}
    p=(--norms "$NORMS_SLOW" --inits= --seeds 1 --steps 2000)
    one 22.627  1    1      3e-3  0.3
    ;;
confirm)
    # every norm as ./train runs it with no option but the seed (the recipes are the defaults now),
    # seeds 1-3; then each surrogate at the literature's plain init (no scale, alpha0 0.5, lr 1e-3)
    rm -f "$out/train" # the program with the chosen recipes
    "$root/train" --help >/dev/null && cp "$root/build/apps/train" "$out/train"
    # the norms grouped by their recipe's lr (one sweep each, so both cores stay busy)
    recipes=$("$out/train" --help | awk '/^The norms. recipes/ {on = 1; next} on && NF == 0 {exit} on && $1 != "--scalar-lr-mult;" && $1 !~ /nanoGPT/ {print $1, $NF}')
    for lr in $(echo "$recipes" | awk '{print $2}' | sort -u); do
        at=$(echo "$recipes" | awk -v lr=$lr '$2 == lr {printf "%s%s", sep, $1; sep = ","}')
        sweep "$out/confirm" --norms "$at" --inits= --seeds 1,2,3 --steps 2000 --lrs $lr
    done
    plain
    ;;
plain) # the plain init alone (PLAIN_SEEDS: which seeds, default 1,2,3)
    plain
    ;;
runnerup)
    # the second-best setting of each norm at 2000 steps (results/recipe/long), seeds 1-3 too
    s2=22.627416997969522 # 2 sqrt(128), the same double as the recipe's "auto" (repr of 2*math.sqrt(128))
    r=(--inits= --seeds 1,2,3 --steps 2000 --opt alpha0-ln1=1 --opt scalar-lr-mult=1)
    sweep "$out/confirm" --norms dyt "${r[@]}" --lrs 1e-3 --opt emb-scale=$s2 --opt alpha0-ln2+alpha0-lnf=1
    sweep "$out/confirm" --norms dyisru,dytsp,derf "${r[@]}" --lrs 2e-3 --opt emb-scale=$s2 --opt alpha0-ln2+alpha0-lnf=1
    sweep "$out/confirm" --norms dyisrusp "${r[@]}" --lrs 1e-3 --opt emb-scale=11.3137 --opt alpha0-ln2+alpha0-lnf=3
    ;;
report)
    {
        echo "# The recipe search, every run (written by tools/recipe_search.sh report)"
        echo
        echo "Loss: best_val is the best 20-batch validation estimate of a run, full_val the whole"
        echo "validation split at its end; seeds are the train program's --seed."
        for stage in confirm long combine proxy; do
            [ -f "$out/$stage/results.csv" ] || continue
            echo
            echo "## $stage"
            echo
            (cd "$root" && python3 tools/sweep.py table "results/recipe/$stage" --metric full_val)
        done
    } > "$out/TABLES.md"
    echo "wrote $out/TABLES.md"
    ;;
*) echo "usage: $0 proxy|combine|long|confirm|runnerup|report" >&2; exit 2 ;;
esac
