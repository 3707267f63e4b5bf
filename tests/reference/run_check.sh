#!/usr/bin/env bash
# The GPT and the ViT checked against PyTorch: for every norm, with and without biases, one
# --dump-step of the GPT's default configuration (the element-wise norms with their recipe: the
# embedding scale on), and the surrogates again without the scale at the literature's init and with a
# scalar lr multiplier; the ViT on Fashion-MNIST at its defaults, with 4 x 4 patches, and without
# biases; the stability interventions (qk-norm, a final norm of its own, z-loss, soft caps, Muon) and a
# resumed run's later step; each redone by tools/check_dump.py. Exit 77 (a skip for meson) without PyTorch (the default python3, with
# PyTorch from PyPI: python3 -m pip install torch==2.13.0).
# usage: run_check.sh PATH-TO-TRAIN
set -euo pipefail
train=$1
here="$(cd "$(dirname "$0")" && pwd)"
python3 -c "import torch" 2>/dev/null ||
    { echo "skipped: PyTorch is not installed for python3 (python3 -m pip install torch==2.13.0 adds it)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text="$here/../../data/tinyshakespeare.txt.gz"
[ -f "$text" ] || { echo "skipped: data/tinyshakespeare.txt.gz is missing (data/fetch.sh gets it)"; exit 77; }
# Each check's dump is kept (tmp/NN.st, its command line in tmp/NN.args), and tools/check_dump.py
# reads them all in one process at the end: PyTorch's import, seconds each, is paid once.
n=0
dump() { # dump ARGS...: one --dump-step of ./train ARGS into the next numbered file
    n=$((n + 1))
    local f
    f=$(printf '%s/%02d' "$tmp" "$n")
    echo "$*" > "$f.args"
    "$train" "$@" --dump-step "$f.st" > /dev/null
}
check() { dump "$@" "$text"; }
verify() { # every dump against PyTorch; the failing ones' command lines
    local out status=0
    out=$(python3 "$here/../../tools/check_dump.py" "$tmp"/*.st) || status=1
    echo "$out"
    if [ $status != 0 ]; then
        echo "$out" | awk '/^\/.*\.st:$/ {f = $0} /MISMATCH/ && f {sub(/\.st:$/, ".args", f); print f; f = ""}' |
            while read -r a; do echo "MISMATCH in: ./train $(cat "$a")"; done
    fi
    return $status
}
# every norm the program has (its registry), not a list of our own
norms=$(NORMLAB_TRAIN="$train" PYTHONPATH="$here/../../tools" python3 -c \
    "from normlab_tools.registry import norm_names; print(' '.join(norm_names()))")
for norm in $norms; do
    for bias in "" --bias; do
        check --norm="$norm" $bias
    done
done
for norm in dyt derf; do
    for bias in "" --bias; do
        check --norm="$norm" $bias --emb-scale=off --alpha0=0.5
        check --norm="$norm" $bias --scalar-lr-mult=10 --shift0=0.2 --alpha0-ln1=2
    done
done
# the stability interventions (docs/stability.md), except under the sanitizers (NORMLAB_SANITIZE, set
# by meson: those runs are slow, and test_train runs the interventions there): qk-norm of LN's kind and of the norm's own (with
# biases: k_norm's bias has a zero gradient), a final norm of another kind, z-loss with both soft caps
# (the attention's small enough to bend the scores at init), Muon
full=true
case ${NORMLAB_SANITIZE:-none} in none | "") ;; *) full=false ;; esac
$full && check --norm=ln --qk-norm=ln --bias
$full && check --norm=ln --optim=muon
$full && check --norm=dyt --qk-norm=dyt --final-norm=ln
$full && check --norm=dyt --z-loss=1e-2 --logit-softcap=2 --attn-softcap=0.05
$full && check --norm=derf --qk-norm=derf --bias --final-norm=rmsnorm
$full && check --norm=derf --optim=muon --z-loss=1e-3
$full && check --norm=ln --final-norm=dyisrusp --qk-norm=dyisru
# a later step, the optimizer's state not zero (AdamW's bias correction, Muon's momentum): resumed
# after 3 steps
later() {
    "$train" "$@" --steps 3 --save "$tmp/three.save" --sample 0 --quiet "$text" > /dev/null
    dump --resume "$tmp/three.save" --steps 4 "$text"
}
$full && later --norm=ln
$full && later --norm=dyt --optim=muon --qk-norm=ln
images=fashion-mnist
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -d "$here/../../data/fashion-mnist" ] || images=""
if [ -z "$images" ]; then
    verify || exit 1
    echo "the ViT's checks are skipped: Fashion-MNIST is missing (apt-get install dataset-fashion-mnist)"
    exit 77
fi
vit() { dump "$@" --batch-size 16 fashion-mnist; }
for norm in $norms; do
    vit --norm="$norm"
    vit --norm="$norm" --patch-size=4 --bias=false
done
vit --norm=derf --shift0=0.3 --alpha0-ln1=2 --scalar-lr-mult=10
$full && vit --norm=dyt --qk-norm=ln --final-norm=ln --z-loss=1e-2 --logit-softcap=3 --attn-softcap=0.05
$full && vit --norm=ln --qk-norm=derf --optim=muon
verify
