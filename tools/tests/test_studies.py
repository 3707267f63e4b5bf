"""normlab_tools.study, scaling, vision and interventions: the committed docs' tables are what the committed results give."""
import pytest

pytest.importorskip("matplotlib")

from normlab_tools import interventions, scaling, study, vision  # noqa: E402


def test_stability_doc_is_its_results():
    assert study.main(["--check"]) == 0


def test_scaling_doc_is_its_results():
    assert scaling.main(["--check"]) == 0


def test_vision_doc_is_its_results():
    assert vision.main(["--check"]) == 0


def test_interventions_section_is_its_results():
    assert interventions.main(["--check"]) == 0


def test_every_instrument_column_has_its_family(tiny_run):
    """The families compare_runs draws, from the registry: the tiny run's columns each get one, or
    None for the base columns and the per-group grad norms."""
    import csv
    with open(tiny_run["log"]) as f:
        header = next(csv.reader(f))
    fam = {c: study.instrument_family(c) for c in header}
    assert fam["h0.ln_1.sat2"] == "sat2" and fam["h0.attn_entropy_min"] == "attn_entropy_min"
    assert fam["update_ratio.h0"] == "update_ratio" and fam["grad_norm.h0"] is None
    assert fam["emb_scale"] == "emb_scale" and fam["log_z_max"] == "log_z_max" and fam["loss"] is None
