"""normlab_tools.registry: the train program's tables, which the tools read instead of keeping
their own lists of norms and columns."""
import csv
import re
import subprocess

from normlab_tools.registry import instrument_families, log_columns, norm_names, norm_scalars


def test_the_norms_are_the_programs(train):
    names = norm_names()
    assert len(names) == len(set(names)) >= 2
    helptext = subprocess.run([train, "--help"], capture_output=True, text=True).stdout
    assert "|".join(names) in helptext, "--help lists the same norms in the same order"
    assert set(norm_scalars()) < set(names) and set(norm_scalars().values()) <= {"alpha", "beta"}


def test_every_logged_column_is_a_registry_column(tiny_run):
    """The header is the base columns, then instrument columns each named from a family (at a
    place), or a model scalar: nothing the registry does not describe, and no family twice."""
    with open(tiny_run["log"]) as f:
        header = next(csv.reader(f))
    base = [c["name"] for c in log_columns()]
    assert header[:len(base)] == base
    fams = instrument_families()
    assert len({f["name"] for f in fams}) == len(fams)
    form = {"group": "{f}\\.[\\w.]+", "norm": "[\\w.]+\\.{f}", "attention": "\\w+\\.{f}", "model": "{f}"}
    unknown = [c for c in header[len(base):]
               if not any(re.fullmatch(form[f["per"]].format(f=f["name"]), c) for f in fams)]
    assert unknown == ["emb_scale"], "only the model's own scalar is not a family's column"
    for per in ("group", "norm", "attention", "model"):
        assert instrument_families(per), f"a family measured per {per}"
