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
status=0
check() {
    "$train" "$@" --dump-step "$tmp/dump.st" "$text" > /dev/null
    python3 "$here/../../tools/check_dump.py" "$tmp/dump.st" || status=1
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
    "$train" "$@" --steps 3 --save "$tmp/three.st" --sample 0 --quiet "$text" > /dev/null
    "$train" --resume "$tmp/three.st" --steps 4 --dump-step "$tmp/dump.st" "$text" > /dev/null
    python3 "$here/../../tools/check_dump.py" "$tmp/dump.st" || status=1
}
$full && later --norm=ln
$full && later --norm=dyt --optim=muon --qk-norm=ln
images=fashion-mnist
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || [ -d "$here/../../data/fashion-mnist" ] || images=""
if [ -z "$images" ]; then
    echo "the ViT's checks are skipped: Fashion-MNIST is missing (apt-get install dataset-fashion-mnist)"
    exit 77
fi
vit() {
    "$train" "$@" --dump-step "$tmp/dump.st" --batch-size 16 fashion-mnist > /dev/null
    python3 "$here/../../tools/check_dump.py" "$tmp/dump.st" || status=1
}
for norm in $norms; do
    vit --norm="$norm"
    vit --norm="$norm" --patch-size=4 --bias=false
done
vit --norm=derf --shift0=0.3 --alpha0-ln1=2 --scalar-lr-mult=10
$full && vit --norm=dyt --qk-norm=ln --final-norm=ln --z-loss=1e-2 --logit-softcap=3 --attn-softcap=0.05
$full && vit --norm=ln --qk-norm=derf --optim=muon
exit $status
