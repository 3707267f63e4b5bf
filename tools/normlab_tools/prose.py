"""Prose that cannot drift from the results: every number a page's prose writes with two or more
decimals must be one the results support.

  python3 -m normlab_tools.prose [PAGE ...]     (default: the README and the study pages)

Supported: a number printed in any page's generated blocks (<!-- report:NAME --> ... <!-- /report:NAME
-->, which the report scripts rewrite from results/), or one computed from the committed results at
the precision written (a run's loss or accuracy, a setting's mean or std over seeds, the difference of
two settings' means of one norm in one results folder, or of two norms' best means there), or one listed for that page in docs/prose_numbers.txt
with where it comes from (a measurement that is not a study's result: a timing, a constant, a run
made alone). Code, inline code, links and arXiv ids are not prose. Exit status 1, with each number
and its line, when one matches nothing: a hand-typed number fails CI until it is generated, matches
the results, or is listed with its source.
"""
import collections
import csv
import glob
import itertools
import math
import os
import re
import statistics
import sys

from .files import ROOT

PAGES = ["README.md", "docs/stability.md", "docs/scaling.md", "docs/vision.md", "docs/training.md"]
NUMBER = re.compile(r"(?<![\w.\-+/])[+-]?\d+\.\d{2,}%?(?!\w|\.\d)")
ARXIV = re.compile(r"arXiv \d{4}\.\d{4,5}")
BLOCK = re.compile(r"<!-- report:(\w+) -->(.*?)<!-- /report:\1 -->", re.S)
SOURCES = os.path.join(ROOT, "docs", "prose_numbers.txt")
LOSSES = ("full_val", "best_val", "final_val", "final_train", "full_acc", "best_acc", "test_loss", "test_acc")


def bare(x):
    return x.rstrip("%").lstrip("+-")


def prose(text):
    """The page without what is not prose, its lines kept in place."""
    blank = lambda m: "\n" * m.group(0).count("\n")  # noqa: E731
    text = BLOCK.sub(blank, text)
    text = re.sub(r"```.*?```", blank, text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return ARXIV.sub("", text)


def generated(pages):
    out = set()
    for p in pages:
        with open(os.path.join(ROOT, p)) as f:
            for m in BLOCK.finditer(f.read()):
                out |= {bare(x) for x in NUMBER.findall(m.group(2))}
    return out


def from_results():
    """Every number the committed results give at 2, 3 and 4 decimals (accuracies also as percents)."""
    out = set()

    def add(v):
        if math.isfinite(v):
            out.update(f"{abs(v):.{d}f}" for d in (2, 3, 4))

    for path in glob.glob(os.path.join(ROOT, "results", "**", "results.csv"), recursive=True):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        settings = collections.defaultdict(list)
        for r in rows:
            for k in LOSSES:
                try:
                    v = float(r.get(k) or "nan")
                except ValueError:
                    continue
                add(v), add(100 * v) if k.endswith("acc") else None
            try:
                key = tuple(r.get(k, "") for k in ("norm", "lr", "opts", "init", "init_pos_value", "steps"))
                settings[key].append(float(r.get("full_val") or "nan"))
            except ValueError:
                pass
        means = collections.defaultdict(list)  # per norm, its settings' means
        for key, vs in settings.items():
            vs = [v for v in vs if math.isfinite(v)]
            if vs:
                means[key[0]].append(statistics.fmean(vs)), add(means[key[0]][-1])
            if len(vs) > 1:
                add(statistics.stdev(vs)), add(statistics.pstdev(vs))
        # the gaps a page writes: one norm's settings against each other, and the norms' bests
        for ms in means.values():
            for a, b in itertools.combinations(ms, 2):
                add(a - b)
        for a, b in itertools.combinations([min(ms) for ms in means.values()], 2):
            add(a - b)
    return out


def listed():
    """{page: {number}} from docs/prose_numbers.txt: 'PAGE NUMBER ... : SOURCE' lines."""
    out = collections.defaultdict(set)
    if os.path.exists(SOURCES):
        with open(SOURCES) as f:
            for line in f:
                line = line.split("#", 1)[0]
                if ":" in line:
                    page, *nums = line.split(":", 1)[0].split()
                    out[page] |= {bare(x) for x in nums}
    return out


def unsupported(page, text, supported):
    """[(line, number)] of the page's prose numbers that nothing supports."""
    return [(i, x) for i, line in enumerate(prose(text).split("\n"), 1) for x in NUMBER.findall(line)
            if bare(x) not in supported]


def main(argv=None):
    pages = (argv if argv else None) or PAGES
    base = generated(PAGES) | from_results()
    extra = listed()
    bad = 0
    for page in pages:
        with open(os.path.join(ROOT, page)) as f:
            found = unsupported(page, f.read(), base | extra.get(page, set()))
        for line, x in found:
            print(f"prose: {page}:{line}: {x} matches no result, no generated table and no line of "
                  "docs/prose_numbers.txt")
        bad += len(found)
    print(f"prose: {len(pages)} pages, " + (f"{bad} unsupported numbers" if bad else "every number supported"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
