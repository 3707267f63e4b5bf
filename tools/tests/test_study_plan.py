"""normlab_tools.study_plan: what a study runs next, from what has finished (made-up results)."""
import csv
import fcntl
import os

from normlab_tools import study_plan as plan
from normlab_tools.sweep import fmt

# the norms, from the train program's registry (the plan's names for them): LN, its kin, and the
# element-wise cores; each norm's best at 2,000 steps is its recipe's lr
LN, DYT, DERF = plan.CORE
RMS = plan.LN_KIN[0]
LN_BEST = {n: plan.RECIPE_LR[n] for n in plan.NORMS}


def finish(out, folder, norm, lrs, seeds, best):
    """Appends finished runs: the loss is lowest at BEST and grows with the distance from it."""
    path = os.path.join(out, folder, "results.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["job", "norm", "lr", "seed", "full_val", "nonfinite"])
        for lr in lrs:
            for s in seeds:
                w.writerow([f"{norm}_lr{fmt(lr)}_s{s}", norm, fmt(lr), s, 2 + abs(lr / best - 1) / 100, 0])


def lines_of(out, folder):
    return [line for line in plan.todo("scaling", out)[0] if line.split()[0] == folder]


def grid(line):
    words = line.split()
    return words[words.index("--norms") + 1], words[words.index("--lrs") + 1], words[words.index("--seeds") + 1]


def test_an_empty_study_starts_with_the_first_points_grids(tmp_path):
    first = lines_of(str(tmp_path), "steps8000_w128")
    assert [grid(x) for x in first] == [(n, ",".join(f"{x:g}" for x in plan.AT_8000[n]), "1,2") for n in plan.NORMS]
    assert lines_of(str(tmp_path), "steps32000_w128_dropout") == []  # its neighbour has no best yet


def test_a_best_on_the_edge_extends_the_grid_and_the_expensive_point_follows(tmp_path):
    out2 = str(tmp_path)
    for n in plan.NORMS:
        finish(out2, "steps8000_w128", n, plan.AT_8000[n], (1, 2), 1e-2 if n == DYT else LN_BEST[n])  # dyt's on its edge
    # dyt's grid grows; every other norm's best is settled, so its evaluation seeds run there
    assert [grid(x) for x in lines_of(out2, "steps8000_w128")] == [
        (DYT, "0.01", "1,2") if n == DYT else (n, f"{LN_BEST[n]:g}", "3,4,5") for n in plan.NORMS]
    long = [grid(x) for x in lines_of(out2, "steps32000_w128_dropout")]
    assert DYT not in [x[0] for x in long]  # dyt waits for its extension
    assert (LN, "0.0056", "1") in long and (DERF, "0.0018", "1") in long  # reach 0: the neighbour's best only
    assert all(x.endswith("--dropout 0.1") for x in lines_of(out2, "steps32000_w128_dropout"))
    finish(out2, "steps8000_w128", DYT, [1e-2], (1, 2), 1e-2)
    assert (DYT, "0.018", "1,2") in [grid(x) for x in lines_of(out2, "steps8000_w128")]  # still its edge
    finish(out2, "steps8000_w128", DYT, [1.8e-2], (1, 2), 1e-2)
    assert (DYT, "0.01", "3,4,5") in [grid(x) for x in lines_of(out2, "steps8000_w128")]  # evaluated at its best
    for n in plan.NORMS:
        finish(out2, "steps8000_w128", n, [1e-2 if n == DYT else LN_BEST[n]], plan.EVAL_SEEDS, LN_BEST[n])
    assert lines_of(out2, "steps8000_w128") == []
    assert (DYT, "0.01", "1") in [grid(x) for x in lines_of(out2, "steps32000_w128_dropout")]


def test_a_point_that_does_not_grow_keeps_its_grid(tmp_path):
    out = str(tmp_path)
    finish(out, "steps32000_w128", RMS, (1e-3, 1.8e-3, 3.2e-3), (1,), 5.6e-4)  # best on the low edge
    # no lr beyond the edge: only the evaluation seeds at the best of the lrs that ran
    assert [x for x in map(grid, lines_of(out, "steps32000_w128")) if x[0] == RMS] == [(RMS, "0.001", "2,3,4")]
    finish(out, "steps8000_w128", RMS, (3.2e-3, 5.6e-3, 1e-2), (1, 2), 1e-3)  # a point that grows does
    assert (RMS, "0.0018", "1,2") in [grid(x) for x in lines_of(out, "steps8000_w128")]


def test_the_second_seed_runs_at_the_best_lr_once_the_first_has_found_it(tmp_path):
    out = str(tmp_path)
    finish(out, "frontier", LN, plan.VISION_GRID[LN], (1, 2), 5.6e-4)
    frontier = lambda: [x for x in plan.todo("vision", out)[0] if x.startswith("frontier ")]  # noqa: E731
    assert [grid(x) for x in frontier() if grid(x)[0] == LN] == [(LN, "0.00056", "3")]
    finish(out, "frontier", LN, (5.6e-4,), (3,), 5.6e-4)
    assert LN not in [grid(x)[0] for x in frontier()]


def test_a_job_another_sweep_holds_is_not_offered(tmp_path):
    out = str(tmp_path)
    logs = tmp_path / "steps8000_w128_l2" / "logs"
    logs.mkdir(parents=True)
    names = plan.jobs_of(plan.PLAN[1], plan.sweep_args(plan.PLAN[1], DYT, [3.2e-3], (1, 2)))
    held = []
    for name in names:
        f = open(logs / (name + ".lock"), "w")
        fcntl.flock(f, fcntl.LOCK_EX)
        held.append(f)
    lines, _ = plan.todo("scaling", out)
    assert not [x for x in lines if x.startswith("steps8000_w128_l2 ") and grid(x)[0] == DYT]
    for f in held:
        f.close()
    assert [x for x in plan.todo("scaling", out)[0] if x.startswith("steps8000_w128_l2 ") and grid(x)[0] == DYT]


def test_the_vision_plan_runs_seed_1_of_every_norm_first(tmp_path):
    lines, _ = plan.todo("vision", str(tmp_path))
    assert [grid(x)[0] for x in lines[:3]] == [LN, DYT, DERF] and all(grid(x)[2] == "1" for x in lines[:3])
    assert all(x.split()[-1] == "--" for x in lines)  # the driver appends the dataset after the sweep's options


def test_the_vision_rerun_on_validation_comes_after_the_first_study(tmp_path):
    """Once the test-chosen frontier is complete, the plan reruns the core grid into val/, chosen on
    seeds 1 and 2 and reported on 3, 4 and 5."""
    out = str(tmp_path)
    for norm, best in plan.VISION_CORE_BEST.items():
        finish(out, "frontier", norm, plan.VISION_GRID[norm], (1, 2), best)
        finish(out, "frontier", norm, (best,), (3,), best)
    for norm, lrs in plan.VISION_KIN.items():
        finish(out, "frontier", norm, lrs, (1,), lrs[1])
        finish(out, "frontier", norm, (lrs[1],), (2, 3), lrs[1])
    lines, _ = plan.todo("vision", out)
    assert lines and all(x.startswith("val ") for x in lines) and "1" in {grid(x)[2] for x in lines}
    finish(out, "val", LN, plan.VISION_GRID[LN], (1, 2), 1e-3)
    assert (LN, "0.001", "3,4,5") in [grid(x) for x in plan.todo("vision", out)[0]]


def test_the_interventions_plan_grids_muon_over_its_own_lr(tmp_path):
    """Seed 1 of every intervention first; Muon's axis is --muon-lr (an --opt), read back from the
    runs' opts column: a best on its grid's top edge asks for the next quarter-decade."""
    out = str(tmp_path)
    lines, _ = plan.todo("interventions", out)
    first = [x for x in lines if "--seeds 1 " in x]
    assert {x.split()[0] for x in first} == {name for name, *_ in plan.INTERVENTIONS}
    muon = [x for x in first if x.startswith("muon ")]
    assert len(muon) == 3 and all("--opt muon-lr=0.0056,0.01,0.018,0.03,0.056" in x and x.endswith("-- --optim=muon")
                                  for x in muon)
    assert "-- --qk-norm=derf" in " ".join(x for x in first if x.startswith("qk_own ") and " derf " in x)
    path = os.path.join(out, "muon", "results.csv")
    os.makedirs(os.path.dirname(path))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job", "norm", "lr", "opts", "seed", "full_val", "nonfinite"])
        for v in plan.MUON_GRID:  # best at the top edge, 0.056
            w.writerow([f"{LN}_lrdefault_muon-lr-{fmt(v)}_s1", LN, "0.0056", f"muon-lr={fmt(v)}", 1, 2 + 0.1 / v, 0])
    nxt = [x for x in plan.todo("interventions", out)[0] if x.startswith("muon ") and " ln " in x and "--seeds 1 " in x]
    assert nxt and "--opt muon-lr=0.1 " in nxt[0]


def test_a_new_norm_without_a_vision_best_is_left_out_not_a_keyerror(monkeypatch):
    """A norm added to the registry (its own kin, and a softplus form of it): the plans build, the new
    core norm gets the ViT's full grid, its kin waits for a best (a zip over the core norms shifted
    every best and raised KeyError: 'tanh1')."""
    import importlib

    from normlab_tools import registry as reg
    real = reg.registry()
    extra = [dict(real["norms"][2], name="tanh1", kin="tanh1", softplus=False),
             dict(real["norms"][2], name="tanh1sp", kin="tanh1", softplus=True)]
    fake = dict(real, norms=real["norms"][:3] + extra + real["norms"][3:])
    monkeypatch.setattr(reg, "registry", lambda *a: fake)
    try:
        p = importlib.reload(plan)
        assert "tanh1" in p.VISION_GRID and "tanh1sp" not in p.VISION_KIN
        assert p.VISION_KIN["dytsp"] == p.around(p.VISION_CORE_BEST["dyt"])  # the others' kin unshifted
    finally:
        monkeypatch.undo()
        importlib.reload(plan)
