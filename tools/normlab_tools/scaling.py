#!/usr/bin/env python3
"""docs/scaling.md's tables and figures, from the scaling study's committed results alone.

  tools/scaling_report.py [--doc docs/scaling.md] [--check]

The points: results/stability/frontier (2,000 steps, 128 wide: the frontier's runs) and
results/scaling/steps<S>_w<W>/results.csv (tools/scaling.sh). Per norm and point, over the lrs
and seeds that ran there: the best lr (lowest mean whole-val loss over seeds), that loss and its
std over seeds, the gap to LayerNorm's best at the same point, and I (the fraction of the point's
runs above 1.1 x the norm's best, or non-finite). Each table replaces the text between the doc's
<!-- report:NAME --> marks; the figures go to docs/scaling/ as PNG and SVG.
"""
import math
import os
import statistics
import sys

from . import study as sr  # the study's loss, metrics, fill and check
from .registry import norm_names
from .report import Figures, plt

ROOT = sr.ROOT
TOKENS_PER_STEP = 12 * 64  # the default batch: 12 sequences of 64 characters

# The seed paper's author's trained grid (abcde17/dynamic-activation-functions, results/tables/exp12,
# exp15, exp32, exp35: nanoGPT GPT-2 on OpenWebText, no embedding scale): LN's loss and the gaps of
# the best DyT and DyISRU runs, with one init everywhere (L1) / a separate init for attention (L2).
AUTHOR = [("125M", "5B", 3.209, 0.140, 0.126, 0.098, 0.074), ("125M", "20B", 3.078, 0.030, 0.030, 0.053, 0.043),
          ("760M", "5B", 2.851, 0.129, 0.075, 0.124, 0.082), ("760M", "20B", 2.675, 0.095, 0.039, 0.057, 0.035)]


def points():
    """{(steps, width): runs}: the frontier as the 2,000-step, 128-wide point, and every scaling folder."""
    out = {(2000, 128): sr.read_csv(os.path.join(ROOT, "results", "stability", "frontier", "results.csv"))}
    base = os.path.join(ROOT, "results", "scaling")
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        steps, _, width = name[5:].partition("_w")
        if name.startswith("steps") and steps.isdigit() and width.isdigit():  # not the L2 grid's folder
            rows = sr.read_csv(os.path.join(base, name, "results.csv"))
            if rows:
                out[(int(steps), int(width))] = rows
    return out


def best_of(runs):
    """(best lr, mean, std over seeds, seeds at it, I, lrs run) of one norm's runs at one point."""
    grid = sr.by_lr(runs)
    means = {lr: statistics.fmean(sr.loss(r) for r in rs) for lr, rs in grid.items()}
    finite = {lr: m for lr, m in means.items() if math.isfinite(m)}
    if not finite:
        return None
    lr = min(finite, key=finite.get)
    at = [sr.loss(r) for r in grid[lr]]
    unstable = sum(not (math.isfinite(sr.loss(r)) and sr.loss(r) <= sr.UNSTABLE * finite[lr]) for r in runs)
    return (lr, finite[lr], statistics.stdev(at) if len(at) > 1 else math.nan, len(at), unstable / len(runs),
            sorted(grid))


def studied(pts):
    """The study's norms: those its own runs (results/scaling, not the frontier's point) trained, in
    the registry's order."""
    ran = {r["norm"] for p, runs in pts.items() if p != (2000, 128) for r in runs}
    return [n for n in norm_names() if n in ran]


def summary():
    """{(steps, width): {norm: best_of}} over the points that have runs, for the study's norms."""
    pts = points()
    norms = studied(pts)
    return {p: {n: b for n in norms if (b := best_of([r for r in runs if r["norm"] == n]))}
            for p, runs in sorted(pts.items())}


def table_points(s):
    head = ["point (steps, width, tokens)", "norm", "best lr (lrs run)", "best whole val +- std (seeds)", "gap to ln", "I"]
    rows = []
    for (steps, width), per in s.items():
        ln = per.get("ln")
        for n, (lr, m, sd, k, inst, lrs) in per.items():
            edge = " (edge)" if lr in (lrs[0], lrs[-1]) and len(lrs) > 1 else ""
            rows.append([f"{steps}, {width}, {steps * TOKENS_PER_STEP / 1e6:.1f}M", n,
                         f"{lr:g}{edge} ({', '.join(f'{x:g}' for x in lrs)})",
                         f"{m:.4f}" + (f" +- {sd:.4f}" if math.isfinite(sd) else "") + f" ({k})",
                         "-" if n == "ln" or not ln else f"{m - ln[1]:+.3f}", f"{100 * inst:.0f}%"])
    return sr.md(head, rows)


def gap_figure(figs, s, axis):
    """The gap to ln at each norm's best lr against tokens (width 128) or against width (each length)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n = 0
    series = [(None, 128)] if axis == "tokens" else [(steps, None) for steps in sorted({p[0] for p in s})]
    norms = [n for n in norm_names() if any(n in by_norm for by_norm in s.values())]
    for i, norm in enumerate(x for x in norms if x != "ln"):
        for j, (steps, width) in enumerate(series):
            pts = []
            for (st, w), per in sorted(s.items()):
                if (width and w != width) or (steps and st != steps) or norm not in per or "ln" not in per:
                    continue
                x = st * TOKENS_PER_STEP if axis == "tokens" else w
                gap, sd = per[norm][1] - per["ln"][1], per[norm][2]
                pts.append((x, gap, sd if math.isfinite(sd) else 0))
            if len(pts) >= 1:
                xs, gs, sds = zip(*pts)
                ax.errorbar(xs, gs, yerr=sds, marker="o", capsize=3, color=f"C{i}", linestyle="-" if j == 0 else "--",
                            label=norm + ("" if axis == "tokens" else f", {steps} steps"))
                n += 1
    ax.set_xscale("log", base=2 if axis == "width" else 10)
    ax.axhline(0, color="k", linewidth=0.7)
    ax.set_xlabel("training tokens" if axis == "tokens" else "width (n_embd; head_dim 32)")
    ax.set_ylabel("whole val loss minus LN's (each at its best lr)")
    ax.set_title(f"The surrogates' gap to LayerNorm against {'training length' if axis == 'tokens' else 'width'}"
                 " (error bars: std over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    figs.save(fig, f"gap_vs_{axis}", f"gap against {axis}", n)


def table_author():
    rows = [[f"{m}, {t}", f"{ln:.3f}", f"+{a:.3f} / +{b:.3f}", f"+{c:.3f} / +{d:.3f}"] for m, t, ln, a, b, c, d in AUTHOR]
    return sr.md(["model, tokens", "LN", "DyT - LN (L1 / L2)", "DyISRU - LN (L1 / L2)"], rows)


def generate(doc, figdir):
    os.makedirs(figdir, exist_ok=True)
    s = summary()
    figs = Figures(figdir)
    gap_figure(figs, s, "tokens")
    gap_figure(figs, s, "width")
    sr.fill(doc, {"points": table_points(s), "author": table_author()})
    return f"{sum(len(v) for v in points().values())} runs at {len(s)} points; {doc} and {len(figs.made)} figures"


def main(argv=None):
    return sr.page_main(argv, "scaling_report", "scaling.md", "scaling", generate, __doc__, todo="scaling")


if __name__ == "__main__":
    sys.exit(main())
