#!/usr/bin/env python3
"""docs/vision.md's tables and figures, from the ViT study's committed results alone.

  tools/vision_report.py [--doc docs/vision.md] [--check]

The runs: results/vision/frontier/results.csv (tools/vision.sh). Per norm: the best lr (the lowest
mean test loss over seeds, the whole test split at the end), that loss, the test accuracy there, the
largest stable lr (every run there finite, not diverged, within 1.1 x the best loss), I (the share of
the norm's runs above 1.1 x its best, or non-finite) and the runs that ended near chance (test loss
>= 2.2; ln 10 = 2.303 is a uniform guess); per norm and lr, the mean test accuracy; and the seven
norms at their defaults (each norm's default lr is its best here: src/models/vit.c's recipes, which
tools/tests/test_studies.py holds to these results), which also goes to the README. Each table
replaces the text between the doc's <!-- report:NAME --> marks; the figures go to docs/vision/.
"""
import math
import os
import statistics
import sys

from . import study as sr  # the study's loss, metrics, fill
from .registry import norm_names
from .report import Figures, plt

ROOT = sr.ROOT
OUT = os.path.join(ROOT, "results", "vision")
CHANCE = 2.2  # a test loss at or above this is near a uniform guess over 10 classes (ln 10 = 2.303)


def sets(out=OUT):
    """[(norm, norm, runs)] of the frontier, in the registry's order (study.py's shape); each run knows
    the machine it ran on (run["machine"], from machine.txt)."""
    runs = sr.read_csv(os.path.join(out, "frontier", "results.csv"))
    for i, r in enumerate(runs):
        r["machine"] = sr.machine_of(out, i)
    return [(n, n, [r for r in runs if r["norm"] == n]) for n in norm_names() if any(r["norm"] == n for r in runs)]


def accuracy(r):
    return 100 * float(r["full_acc"]) if r.get("full_acc") not in (None, "") and math.isfinite(sr.loss(r)) else math.nan


def mean_acc(runs):
    a = [accuracy(r) for r in runs if math.isfinite(accuracy(r))]
    return (statistics.fmean(a), statistics.pstdev(a) if len(a) > 1 else math.nan, len(a)) if a else (math.nan, math.nan, 0)


def table_frontier(ss):
    rows = []
    for label, _, runs in ss:
        m = sr.metrics(runs)
        if not m:
            rows.append([label, len(runs)] + ["-"] * 6)
            continue
        best, best_sd, n = sr.at_best(runs, m)  # every seed run at the best lr, a third one too
        acc, sd, _ = mean_acc(sr.by_lr(runs)[m["best_lr"]])
        chance = sum(math.isfinite(sr.loss(r)) and sr.loss(r) >= CHANCE for r in runs)
        rows.append([label, f"{m['runs']} ({','.join(map(str, m['seeds']))})", f"{m['best_lr']:g}",
                     f"**{best:.4f}**" + (f" +- {best_sd:.4f}" if math.isfinite(best_sd) else "") + f" ({n})",
                     f"{acc:.2f}%" + (f" +- {sd:.2f}" if math.isfinite(sd) else ""),
                     f"{m['max_stable']:g}" if m["max_stable"] else "none", f"{100 * m['I']:.0f}%",
                     f"{chance} ({m['nonfinite']} non-finite)"])
    return sr.md(["norm", "runs (seeds over the grid)", "best lr", "test loss there +- std (seeds there)",
                  "test accuracy there",
                  "largest stable lr", "I", "ended near chance (>= 2.2)"], rows)


def table_accuracy(ss):
    lrs = sorted({float(r["lr"]) for _, _, runs in ss for r in runs})
    rows = []
    for label, _, runs in ss:
        grid = sr.by_lr(runs)
        cells = []
        for lr in lrs:
            a, _, n = mean_acc(grid.get(lr, []))
            cells.append(f"{a:.1f} ({n})" if n else "-")
        rows.append([label] + cells)
    return sr.md(["norm \\ peak lr"] + [f"{x:g}" for x in lrs], rows)


def best_lrs(ss):
    """{norm: its best lr}: the lr of the lowest mean test loss (study.py's metrics)."""
    return {label: m["best_lr"] for label, _, runs in ss if (m := sr.metrics(runs))}


def table_defaults(ss):
    """The seven norms at their defaults: the runs at each norm's best lr (its default), every seed."""
    best, stats = best_lrs(ss), {}
    for label, _, runs in ss:
        if label in best:
            at = sr.by_lr(runs)[best[label]]
            ls = [sr.loss(r) for r in at]
            stats[label] = (at, statistics.fmean(ls), statistics.pstdev(ls) if len(ls) > 1 else math.nan, mean_acc(at))
    ln = stats.get("ln")
    pm = lambda m, sd, f: f"{m:{f}}" + (f" +- {sd:{f}}" if math.isfinite(sd) else "")
    rows = []
    for label, (at, m, sd, (acc, acc_sd, _)) in stats.items():
        walls = [float(r["wall_s"]) for r in at]
        cpus = sorted({r["machine"].split(",")[0].replace("(R)", "").replace(" Processor", "") for r in at})
        rows.append([f"`{label}`", f"{best[label]:g}", ",".join(sorted(r["seed"] for r in at)),
                     f"**{pm(acc, acc_sd, '.2f')}%**", pm(m, sd, ".4f"),
                     "-" if label == "ln" or not ln else f"{acc - ln[3][0]:+.2f} pts, {m - ln[1]:+.4f}",
                     f"{statistics.fmean(walls):.0f} s ({' / '.join(cpus)})"])
    return sr.md(["`--norm=`", "default lr (its best)", "seeds", "test accuracy (mean +- std)", "test loss",
                  "gap to `ln` (accuracy, loss)", "time per run (CPU)"], rows) + (
        "\n\nThe whole test split (10,000 images) after 2000 steps at `./train --norm=NORM fashion-mnist`'s defaults. "
        "Time: one thread per run with another run beside it on 2 vCPUs (the study's sweep), so not a speed "
        "figure; the machines are in results/vision/machine.txt.")


def table_beside_gpt(ss, gpt_out=os.path.join(ROOT, "results", "stability")):
    """Each norm's best lr, largest stable lr and gap to ln at its best (the mean over every seed run
    there: study.at_best), in the ViT and in the GPT's frontier (docs/stability.md:
    results/stability/frontier)."""
    def frontier(sets_):
        return {label: dict(m, best=sr.at_best(runs, m)[0]) for label, _, runs in sets_ if (m := sr.metrics(runs))}
    gpt, vit = frontier(sr.settings(gpt_out)), frontier(ss)
    cell = lambda ms, n, ref: ([f"{ms[n]['best_lr']:g}", f"{ms[n]['max_stable']:g}" if ms[n]["max_stable"] else "none",
                                "-" if n == "ln" or ref not in ms else f"{ms[n]['best'] - ms[ref]['best']:+.3f}"]
                               if n in ms else ["-"] * 3)
    rows = [[label] + cell(gpt, label, "ln") + cell(vit, label, "ln") for label in vit]
    return sr.md(["norm", "GPT: best lr", "GPT: largest stable lr", "GPT: val loss - ln's", "ViT: best lr",
                  "ViT: largest stable lr", "ViT: test loss - ln's"], rows)


def accuracy_figure(figs, ss):
    fig, ax = plt.subplots(figsize=(8, 4.6))
    for i, (label, _, runs) in enumerate(ss):
        pts = [(lr, *mean_acc(rs)) for lr, rs in sr.by_lr(runs).items()]
        pts = [p for p in pts if p[3]]
        if pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, marker="o", ms=3, color=f"C{i}", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate"), ax.set_ylabel("test accuracy, % (mean over seeds)")
    title = "The ViT on Fashion-MNIST: test accuracy at the end against the peak lr (2000 steps, batch 128)"
    ax.set_title(title, fontsize=9), ax.grid(alpha=0.3, which="both")
    if ss:
        ax.legend(fontsize=8)
    figs.save(fig, "accuracy_vs_lr", title, len(ss))


def generate(doc, figdir, out=OUT, readme=None):
    os.makedirs(figdir, exist_ok=True)
    ss = sets(out)
    figs = Figures(figdir)
    sr.frontier_figure(figs, ss, "frontier", "The ViT: test loss over the whole test split against the peak lr "
                       "(band: lowest to highest seed; x: non-finite)", 2.4)
    accuracy_figure(figs, ss)
    defaults = table_defaults(ss)
    runs = [r for _, _, rs in ss for r in rs]
    hours = sum(float(r["wall_s"] or 0) for r in runs) / 3600
    spent = (f"Spent: {len(runs)} runs, {hours:.1f} hours of run time (`wall_s`), {hours / 2:.1f} hours of the "
             "machine at two runs at a time; the budget was about 4.")
    sr.fill(doc, {"vision_frontier": table_frontier(ss), "vision_accuracy": table_accuracy(ss),
                  "vision_defaults": defaults, "vision_gpt": table_beside_gpt(ss),
                  "vision_spent": spent})
    if readme:
        sr.fill(readme, {"vision_defaults": defaults})
    return f"{sum(len(r) for _, _, r in ss)} runs of {len(ss)} norms; {doc} and {len(figs.made)} figures"


def main(argv=None):
    return sr.page_main(argv, "vision_report", "vision.md", "vision", generate, __doc__, readme=True)


if __name__ == "__main__":
    sys.exit(main())
