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
import collections
import math
import os
import re
import statistics
import sys

from . import protocol
from . import study as sr  # the study's loss, metrics, fill and check
from .registry import norm_names
from .report import Figures, plt

ROOT = sr.ROOT
TOKENS_PER_STEP = 12 * 64  # the default batch: 12 sequences of 64 characters
TRAIN_CHARS = int(1115394 * 0.9)  # tinyshakespeare's training split (src/data/dataset.c: the first 90%)

# The seed paper's author's trained grid (abcde17/dynamic-activation-functions, results/tables/exp12,
# exp15, exp32, exp35: nanoGPT GPT-2 on OpenWebText, no embedding scale): LN's loss and the gaps of
# the best DyT and DyISRU runs, with one init everywhere (L1) / a separate init for attention (L2).
# Read exactly (../shared/SCIENCE.md): the tables' "DyISRU" is the softplus form (beta = softplus of
# the raw parameter), and the repository's notebook overwrites the 125M/5B row with its "alt" subset
# (DyT-softplus and plain DyISRU) before the table is written, so that row very likely shows those.
# Plain DyT's best there (the same notebook's diagonal, L1 = L2) is 3.279, and DyISRU-softplus's 3.314.
# (model, tokens, its parameters and tokens, LN, DyT L1, L2, DyISRU L1, L2, the row's note)
# (model, tokens, its parameters and tokens, LN, DyT L1, L2, DyISRU L1, L2, and for the overwritten
# row plain DyT's and DyISRU-softplus's best losses)
AUTHOR = [("125M", "5B", 125e6, 5e9, 3.209, 0.140, 0.126, 0.098, 0.074, (3.279, 3.314)),
          ("125M", "20B", 125e6, 20e9, 3.078, 0.030, 0.030, 0.053, 0.043, None),
          ("760M", "5B", 760e6, 5e9, 2.851, 0.129, 0.075, 0.124, 0.082, None),
          ("760M", "20B", 760e6, 20e9, 2.675, 0.095, 0.039, 0.057, 0.035, None)]


def gpt_params(width, layers=4, vocab=65, block=64):
    """The default GPT's parameters at a width (docs/architecture.md's model, no biases): the
    embeddings, 12 C^2 + 13 C a block, ln_f's scale and the embedding scale."""
    return vocab * width + block * width + layers * (12 * width * width + 13 * width) + 2 * width


def folders():
    """{(steps, width, tag): runs}: every folder results/scaling/steps<S>_w<W>[_<tag>] that has runs
    (tag "" for the main grid, "dropout" for --dropout 0.1, "l2" for the separate attention init)."""
    out = {}
    base = os.path.join(ROOT, "results", "scaling")
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        m = re.fullmatch(r"steps(\d+)_w(\d+)(?:_(\w+))?", name)
        rows = sr.read_csv(os.path.join(base, name, "results.csv")) if m else []
        if rows:
            out[(int(m.group(1)), int(m.group(2)), m.group(3) or "")] = rows
    return out


def points(tag=""):
    """{(steps, width): runs} of one kind of folder; the main grid's ("") also has the frontier as its
    2,000-step, 128-wide point."""
    out = {(2000, 128): sr.read_csv(os.path.join(ROOT, "results", "stability", "frontier", "results.csv"))} if not tag else {}
    out.update({(st, w): runs for (st, w, t), runs in folders().items() if t == tag})
    return out


def best_of(runs):
    """Best(lr, mean, std over seeds, seeds at it, I, lrs run, train loss at the end, lowest val's
    step, steps, largest stable lr, held out) of one norm's runs at one point. The lr is chosen, and
    its numbers given, on the selection seeds (those that ran every lr of the point's grid); held out
    are the losses of the other seeds at the chosen lr (the evaluation seeds of protocol.py)."""
    every = runs
    runs = sr.complete_seeds(runs)
    chosen = {r["seed"] for r in runs}
    grid = sr.by_lr(runs)
    means = {lr: statistics.fmean(sr.loss(r) for r in rs) for lr, rs in grid.items()}
    finite = {lr: m for lr, m in means.items() if math.isfinite(m)}
    if not finite:
        return None
    lr = min(finite, key=finite.get)
    at = [sr.loss(r) for r in grid[lr]]
    ok = lambda r: math.isfinite(sr.loss(r)) and sr.loss(r) <= sr.UNSTABLE * finite[lr]
    stable = [x for x, rs in grid.items() if all(ok(r) and r["diverged"] == "0" for r in rs)]
    train = [float(r["final_train"]) for r in grid[lr] if r.get("final_train") not in (None, "")]
    held = [sr.loss(r) for r in every if r["seed"] not in chosen and float(r["lr"]) == lr]
    return Best(lr, finite[lr], statistics.stdev(at) if len(at) > 1 else math.nan, len(at),
                sum(not ok(r) for r in runs) / len(runs), sorted(grid), statistics.fmean(train) if train else math.nan,
                statistics.fmean(int(r["best_step"]) for r in grid[lr]), int(grid[lr][0]["steps"]),
                max(stable) if stable else None, held)


Best = collections.namedtuple("Best", "lr mean sd seeds I lrs train best_step steps max_stable held")


def studied(pts):
    """The study's norms: those its own runs (results/scaling, not the frontier's point) trained, in
    the registry's order."""
    ran = {r["norm"] for p, runs in pts.items() if p != (2000, 128) for r in runs}
    return [n for n in norm_names() if n in ran]


def summary(tag=""):
    """{(steps, width): {norm: Best}} over the points of one kind of folder, for the study's norms."""
    norms = studied(points())
    return {p: {n: b for n in norms if (b := best_of([r for r in runs if r["norm"] == n]))}
            for p, runs in sorted(points(tag).items())}


def label(p):
    steps, width = p
    tokens = steps * TOKENS_PER_STEP
    return f"{steps}, {width}, {tokens / 1e6:.1f}M ({tokens / gpt_params(width):.2g} a parameter)"


def table_points(s, ref=None):
    """Every norm at every point: its best lr, loss, gap to ln there (or to ref's ln: the main grid's
    at the same point), the train loss at the end, val minus train and the step of the lowest val (an
    overfit run's is before the end), I and the largest stable lr of the lrs run."""
    head = ["point (steps, width, tokens)", "norm", "best lr (lrs run)", "best whole val +- std (seeds)", "gap to ln",
            "train (end)", "val - train", "lowest val at step", "I", "largest stable lr",
            "held-out seeds at the best lr: mean +- 95% (n)", "their gap to ln's (95%)"]
    rows = []
    for p, per in s.items():
        ln = per.get("ln")
        for n, b in per.items():
            edge = " (edge)" if b.lr in (b.lrs[0], b.lrs[-1]) and len(b.lrs) > 1 else ""
            e = protocol.estimate(b.held)
            held_gap = protocol.format_gap(protocol.gap(b.held, ln.held)) if n != "ln" and ln and ln.held and b.held else "-"
            rows.append([label(p), n, f"{b.lr:g}{edge} ({', '.join(f'{x:g}' for x in b.lrs)})",
                         f"{b.mean:.4f}" + (f" +- {b.sd:.4f}" if math.isfinite(b.sd) else "") + f" ({b.seeds})",
                         "-" if n == "ln" or not ln else f"{b.mean - ln.mean:+.3f}", f"{b.train:.3f}",
                         f"{b.mean - b.train:+.3f}", f"{b.best_step:.0f}" + (" (before the end)" if b.best_step < b.steps - 250 else ""),
                         f"{100 * b.I:.0f}%", f"{b.max_stable:g}" if b.max_stable else "none",
                         protocol.format_estimate(e, 4) if b.held else "-", held_gap])
    return sr.md(head, rows)


def held_out_findings(s, head=None):
    """The README's bullet on length and width: at each point whose LN has held-out seeds enough (the
    protocol's MIN_EVAL), every norm's held-out gap to LN with its interval; the other points named
    as not yet measured."""
    found, waiting = [], []
    for p, per in s.items():
        ln = per.get("ln")
        if p == (2000, 128):  # the frontier's point: its held-out seeds are the defaults table's
            found.append(f"  - 2,000 steps, 128 wide ({2000 * TOKENS_PER_STEP / gpt_params(128):.2g} tokens a parameter): the "
                         "README's defaults table (seeds 4, 5, 6 and 1337)")
            continue
        if not ln or len(ln.held) < protocol.MIN_EVAL:
            waiting.append(f"{p[0]:,} x {p[1]}")
            continue
        gaps = [f"`{n}` {protocol.format_gap(protocol.gap(b.held, ln.held))}" for n, b in per.items()
                if n != "ln" and len(b.held) >= protocol.MIN_EVAL]
        tokens = p[0] * TOKENS_PER_STEP
        found.append(f"  - {p[0]:,} steps, {p[1]} wide ({tokens / gpt_params(p[1]):.2g} tokens a parameter; tinyshakespeare "
                     f"read {tokens / TRAIN_CHARS:.0f} times): `ln` {protocol.format_estimate(protocol.estimate(ln.held))}; "
                     + ("; ".join(gaps) if gaps else "no other norm has held-out seeds there yet"))
    head = head or ("- **Training longer or wider** ([docs/scaling.md](docs/scaling.md): each lr chosen on selection "
                    "seeds, the gaps to `ln` below on held-out seeds, 95% intervals):")
    tail = (f"\n  - Not yet measured on held-out seeds: {', '.join(waiting)} (steps x width; `tools/heldout.sh`). "
            "A gap that shrinks with length on a text read many times over may be `ln` overfitting rather than the "
            "surrogates catching up: the fresh-token study is to tell the two apart.") if waiting else ""
    return head + ("\n" + "\n".join(found) if found else " none has held-out seeds yet.") + tail


def gap(per, n):
    return per[n].mean - per["ln"].mean if n in per and "ln" in per else math.nan


def table_gaps(s):
    """The headline: each surrogate's gap to ln at every point (length axis, then width), and DyT minus
    DyISRU (negative: DyT ahead)."""
    norms = [n for n in studied(points()) if n != "ln"]
    order = sorted(s, key=lambda p: (p[1] != 128, p[1], p[0]))
    f = lambda v: "-" if not math.isfinite(v) else f"{v:+.3f}"
    rows = [[label(p), f"{s[p]['ln'].mean:.4f}" if "ln" in s[p] else "-"] + [f(gap(s[p], n)) for n in norms]
            + [f(s[p]["dyt"].mean - s[p]["dyisru"].mean if {"dyt", "dyisru"} <= s[p].keys() else math.nan)] for p in order]
    return sr.md(["point (steps, width, tokens)", "ln (whole val)"] + [f"{n} - ln" for n in norms] + ["dyt - dyisru"], rows)


def fit(xs, ys):
    """Least squares of log y = c - b log x: (b, its standard error or nan with two points)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    sxx = sum((x - mx) ** 2 for x in lx)
    slope = sum((x - mx) * (y - my) for x, y in zip(lx, ly)) / sxx
    resid = sum((y - my - slope * (x - mx)) ** 2 for x, y in zip(lx, ly))
    return -slope, math.sqrt(resid / (len(xs) - 2) / sxx) if len(xs) > 2 else math.nan


def table_fit(s, width=128):
    """Along the length axis: each surrogate's gap, how many times it shrinks per 4x tokens, and the
    power law gap ~ tokens^-b where every gap is positive (a gap at or below zero has no power law)."""
    lengths = sorted(st for st, w in s if w == width)
    rows = []
    for n in [n for n in studied(points()) if n not in ("ln", "rmsnorm")]:
        gs = [gap(s[(st, width)], n) for st in lengths]
        pts = [(st * TOKENS_PER_STEP, g) for st, g in zip(lengths, gs) if math.isfinite(g)]
        shrink = [f"{a / b:.1f}x" if a > 0 and b > 0 else "crosses 0" if a > 0 >= b else "-"
                  for (_, a), (_, b) in zip(pts, pts[1:])]
        if len(pts) < 2:
            law = "needs two lengths"
        elif any(g <= 0 for _, g in pts):
            law = "none: the gap reaches 0"
        else:
            b, se = fit(*zip(*pts))
            law = f"{b:.2f}" + (f" +- {se:.2f}" if math.isfinite(se) else " (two points)")
        rows.append([n] + ["-" if not math.isfinite(g) else f"{g:+.3f}" for g in gs] + [", ".join(shrink) or "-", law])
    return sr.md(["norm"] + [f"gap at {st} steps" for st in lengths] + ["shrinks per 4x tokens", "b in gap ~ tokens^-b"], rows)


def table_variant(main, tag, what):
    """A variant of main-grid points (dropout): each norm's best there beside the main grid's (main:
    summary())."""
    rows = []
    for p, per in summary(tag).items():
        ln = per.get("ln")
        for n, b in per.items():
            m = main.get(p, {}).get(n)
            rows.append([label(p), n, f"{b.lr:g}", f"{b.mean:.4f} ({b.seeds})", "-" if n == "ln" or not ln else f"{b.mean - ln.mean:+.3f}",
                         f"{b.train:.3f}", f"{b.mean - b.train:+.3f}", f"{b.best_step:.0f} of {b.steps}",
                         f"{m.mean:.4f}" if m else "-", f"{b.mean - m.mean:+.3f}" if m else "-"])
    return sr.md(["point", "norm", "lr", f"whole val {what} (seeds)", "gap to ln", "train (end)", "val - train",
                  "lowest val at step", "without", "change"], rows)


def table_l2(main, steps=8000, width=128):
    """The seed author's second metric at one point: each surrogate with one alpha0 everywhere (L1) and
    with ln_1's alpha0 set apart (L2: the best of L1 and each ln_1 value), its gap to ln's best there,
    and I over the inits (the share of runs above 1.1 x the norm's best)."""
    runs = points("l2").get((steps, width), [])
    ln = main.get((steps, width), {}).get("ln")
    if not runs or not ln:
        return "(no L2 runs yet)"
    rows = []
    for n in [n for n in norm_names() if any(r["norm"] == n for r in runs)]:
        inits = collections.defaultdict(list)
        for r in runs:
            if r["norm"] == n:
                inits[(r["init_pos"], r["init_pos_value"])].append(sr.loss(r))
        means = {k: statistics.fmean(v) for k, v in inits.items()}
        l1, best = means.get(("", "")), min(means.values())
        settings = ", ".join(f"{'ln_1 ' + v if pos else 'everywhere'}: {m:.4f}" for (pos, v), m in sorted(means.items()))
        allruns = [x for v in inits.values() for x in v]
        unstable = sum(not (math.isfinite(x) and x <= sr.UNSTABLE * min(allruns)) for x in allruns) / len(allruns)
        rows.append([n, settings, f"{l1 - ln.mean:+.3f}" if l1 else "-", f"{best - ln.mean:+.3f}", f"{100 * unstable:.0f}%"])
    return sr.md(["norm", "whole val by alpha0 (mean over seeds)", "gap L1", "gap L2", "I over the inits"], rows)


def gap_figure(figs, s, axis):
    """The gap to ln at each norm's best lr against tokens (width 128) or against width (each length)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n = 0
    series = [(None, 128)] if axis == "tokens" else [(steps, None) for steps in sorted({p[0] for p in s})
                                                     if sum(p[0] == steps for p in s) > 1]  # lengths with 2+ widths
    norms = [n for n in norm_names() if any(n in by_norm for by_norm in s.values())]
    for i, norm in enumerate(x for x in norms if x != "ln"):
        for j, (steps, width) in enumerate(series):
            pts = []
            for (st, w), per in sorted(s.items()):
                if (width and w != width) or (steps and st != steps) or norm not in per or "ln" not in per:
                    continue
                x = st * TOKENS_PER_STEP if axis == "tokens" else w
                gap, sd = per[norm].mean - per["ln"].mean, per[norm].sd
                pts.append((x, gap, sd if math.isfinite(sd) else 0))
            if len(pts) >= 1:
                xs, gs, sds = zip(*pts)
                ax.plot(xs, gs, marker="o", ms=4, color=f"C{i}", linestyle="-" if j == 0 else "--",
                        label=norm + ("" if axis == "tokens" else f", {steps} steps"))
                ax.fill_between(xs, [g - d for g, d in zip(gs, sds)], [g + d for g, d in zip(gs, sds)], color=f"C{i}", alpha=0.15)
                n += 1
    ax.set_xscale("log", base=2 if axis == "width" else 10)
    ax.axhline(0, color="k", linewidth=0.7)
    ax.set_xlabel("training tokens" if axis == "tokens" else "width (n_embd; head_dim 32)")
    ax.set_ylabel("whole val loss minus LN's (each at its best lr)")
    ax.set_title(f"The surrogates' gap to LayerNorm against {'training length' if axis == 'tokens' else 'width'}"
                 " (bands: +- std over seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    figs.save(fig, f"gap_vs_{axis}", f"gap against {axis}", n)


def table_author():
    note = lambda ln, plain: "-" if not plain else (  # noqa: E731
        f"very likely DyT-softplus and plain DyISRU (the notebook's alt subset); plain DyT {plain[0] - ln:+.3f} "
        f"(L1 = L2), DyISRU-softplus {plain[1] - ln:+.3f}")
    rows = [[f"{m}, {t}", f"{tok / par:.3g}", f"{ln:.3f}", f"+{a:.3f} / +{b:.3f}", f"+{c:.3f} / +{d:.3f}", note(ln, plain)]
            for m, t, par, tok, ln, a, b, c, d, plain in AUTHOR]
    return sr.md(["model, tokens", "tokens a parameter", "LN", "DyT - LN (L1 / L2)", "DyISRU-softplus - LN (L1 / L2)",
                  "what the row holds"], rows)


def table_spent():
    """Runs, and hours of wall time, per folder; the machine's time at two runs at a time."""
    rows, total = [], 0.0
    for (steps, width, tag), runs in sorted(folders().items()):
        h = sum(float(r["wall_s"] or 0) for r in runs) / 3600
        total += h
        rows.append([f"steps{steps}_w{width}" + (f"_{tag}" if tag else ""), len(runs), f"{h:.1f}"])
    rows.append(["all", sum(r[1] for r in rows), f"**{total:.1f}** (machine: {total / 2:.1f})"])
    return sr.md(["folder (results/scaling/)", "runs", "hours of run time"], rows)


def generate(doc, figdir, readme=None):
    os.makedirs(figdir, exist_ok=True)
    s = summary()
    figs = Figures(figdir)
    gap_figure(figs, s, "tokens")
    gap_figure(figs, s, "width")
    sr.fill(doc, {"points": table_points(s), "gaps": table_gaps(s), "fit": table_fit(s),
                  "dropout": table_variant(s, "dropout", "with dropout 0.1"), "l2": table_l2(s), "author": table_author(),
                  "spent": table_spent(), "heldout": held_out_findings(s, "- **Measured on held-out seeds so far** "
                                                                            "(each lr chosen on the selection seeds; gaps "
                                                                            "to `ln` with 95% intervals):")})
    if readme:
        sr.fill(readme, {"length": held_out_findings(s)})
    return f"{sum(len(v) for v in folders().values())} runs in {len(folders())} folders; {doc} and {len(figs.made)} figures"


def main(argv=None):
    return sr.page_main(argv, "scaling_report", "scaling.md", "scaling", generate, __doc__, todo="scaling", readme=True)


if __name__ == "__main__":
    sys.exit(main())
