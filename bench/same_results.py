#!/usr/bin/env python3
"""Did a speed change change the results? Compares two runs of the train program.

  same_results.py log BEFORE.csv AFTER.csv     the loss curves (CSV logs of the same fixed-seed run)
  same_results.py dump BEFORE.st AFTER.st      two --dump-step files: loss, every grad and update

For each, prints the largest difference, absolute and relative to the quantity's size (a tensor's
largest element). Float rounding is ~1e-7 relative in one step and grows over a run, since training
amplifies differences; bit-identical prints 0.
"""
import sys

from normlab_tools.files import read_log


def compare_logs(a, b):
    def rows(path):
        return {(str(int(r["step"])), r["kind"]): r["loss"] for r in read_log(path)[0]}
    ra, rb = rows(a), rows(b)
    keys = sorted(set(ra) & set(rb), key=lambda k: (int(k[0]), k[1]))
    if not keys:
        sys.exit("no common (step, kind) rows")
    for kind in sorted({k[1] for k in keys}):
        ks = [k for k in keys if k[1] == kind]
        worst = max(ks, key=lambda k: abs(ra[k] - rb[k]))
        d = abs(ra[worst] - rb[worst])
        print(f"{kind:14s} {len(ks):5d} rows  max |diff| {d:.3g} (relative {d / abs(ra[worst]):.3g}) "
              f"at step {worst[0]}: {ra[worst]:.6g} vs {rb[worst]:.6g}")


def compare_dumps(a, b):
    from normlab_tools.safetensors import read_safetensors
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    groups = {}
    for k in sorted(set(ta) & set(tb)):
        x, y = ta[k].double(), tb[k].double()
        scale = max(x.abs().max().item(), 1e-30)
        rel = (x - y).abs().max().item() / scale
        g = k.split(".")[0] if k.split(".")[0] in ("grad", "after", "batch") else "param/loss"
        if rel > groups.get(g, (0, ""))[0] or g not in groups:
            groups[g] = (rel, k)
    for g, (rel, k) in sorted(groups.items()):
        print(f"{g:10s} max |diff| / tensor max {rel:.3g}  (worst: {k})")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("log", "dump"):
        sys.exit(__doc__)
    (compare_logs if sys.argv[1] == "log" else compare_dumps)(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
