"""normlab_tools.report: the comparison's figures and HTML report, from the registry's columns."""
import os

import pytest

pytest.importorskip("matplotlib")

from normlab_tools import report  # noqa: E402


def test_the_report_of_two_runs(tiny_run, tmp_path):
    out = tmp_path / "cmp"
    assert report.main([tiny_run["log"], tiny_run["jsonl"], "--out", str(out)]) == 0
    made = set(os.listdir(out))
    assert "report.html" in made
    # a figure per family the logs hold, named from the registry's rows
    for name in ("instrument_in_rms.png", "instrument_alpha.png", "instrument_attn_entropy.png", "grad_norm.png",
                 "log_z_max.png", "emb_scale.png"):
        assert name in made, name


def test_colours_follow_the_number_of_settings():
    assert report.color(3, 5) == "C3" and report.color(13, 5) == "C3"
    assert report.color(13, 14) != report.color(3, 14)
