"""The held-out-seed protocol (normlab_tools.protocol) and `sweep.py summary`'s table from it: the
choice never sees an evaluation seed, the intervals are Student's and Welch's."""
import csv
import math
import random

import pytest

from normlab_tools import protocol, sweep


def test_t_quantiles_are_students():
    # the two-sided 95% points of t at 1, 2, 4, 10 degrees of freedom, and the normal's
    for df, t in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (1e9, 1.960)):
        assert protocol.t_quantile(df) == pytest.approx(t, abs=1e-3)
    assert protocol.t_quantile(2.5) < protocol.t_quantile(2) and protocol.t_quantile(2.5) > protocol.t_quantile(3)


def test_an_estimate_is_the_mean_and_the_t_interval():
    e = protocol.estimate([1.0, 2.0, 3.0, math.inf])
    assert e.mean == 2.0 and e.n == 3 and e.lost == 1
    assert e.half == pytest.approx(4.3027 * 1.0 / math.sqrt(3), rel=1e-4)
    assert "fewer than" in protocol.format_estimate(protocol.estimate([1.0, 2.0]))


def test_a_gap_is_resolved_only_when_its_interval_excludes_zero():
    far = protocol.gap([2.0, 2.01, 1.99], [1.0, 1.02, 0.98])
    assert far.resolved and far.diff == pytest.approx(1.0)
    near = protocol.gap([1.00, 1.05, 0.97], [1.01, 0.99, 1.04])
    assert not near.resolved and "not resolved at 3 seeds" in protocol.format_gap(near)
    # Welch's degrees of freedom lie between the smaller sample's n - 1 and the pooled n1 + n2 - 2
    assert 2 <= protocol.gap([1.0, 1.1, 1.3], [2.0, 2.5, 2.2, 2.9]).df <= 5


def test_selection_and_evaluation_seeds_are_disjoint():
    with pytest.raises(ValueError, match=r"\[2\]"):
        protocol.split([1, 2], [2, 3])


def test_the_edge_of_a_grid_is_a_bound():
    assert protocol.on_edge(1e-3, [1e-3, 3e-3, 1e-2]) and not protocol.on_edge(3e-3, [1e-3, 3e-3, 1e-2])
    assert not protocol.on_edge(3e-3, [3e-3])  # one candidate: nothing chosen along the axis


def runs(losses):
    """results rows: {(norm, lr, seed): loss}."""
    return [{"job": f"{n}_lr{lr:g}_s{s}", "norm": n, "lr": lr, "seed": s, "loss": v} for (n, lr, s), v in losses.items()]


def test_the_choice_never_depends_on_an_evaluation_seed():
    rng = random.Random(7)
    lrs, sel, ev = (1e-3, 3e-3, 1e-2), (1, 2), (3, 4, 5)
    base = {(n, lr, s): rng.uniform(1.5, 2.5) for n in ("ln", "dyt") for lr in lrs for s in sel + ev}
    key, loss = (lambda r: r["lr"]), (lambda r: r["loss"])
    choice = {n: protocol.choose([r for r in runs(base) if r["norm"] == n], sel, key, loss).key for n in ("ln", "dyt")}
    for trial in range(50):
        changed = dict(base)
        for k in changed:
            if k[2] in ev:  # any evaluation seed's result: better, worse, or gone
                changed[k] = rng.choice([0.0, math.inf, rng.uniform(0, 5)])
        for n in ("ln", "dyt"):
            assert protocol.choose([r for r in runs(changed) if r["norm"] == n], sel, key, loss).key == choice[n]


def write_results(path, losses):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, sweep.FIELDS)
        w.writeheader()
        for r in runs(losses):
            w.writerow({"job": r["job"], "norm": r["norm"], "lr": r["lr"], "init_kind": "none", "seed": r["seed"],
                        "steps": 100, "best_val": r["loss"], "full_val": r["loss"], "nonfinite": 0, "diverged": 0})


def test_sweep_summary_chooses_on_selection_seeds_and_reports_evaluation_seeds(tmp_path, capsys):
    # selection seeds favour lr 1e-3 for dyt; its evaluation seeds would have favoured 1e-2
    losses = {("ln", 1e-3, s): 1.5 + 0.01 * s for s in (1, 2, 3, 4, 5)}
    losses.update({("dyt", 1e-3, s): 1.8 for s in (1, 2)} | {("dyt", 1e-2, s): 1.9 for s in (1, 2)})
    losses.update({("dyt", 1e-3, s): 1.7 + 0.01 * s for s in (3, 4, 5)} | {("dyt", 1e-2, s): 1.0 for s in (3, 4, 5)})
    write_results(tmp_path / "results.csv", losses)
    assert sweep.main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    dyt = next(line for line in out.splitlines() if line.startswith("| dyt | lr"))
    assert "lr 0.001 (the grid's edge: a bound)" in dyt and "| 3,4,5 |" in dyt and "1.7400 +- 0.0248 (3 seeds)" in dyt
    assert "+0.200 [" in dyt and "not resolved" not in dyt
    # an evaluation seed changed at the other lr changes nothing; at the chosen one, only the report
    losses[("dyt", 1e-2, 4)] = 0.1
    write_results(tmp_path / "results.csv", losses)
    sweep.main(["summary", str(tmp_path)])
    assert dyt in capsys.readouterr().out.splitlines()


def test_sweep_summary_says_what_to_run_when_evaluation_seeds_are_missing(tmp_path, capsys):
    write_results(tmp_path / "results.csv", {("ln", lr, s): lr * 100 + s for lr in (1e-3, 3e-3) for s in (1, 2)})
    sweep.main(["summary", str(tmp_path), "--metric", "full_val"])
    out = capsys.readouterr().out
    assert "no evaluation seed" in out and f"tools/sweep.py run {tmp_path} --norms ln --lrs 0.001 --steps 100 --seeds 3,4,5" in out


def test_a_prediction_range_holds_a_new_draw_95_times_in_100():
    import random
    lo, hi, n = protocol.prediction([1.0, 2.0, 3.0])  # mean 2, s 1: 2 +- 4.303 sqrt(4/3), outward to 0.01
    assert (lo, hi, n) == (-2.97, 6.97, 3) and protocol.prediction([1.0, 2.0]) is None
    rng, hits, trials = random.Random(3), 0, 4000
    for _ in range(trials):
        lo, hi, _ = protocol.prediction([rng.gauss(0, 1) for _ in range(4)], digits=9)
        hits += lo <= rng.gauss(0, 1) <= hi
    assert 0.94 < hits / trials < 0.96
