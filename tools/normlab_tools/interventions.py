#!/usr/bin/env python3
"""docs/stability.md's interventions section, from the committed results alone.

  tools/interventions_report.py [--doc docs/stability.md] [--check]

The runs: results/interventions/<intervention>/results.csv (tools/interventions.sh; the plan's
table of interventions is study_plan.INTERVENTIONS), beside the baseline, the frontier's runs of the
same norms (results/stability/frontier). A Muon run's lr is its Muon lr (the blocks' matrices'; the
rest trained at the norm's default lr). Per norm and intervention: the best lr (the whole val split at
the end, mean over the seeds that ran the whole grid) and the loss there (mean over every seed that ran
at it: the plan adds a third at the best), the largest stable lr, I, the runs that ended near unigram,
and what the instruments reached at lr 1e-2 (where the surrogates' baseline collapses): the largest
attention logit, the lowest head's entropy, the largest log Z of the output logits. Then, per
surrogate, which intervention brings its largest stable lr up to LN's, and how far its best loss
stays from LN's, without an intervention and with the same one. Each table replaces the text between
the doc's <!-- report:NAME --> marks; the figure goes to docs/stability/interventions.png.
"""
import math
import os
import statistics
import sys

from matplotlib.ticker import NullFormatter

from . import protocol
from . import study as sr
from .report import Figures, plt
from .study_plan import INTERVENTIONS, STABLE, STABLE_GRID, lr_of

ROOT = sr.ROOT
OUT = os.path.join(ROOT, "results", "interventions")
BASELINE = os.path.join(ROOT, "results", "stability", "frontier")
AT = 1e-2  # the lr the instruments are read at: the surrogates' baseline collapses there
BASE = "none (the frontier)"
# The held-out-seed protocol: each intervention's lr chosen on seeds 1 and 2, reported on 3, 4 and 5
# (the frontier, the baseline: chosen on 1-3 and reported on the README's evaluation seeds)
SELECT, EVALUATE = (1, 2), (3, 4, 5)


def heldout(name, runs, norm):
    """(chosen lr, the evaluation seeds' losses there) under the protocol, or None."""
    if name == BASE:
        nums = sr.defaults_numbers(os.path.join(ROOT, "results", "defaults", "seeds"), sr.settings(
            os.path.dirname(BASELINE))).get(norm)
        return (nums["lr"], nums["eval"]) if nums else None
    lr = lambda r: float(r["lr"])  # noqa: E731
    c = protocol.choose(runs, SELECT, lr, sr.loss)
    if not c:
        return None
    seen = {int(r["seed"]): sr.loss(r) for r in runs if int(r["seed"]) in EVALUATE and lr(r) == c.key}
    return c.key, list(seen.values())


def heldout_text(h):
    return f"{h[0]:g}: " + protocol.format_estimate(protocol.estimate(h[1]), 4) if h else "-"


def settings(out=OUT, baseline=BASELINE):
    """{norm: [(intervention, runs)]}, the baseline first (its runs on the study's grid, so that I and
    the largest stable lr count the same lrs); a Muon run's "lr" is its Muon lr."""
    base = [r for r in sr.read_csv(os.path.join(baseline, "results.csv"))
            if any(math.isclose(float(r["lr"]), g) for g in STABLE_GRID)]
    s = {n: [(BASE, [r for r in base if r["norm"] == n])] for n in STABLE}
    for name, norms, _, axis in INTERVENTIONS:
        rows = sr.read_csv(os.path.join(out, name, "results.csv"))
        for r in rows:
            r["lr"] = str(lr_of(r, axis))
        for n in norms:
            s[n].append((label(name, axis), [r for r in rows if r["norm"] == n]))
    return s


def label(name, axis):
    return name if axis == "lr" else f"{name} ({axis})"


# the interventions whose lr axis is another than the peak lr's (Muon's own): their largest stable lr
# compares with LN's under the same intervention, not with LN's peak lr
OTHER_AXIS = {label(name, axis) for name, _, _, axis in INTERVENTIONS if axis != "lr"}


def at_lr(runs, column, lr=AT, pick=statistics.fmean):
    vals = [float(r[column]) for r in runs if math.isclose(float(r["lr"]), lr) and r.get(column) not in (None, "")]
    vals = [v for v in vals if math.isfinite(v)]
    return pick(vals) if vals else math.nan


def num(v, f="{:.3g}"):
    return f.format(v) if math.isfinite(v) else "-"


def table(s):
    rows = []
    for norm, sets in s.items():
        for name, runs in sets:
            m = sr.metrics(runs) if runs else None
            if not m:
                rows.append([norm, name, len(runs)] + ["-"] * 9)
                continue
            best, sd, k = sr.at_best(runs, m)
            seeds = sorted({int(r["seed"]) for r in runs})
            rows.append([norm, name, f"{len(runs)} ({','.join(map(str, seeds))})", heldout_text(heldout(name, runs, norm)),
                         f"{m['best_lr']:g}", f"{best:.4f}" + (f" +- {sd:.4f} ({k})" if math.isfinite(sd) else ""),
                         f"{m['max_stable']:g}" if m["max_stable"] else "none", f"{100 * m['I']:.0f}%", m["collapsed"],
                         num(at_lr(runs, "peak_attn_logit")), num(at_lr(runs, "min_attn_entropy"), "{:.2f}"),
                         num(at_lr(runs, "peak_log_z"), "{:.1f}")])
    return sr.md(["norm", "intervention", "runs (seeds)", "held out: lr chosen on seeds 1,2 (the frontier: 1-3): the "
                  "loss of seeds 3,4,5 there (the frontier: the README's), mean +- 95%", "best lr (every seed)",
                  "best loss +- std (seeds there: they chose it)", "largest stable lr",
                  "I", "near unigram (>= 3.0)", f"attn logit at {AT:g}", f"lowest head entropy at {AT:g}",
                  f"log Z at {AT:g}"], rows)


# LN under the same intervention, where its name differs: LN's own kind of qk-norm is LN's, and LN's
# final norm is LN already (the baseline)
LN_SAME = {"qk_own": "qk_ln", "final_ln": BASE}


def best_of(runs):
    """(metrics, mean loss at the best lr over every seed there), or None."""
    m = sr.metrics(runs) if runs else None
    return (m, sr.at_best(runs, m)[0]) if m else None


def answer(s):
    """Per surrogate and intervention: its largest stable lr against LN's (baseline), its best loss
    against LN's best (baseline) and against LN's under the same intervention."""
    lns = {name: best_of(runs) for name, runs in s[STABLE[0]]}  # LN's (the reference)
    held = {name: heldout(name, runs, STABLE[0]) for name, runs in s[STABLE[0]]}
    ln = lns[BASE]
    if not ln:
        return "(the baseline has no LN runs)"
    rows = []
    for norm in STABLE[1:]:
        for name, runs in s[norm]:
            b = best_of(runs)
            if not b:
                rows.append([norm, name, "-", "-", "-", "-", "-", "-"])
                continue
            mine, theirs = heldout(name, runs, norm), held.get(LN_SAME.get(name, name))
            gap = protocol.format_gap(protocol.gap(mine[1], theirs[1])) if mine and theirs else "-"
            m, best = b
            same = lns.get(LN_SAME.get(name, name))
            ref = (same if name in OTHER_AXIS else ln)
            up = m["max_stable"] is not None and ref and m["max_stable"] >= ref[0]["max_stable"]
            rows.append([norm, name, (f"{m['max_stable']:g}" if m["max_stable"] else "none") + (" (LN's)" if up else ""),
                         f"{same[0]['max_stable']:g}" if same and same[0]["max_stable"] else "-",
                         gap, f"{best - ln[1]:+.3f}", f"{best - same[1]:+.3f} ({same[1]:.4f})" if same else "-", len(runs)])
    return sr.md(["surrogate", "intervention", f"largest stable lr (LN's: {ln[0]['max_stable']:g})",
                  "LN's with the same intervention", "held out: loss - LN's with the same intervention (95%; seeds "
                  "3,4,5, the frontier's: the README's)", f"best loss - LN's ({ln[1]:.4f}; the seeds that chose)",
                  "best loss - LN's with the same intervention (LN's)", "runs"], rows)


def figure(figs, s):
    fig, axes = plt.subplots(1, len(s), figsize=(13, 4.4), sharey=True, sharex=True)
    n = 0
    names = list(dict.fromkeys(name for sets in s.values() for name, _ in sets))  # one colour each, every panel
    for ax, (norm, sets) in zip(axes, s.items()):
        for name, runs in sets:
            i = names.index(name)
            grid = sr.by_lr(runs)
            pts = [(lr, statistics.fmean(sr.loss(r) for r in rs)) for lr, rs in grid.items()]
            pts = [(x, min(y, 3.4)) for x, y in pts if math.isfinite(y)]
            if pts:
                ax.plot(*zip(*pts), "-", marker="o", ms=3, color=f"C{i - 1}" if i else "black", label=name,
                        linewidth=1.2 if i else 2.2)
                n += 1
        ax.set_xscale("log"), ax.set_title(norm, fontsize=10), ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_minor_formatter(NullFormatter())  # the minor ticks' labels overlap on a short axis
        ax.set_xlabel("peak lr (Muon: its own)")
        if any(runs for _, runs in sets):
            ax.legend(fontsize=7)
    axes[0].set_ylabel("val loss, whole split, at the end (mean over seeds)")
    title = "Each intervention alone against the frontier (2000 steps): loss against the peak lr"
    fig.suptitle(title, fontsize=10)
    figs.save(fig, "interventions", title, n)


def generate(doc, figdir, out=OUT, baseline=BASELINE):
    os.makedirs(figdir, exist_ok=True)
    s = settings(out, baseline)
    figs = Figures(figdir)
    figure(figs, s)
    sr.fill(doc, {"interventions": table(s), "interventions_answer": answer(s)})
    runs = sum(len(r) for sets in s.values() for name, r in sets if name != BASE)
    return f"{runs} runs of {len(INTERVENTIONS)} interventions; {doc} and {len(figs.made)} figure"


def main(argv=None):
    return sr.page_main(argv, "interventions_report", "stability.md", "stability", generate, __doc__)


if __name__ == "__main__":
    sys.exit(main())
