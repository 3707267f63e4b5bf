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


def test_vit_default_lrs_are_the_studys_best(train):
    """src/models/vit.c's recipes: each norm's default lr is the one the ViT study measured best."""
    import re
    import subprocess
    helptext = subprocess.run([train, "--help"], capture_output=True, text=True).stdout
    line = re.search(r"The vit's own defaults.*?\blr: ([^\n]*)", helptext, re.S).group(1).split()
    defaults = {norm: float(lr) for norm, lr in zip(line[::2], line[1::2])}
    assert defaults == vision.best_lrs(vision.sets()), "set VIT_RECIPES in src/models/vit.c to the study's bests"


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


def test_power_law_fit_recovers_its_exponent():
    """scaling.fit on gaps made from a known law: b back, its error 0; noise gives a non-zero error."""
    xs = [1.5e6, 6e6, 24e6]
    b, se = scaling.fit(xs, [3.0 * x ** -0.7 for x in xs])
    assert abs(b - 0.7) < 1e-12 and se < 1e-12
    b, se = scaling.fit(xs, [3.0 * x ** -0.7 * f for x, f in zip(xs, (1.1, 0.9, 1.1))])
    assert 0.5 < b < 0.9 and se > 0.01


def test_machine_of_reads_machine_txt(tmp_path):
    """study.machine_of: the machine.txt line whose 'after N lines' (header counted) precedes the row."""
    (tmp_path / "machine.txt").write_text("A, 2 vCPUs: rows from 2026-01-01, after 0 lines\n"
                                          "B, 2 vCPUs: rows from 2026-01-02, after 4 lines\n")
    assert [study.machine_of(str(tmp_path), i).split(",")[0] for i in range(5)] == ["A", "A", "A", "B", "B"]


def test_best_lr_from_the_grid_and_its_loss_over_every_seed():
    """study.metrics picks the best lr over the seeds that ran the whole grid; at_best then means the
    loss there over every seed, a seed run at the best lr alone included."""
    def run(lr, seed, v):
        return {"lr": str(lr), "seed": str(seed), "full_val": str(v), "nonfinite": "0", "diverged": "0",
                "spikes": "0", "diverge_step": ""}
    runs = [run(1e-3, 1, 2.0), run(1e-2, 1, 1.8), run(1e-3, 2, 2.2), run(1e-2, 2, 2.0), run(1e-2, 3, 2.2)]
    m = study.metrics(runs)
    assert m["best_lr"] == 1e-2 and m["best"] == pytest.approx(1.9)  # the grid's seeds only
    mean, sd, k = study.at_best(runs, m)
    assert k == 3 and mean == pytest.approx(2.0) and sd == pytest.approx((0.08 / 3) ** 0.5)
