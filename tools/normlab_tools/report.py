#!/usr/bin/env python3
"""Compare training runs at a glance: figures and one self-contained HTML report.

  tools/compare_runs.py RUN... [--out DIR] [--smooth N] [--label RUN=NAME ...]

RUN is any mix of:
  a --log file of ./train (.csv, or .jsonl / .json)
  a sweep folder of tools/sweep.py (its logs/*.csv)
  a checkpoint (.safetensors): its recorded options and final scalars join the tables
Runs whose options (the .config file ./train writes beside a log) differ only in --seed form one
setting, drawn as the mean over seeds with a band from the lowest to the highest seed. Runs are
never dropped: a log without rows is listed as such in the report.

Writes DIR (default compare/): one figure per quantity as PNG and SVG (training loss per step,
smoothed with the raw values faint; validation loss over steps and over wall time; each instrument
the logs carry: alpha, beta, shift, both saturations, norm-input rms, attention entropy and largest
logit per block, log Z, grad norm, update ratio, embedding scale) and report.html: every figure inline as SVG, the results table (best and whole-split val
loss, tokens/s, wall time, diverged at) and the runs' options, readable offline with no script.
Python: the default python3 with matplotlib (python3 -m pip install matplotlib).
"""
import argparse
import csv
import glob
import html
import io
import math
import os
import re
import statistics
import struct
import sys

try:
    import matplotlib
except ImportError:  # the one thing these tools need beyond Python (stability_report and sweep import us)
    sys.exit(f"{os.path.basename(sys.argv[0])}: error: this needs matplotlib, which {sys.executable} lacks: "
             f"{os.path.basename(sys.executable)} -m pip install matplotlib")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["svg.hashsalt"] = "normlab"  # the same figure gives the same SVG (no churn in git)

from .files import ROOT, read_config, read_log, safe_name, write_file  # noqa: E402
from .idx import test_image  # noqa: E402
from .registry import instrument_families, log_columns  # noqa: E402
from .safetensors import read_scalars  # noqa: E402

# ---- reading runs ----------------------------------------------------------------------------------
class Run:
    def __init__(self, name, path, rows=None, config=None, meta=None, scalars=None, problems=None):
        self.name, self.path = name, path
        self.rows, self.config = rows or [], config or {}
        self.meta, self.scalars = meta or {}, scalars or {}
        self.problems = problems or []  # what was wrong with its files (listed in the report)

    def series(self, kind, column, x="step", keep_nan=False):
        """(x, value) of the rows of this kind; rows without the value (an instrument logged every
        --stats-every steps) are left out unless keep_nan (a non-finite loss is a divergence)."""
        pts = [(r.get(x, math.nan), r.get(column, math.nan)) for r in self.rows if r["kind"] == kind]
        return [p for p in pts if not math.isnan(p[0]) and (keep_nan or not math.isnan(p[1]))]

    def columns(self):
        cols = set()
        for r in self.rows:
            cols.update(k for k, v in r.items() if k != "kind" and not (isinstance(v, float) and math.isnan(v)))
        return cols


BESIDE_LOG = (".confusion.csv", ".samples.csv")  # what the train program writes beside a --log file


def load(paths, labels):
    runs = []
    for p in (x for x in paths if not x.endswith(BESIDE_LOG)):  # runs/*.csv: the logs, not what is beside them
        if os.path.isdir(p):
            logs = sorted(glob.glob(os.path.join(p, "logs", "*.csv"))) or sorted(glob.glob(os.path.join(p, "*.csv")))
            if not logs:
                sys.exit(f"compare_runs: {p} is a folder without logs (a sweep folder has logs/*.csv)")
            for q in logs:
                if os.path.basename(q) != "results.csv" and not q.endswith(BESIDE_LOG):
                    runs.append(log_run(q, labels))
        elif p.endswith(".safetensors"):
            name = labels.get(p, os.path.splitext(os.path.basename(p))[0])
            try:
                meta, scalars = read_scalars(p)
                runs.append(Run(name, p, meta=meta, scalars=scalars))
            except (OSError, ValueError, KeyError, TypeError, struct.error) as e:
                runs.append(Run(name, p, problems=[f"not a readable checkpoint ({e.__class__.__name__}: {e})"]))
        elif os.path.exists(p):
            runs.append(log_run(p, labels))
        else:
            sys.exit(f"compare_runs: {p}: no such file or folder")
    return runs


def log_run(path, labels):
    stem = os.path.splitext(path)[0]
    rows, problems = read_log(path)
    return Run(labels.get(path, os.path.basename(stem)), path, rows=rows, config=read_config(stem + ".config"),
               problems=problems)


def unique_names(runs, labels):
    """A file's name is its label unless two runs share it: then its folder too."""
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1 and r.path not in labels:
            r.name = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(r.path))), r.name)


# ---- settings: runs that differ only in their seed -----------------------------------------------
IGNORED = {"seed", "log", "save", "resume", "config", "threads", "dump-step", "quiet"}


def settings(runs):
    """Groups of log runs with equal options but the seed. A log without a .config (older runs)
    groups by its file name without a seed suffix (sweep.py names its runs ..._s1, ..._s2)."""
    groups = {}
    for r in runs:
        if not r.rows:
            continue
        unseeded = os.path.join(os.path.dirname(r.path), re.sub(r"[_-]s\d+$", "", r.name))
        key = tuple(sorted((k, v) for k, v in r.config.items() if k not in IGNORED)) if r.config else ("name", unseeded)
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        label = members[0].name if len(members) == 1 else f"{common_label(members)} ({len(members)} seeds)"
        out.append((label, members))
    return out


def common_label(members):
    names = [re.sub(r"[_-]s\d+$", "", m.name) for m in members]
    prefix = os.path.commonprefix(names).rstrip("_-./ ")
    return prefix or names[0]


# ---- figures ---------------------------------------------------------------------------------------
def color(i, n):
    """Setting i's colour among n: more than 10 settings take theirs from tab20."""
    return plt.get_cmap("tab20")(i % 20) if n > 10 else f"C{i % 10}"


def plain(text):
    """A run's name as matplotlib must get it: a '$' escaped, so cost$5_and_$6 stays a name, never
    mathtext (which then fails to parse)."""
    return text.replace("$", r"\$")


def legend(ax, n, size=8):
    """Inside the axes for a few lines; beside them, outside, for many."""
    if n > 6:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    elif n:
        ax.legend(fontsize=size)
def ema(values, n):
    if n <= 1:
        return values
    a, out, m = 2 / (n + 1), [], None
    for v in values:
        m = v if m is None or math.isnan(m) else (m if math.isnan(v) else a * v + (1 - a) * m)
        out.append(m)
    return out


def mean_band(members, kind, column, x):
    """Mean over seeds and min/max at the x values every member has."""
    per = [dict(m.series(kind, column, x)) for m in members]
    xs = sorted(set.intersection(*(set(p) for p in per))) if per else []
    mean, lo, hi = [], [], []
    for xv in xs:
        vals = [p[xv] for p in per if not math.isnan(p[xv])]
        mean.append(statistics.fmean(vals) if vals else math.nan)
        lo.append(min(vals) if vals else math.nan)
        hi.append(max(vals) if vals else math.nan)
    return xs, mean, lo, hi


class Figures:
    def __init__(self, out):
        self.out, self.made, self.taken = out, [], set()  # made: (file name, title, svg text, lines with data)
        self.skipped = []  # what was not drawn (a log with more columns than a report can show)

    def skip(self, what):
        print(f"compare_runs: warning: {what}", file=sys.stderr)
        self.skipped.append(what)

    def save(self, fig, name, title, lines):
        """Writes the figure as OUT/FILE.png and .svg, FILE being safe_name(name): a name from a log
        column or a run never leaves OUT or overwrites another figure."""
        name = safe_name(name, self.taken)
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
        write_file(os.path.join(self.out, name + ".png"), png.getvalue())  # never through a planted link
        write_file(os.path.join(self.out, name + ".svg"), buf.getvalue())
        svg = buf.getvalue()
        svg = svg[svg.index("<svg"):]  # inline: drop the XML prolog and doctype
        self.made.append((name, title, svg, lines))


def plot_lines(ax, groups, kind, column, x, smooth=0, raw=False):
    """One line per setting (mean over seeds, band min-max); returns how many lines have data."""
    n = 0
    for i, (label, members) in enumerate(groups):
        if x == "elapsed_sec":  # wall times differ between seeds: a line per run, the setting's colour
            for j, m in enumerate(members):
                pts = m.series(kind, column, x)
                if len(pts) >= 2:
                    ax.plot(*zip(*pts), color=color(i, len(groups)), linewidth=1.4, marker=".",
                            label=plain(label) if j == 0 else None)
                    n += 1
            continue
        xs, mean, lo, hi = mean_band(members, kind, column, x)
        if len(xs) < 2:
            continue
        c = color(i, len(groups))
        if raw:
            ax.plot(xs, mean, color=c, alpha=0.2, linewidth=0.8)
        ax.plot(xs, ema(mean, smooth) if smooth else mean, color=c, label=plain(label), linewidth=1.6)
        if len(members) > 1:
            ax.fill_between(xs, ema(lo, smooth) if smooth else lo, ema(hi, smooth) if smooth else hi,
                            color=c, alpha=0.15, linewidth=0)
        n += 1
    return n


def loss_figures(figs, groups, smooth):
    specs = [("train_loss", "Training loss per step (smoothed; raw faint)", "train", "loss", "step", smooth, True),
             ("val_loss", "Validation loss (20-batch estimate) over steps", "eval_val", "loss", "step", 0, False),
             ("val_loss_time", "Validation loss over wall time", "eval_val", "loss", "elapsed_sec", 0, False)]
    if any(not math.isnan(v) for _, ms in groups for m in ms for _, v in m.series("eval_val", "accuracy")):
        specs.append(("val_accuracy", "Accuracy on the evaluation split over steps (the ViT's: all 10,000 test images; "
                      "the GPT's: next characters, 20 batches)", "eval_val", "accuracy", "step", 0, False))
    for name, title, kind, column, x, sm, raw in specs:
        fig, ax = plt.subplots(figsize=(8 if len(groups) <= 6 else 12, 4.8))
        n = plot_lines(ax, groups, kind, column, x, sm, raw)
        ax.set_title(title, fontsize=10 if len(title) > 60 else None)
        ax.set_xlabel("seconds" if x == "elapsed_sec" else "step")
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
        legend(ax, n)
        figs.save(fig, name, title, n)


def sample_figures(figs, runs):
    """The ViT's sample: each run's first test images (its <log>.samples.csv) with the label it
    predicted, the model's probability for it, and the true label (red when wrong)."""
    for r in runs:
        path = os.path.splitext(r.path)[0] + ".samples.csv"
        if not os.path.exists(path):
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        try:
            images = [test_image(x["images"], int(x["test_image"])) for x in rows]
        except (OSError, ValueError, KeyError, struct.error) as e:
            r.problems.append(f"{path}: its images cannot be read ({e})")
            continue
        fig, axes = plt.subplots(1, len(rows), figsize=(1.4 * len(rows), 2.0), squeeze=False)
        for ax, x, img in zip(axes[0], rows, images):
            ax.imshow(img, cmap="gray_r", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            wrong = x["predicted"] != x["true"]
            ax.set_title(f"{x['predicted_label']} {100 * float(x['probability']):.0f}%\ntrue: {x['true_label']}",
                         fontsize=7, color="C3" if wrong else "k")
        title = f"{r.name}: test images, predicted (probability) and true labels"
        figs.save(fig, "samples_" + r.name, title, len(rows))


MAX_PANELS = 48  # layers a small-multiples figure shows (a deeper model's are listed as not drawn)
MAX_EXTRA = 24  # figures of log columns no family names (a log may carry thousands)


def small_multiples(figs, groups, name, title, panels, logy=False):
    """One panel per layer (panels: [(panel title, column)], in depth order), a line per setting in
    its own colour, the same y axis in every panel so that layers compare at a glance."""
    if len(panels) > MAX_PANELS:
        figs.skip(f"{title}: the first {MAX_PANELS} of {len(panels)} layers drawn")
        panels = panels[:MAX_PANELS]
    ncols = min(len(panels), 4 if len(panels) % 3 else 3)
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows + 0.6), squeeze=False,
                             sharex=True, sharey=True)
    total = 0
    for ax, (panel, column) in zip(axes.flat, panels):
        for i, (label, members) in enumerate(groups):
            xs, mean, lo, hi = mean_band(members, "train", column, "step")
            if len(xs) >= 2:
                ax.plot(xs, mean, color=color(i, len(groups)), linewidth=1.3, label=plain(label))
                if len(members) > 1:
                    ax.fill_between(xs, lo, hi, color=color(i, len(groups)), alpha=0.15, linewidth=0)
                total += 1
        ax.set_title(panel, fontsize=9)
        ax.grid(alpha=0.3)
        if logy:
            ax.set_yscale("log")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    handles, names = axes.flat[0].get_legend_handles_labels()
    if handles:  # one entry per setting, below the panels
        fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(names), 3), fontsize=7)
    fig.suptitle(title, fontsize=10)
    figs.save(fig, name, title, total)


def depth_order(column):
    """Sort key: the embeddings, then block 0, 1, ..., then ln_f; ln_1 before ln_2 within a block."""
    m = re.match(r"(?:[a-z_]+\.)?h(\d+)\.", column)
    return (1, int(m.group(1)), column) if m else (0 if ".emb" in column else 2, 0, column)


def instrument_figures(figs, groups):
    cols = set()
    for _, members in groups:
        for m in members:
            cols |= m.columns()
    norm_fams = [(f["name"], f["help"]) for f in instrument_families("norm")]
    for family, title in norm_fams:
        mine = sorted((c for c in cols if c.endswith("." + family)), key=depth_order)
        if mine:
            small_multiples(figs, groups, "instrument_" + family, title + ", per layer",
                            [(c[: -len(family) - 1], c) for c in mine])
    for f in instrument_families("attention"):
        family, title = f["name"], f["help"]
        mine = sorted((c for c in cols if c.endswith("." + family)), key=depth_order)
        if mine:
            small_multiples(figs, groups, "instrument_" + family, title[0].upper() + title[1:] + ", per block",
                            [(c[: -len(family) - 1], c) for c in mine], logy=family == "attn_max_logit")
    # one panel each: the global grad norm, the model's own measures, and its scalars (the columns no
    # family names: emb_scale)
    named = {c["name"] for c in log_columns()} | {f["name"] for f in instrument_families()}
    known = lambda c: c in named or any(c.startswith(f["name"] + ".") or c.endswith("." + f["name"])  # noqa: E731
                                        for f in instrument_families())
    singles = [("grad_norm", "Gradient norm (before clipping)")]
    singles += [(f["name"], f["help"][0].upper() + f["help"][1:]) for f in instrument_families("model")]
    extra = [c for c in sorted(cols) if not known(c)]
    if len(extra) > MAX_EXTRA:
        figs.skip(f"{len(extra) - MAX_EXTRA} of the {len(extra)} log columns no instrument family names not drawn "
                  f"(the first {MAX_EXTRA} are)")
    singles += [(c, c) for c in extra[:MAX_EXTRA]]
    for column, title in singles:
        if column not in cols:
            continue
        fig, ax = plt.subplots(figsize=(8, 4))
        n = plot_lines(ax, groups, "train", column, "step", smooth=20, raw=True)
        ax.set_title(plain(title))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if column == "grad_norm":
            ax.set_yscale("log")
        legend(ax, n)
        figs.save(fig, column, title, n)
    ratio_cols = sorted((c for c in cols if c.startswith("update_ratio.")), key=depth_order)
    if ratio_cols:
        small_multiples(figs, groups, "update_ratio", "Update ratio |dW| / |W| per group (embeddings, blocks, ln_f)",
                        [(c[len("update_ratio."):], c) for c in ratio_cols], logy=True)


# ---- tables ----------------------------------------------------------------------------------------
def run_summary(r):
    """best val, whole val, tokens/s, wall time, diverged at (None: finished finite), whole accuracy."""
    val = [v for _, v in r.series("eval_val", "loss") if not math.isnan(v)]
    full = [v for _, v in r.series("eval_val_full", "loss") if not math.isnan(v)]
    acc = [v for _, v in r.series("eval_val_full", "accuracy") if not math.isnan(v)]
    tps = [v for _, v in r.series("train", "tokens_per_sec") if not math.isnan(v) and v > 0]
    wall = [v for _, v in r.series("train", "elapsed_sec")] + [v for _, v in r.series("eval_val", "elapsed_sec")]
    bad = [s for s, v in r.series("train", "loss", keep_nan=True) if math.isnan(v) or math.isinf(v)]
    return (min(val) if val else math.nan, full[-1] if full else math.nan,
            statistics.median(tps) if tps else math.nan, max(wall) if wall else math.nan, bad[0] if bad else None,
            100 * acc[-1] if acc else math.nan)


def fmt(v, digits=4):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def results_table(groups, runs):
    rows = []
    for label, members in groups:
        s = [run_summary(m) for m in members]

        def agg(k, d=4):
            vals = [x[k] for x in s if x[k] is not None and not math.isnan(x[k])]
            if not vals:
                return "-"
            m = statistics.fmean(vals)
            return f"{m:.{d}f}" + (f" ± {statistics.stdev(vals):.{d}f}" if len(vals) > 1 else "")

        div = [str(int(x[4])) for x in s if x[4] is not None]
        rows.append([label, str(len(members)), agg(0), agg(1), agg(5, 2), agg(2, 0), agg(3, 1), ", ".join(div) or "-"])
    for r in runs:
        if not r.rows and not r.meta:
            rows.append([r.name, "0", "(no rows in the log)", "", "", "", "", ""])
    return ["setting", "runs", "best val", "whole val", "whole accuracy %", "tokens (images)/s", "wall s",
            "diverged at step"], rows


def shown(values):
    """Option values as a reader wants them: numbers in 6 significant digits (0.003, 22.6274, not
    0.0030000000000000001 or 22.627416997969522) unless that would make two different values look
    alike; everything else as written."""
    def short(v):
        try:
            return f"{float(v):.6g}" if v.strip() and v.strip().lower() not in ("nan", "inf", "-inf") else v
        except ValueError:
            return v
    out = [short(v) for v in values]
    return out if len(set(out)) == len(set(values)) else [f"{float(v)!r}" if short(v) != v else v for v in values]


def options_table(runs):
    """The options that differ between the runs (all of them when there is one run)."""
    opts = [r.config or {k: str(v) for k, v in r.meta.items()} for r in runs]
    keys = sorted({k for o in opts for k in o})
    differing = [k for k in keys if len({o.get(k, "") for o in opts}) > 1] if len(runs) > 1 else keys
    columns = [shown([o.get(k, "") for o in opts]) for k in differing]
    return ["run"] + differing, [[r.name] + [col[i] for col in columns] for i, r in enumerate(runs)]


def scalars_table(runs):
    ck = [r for r in runs if r.scalars]
    names = sorted({n for r in ck for n in r.scalars})
    return ["checkpoint"] + names, [[r.name] + [fmt(r.scalars.get(n), 4) for n in names] for r in ck]


HEALTHY = os.path.join(ROOT, "results", "defaults", "seeds",
                       "healthy.csv")


def healthy_lines():
    """figure name -> what a healthy run shows there: the range the seven norms' default runs logged
    (results/defaults/seeds/healthy.csv, written by tools/stability_report.py from their logs)."""
    out = {}
    if os.path.exists(HEALTHY):
        with open(HEALTHY, newline="") as f:
            for r in csv.DictReader(f):
                text = (f"A healthy run: {r['p5']} to {r['p95']} (5th-95th percentile of every value logged after step "
                        f"{r['after_step']} by {r['runs']} runs of {', '.join(r['norms'].split())} at their defaults).")
                out["instrument_" + r["family"]] = out[r["family"]] = text
    return out


def html_table(head, rows):
    h = "".join(f"<th>{html.escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def write_report(out, figs, runs, groups):
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>normlab: compared runs</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px}"
             "th{background:#f3f3f3}figure{margin:1.5em 0}svg{max-width:100%;height:auto}"
             "figcaption{font-size:13px;color:#555}</style></head><body>",
             f"<h1>Compared runs</h1><p>{len(runs)} runs in {len(groups)} settings (runs that differ only in "
             "their seed are one setting: a mean line, and a band from the lowest to the highest seed).</p>",
             "<h2>Results</h2>", html_table(*results_table(groups, runs))]
    # the healthy ranges are the GPT's default runs': a ViT's (or an unknown model's) log is not held to them
    healthy = healthy_lines() if all(r.config.get("model") == "gpt" for r in runs) else {}
    if not healthy and os.path.exists(HEALTHY):
        parts.append("<p>The healthy ranges of the instruments are measured on the GPT's default runs: not shown, as "
                     "these runs are not all the GPT's (a ViT's, or a log without its .config).</p>")
    for name, title, svg, lines in figs.made:
        parts.append(f"<figure id='{html.escape(name)}' data-lines='{int(lines)}'>{svg}<figcaption>{html.escape(title)}"
                     f" ({lines} line{'s' if lines != 1 else ''} with data). {html.escape(healthy.get(name, ''))}"
                     "</figcaption></figure>")
    if figs.skipped:
        parts += ["<h2 id='skipped'>Not drawn</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in figs.skipped)
                  + "</ul>"]
    problems = [(r.name, r.path, x) for r in runs for x in r.problems]
    if problems:
        parts += ["<h2 id='problems'>Problems in the files</h2><p>What was wrong with the runs' files; the rows "
                  "named were left out, the rest of each run is shown.</p>",
                  html_table(["run", "file", "problem"], problems)]
    sc = scalars_table(runs)
    if sc[1]:
        parts += ["<h2>Scalars in the checkpoints</h2>", html_table(*sc)]
    parts += ["<h2>Options</h2><p>The options that differ between the runs (from each log's .config file, or a "
              "checkpoint's metadata).</p>", html_table(*options_table(runs)),
              "<h2>Files</h2><ul>" + "".join(f"<li>{html.escape(r.name)}: {html.escape(r.path)}</li>" for r in runs) +
              "</ul><p id='end'>normlab tools/compare_runs.py</p></body></html>"]
    path = os.path.join(out, "report.html")
    write_file(path, "\n".join(parts))
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="log files, sweep folders, checkpoints")
    p.add_argument("--out", default="compare", help="folder for the figures and report.html (default compare/)")
    p.add_argument("--smooth", type=int, default=20, help="EMA span of the training-loss curve (default 20 steps)")
    p.add_argument("--label", action="append", default=[], metavar="RUN=NAME", help="a run's name in the figures")
    a = p.parse_args(argv)
    labels = dict(x.split("=", 1) for x in a.label)
    runs = load(a.runs, labels)
    unique_names(runs, labels)
    os.makedirs(a.out, exist_ok=True)
    groups = settings(runs)
    empty = [r for r in runs if not r.rows and not r.meta]
    for r in empty:
        print(f"compare_runs: {r.path} has no rows (listed in the report)", file=sys.stderr)
    for r in runs:
        for x in r.problems:
            print(f"compare_runs: warning: {r.path}: {x} (listed in the report)", file=sys.stderr)
    figs = Figures(a.out)
    loss_figures(figs, groups, a.smooth)
    instrument_figures(figs, groups)
    sample_figures(figs, runs)
    path = write_report(a.out, figs, runs, groups)
    head, rows = results_table(groups, runs)
    width = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, width)))
    print(f"\n{len(figs.made)} figures (PNG and SVG) and {path}")
    return 0


if __name__ == "__main__":
    main()
