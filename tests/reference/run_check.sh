#!/usr/bin/env bash
# The GPT checked against PyTorch: for every norm, with and without biases, one --dump-step of the
# default configuration, redone by check_dump.py. Exit 77 (a skip for meson) without PyTorch.
# usage: run_check.sh PATH-TO-TRAIN
set -euo pipefail
train=$1
here="$(cd "$(dirname "$0")" && pwd)"
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "python3-torch not installed: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
text="$here/../../data/tinyshakespeare.txt.gz"
[ -f "$text" ] || { echo "data/tinyshakespeare.txt.gz missing: skipped"; exit 77; }
status=0
for norm in ln rmsnorm dyt dyisru dytsp dyisrusp; do
    for bias in "" --bias; do
        "$train" --norm="$norm" $bias --dump-step "$tmp/dump.st" "$text" > /dev/null
        /usr/bin/python3 "$here/check_dump.py" "$tmp/dump.st" || status=1
    done
done
exit $status
