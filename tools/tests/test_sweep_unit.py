"""normlab_tools.sweep's outcome of a run, from its log (the sweep itself: tests/test_sweep.py)."""
import math

from normlab_tools.files import read_log
from normlab_tools.sweep import outcome


def test_the_outcome_is_what_the_log_says(tiny_run):
    rows, _ = read_log(tiny_run["log"])
    o = outcome(tiny_run["log"], 12)
    evals = [r["loss"] for r in rows if r["kind"] == "eval_val"]
    assert o["best_val"] == min(evals) and o["final_val"] == evals[-1]
    assert o["full_val"] == [r["loss"] for r in rows if r["kind"] == "eval_val_full"][-1]
    assert o["nonfinite"] == 0 and o["diverged"] == 0 and math.isfinite(o["final_train"])
    assert o["tokens_per_sec"] > 0


def test_a_job_name_is_a_safe_file_name_whatever_an_option_holds():
    from normlab_tools.sweep import expand, parser
    a = parser().parse_args(["run", "out", "--norms", "ln", "--opt", "tag=a/b,a_b,../x,plain"])
    names = [j[0] for j in expand(a)]
    assert len(set(names)) == 4 and not any("/" in n or n.startswith(".") for n in names)
    assert "ln_lrdefault_tag-plain_s1" in names  # a name that needs nothing keeps its form
