"""The studies' plans: which runs a study makes, in which order, given what has finished.

  python3 -m normlab_tools.study_plan STUDY      (scaling: tools/scaling.sh's; vision: tools/vision.sh's;
                                                 interventions: tools/interventions.sh's)

prints one line per sweep the study still needs and no running sweep holds, 'FOLDER ARGS' (the
driver runs tools/sweep.py run results/STUDY/FOLDER --train SNAPSHOT --jobs 1 --threads 1 ARGS
DATA); nothing when the study is done; exit status 3 when nothing is free but runs are going on in
another stream (their results may call for more: ask again when they finish).

Each plan is one table (PLANS), in the order its runs go. Per point and norm:
1. its lrs at every seed of `seeds`: a fixed grid, or three lrs of the quarter-decade grid centred on
   the norm's best at a cheaper neighbour (its folder), once that neighbour's best is settled;
2. while the best of those (mean whole val over `seeds`) sits on the grid's edge, the next lr beyond;
3. then `best_seeds` at the best lr only (the expensive points: one seed finds the optimum, a second
   measures the spread there).
"""
import collections
import math
import os
import sys

from . import study as sr
from .registry import norm_names, registry
from .sweep import done_jobs, expand, lock, parser

GRID = [3e-4, 5.6e-4, 1e-3, 1.8e-3, 3.2e-3, 5.6e-3, 1e-2, 1.8e-2, 3e-2, 5.6e-2, 1e-1]  # the quarter-decade lrs

# A point: its steps, its width (None: the model's default), each norm's lrs (or a neighbour's
# folder), the seeds every lr runs, the seeds only the best lr runs, its folder, more sweep options,
# the train options every run takes (after the sweep's --), the train option the lrs are of ("lr":
# --lr; another, e.g. "muon-lr": an --opt axis, each norm at its default --lr), how many grid lrs on
# each side of a neighbour's best it runs, and whether a best on the grid's edge extends the grid.
Point = collections.namedtuple("Point", "steps width lrs seeds best_seeds folder extra train axis reach grow",
                               defaults=((), None, "", "", "lr", 1, True))



def around(lr):
    """The quarter-decade lrs either side of lr and lr itself."""
    i = min(range(len(GRID)), key=lambda k: abs(math.log(GRID[k] / lr)))
    return tuple(GRID[i - 1:i + 2])


NORM_ROWS = registry()["norms"]  # the train program's norms (./train --registry), in its order
REFERENCE = NORM_ROWS[0]["name"]  # LayerNorm, the registry's first: what the others are measured against
# the norms each study runs in full: those that are their own kin (LN, DyT, Derf); the rest start
# from their kin's lrs
CORE = [n["name"] for n in NORM_ROWS if n["kin"] == n["name"]]
RECIPE_LR = {n["name"]: n["recipe"]["lr"] for n in NORM_ROWS}

# the study's norms: the registry's, less the softplus forms (the budget); each at three lrs around its
# best at 2,000 steps, 128 wide, which is its recipe's lr (the frontier of docs/stability.md)
AROUND_FRONTIER = {n["name"]: around(n["recipe"]["lr"]) for n in NORM_ROWS if not n["softplus"]}
# the runs at 32,000 steps without dropout, as far as they went: LN and DyT around their recipe lr,
# RMSNorm (LN's kin) around 1.8e-3
LN_KIN = [n["name"] for n in NORM_ROWS[1:] if n["kin"] == REFERENCE]
LONG = {REFERENCE: around(RECIPE_LR[REFERENCE]), **dict.fromkeys(LN_KIN, around(1.8e-3)),
        CORE[1]: around(RECIPE_LR[CORE[1]])}
# The held-out-seed protocol (protocol.py): the points' `seeds` are its selection seeds, `best_seeds`
# its evaluation seeds, run at the chosen lr only. 8,000 steps: LN, RMSNorm, DyT, Derf and both DyISRU
# kinds chosen on seeds 1 and 2, evaluated on 3, 4 and 5.
EVAL_SEEDS = (3, 4, 5)
AT_8000 = {**AROUND_FRONTIER, **{n["name"]: around(n["recipe"]["lr"]) for n in NORM_ROWS
                                  if n["softplus"] and n["scalar"] == "beta"}}
PLAN = [
    Point(8000, 128, AT_8000, (1, 2), EVAL_SEEDS),
    # the seed author's second metric: a separate alpha0 for the attention norms (L2: ln_1 at 0.5 and
    # 2 beside the recipe's 1 everywhere, L1), at each surrogate's best lr at 2,000 steps
    Point(8000, 128, {n["name"]: (n["recipe"]["lr"],) for n in NORM_ROWS if n["scalar"] and not n["softplus"]}, (1, 2),
          folder="steps8000_w128_l2", extra="--inits 1 --init2 ln1:0.5,2"),
    # 32,000 steps: LN's val loss rises over its last ~3,000 steps (the 1 M training characters seen
    # 25 times), so a lower lr wins on the final loss only by overfitting later; the grid stopped at
    # what had run
    Point(32000, 128, LONG, (1,), grow=False),
    # evaluation seeds at the best (chosen on seed 1) of each norm that ran 32,000 steps without
    # dropout: the headline (DyT ending level with LN there) must not rest on one seed
    Point(32000, 128, LONG, (1,), (2, 3, 4), grow=False),
    # the length again with dropout 0.1 for every norm, each at its best lr at 8,000 steps (one lr,
    # one seed: the budget)
    Point(32000, 128, "steps8000_w128", (1,), folder="steps32000_w128_dropout", train="--dropout 0.1", reach=0),
    Point(2000, 64, AROUND_FRONTIER, (1, 2)),
    Point(2000, 256, AROUND_FRONTIER, (1, 2)),
    Point(8000, 64, AROUND_FRONTIER, (1, 2)),
    Point(8000, 256, "steps2000_w256", (1,), reach=0),  # each norm at its best 256 wide at 2,000 steps
]
NORMS = [n["name"] for n in NORM_ROWS if n["name"] in AT_8000]  # the registry's order

# The ViT on Fashion-MNIST (docs/vision.md): LN, DyT and Derf over the quarter-decade grid from 3e-4
# to 1e-2 (the optimum and the collapse), seed 1 of every norm first, then seed 2, and a third at
# each one's best.
VISION_GRID = {n: (3e-4, 5.6e-4, 1e-3, 1.8e-3, 3.2e-3, 5.6e-3, 1e-2) for n in CORE}
# The other four norms, for the seven norms' table at their defaults: three lrs around the best of
# their kin (RMSNorm: LN's 5.6e-4; DyTsp: DyT's 5.6e-3; the DyISRU kinds: Derf's 3.2e-3), seed 1, the
# grid grown while the best sits on its edge, then seeds 2 and 3 at the best.
# The ViT study's bests (docs/vision.md), by name: a norm added since, whose kin has no best yet, is left
# out of the kin point until its kin's grid has run.
VISION_CORE_BEST = {"ln": 5.6e-4, "dyt": 5.6e-3, "derf": 3.2e-3}
VISION_KIN = {n["name"]: around(VISION_CORE_BEST[n["kin"]]) for n in NORM_ROWS
              if n["name"] not in CORE and n["kin"] in VISION_CORE_BEST}
VISION = [Point(2000, None, VISION_GRID, (1,), folder="frontier"),
          Point(2000, None, VISION_GRID, (1, 2), (3,), folder="frontier"),
          Point(2000, None, VISION_KIN, (1,), (2, 3), folder="frontier"),
          # The same grid again, its lr chosen on the validation split (the training file's last sixth;
          # the runs above chose on the test split): seeds 1 and 2 choose, 3, 4 and 5 report. The other
          # four norms follow once these core bests are in (their kin's best on validation).
          Point(2000, None, VISION_GRID, (1,), folder="val"),
          Point(2000, None, VISION_GRID, (1, 2), (3, 4, 5), folder="val")]

# What would make the surrogates as stable as LayerNorm (docs/stability.md): LN, DyT and Derf at
# 2,000 steps over the frontier's quarter-decade grid from 1.8e-3 to 3e-2 under each intervention
# alone (the baseline is the frontier, results/stability/frontier): qk-norm of LN's kind and of the
# norm's own, z-loss 1e-4, both soft caps (Gemma 2's 50 and 30), LN as the final norm, Muon (over its
# own lr, the rest at each norm's default lr). Seed 1 of every intervention first, then seed 2, and a
# third seed at each one's best.
STABLE = tuple(CORE)
STABLE_GRID = (1.8e-3, 3.2e-3, 5.6e-3, 1e-2, 1.8e-2, 3e-2)
MUON_GRID = (5.6e-3, 1e-2, 1.8e-2, 3e-2, 5.6e-2)
INTERVENTIONS = [  # (folder, norms, train options; "{norm}" is the norm's name, the lr axis)
    ("qk_ln", STABLE, f"--qk-norm={REFERENCE}", "lr"),
    ("qk_own", STABLE[1:], "--qk-norm={norm}", "lr"),
    ("z_loss", STABLE, "--z-loss=1e-4", "lr"),
    ("softcap", STABLE, "--attn-softcap=50 --logit-softcap=30", "lr"),
    ("final_ln", STABLE[1:], f"--final-norm={REFERENCE}", "lr"),
    ("muon", STABLE, "--optim=muon", "muon-lr"),
]


def intervention_points(seeds, best_seeds):
    return [Point(2000, None, {norm: MUON_GRID if axis != "lr" else STABLE_GRID}, seeds, best_seeds, folder=name,
                  train=train.format(norm=norm), axis=axis)
            for name, norms, train, axis in INTERVENTIONS for norm in norms]


# chosen on seeds 1 and 2, evaluated on 3, 4 and 5 (the held-out-seed protocol's three at least)
INTERVENTION_PLAN = intervention_points((1,), ()) + intervention_points((1, 2), (3, 4, 5))

PLANS = {"scaling": (PLAN, NORMS), "vision": (VISION, [n for n in norm_names() if n in VISION_GRID or n in VISION_KIN]),
         "interventions": (INTERVENTION_PLAN, list(STABLE))}


def folder(p):
    return p.folder or f"steps{p.steps}_w{p.width}"


def sweep_args(p, norm, lrs, seeds):
    """The sweep's arguments for one norm's lrs and seeds at a point (without OUT, --train, --jobs, data)."""
    width = f" -- --n-embd {p.width} --n-head {p.width // 32}" if p.width else " --"
    values = ",".join(f"{x:g}" for x in lrs)
    axis = f"--lrs {values}" if p.axis == "lr" else f"--opt {p.axis}={values}"
    return (f"--steps {p.steps} --norms {norm} {axis} "
            f"--seeds {','.join(map(str, seeds))} {p.extra}{width} {p.train}").replace("  ", " ").rstrip()


def lr_of(r, axis="lr"):
    """A run's value on the point's lr axis: its --lr, or the --opt it ran with (results.csv's opts)."""
    if axis == "lr":
        return float(r["lr"])
    return float(dict(kv.split("=", 1) for kv in r.get("opts", "").split())[axis])


def jobs_of(p, args):
    """The sweep's job names for ARGS at point P (the sweep names them: one rule, in sweep.expand)."""
    words = args.split()
    grid = words[:words.index("--")] if "--" in words else words
    return [j[0] for j in expand(parser().parse_args(["run", folder(p), *grid]))]


def best_lr(runs, lrs, seeds, axis="lr"):
    """The lr of the lowest mean whole val over SEEDS among LRS (None while one of them is missing)."""
    means = {}
    for lr in lrs:
        at = [sr.loss(r) for r in runs if lr_of(r, axis) == lr and int(r["seed"]) in seeds]
        if len(at) < len(seeds):
            return None
        means[lr] = sum(at) / len(at)
    return min(means, key=means.get)


def beyond(lr, lrs):
    """The grid's next lr past LR on the side of LRS it is the edge of (None: inside, or the grid's end)."""
    if len(lrs) < 2 or lr not in (min(lrs), max(lrs)):
        return None
    i = min(range(len(GRID)), key=lambda k: abs(GRID[k] / lr - 1))
    j = i - 1 if lr == min(lrs) else i + 1
    return GRID[j] if 0 <= j < len(GRID) else None


def steps_of(p, norm, runs, settled):
    """The next sweep (args) one norm needs at one point, or None; and whether its best is settled."""
    base = p.lrs.get(norm) if isinstance(p.lrs, dict) else None
    if not isinstance(p.lrs, dict):
        near = settled.get((p.lrs, norm))  # p.lrs names the neighbour's folder
        if near is None:
            return None, False  # the neighbour's best is not known yet
        i = GRID.index(near)
        base = tuple(GRID[max(0, i - p.reach):i + p.reach + 1])
    if base is None:
        return None, True
    lrs = sorted(set(base) | {lr_of(r, p.axis) for r in runs})  # with the edge extensions that ran
    for extra in (base, lrs):
        args = sweep_args(p, norm, extra, p.seeds)
        if set(jobs_of(p, args)) - {r["job"] for r in runs}:
            return args, False
    lr = best_lr(runs, lrs, p.seeds, p.axis)
    nxt = beyond(lr, lrs) if p.grow else None
    if nxt is not None:
        return sweep_args(p, norm, [nxt], p.seeds), False
    settled[(folder(p), norm)] = min(GRID, key=lambda g: abs(g / lr - 1))
    if p.best_seeds:
        args = sweep_args(p, norm, [lr], p.best_seeds)
        if set(jobs_of(p, args)) - {r["job"] for r in runs}:
            return args, True
    return None, True


def held(out, job):
    """Whether a running sweep holds JOB (its lock under OUT/logs)."""
    path = os.path.join(out, "logs", job + ".lock")
    if not os.path.exists(path):
        return False
    f = lock(path)
    if f is None:
        return True
    f.close()
    return False


def todo(study="scaling", out=None):
    """(lines to run, whether some of the study's jobs are running elsewhere)."""
    plan, norms = PLANS[study]
    out = out or os.path.join(sr.ROOT, "results", study)
    lines, busy, settled = [], False, {}
    for p in plan:
        d = os.path.join(out, folder(p))
        rows = sr.read_csv(os.path.join(d, "results.csv"))
        done = done_jobs(os.path.join(d, "results.csv"))
        for norm in norms:
            args, _ = steps_of(p, norm, [r for r in rows if r["norm"] == norm], settled)
            if args is None:
                continue
            free = [j for j in jobs_of(p, args) if j not in done and not held(d, j)]
            if free:
                lines.append(f"{folder(p)} {args}")
            else:
                busy = True
    return lines, busy


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in PLANS:
        print(__doc__)
        return 2
    lines, busy = todo(argv[0])
    if lines:
        print("\n".join(lines))
    return 3 if busy and not lines else 0


if __name__ == "__main__":
    sys.exit(main())
