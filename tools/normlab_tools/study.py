#!/usr/bin/env python3
"""The tables and figures of docs/stability.md, from the study's committed results alone.

  tools/stability_report.py [OUT] [--doc docs/stability.md] [--figures DIR]

OUT (default results/stability) holds what tools/study.sh committed: frontier/results.csv (seven
norms at their defaults over the lr grid), scale_off/results.csv (DyT and Derf without the embedding
scale) and dropin/results.csv (tools/dropin.sh). Each table replaces the text between the doc's
<!-- report:NAME --> and <!-- /report:NAME --> lines; the figures go to DIR (default: the doc's
folder/stability) as PNG and SVG. No log is read: a clean clone regenerates everything.

The loss of a run is full_val, the whole val split at its end (a run that went non-finite has none).
Per norm, over its lr grid and the seeds that have run at every lr of it: best = the lowest mean over
seeds at one lr; I = the fraction of
its runs whose loss is above 1.1 x best or missing; S = the mean loss of the other runs minus best;
the largest stable lr = the largest at which every seed finished, did not diverge and came within
1.1 x best; "near unigram" = a run that ended at 3.0 or above (the unigram model scores 3.347), the
surrogates' usual failure at a large lr (a collapse, with no blow-up when the loss never came down). A blow-up of the training loss (recovered from or not), its step and place, the first
instrument to move and its lead: divergence.py.
"""
import argparse
import collections
import csv
import functools
import glob
import math
import os
import re
import statistics
import sys

from . import protocol
from .files import ROOT
from .registry import instrument_families, log_columns, norm_names, registry
from .report import Figures, plt

NORMS = norm_names()  # from the train program (./train --registry), in its registry's order
UNSTABLE = 1.1
COLLAPSED = 3.0  # a run ending at or above this never got far from the unigram model's 3.347


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def loss(r):
    v = float(r["full_val"]) if r.get("full_val") not in (None, "") else math.inf
    return v if r["nonfinite"] == "0" and math.isfinite(v) else math.inf


def settings(out):
    """[(label, norm, runs)]: the frontier's norms, then the scale-off ablation's. Each run knows its
    sweep folder (run["sweep"])."""
    front, off = read_csv(os.path.join(out, "frontier", "results.csv")), read_csv(os.path.join(out, "scale_off", "results.csv"))
    for rows, sweep in ((front, "frontier"), (off, "scale_off")):
        for r in rows:
            r["sweep"] = sweep
    s = [(n, n, [r for r in front if r["norm"] == n]) for n in NORMS]
    s += [(f"{n}, scale off", n, [r for r in off if r["norm"] == n]) for n in ("dyt", "derf")]
    return [x for x in s if x[2]]


def by_lr(runs):
    g = collections.defaultdict(list)
    for r in runs:
        g[float(r["lr"])].append(r)
    return dict(sorted(g.items()))


def complete_seeds(runs):
    """The runs of the seeds that have every lr of the grid (all of them while no seed is complete):
    a seed half-way through would weigh some learning rates and not others."""
    lrs = {r["lr"] for r in runs}
    seeds = {s for s in {r["seed"] for r in runs} if {r["lr"] for r in runs if r["seed"] == s} == lrs}
    return [r for r in runs if r["seed"] in seeds] or runs


def metrics(runs):
    runs = complete_seeds(runs)
    grid = by_lr(runs)
    means = {lr: statistics.fmean(loss(r) for r in rs) for lr, rs in grid.items()}
    finite = {lr: m for lr, m in means.items() if math.isfinite(m)}
    if not finite:
        return None
    best_lr = min(finite, key=finite.get)
    best = finite[best_lr]
    ok = lambda r: math.isfinite(loss(r)) and loss(r) <= UNSTABLE * best
    stable = [lr for lr, rs in grid.items() if all(ok(r) and r["diverged"] == "0" for r in rs)]
    good = [loss(r) for r in runs if ok(r)]
    seeds = statistics.pstdev([loss(r) for r in grid[best_lr]]) if len(grid[best_lr]) > 1 else math.nan
    return {"best_lr": best_lr, "best": best, "best_std": seeds, "max_stable": max(stable) if stable else None,
            "I": sum(not ok(r) for r in runs) / len(runs), "S": statistics.fmean(good) - best if good else math.nan,
            "runs": len(runs), "seeds": sorted({int(r["seed"]) for r in runs}), "blowups": len(blowups(runs)),
            "collapsed": sum(math.isfinite(loss(r)) and loss(r) >= COLLAPSED for r in runs),
            "diverged": sum(r["diverged"] == "1" for r in runs), "nonfinite": sum(r["nonfinite"] == "1" for r in runs)}


def at_best(runs, m):
    """(mean, std, seeds) of the loss at metrics' best lr over every seed that ran there, a seed run at
    the best lr alone included (a plan's best_seeds, which metrics leaves out of the grid)."""
    ls = [loss(r) for r in by_lr(runs)[m["best_lr"]]]
    return statistics.fmean(ls), statistics.pstdev(ls) if len(ls) > 1 else math.nan, len(ls)


def blowups(runs):
    """The runs whose training loss blew up (divergence.py), recovered or not."""
    return [r for r in runs if r.get("diverge_step") not in (None, "")]


def md(head, rows):
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def table_frontier(sets):
    rows = []
    for label, _, runs in sets:
        m = metrics(runs)
        if not m:
            rows.append([label, len(runs), "-", "-", "-", "-", "-", "-", "-", "-"])
            continue
        rows.append([label, f"{m['runs']} ({','.join(map(str, m['seeds']))})", f"{m['best_lr']:g}",
                     f"**{m['best']:.4f}**" + (f" +- {m['best_std']:.4f}" if math.isfinite(m["best_std"]) else ""), f"{m['max_stable']:g}" if m["max_stable"] else "none",
                     f"{100 * m['I']:.0f}%", f"{m['S']:.4f}", m["collapsed"], m["blowups"], f"{m['diverged']} ({m['nonfinite']})"])
    return md(["norm", "runs (seeds)", "best lr", "best loss +- std over seeds", "largest stable lr", "I", "S",
               "ended near unigram (>= 3.0)", "loss blew up", "ended diverged (non-finite)"], rows)


SELECTION = (1, 2, 3)  # the frontier's seeds, which chose each norm's default lr
EVALUATION = (4, 5, 6, 1337)  # results/defaults/eval: seeds that took no part in choosing (1337: ./train's default)


def defaults_numbers(defaults_dir, sets):
    """Per norm, the README's numbers at the defaults under the protocol (protocol.py): the lr chosen
    on the frontier's selection seeds, the evaluation seeds' losses there (DIR/../eval), the selection
    seeds' own mean at that lr (what the table showed before: biased low), the frontier's mean at
    1e-3, and the solo run's time (DIR: seed 1 alone on every core). {norm: dict}, in registry order."""
    front = {norm: complete_seeds(rs) for label, norm, rs in sets if "scale off" not in label}
    evals = read_csv(os.path.join(os.path.dirname(defaults_dir), "eval", "results.csv"))
    solo = {r["norm"]: r for r in read_csv(os.path.join(defaults_dir, "results.csv")) if r["seed"] == "1"}
    out = {}
    for norm in NORMS:
        runs = front.get(norm)
        c = runs and protocol.choose(runs, SELECTION, lambda r: float(r["lr"]), loss)
        if not c:
            continue
        ev = [loss(r) for r in evals if r["norm"] == norm and int(r["seed"]) in EVALUATION and float(r["lr"]) == c.key]
        at3 = [loss(r) for r in runs if float(r["lr"]) == 1e-3]
        out[norm] = {"lr": c.key, "selection": c.mean, "edge": protocol.on_edge(c.key, c.means), "eval": ev,
                     "estimate": protocol.estimate(ev), "at3": at3, "solo": solo.get(norm)}
    return out


def expected_ranges(defaults_dir, sets):
    """{norm: (lo, hi, runs, builds)}: where the whole val loss of ./train --norm=NORM tinyshakespeare
    (every other option at its default, any seed) falls in 95% of runs, from the evaluation seeds'
    runs with the first BLAS build (eval) and the other (noise) pooled: the range the train program
    prints after such a run (its norms' recipe.expected, checked here)."""
    nums = defaults_numbers(defaults_dir, sets)
    noise = read_csv(os.path.join(os.path.dirname(defaults_dir), "noise", "results.csv"))
    out = {}
    for norm, v in nums.items():
        more = [loss(r) for r in noise if r["norm"] == norm and int(r["seed"]) in EVALUATION and float(r["lr"]) == v["lr"]]
        p = protocol.prediction(v["eval"] + more)
        if p:
            out[norm] = (*p, 2 if more else 1)
    return out


def expected_check(defaults_dir, sets):
    """The norms whose recipe.expected (./train --registry) is not what the results give, each with
    the line that says what to set; [] when all agree."""
    have = {n["name"]: tuple(n["recipe"].get("expected", (0, 0))) for n in registry()["norms"]}
    return [f"{norm}: recipe.expected is {list(have.get(norm))}, the results give {{{lo:.2f}, {hi:.2f}}}: set it "
            f"in src/layers/norm_{norm}.c (or its kin's file)"
            for norm, (lo, hi, _, _) in expected_ranges(defaults_dir, sets).items()
            if have.get(norm) != (round(lo, 2), round(hi, 2))]


def table_defaults(defaults_dir, sets):
    """The README's table: each norm at its defaults (./train --norm=NORM --seed S), the lr chosen on
    the frontier's seeds 1-3, the loss reported on the evaluation seeds (tools/heldout.sh) with its 95% interval,
    the gap to ln with Welch's; beside them the frontier at nanoGPT's lr 1e-3, and the wall time and
    tokens/s of the run that had the machine to itself (seed 1, every core: tools/defaults.sh)."""
    nums = defaults_numbers(defaults_dir, sets)
    if not nums:
        return "(no frontier results yet: tools/study.sh)"
    ranges = expected_ranges(defaults_dir, sets)
    machine = lambda d: open(os.path.join(d, "machine.txt")).read().strip() if os.path.exists(  # noqa: E731
        os.path.join(d, "machine.txt")) else "an unnamed machine"
    ref = nums.get(NORMS[0])
    rows = []
    for norm, v in nums.items():
        e, solo = v["estimate"], v["solo"]
        gap = "-" if norm == NORMS[0] or not ref else protocol.format_gap(protocol.gap(v["eval"], ref["eval"]))
        gap3 = "-" if norm == NORMS[0] or not ref or not v["at3"] else protocol.format_gap(protocol.gap(v["at3"], ref["at3"]))
        rows.append([f"`{norm}`", f"{v['lr']:g}" + (" (grid's edge)" if v["edge"] else ""),
                     "**" + protocol.format_estimate(e).replace(" (", "** (", 1) if e.n else protocol.format_estimate(e),
                     gap, f"{v['selection']:.3f}", f"{statistics.fmean(v['at3']):.3f}" if v["at3"] else "-", gap3,
                     (f"{ranges[norm][0]:.2f}-{ranges[norm][1]:.2f} ({ranges[norm][2]} runs, {ranges[norm][3]} "
                      f"BLAS build{'s' if ranges[norm][3] > 1 else ''})" if norm in ranges else "-"),
                     f"{float(solo['wall_s']):.0f} s" if solo else "-",
                     f"{float(solo['tokens_per_sec'] or 'nan') / 1000:.0f}k" if solo else "-"])
    head = ["`--norm=`", "default lr (chosen on seeds 1-3)",
            f"whole val loss, seeds {','.join(map(str, EVALUATION))} (mean +- 95% interval)",
            "gap to `ln` (95% interval)", "seeds 1-3 at that lr (they chose it)", "at lr 1e-3 (seeds 1-3)",
            "gap to `ln` at lr 1e-3", "a run of `./train --norm=` (95% of runs fall in)", "time per run", "tokens/s"]
    evals = os.path.join(os.path.dirname(defaults_dir), "eval")
    d = [v["selection"] - v["estimate"].mean for v in nums.values() if v["estimate"].n]
    shift = f"{min(d):+.3f} to {max(d):+.3f}" if d else "(no evaluation seed yet)"
    return md(head, rows) + (
        f"\n\nEach default lr is the best mean over seeds 1-3 of the stability study's frontier; the loss "
        f"columns are seeds {','.join(map(str, EVALUATION))}, which took no part in choosing it (the held-out-seed "
        "protocol: a gap is a difference only when its 95% interval excludes 0). Seeds 1-3's own mean at the "
        "chosen lr is shown beside them: a choice favours the lr where its seeds happened to do well, so that "
        f"number can be biased low; here it sits {shift} from seeds {','.join(map(str, EVALUATION))}' mean. "
        f"Seed 1337 is `./train`'s default: `./train --norm=NORM tinyshakespeare` is that row's run. A single "
        "run falls in its row's range 95 times in 100 (the evaluation seeds' runs with both BLAS builds "
        "pooled where both ran: docs/stability.md's rerun noise), and the train program prints that range "
        f"after a run at these defaults. Seeds {','.join(map(str, EVALUATION))}: {machine(evals)}, one thread "
        f"per run; time and tokens/s: seed 1 alone on {machine(defaults_dir)}.")


def which_norm(defaults_dir, sets):
    """The README's "Which norm should I pick?" bullets on the 2,000-step defaults, every number from
    the results with its interval and seed count (nothing typed by hand can drift from them)."""
    nums = defaults_numbers(defaults_dir, sets)
    ref, twin = NORMS[0], NORMS[1]
    if ref not in nums or not nums[ref]["eval"]:
        return "(no evaluation seeds yet: tools/heldout.sh)"
    ev = lambda n: protocol.format_estimate(nums[n]["estimate"])  # noqa: E731
    g = lambda a, b: protocol.format_gap(protocol.gap(nums[a]["eval"], nums[b]["eval"]))  # noqa: E731
    stable = {label: metrics(runs)["max_stable"] for label, norm, runs in sets if "scale off" not in label}
    surrogates = [n for n in nums if n not in (ref, twin) and nums[n]["eval"]]
    top = max((stable[n] or 0) for n in surrogates) if surrogates else None
    seeds = ",".join(map(str, EVALUATION))
    out = [f"- **The lowest loss: `{ref}` or `{twin}`.** At seeds {seeds} (held out from choosing the lr) `{ref}` "
           f"reaches {ev(ref)} and `{twin}` {ev(twin)}: `{twin}` - `{ref}` = {g(twin, ref)}. On the frontier (seeds "
           f"1-3) they stay stable up to lr {stable[ref]:g} and {stable[twin]:g}" + (f", any surrogate up to {top:g} at most."
                                                                             if top else ".")]
    if surrogates:
        ranked = sorted(surrogates, key=lambda n: nums[n]["estimate"].mean)
        gaps = [protocol.gap(nums[n]["eval"], nums[ref]["eval"]) for n in surrogates]
        lo, hi = min(x.diff for x in gaps), max(x.diff for x in gaps)
        behind = all(x.resolved and x.diff > 0 for x in gaps)
        out.append(f"- **A normalization-free model: " + ("every surrogate trails" if behind else "the surrogates trail")
                   + f" `{ref}`**, by {lo:+.3f} to {hi:+.3f} nats "
                   f"at seeds {seeds} ({', '.join(f'`{n}` {g(n, ref)}' for n in ranked)}). The lowest mean is "
                   f"`{ranked[0]}`'s, but " + (f"its lead over `{ranked[1]}` is {g(ranked[0], ranked[1])}"
                                               if len(ranked) > 1 else "it ran alone") + ": rank the surrogates only "
                   "where an interval excludes 0." + surrogate_pairs(nums, ranked))
        missing = [n for n in NORMS if n in nums and not nums[n]["eval"]]
        if missing:
            out.append(f"- Not yet measured on held-out seeds: {', '.join(f'`{n}`' for n in missing)} (tools/heldout.sh).")
    if nums[ref]["at3"]:
        under = protocol.gap(nums[ref]["at3"], nums[ref]["eval"])
        out.append(f"- **Compare norms each at its own best lr**, as these defaults do: at one shared lr of 1e-3 "
                   f"`{ref}` is {protocol.format_gap(under)} nats worse than at its own (seeds 1-3 at 1e-3 against "
                   f"{seeds} at {nums[ref]['lr']:g}), so a shared 1e-3 shrinks every gap to it.")
    return "\n".join(out)


def surrogate_pairs(nums, ranked):
    """The pairs of surrogates whose gap's interval excludes 0, as a sentence that says how many pairs
    were compared (at 95% each, one in twenty resolves by chance)."""
    import itertools
    pairs = list(itertools.combinations(ranked, 2))  # ranked by mean: b trails a
    found = [(a, b, protocol.gap(nums[b]["eval"], nums[a]["eval"])) for a, b in pairs]
    found = [(a, b, x) for a, b, x in found if x.resolved]
    if not found:
        return f" No pair of the {len(ranked)} surrogates is resolved ({len(pairs)} pairs compared)."
    return (f" Resolved among the {len(pairs)} pairs of surrogates: " + "; ".join(
        f"`{a}` ahead of `{b}` by {protocol.format_gap(x)}" for a, b, x in found)
        + f" (at 95% each, {len(pairs) / 20:.1f} of {len(pairs)} pairs would resolve by chance alone on average).")


def table_noise(defaults_dir):
    """docs/stability.md's rerun noise: the same runs (norm, seed, lr, threads) with the other BLAS
    and gemm (results/defaults/noise: tools/heldout.sh) beside the evaluation runs, and the seeds'
    spread, so a reader knows which differences between single runs mean nothing."""
    base = {(r["norm"], r["seed"]): r for r in read_csv(os.path.join(defaults_dir, "..", "eval", "results.csv"))}
    other = read_csv(os.path.join(defaults_dir, "..", "noise", "results.csv"))
    pairs = [(r, base[(r["norm"], r["seed"])]) for r in other if (r["norm"], r["seed"]) in base]
    if not pairs:
        return "Not run yet (tools/heldout.sh)."
    name = lambda d: open(os.path.join(defaults_dir, "..", d, "machine.txt")).read().strip()  # noqa: E731
    rows, moves = [], []
    for norm in NORMS:
        mine = sorted(((a, b) for a, b in pairs if a["norm"] == norm), key=lambda ab: int(ab[0]["seed"]))
        if not mine:
            continue
        d = [loss(a) - loss(b) for a, b in mine]
        moves += [abs(x) for x in d]
        sd = statistics.stdev([loss(b) for b in base.values() if b["norm"] == norm])
        shift = protocol.estimate(d)
        rows.append([f"`{norm}`", ",".join(a["seed"] for a, _ in mine),
                     " / ".join(f"{loss(b):.4f}" for _, b in mine), " / ".join(f"{loss(a):.4f}" for a, _ in mine),
                     " / ".join(f"{x:+.4f}" for x in d), f"{max(map(abs, d)):.4f}", f"{sd:.4f}",
                     f"{shift.mean:+.4f} [{shift.mean - shift.half:+.4f}, {shift.mean + shift.half:+.4f}]"
                     if math.isfinite(shift.half) else "-"])
    return md(["norm", "seeds", f"whole val loss: {name('eval')}", f"the same runs: {name('noise')}",
               "difference", "largest", "std over the seeds (first build)",
               "mean difference (95% interval, paired by seed)"], rows) + (
        f"\n\nOver these {len(moves)} pairs the BLAS and gemm alone moved a run by {statistics.median(moves):.4f} "
        f"(median) and by up to {max(moves):.4f}: two single runs closer than that differ by nothing but the "
        "order of their sums.")


def instrument_family(column):
    """The figure family of a log column (compare_runs draws one figure per family), or None: from
    the registry's column families. The global grad norm, the model's own measures (log Z) and its
    scalars (emb_scale) are each their own family; the per-group grad norms are not drawn as one."""
    fams = instrument_families()
    if column == "grad_norm" or any(f["per"] == "model" and f["name"] == column for f in fams):
        return column
    for f in fams:
        if f["per"] == "group" and column.startswith(f["name"] + "."):
            return None if f["name"] == "grad_norm" else f["name"]
        if f["per"] in ("norm", "attention") and column.endswith("." + f["name"]):
            return f["name"]
    return None if "." in column or column in {c["name"] for c in log_columns()} else column


def write_healthy(defaults_dir, after=200):
    """DIR/healthy.csv, when the runs' logs are here: per instrument family, the 5th to 95th percentile
    of every value the default runs logged after the warmup (step > after), and the norms that have
    it. It is committed, so compare_runs can say what a healthy run shows without any log."""
    logs = sorted(glob.glob(os.path.join(defaults_dir, "logs", "*.csv")))
    runs = {r["job"]: r for r in read_csv(os.path.join(defaults_dir, "results.csv"))}
    values, norms = collections.defaultdict(list), collections.defaultdict(set)
    for path in logs:
        job = os.path.basename(path)[:-4]
        if job not in runs or runs[job]["diverged"] != "0":
            continue
        for x in read_csv(path):
            if x["kind"] != "train" or int(x["step"]) <= after:
                continue
            for c, v in x.items():
                fam = instrument_family(c) if v not in ("", None) else None
                if fam and math.isfinite(float(v)):
                    values[fam].append(float(v))
                    norms[fam].add(runs[job]["norm"])
    if not values:
        return
    with open(os.path.join(defaults_dir, "healthy.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["family", "p5", "p95", "norms", "runs", "after_step"])
        for fam in sorted(values):
            v = sorted(values[fam])
            w.writerow([fam, f"{v[len(v) // 20]:.3g}", f"{v[len(v) * 19 // 20]:.3g}",
                        " ".join(n for n in NORMS if n in norms[fam]), len(logs), after])


def table_grid(sets):
    lrs = sorted({float(r["lr"]) for _, _, runs in sets for r in runs})
    rows = []
    for label, _, runs in sets:
        grid, row = by_lr(runs), [label]
        for lr in lrs:
            rs = grid.get(lr, [])
            if not rs:
                row.append("")
                continue
            vals, div = [loss(r) for r in rs], sum(r["diverged"] == "1" for r in rs)
            fin = [v for v in vals if math.isfinite(v)]
            cell = f"{statistics.fmean(fin):.3f}" if fin else "NaN"
            if len(fin) > 1:
                cell += f" +- {statistics.pstdev(fin):.3f}"
            if div:
                cell += f" (div {div}/{len(rs)})"
            row.append(cell)
        rows.append(row)
    return md(["norm"] + [f"{lr:g}" for lr in lrs], rows)


def table_leads(sets):
    rows = []
    for label, _, runs in sets:
        div = blowups(runs)
        if not div:
            continue
        steps = [int(float(r["diverge_step"])) for r in div if r.get("diverge_step") not in (None, "")]
        movers = collections.Counter(r.get("first_moved") or "none" for r in div)
        leads = [int(float(r["lead_steps"])) for r in div if r.get("lead_steps") not in (None, "")]
        layers = collections.Counter(r.get("diverge_layer") or "?" for r in div)
        rows.append([label, f"{len(div)} ({sum(r['diverged'] == '1' for r in div)})", f"{statistics.median(steps):.0f}" if steps else "-",
                     ", ".join(f"{k} {v}" for k, v in layers.most_common(3)),
                     ", ".join(f"{k} {v}" for k, v in movers.most_common()),
                     f"{statistics.median(leads):.0f} ({min(leads)}..{max(leads)})" if leads else "-"])
    if not rows:
        return "No run's loss blew up."
    return md(["norm", "blew up (ended diverged)", "median step", "where (most often)", "first to move (runs)",
               "lead, steps: median (range)"], rows)


def table_diverged(sets):
    rows = []
    for label, _, runs in sets:
        for r in blowups(runs):
            ended = "non-finite" if r["nonfinite"] == "1" else f"{loss(r):.2f}" + (" (diverged)" if r["diverged"] == "1" else "")
            rows.append([label, f"{float(r['lr']):g}", r["seed"], r["diverge_step"], ended, r.get("diverge_layer", "") or "-",
                         r.get("first_moved", "") or "none", r.get("lead_steps", "") or "-", moves_by_family(r.get("moves") or "")])
    if not rows:
        return "No run's loss blew up."
    return md(["norm", "lr", "seed", "step", "val loss at the end", "where", "first moved", "lead",
               "each family's first move: where@step (+ other series)"], rows)


def moves_by_family(moves):
    """"a:h0@71 a:h1@71 b:x@90" -> "a h0@71 (+1), b x@90": each family's earliest series, and how many more."""
    fam = {}
    for m in moves.split():
        family, rest = m.split(":", 1)
        fam.setdefault(family, []).append(rest)
    return ", ".join(f"{f} {v[0]}" + (f" (+{len(v) - 1})" if len(v) > 1 else "") for f, v in fam.items())


def table_dropin(rows):
    losses = collections.defaultdict(dict)
    for r in rows:
        if r["row"] == "loss":
            losses[r["model"]][r["position"]] = float(r["val_loss"])
    out = []
    for model, d in losses.items():
        orig = d.get(model, math.nan)
        out.append([model, f"{orig:.4f}", f"{d.get('dyt', math.nan):.4f} ({d.get('dyt', math.nan) - orig:+.3f})",
                    f"{d.get('dyisru', math.nan):.4f} ({d.get('dyisru', math.nan) - orig:+.3f})"])
    return md(["trained model", "its val loss", "DyT in each norm's place", "DyISRU in each norm's place"], out) if out else "Not run yet."


def table_fits(rows):
    out = [[r["model"], r["position"], f"{float(r['dyt_alpha']):.4g}", f"{float(r['dyt_mar']):.4f}",
            f"{float(r['dyt_mar_tail']):.4f}", f"{float(r['dyisru_beta']):.4g}", f"{float(r['dyisru_mar']):.4f}",
            f"{float(r['dyisru_mar_tail']):.4f}", f"{float(r['tail_from']):.3g}"] for r in rows if r["row"] == "fit"]
    return md(["model", "norm", "DyT alpha", "MAR", "MAR top 1%", "DyISRU beta", "MAR", "MAR top 1%",
               "top 1%: abs x >="], out) if out else "Not run yet."


# ---- figures ---------------------------------------------------------------------------------------
def frontier_figure(figs, sets, name, title, top):
    fig, ax = plt.subplots(figsize=(8, 5))
    n = 0
    for i, (label, _, runs) in enumerate(sets):
        grid = by_lr(runs)
        xs, mean, lo, hi, bad = [], [], [], [], []
        for lr, rs in grid.items():
            fin = [loss(r) for r in rs if math.isfinite(loss(r))]
            bad += [lr] * (len(rs) - len(fin))
            if fin:
                xs.append(lr), mean.append(statistics.fmean(fin)), lo.append(min(fin)), hi.append(max(fin))
        style = "--" if "scale off" in label else "-"
        c = f"C{i % 10}"
        ax.plot(xs, [min(m, top) for m in mean], style, marker="o", ms=3, color=c, label=label)
        ax.fill_between(xs, [min(v, top) for v in lo], [min(v, top) for v in hi], color=c, alpha=0.15, linewidth=0)
        if bad:
            ax.plot(bad, [top] * len(bad), "x", color=c, ms=7)
        n += 1
    ax.set_xscale("log"), ax.set_ylim(top=top)
    ax.set_xlabel("peak learning rate"), ax.set_ylabel("val loss, whole split, at the end")
    ax.set_title(title, fontsize=10), ax.grid(alpha=0.3, which="both")
    if n:
        ax.legend(fontsize=8)
    figs.save(fig, name, title, n)


def instruments_figure(figs, sets):
    """The extremes each run's instruments reached, against lr: one panel per instrument."""
    panels = [("peak_attn_logit", "largest attention logit in the run", True),
              ("min_attn_entropy", "lowest attention entropy of a head (nats)", False),
              ("peak_log_z", "largest log Z of the output logits", False),
              ("peak_sat2", "largest fraction with |alpha x + s| > 2", False)]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    n = 0
    for ax, (col, title, logy) in zip(axes.flat, panels):
        for i, (label, _, runs) in enumerate(sets):
            pts = collections.defaultdict(list)
            for r in runs:
                if r.get(col) not in (None, ""):
                    pts[float(r["lr"])].append(float(r[col]))
            if not pts:
                continue
            xs = sorted(pts)
            ax.plot(xs, [statistics.fmean(pts[x]) for x in xs], "--" if "scale off" in label else "-", marker="o",
                    ms=3, color=f"C{i % 10}", label=label)
            n += 1
        ax.set_xscale("log"), ax.set_title(title, fontsize=9), ax.grid(alpha=0.3, which="both")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("peak learning rate", fontsize=8)
    if n:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle("What the instruments reached in each run (mean over seeds)", fontsize=10)
    figs.save(fig, "instruments_vs_lr", "instrument extremes against lr", n)


# ---- traces: the instruments around a divergence ------------------------------------------------
# A move "family:where" names a log column (divergence.py's families).
def move_column(family, where, columns):
    names = {"attn_logit": [f"{where}.attn_max_logit"], "attn_entropy": [f"{where}.attn_entropy_min"],
             "log_z": ["log_z_max"], "alpha": [f"{where}.alpha", f"{where}.beta"], "saturation": [f"{where}.sat2", f"{where}.sat"],
             "grad_norm": [f"grad_norm.{where}"]}[family]
    return next((c for c in names if c in columns), None)


def trace_runs(sets):
    """One run per setting whose loss blew up: the one at the lowest lr (then seed)."""
    picked = []
    for label, _, runs in sets:
        div = sorted(blowups(runs), key=lambda r: (float(r["lr"]), int(r["seed"])))
        if div:
            picked.append((label, div[0]))
    return picked


def write_traces(out, sets):
    """OUT/traces/<job>.csv for each traced run whose log is here and whose trace is not: its training
    loss and the series that moved, at the measured steps from 600 before the divergence to 50 after.
    They are committed, so the figure needs no log."""
    os.makedirs(os.path.join(out, "traces"), exist_ok=True)
    for _, r in trace_runs(sets):
        path, log = os.path.join(out, "traces", r["job"] + ".csv"), os.path.join(out, r["sweep"], "logs", r["job"] + ".csv")
        if os.path.exists(path) or not os.path.exists(log):
            continue
        with open(log) as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames, [x for x in reader if x["kind"] == "train"]
        step = int(float(r["diverge_step"]))
        moved = [m.split("@")[0].split(":") for m in (r.get("moves") or "").split()]
        cols = [c for c in dict.fromkeys(move_column(f, w, columns) for f, w in moved) if c]
        keep = [x for x in rows if step - 600 <= int(x["step"]) <= step + 50 and x.get("grad_norm.emb")]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "loss"] + cols)
            w.writerows([[x["step"], x["loss"]] + [x[c] for c in cols] for x in keep])


def traces_figure(figs, out, sets, series=3):
    """A column per traced run: its training loss on top, then the first `series` instruments that
    moved (in the order divergence.py found them), each in its own units on its own axis; the
    divergence step at 0."""
    picked = [(label, r) for label, r in trace_runs(sets) if os.path.exists(os.path.join(out, "traces", r["job"] + ".csv"))]
    if not picked:
        return
    num = lambda x: float(x) if x not in ("", "nan", None) else math.nan
    fig, axes = plt.subplots(series + 1, len(picked), figsize=(3.2 * len(picked), 1.9 * (series + 1)), squeeze=False,
                             sharex="col")
    for k, (label, r) in enumerate(picked):
        rows = read_csv(os.path.join(out, "traces", r["job"] + ".csv"))
        step = int(float(r["diverge_step"]))
        xs = [int(x["step"]) - step for x in rows]
        cols = [c for c in (rows[0].keys() if rows else []) if c not in ("step", "loss")][:series]
        for j, c in enumerate(["loss"] + cols):
            ax = axes[j][k]
            vals = [num(x[c]) for x in rows]
            ax.plot(xs, vals, color="0.25" if j == 0 else f"C{j - 1}", linewidth=1.1)
            finite = [v for v in vals if math.isfinite(v)]
            if finite and min(finite) > 0 and max(finite) > 30 * min(finite):
                ax.set_yscale("log")
            ax.axvline(0, color="k", linewidth=0.7, linestyle="--")
            ax.set_title(("training loss" if j == 0 else c), fontsize=7.5)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        for ax in axes[len(cols) + 1:, k]:
            ax.axis("off")
        axes[0][k].set_title(f"{label}, lr {float(r['lr']):g}, seed {r['seed']}\ntraining loss", fontsize=8)
        axes[len(cols)][k].set_xlabel("steps from the blow-up", fontsize=7.5)
    fig.suptitle("Before each setting's first blow-up (its lowest lr): the loss, then the instruments that moved first",
                 fontsize=10)
    figs.save(fig, "divergence_traces", "instruments before a divergence", len(picked))


def dropin_figure(figs, rows):
    fits = [r for r in rows if r["row"] == "fit"]
    models = sorted({r["model"] for r in fits})
    if not models:
        return
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        rs = [r for r in fits if r["model"] == model]
        xs = range(len(rs))
        for k, (col, label, c) in enumerate([("dyt_mar", "DyT, all", "C0"), ("dyt_mar_tail", "DyT, top 1% |x|", "C9"),
                                             ("dyisru_mar", "DyISRU, all", "C3"), ("dyisru_mar_tail", "DyISRU, top 1% |x|", "C1")]):
            ax.bar([x + 0.2 * k - 0.3 for x in xs], [float(r[col]) for r in rs], 0.2, label=label, color=c)
        ax.set_xticks(list(xs)), ax.set_xticklabels([r["position"] for r in rs], rotation=45, fontsize=7)
        ax.set_ylabel("mean |fit - norm output|"), ax.set_title(f"{model} model: fit residuals per norm", fontsize=10)
        ax.grid(alpha=0.3, axis="y"), ax.legend(fontsize=7)
    figs.save(fig, "dropin_residuals", "fit residuals per norm", len(models))


# ---- the doc ---------------------------------------------------------------------------------------
def fill(doc, tables):
    with open(doc) as f:
        text = f.read()
    for name, body in tables.items():
        start, end = f"<!-- report:{name} -->", f"<!-- /report:{name} -->"
        if start not in text or end not in text:
            sys.exit(f"stability_report: error: {doc} has no {start} ... {end} block")
        a, b = text.index(start) + len(start), text.index(end)
        text = text[:a] + "\n" + body + "\n" + text[b:]
    with open(doc, "w") as f:
        f.write(text)


def fill_readme(readme, out, write=True):
    """Rewrites the README's defaults table (from out/../defaults/seeds and the frontier)."""
    defaults_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "defaults", "seeds")
    if write:
        write_healthy(defaults_dir)
    sets = settings(out)
    fill(readme, {"defaults": table_defaults(defaults_dir, sets), "which": which_norm(defaults_dir, sets)})


def generate(out, doc, figdir, traces=True):
    """Rewrites doc's tables and the figures in figdir from out's results (and, with traces, writes the
    traces missing from OUT/traces from the logs that are here); returns a summary line."""
    os.makedirs(figdir, exist_ok=True)
    sets = settings(out)
    dropin = read_csv(os.path.join(out, "dropin", "results.csv"))
    front = [s for s in sets if "scale off" not in s[0]]
    ablation = [s for s in sets if s[1] in ("dyt", "derf")]
    figs = Figures(figdir)
    frontier_figure(figs, front, "frontier", "seven norms at their defaults, 2000 steps: mean over seeds, band min-max, x: a seed without a loss", 3.0)
    frontier_figure(figs, ablation, "frontier_scale_off", "DyT and Derf with and without the embedding scale", 3.4)
    instruments_figure(figs, sets)
    if traces:
        write_traces(out, sets)
    traces_figure(figs, out, sets)
    dropin_figure(figs, dropin)
    tables = {"frontier": table_frontier(sets), "grid": table_grid(sets), "leads": table_leads(sets),
              "noise": table_noise(os.path.join(os.path.dirname(os.path.abspath(out)), "defaults", "seeds")),
              "diverged": table_diverged(sets), "dropin": table_dropin(dropin), "fits": table_fits(dropin)}
    fill(doc, tables)
    n = sum(len(s[2]) for s in sets)
    return f"{n} runs, {len(dropin)} drop-in rows; {doc} tables and {len(figs.made)} figures in {figdir}"


def page_main(argv, name, doc, figures, generate, description, todo=None, readme=False):
    """The command line of a study page's report (scaling, vision, interventions): --doc DOC (default:
    docs/<doc>), --check (change nothing: exit 1 when the page's tables, or with readme the README's,
    are not what the results give, for CI), --todo (the study plan's next sweeps, where TODO is the
    plan's name); else generate(doc, figdir[, readme=README]) rewrites the page's tables (and the
    README's) and its figures in docs/<figures>/."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", doc))
    p.add_argument("--check", action="store_true", help="change nothing: exit 1 when DOC's tables differ (CI)")
    if todo:
        p.add_argument("--todo", action="store_true", help=f"print the sweeps the {todo} study's plan still needs")
    a = p.parse_args(argv)
    if todo and a.todo:
        from . import study_plan
        return study_plan.main([todo])
    docs = [a.doc] + ([os.path.join(ROOT, "README.md")] if readme else [])
    if a.check:
        import shutil
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            copies = [os.path.join(tmp, f"{i}_{os.path.basename(d)}") for i, d in enumerate(docs)]
            for d, c in zip(docs, copies):
                shutil.copy(d, c)
            generate(copies[0], os.path.join(tmp, "figures"), **({"readme": copies[1]} if readme else {}))
            stale = [d for d, c in zip(docs, copies) if open(c).read() != open(d).read()]
        print(f"{name}: {' and '.join(docs)}: the tables are "
              + (f"NOT what the results give in {', '.join(stale)}: run tools/{name}.py" if stale else "what the results give"))
        from . import prose  # and the prose's numbers are the results' (or listed with their source)
        return 1 if stale or prose.main([os.path.relpath(d, ROOT) for d in docs]) else 0
    print(f"{name}: " + generate(a.doc, os.path.join(os.path.dirname(os.path.abspath(a.doc)), figures),
                                 **({"readme": docs[1]} if readme else {})))
    return 0


def machine_of(out, row):
    """The machine that made row ROW (0-based, after the header) of a study with one results file:
    out/machine.txt's lines say "MACHINE: rows from DATE, after N lines" (N counts the file's lines,
    its header among them), in order."""
    name = "an unnamed machine"
    for first, machine in machine_lines(os.path.join(out, "machine.txt")):
        if first <= row + 1:
            name = machine
    return name


@functools.lru_cache(maxsize=None)
def machine_lines(path):
    """[(N, MACHINE)] of a machine.txt, read once per process."""
    lines = open(path).read().splitlines() if os.path.exists(path) else []
    return [(int(m.group(2)), m.group(1)) for line in lines if (m := re.match(r"(.*): rows from \S+, after (\d+) lines$", line))]


def check(out, doc, readme):
    """Exit status 1 when doc's or the README's tables differ from what out's results give (the figures
    are not compared)."""
    import difflib
    import shutil
    import tempfile
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        copies = [(doc, os.path.join(tmp, "stability.md")), (readme, os.path.join(tmp, "README.md"))]
        for path, copy in copies:
            shutil.copy(path, copy)
        generate(out, copies[0][1], os.path.join(tmp, "figures"), traces=False)
        fill_readme(copies[1][1], out, write=False)
        for path, copy in copies:
            with open(path) as f, open(copy) as g:
                before, after = f.read(), g.read()
            if before != after:
                sys.stdout.writelines(difflib.unified_diff(before.splitlines(True), after.splitlines(True), path,
                                                           "regenerated"))
                print(f"stability_report: {path} is not what {out} gives: run tools/stability_report.py")
                bad = 1
    stale = expected_check(os.path.join(os.path.dirname(os.path.abspath(out)), "defaults", "seeds"), settings(out))
    for line in stale:
        print(f"stability_report: the train program's expected range: {line}")
    bad = bad or bool(stale)
    if not bad:
        print(f"stability_report: {doc}'s and {readme}'s tables, and the train program's expected ranges, are what "
              f"{out} gives")
    from . import prose  # and the prose's numbers are the results' (or listed with their source)
    return 1 if prose.main([os.path.relpath(doc, ROOT), os.path.relpath(readme, ROOT)]) else bad


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", nargs="?", default=os.path.join(ROOT, "results", "stability"))
    p.add_argument("--doc", default=os.path.join(ROOT, "docs", "stability.md"))
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"),
                   help="the README whose defaults table is rewritten (from OUT/../defaults/seeds)")
    p.add_argument("--figures", help="where the figures go (default: DOC's folder/stability)")
    p.add_argument("--check", action="store_true",
                   help="change nothing: exit 1 when DOC's tables differ from what the results give (CI)")
    a = p.parse_args(argv)
    if a.check:
        return check(a.out, a.doc, a.readme)
    figdir = a.figures or os.path.join(os.path.dirname(os.path.abspath(a.doc)), "stability")
    print("stability_report: " + generate(a.out, a.doc, figdir))
    fill_readme(a.readme, a.out)
    print(f"stability_report: {a.readme}'s defaults table rewritten")
    for line in expected_check(os.path.join(os.path.dirname(os.path.abspath(a.out)), "defaults", "seeds"), settings(a.out)):
        print(f"stability_report: warning: the train program's expected range: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
