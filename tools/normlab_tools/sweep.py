#!/usr/bin/env python3
"""Sweeps of the train program: a grid of runs, a results table, a summary per norm, and plots.

  sweep.py run OUT [grid options] [-- train options]   run the grid's jobs into OUT (resumable)
  sweep.py summary OUT                                  tables per norm from OUT/results.csv
  sweep.py plots OUT [--to DIR]                         PNG and SVG from the results and logs (matplotlib), and
                                                        every run in DIR/report (tools/compare_runs.py)
  sweep.py table OUT                                    every configuration: mean and spread over seeds

The grid is norms x learning rates x initial values x seeds. With no grid options a job runs exactly
what `./train --norm=NORM --seed=S --steps=N` runs: each norm's defaults (its recipe and its
default lr, as ./train --help lists them; the schedule ./train uses, cosine to lr/10); every option
given only overrides, and each job's effective options are in OUT/logs/<job>.config.
  --lrs 1e-3,3e-3        peak learning rates (default: each norm's own; the job is then named
                         NORM_lrdefault_..., and results.csv's lr column holds the lr it ran at)
Initial values (the surrogates only; default: the recipe's):
  --inits 0.5,1,2        1-D: the effective alpha0 at every norm position (dyisru kinds get
                         beta0 = 1/alpha0^2: the same slope at 0)
  --raw-inits=-2,-1,1    the softplus kinds only: the stored raw value, effective = softplus(raw)
                         (alpha for dytsp, beta for dyisrusp; write it with '=' when the list
                         starts with a minus sign, or argparse takes it for an option)
  --init2 ln2:0.5,2,3    2-D: for every 1-D value, one position (ln1, ln2 or lnf) takes each of these
                         instead (alpha0-scale values, like --inits)
ln and rmsnorm have no initial value: they run once per learning rate and seed.
  --opt NAME=V1,V2       one more axis: any train option (without its dashes) over these values;
                         repeat it for more axes (--opt emb-scale=8,11.3 --opt scalar-lr-mult=1,10);
                         NAME1+NAME2=V1,V2 gives both options each value together.
                         The job's name gets _NAME-V, results.csv's opts column "NAME=V ...".

Jobs run --jobs at a time, the cores split between them (--threads each). A job is written to
OUT/results.csv only when it has finished, so an interrupted sweep run again skips what is done and
redoes the rest; a job cut short goes on from its last checkpoint (every 500 steps, and on
SIGINT/SIGTERM: OUT/logs/<job>.part.safetensors), and its log is the one an uninterrupted run
writes. Each job's log is OUT/logs/<job>.csv (the train program's --log) and its output
OUT/logs/<job>.out. A running job holds OUT/logs/<job>.lock, so several sweeps into one folder at once
(one command in two shells, a study's two streams) share its jobs and never run one twice.

Across hosts: `mpirun -np N --hostfile H python3 tools/sweep.py run OUT ...` makes N sweep
workers; worker k runs the grid's jobs k, k+N, k+2N, ... (whole training runs, each alone), --jobs
at a time with the host's cores split among its workers' jobs. OUT (and the train program, and the
data) must be reachable at the same path on every host (a shared folder that takes POSIX locks, as
NFS does: the rows are appended under a lock). docs/distributed.md.

results.csv, one row per job: job, norm, lr, init_kind (none|alpha0|raw), init (the value given),
init_pos and init_pos_value (the 2-D grid's separate position), seed, steps, best_val (best 20-batch
val estimate), best_step, final_val (the last evaluation), full_val (the whole val split, at the end),
final_train (mean train loss of the last 50 steps), nonfinite (the run stopped on a NaN/Inf),
diverged (nonfinite, or final_val > 1.1 x best_val), diverge_step (where the training loss blew up,
as divergence.py says, whether or not the run recovered; for a diverged run whose loss shows none,
the first evaluation above 1.1 x the best so far), spikes, wall_s, tokens_per_sec (median over the steps), exit; for runs that blew up
(divergence.py) diverge_layer, first_moved (the instrument family that moved first), lead_steps
(how many steps before the blow-up) and moves (every series' first move near it, "family:where@step"); and the extremes the instruments reached: peak_attn_logit
(over blocks), min_attn_entropy (the lowest head's, over blocks), peak_log_z (log_z_max), peak_sat2;
full_acc (the accuracy over the whole evaluation split at the end: the ViT's validation accuracy),
best_acc (the best evaluation's), and test_loss and test_acc (an image set's test split, read once at
the end: report it for a setting chosen on the validation split, never choose on it).

  sweep.py refresh OUT     recomputes every row's outcome from its log (after this tool changed);
                           refuses while a sweep runs into OUT

summary: per norm, over every learning rate of the grid (--base-lr X: at X only), L1 (the best
mean-over-seeds loss of one init everywhere: the 1-D grid, or the recipe's init), L2 (the best over
the 2-D grid, 1-D values included), I1/I2 (fraction of those runs whose loss exceeds 1.1 x L1/L2, or
that went non-finite), S1/S2 (mean loss of the other runs, minus L1/L2), best lr, the largest stable
learning rate (the largest whose seeds all finish finite and within 1.1 x the norm's best mean over
the lr sweep, taken at the init run at the most learning rates), and the seed spread (std over
seeds, median over configurations). "Loss" is best_val; --metric full_val uses the whole val split.
"""
import argparse
import concurrent.futures
import csv
import fcntl
import io
import json
import math
import os
import signal
import statistics
import struct
import subprocess
import sys
import time

from . import divergence, protocol
from .files import alone_env, read_config, read_log, safe_name, write_file
from .registry import norm_names, norm_scalars, train_program

NORMS = norm_names()  # from the train program (./train --registry), in its registry's order
SURROGATES = norm_scalars()  # the element-wise norms and their scalar: alpha or beta
POSITIONS = {"ln1": "ln1", "ln2": "ln2", "lnf": "lnf"}
FIELDS = ["job", "norm", "lr", "init_kind", "init", "init_pos", "init_pos_value", "opts", "seed", "steps",
          "best_val", "best_step", "final_val", "full_val", "final_train", "nonfinite", "diverged",
          "diverge_step", "spikes", "wall_s", "tokens_per_sec", "exit", "diverge_layer", "first_moved", "lead_steps", "moves",
          "peak_attn_logit", "min_attn_entropy", "peak_log_z", "peak_sat2", "full_acc", "best_acc", "test_loss", "test_acc"]
UNSTABLE = 1.1  # a loss above 1.1 x the best counts as unstable (the I and S metrics: docs/training.md, docs/stability.md)


def softplus(x):
    return max(x, 0) + math.log1p(math.exp(-abs(x)))


def floats(text):
    return [float(v) for v in text.split(",") if v.strip()] if text else []


def fmt(v):
    return f"{v:g}"


def cell(v):
    """A results.csv cell: floats to 6 significant digits, the rest as they are."""
    return f"{v:.6g}" if isinstance(v, float) else v


# ---- the grid -------------------------------------------------------------------------------------
def scalar_args(norm, value, pos=None, raw=False):
    """The train options giving a norm's scalar the value (alpha0 scale, or raw for softplus kinds)."""
    kind = SURROGATES[norm]
    suffix = f"-{pos}" if pos else ""
    if raw:
        return [f"--{kind}0{suffix}={softplus(value):.10g}"]
    if kind == "alpha":
        return [f"--alpha0{suffix}={fmt(value)}"]
    return [f"--beta0{suffix}={1 / value ** 2:.10g}"]


def opt_axes(a):
    """The --opt axes as every combination: lists of (name, value)."""
    combos = [[]]
    for spec in a.opt or []:
        name, _, values = spec.partition("=")
        name = name.lstrip("-")
        if not name or not values:
            sys.exit(f"sweep: error: --opt takes NAME=V1,V2,..., got {spec}")
        combos = [c + [(name, v.strip())] for c in combos for v in values.split(",") if v.strip()]
    return combos


def expand(a):
    """The jobs of the grid: (job id, fields, train arguments)."""
    jobs = []
    combos = opt_axes(a)
    for norm in a.norms.split(","):
        if norm not in NORMS:
            sys.exit(f"sweep: error: unknown norm {norm} ({'|'.join(NORMS)})")
        inits = [("none", None)]
        if norm in SURROGATES:
            inits = [("alpha0", v) for v in floats(a.inits)] or [("none", None)]
            if norm.endswith("sp"):
                inits += [("raw", v) for v in floats(a.raw_inits)]
        second = [(None, None)]
        if a.init2 and norm in SURROGATES:
            pos, _, values = a.init2.partition(":")
            if pos not in POSITIONS:
                sys.exit(f"sweep: error: --init2 takes ln1|ln2|lnf:values, got {a.init2}")
            second += [(pos, v) for v in floats(values)]
        for lr in floats(a.lrs) or [None]:  # None: the norm's default lr (./train --help)
            for kind, value in inits:
                for pos, pv in second:
                    if pos and (kind != "alpha0" or pv == value):
                        continue  # the 2-D grid is over alpha0-scale values; its diagonal is the 1-D grid
                    for combo, seed in [(c, int(s)) for c in combos for s in a.seeds.split(",")]:
                        args = [f"--norm={norm}", f"--seed={seed}", f"--steps={a.steps}"]
                        if lr is not None:
                            args.append(f"--lr={fmt(lr)}")
                        name = f"{norm}_lr{'default' if lr is None else fmt(lr)}"
                        if kind == "alpha0":
                            args += scalar_args(norm, value)
                            name += f"_a{fmt(value)}"
                        elif kind == "raw":
                            args += scalar_args(norm, value, raw=True)
                            name += f"_raw{fmt(value)}"
                        if pos:
                            args += scalar_args(norm, pv, pos)
                            name += f"_{pos}-{fmt(pv)}"
                        for k, v in combo:
                            args += [f"--{one}={v}" for one in k.split("+")]
                            name += f"_{k}-{v}"
                        name = safe_name(name + f"_s{seed}")  # an --opt value may hold any character
                        fields = {"job": name, "norm": norm, "lr": "" if lr is None else fmt(lr), "init_kind": kind,
                                  "init": "" if value is None else fmt(value), "init_pos": pos or "",
                                  "init_pos_value": "" if pv is None else fmt(pv),
                                  "opts": " ".join(f"{k}={v}" for k, v in combo), "seed": seed, "steps": a.steps}
                        jobs.append((name, fields, args))
    return jobs


# ---- one job --------------------------------------------------------------------------------------
def outcome(log_path, steps):
    """What a finished job's log says: best/final val, divergence (divergence.py), spikes."""
    rows, _ = read_log(log_path)  # a torn last row (the run was killed) is left out
    with open(log_path) as f:
        columns = next(csv.reader(f), [])
    out_path = log_path[:-len(".csv")] + ".out"
    out_text = open(out_path, errors="replace").read() if os.path.exists(out_path) else ""
    evals = [(int(r["step"]), r["loss"]) for r in rows if r["kind"] == "eval_val"]
    train = [r for r in rows if r["kind"] == "train"]
    full = [r["loss"] for r in rows if r["kind"] == "eval_val_full"]
    test = [r for r in rows if r["kind"] == "eval_test_full"]  # an image set's test split: never chosen on
    accs = [(r["kind"], r.get("accuracy", math.nan)) for r in rows if r["kind"] in ("eval_val", "eval_val_full")]
    full_acc = [a for k, a in accs if k == "eval_val_full" and math.isfinite(a)]
    best_acc = [a for k, a in accs if k == "eval_val" and math.isfinite(a)]
    nonfinite = [int(r["step"]) for r in train if not math.isfinite(r["loss"])]
    finite_evals = [(s, v) for s, v in evals if math.isfinite(v)]
    best_step, best = min(finite_evals, key=lambda e: e[1]) if finite_evals else (-1, math.inf)
    final = evals[-1][1] if evals else math.inf
    if nonfinite:
        final = math.inf
    diverge_step, running = "", math.inf
    for s, v in evals:
        if not math.isfinite(v) or v > UNSTABLE * running:
            diverge_step = s
            break
        running = min(running, v)
    if nonfinite:
        diverge_step = nonfinite[0] if diverge_step == "" else min(diverge_step, nonfinite[0])
    diverged = bool(nonfinite) or final > UNSTABLE * best
    step, where = divergence.analyse(rows, columns, out_text)
    if step is not None or not diverged:
        diverge_step = "" if step is None else step
    last = [r["loss"] for r in train[-50:] if math.isfinite(r["loss"])]
    speed = [r["tokens_per_sec"] for r in train if r.get("tokens_per_sec", 0) > 0]
    return {**where, **divergence.peaks(rows, columns), "best_val": best, "best_step": best_step, "final_val": final,
            "full_val": full[-1] if full else math.inf,
            "final_train": statistics.mean(last) if last else math.inf,
            "nonfinite": int(bool(nonfinite)), "diverged": int(diverged),
            "diverge_step": diverge_step, "spikes": int(train[-1]["spikes"]) if train else 0,
            "tokens_per_sec": statistics.median(speed) if speed else "",
            "full_acc": full_acc[-1] if full_acc else "", "best_acc": max(best_acc) if best_acc else "",
            "test_loss": test[-1]["loss"] if test else "", "test_acc": test[-1].get("accuracy", "") if test else ""}


def workers():
    """(this worker, how many, how many on this host) when mpirun started several; else (0, 1, 1)."""
    env = os.environ
    for rank, size, local in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE"),
                              ("PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS")):
        if env.get(size):
            return int(env.get(rank, 0)), int(env[size]), int(env.get(local) or env[size])
    return 0, 1, 1


SAVE_EVERY = 500  # steps between a job's checkpoints (a few minutes of the longest runs)


def part_path(out, name):
    """Where a job's checkpoint lives while it runs: a job cut short (the sweep stopped, the machine
    gone) resumes from it, and it goes when the job's row is written."""
    return os.path.join(out, "logs", name + ".part.safetensors")


def resume_point(part, log):
    """The step of a cut-short job's checkpoint and the seconds its steps took (the train program,
    resumed, cuts its log back to that step itself); None when there is nothing to resume."""
    if not (os.path.exists(part) and os.path.exists(log)):
        return None
    try:
        with open(part, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            step = int(json.loads(f.read(n))["__metadata__"]["step"])
    except (OSError, ValueError, KeyError, struct.error):
        return None  # not a checkpoint the train program wrote whole: start again
    rows = [r for r in read_log(log)[0] if r.get("step", math.inf) <= step]
    if not rows:
        return None
    elapsed = rows[-1].get("elapsed_sec", math.nan)  # the train program's clock goes on across a resume
    return step, elapsed if math.isfinite(elapsed) else 0


def run_job(job, out, train_bin, threads, extra, stop):
    name, fields, args = job
    log, txt = os.path.join(out, "logs", name + ".csv"), os.path.join(out, "logs", name + ".out")
    cmd = [train_bin, *args, f"--threads={threads}", f"--log={log}", "--quiet", "--sample=0", *extra]
    before, resumed = 0, False  # seconds the steps of the job's earlier legs took
    if not any(a.startswith("--save") or a.startswith("--resume") for a in cmd):
        part = part_path(out, name)
        cmd += [f"--save={part}", f"--save-every={SAVE_EVERY}"]
        point = resume_point(part, log)
        if point:
            cmd.append(f"--resume={part}")
            before, resumed = point[1], True
        elif os.path.exists(part):
            os.remove(part)
    env = alone_env()  # a sweep worker under mpirun runs each train program alone
    t0 = time.monotonic()
    with open(txt, "a" if resumed else "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        while p.poll() is None:
            if stop[0]:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait()
                return None
            time.sleep(0.2)
    row = dict(fields, wall_s=f"{before + time.monotonic() - t0:.1f}", exit=p.returncode)
    if not row["lr"]:  # the norm's default: the one the run took, as its .config says
        row["lr"] = read_config(log[:-len(".csv")] + ".config").get("lr", "")
    if p.returncode not in (0, 1) or not os.path.exists(log):
        row.update(best_val=math.inf, final_val=math.inf, full_val=math.inf, final_train=math.inf,
                   nonfinite=0, diverged=1, diverge_step="", spikes=0, best_step=-1)
    else:
        row.update(outcome(log, fields["steps"]))
    return row


SKIPPED = "skipped"  # another sweep holds the job or has finished it


def run_claimed(job, out, results, *run_args):
    """Runs a job that no other sweep runs or has finished, and appends its row, under the job's lock;
    SKIPPED when another sweep has it, None when interrupted."""
    held = lock(os.path.join(out, "logs", job[0] + ".lock"))
    if held is None:
        return SKIPPED
    with held:
        if job[0] in done_jobs(results):  # finished by another sweep since this one read results.csv
            return SKIPPED
        row = run_job(job, out, *run_args)
        if row is not None:
            append_row(results, row)
            if os.path.exists(part_path(out, job[0])):
                os.remove(part_path(out, job[0]))
        return row


def done_jobs(results):
    if not os.path.exists(results):
        return set()
    with open(results) as f:
        return {r["job"] for r in csv.DictReader(f)}


def lock(path, exclusive=True):
    """A lock on the file PATH (None: another process holds it). A job takes its own exclusively while
    it runs, so sweeps into one folder (one command run twice, two streams, mpirun's workers) share
    the work and never run a job twice; every sweep holds its folder's shared, a refresh exclusively."""
    f = open(path, "w")
    try:
        fcntl.flock(f, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def append_row(results, row):
    """Appends a job's row to results.csv under a lock (the workers of a sweep share the file), with
    the header first when the file is new, in the columns of a file an older version wrote."""
    fd = os.open(results, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)  # never through a link
    with os.fdopen(fd, "a+", newline="") as f:
        fcntl.lockf(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            fields = next(csv.reader(f), None) or FIELDS
            f.seek(0, os.SEEK_END)
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if f.tell() == 0:
                w.writeheader()
            w.writerow({k: cell(row.get(k, "")) for k in fields})
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


def cmd_refresh(a):
    results = os.path.join(a.out, "results.csv")
    held = lock(os.path.join(a.out, ".sweep.lock")) if os.path.isdir(a.out) else None
    if held is None:
        sys.exit(f"sweep: error: {a.out} does not exist or a sweep is running into it")
    with open(results) as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames) + [k for k in FIELDS if k not in reader.fieldnames]
        rows = list(reader)
    n = 0
    for r in rows:
        log = os.path.join(a.out, "logs", r["job"] + ".csv")
        if os.path.exists(log) and r["exit"] in ("0", "1"):
            r.update({k: cell(v) for k, v in outcome(log, int(r["steps"])).items()})
            n += 1
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    write_file(results, buf.getvalue())
    print(f"sweep: {n} of {len(rows)} rows recomputed from their logs in {results}")
    return 0


def cmd_run(a, extra):
    os.makedirs(os.path.join(a.out, "logs"), exist_ok=True)
    rank, size, local = workers()
    me = f"sweep (worker {rank} of {size})" if size > 1 else "sweep"
    held = lock(os.path.join(a.out, ".sweep.lock"), exclusive=False)
    if held is None:
        sys.exit(f"sweep: error: a refresh is rewriting {a.out}/results.csv; run again when it is done")
    results = os.path.join(a.out, "results.csv")
    train_bin = a.train or train_program()
    if not os.access(train_bin, os.X_OK):
        sys.exit(f"{me}: error: {train_bin} is not built yet: run ./train --help once (it builds), or pass --train")
    jobs = expand(a)
    mine = jobs[rank::size]  # the grid's order is the same for every worker
    done = done_jobs(results)
    todo = [j for j in mine if j[0] not in done]
    threads = a.threads or max(1, (os.cpu_count() or 1) // (a.jobs * local))
    share = f", {len(mine)} of them this worker's" if size > 1 else ""
    print(f"{me}: {len(jobs)} jobs in the grid{share}, {len(mine) - len(todo)} already done, {len(todo)} to run, "
          f"{a.jobs} at a time with {threads} thread(s) each", flush=True)
    stop = [False]
    t0 = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(a.jobs)
    futures = [pool.submit(run_claimed, j, a.out, results, train_bin, threads, extra, stop) for j in todo]
    n = skipped = 0
    who = f"worker {rank}: " if size > 1 else ""
    try:
        for job, fut in zip(todo, futures):  # in the grid's order: a job's row is appended as it ends
            row = fut.result()
            if row is None:
                continue
            if row == SKIPPED:
                skipped += 1
                print(f"{who}{job[0]}: another sweep runs it or has finished it; skipped", flush=True)
                continue
            n += 1
            eta = (time.monotonic() - t0) / n * (len(todo) - n - skipped)
            print(f"{who}[{n}/{len(todo)}] {row['job']}: best val "
                  f"{row['best_val']:.4f}{' DIVERGED at ' + str(row['diverge_step']) if row['diverged'] else ''}"
                  f" ({row['wall_s']} s; ETA {eta / 60:.0f} min)", flush=True)
    except KeyboardInterrupt:
        stop[0] = True
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=True)
        print(f"\n{me}: interrupted; {n} jobs finished this time. Run the same command again to go on.")
        return 130
    pool.shutdown()
    print(f"{me}: done, {n} jobs in {(time.monotonic() - t0) / 60:.1f} min; results in {results}")
    return 0


# ---- summary --------------------------------------------------------------------------------------
def load_results(out):
    """results.csv's rows, numbers as numbers. A row that is not whole (torn, or hand-edited) is left
    out with a warning naming its line; a file without the needed columns is an error, not a traceback."""
    path = os.path.join(out, "results.csv")
    if not os.path.exists(path):
        sys.exit(f"sweep: error: {path} does not exist (run the sweep first)")
    with open(path, errors="replace", newline="") as f:
        reader = csv.DictReader(f)
        need = {"job", "norm", "lr", "seed", "steps", "best_val", "diverged"}
        missing = need - set(reader.fieldnames or [])
        if missing:
            sys.exit(f"sweep: error: {path} is not a sweep's results.csv: no {', '.join(sorted(missing))} column")
        rows, bad = [], []
        for n, r in enumerate(reader, 2):
            try:
                for k in ("init_kind", "init", "init_pos", "init_pos_value", "opts"):
                    r[k] = r.get(k) or ("none" if k == "init_kind" else "")  # results from before these columns
                if r["norm"] not in NORMS:
                    raise ValueError(r["norm"])
                for k in ("lr", "best_val", "final_val", "full_val", "final_train", "wall_s"):
                    r[k] = float(r[k] if k in ("lr", "best_val") else r.get(k) or "inf")
                for k in ("seed", "steps", "nonfinite", "diverged", "spikes"):
                    r[k] = int(r[k] if k in ("seed", "steps", "diverged") else r.get(k) or 0)
                rows.append(r)
            except (TypeError, ValueError):
                bad.append(n)
    if bad:
        print(f"sweep: warning: {path}: line{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))} "
              f"not whole (a torn or edited row): left out", file=sys.stderr)
    return rows


def config_key(r):
    return (r["norm"], r["lr"], r["init_kind"], r["init"], r["init_pos"], r["init_pos_value"], r["opts"], r["steps"])


def by_config(rows):
    groups = {}
    for r in rows:
        groups.setdefault(config_key(r), []).append(r)
    return groups


def loss_of(r, metric):
    v = r[metric]
    return v if r["nonfinite"] == 0 and math.isfinite(v) else math.inf


def mean(values):
    return statistics.mean(values) if values else math.nan


def grid_metrics(runs, metric):
    """L (best mean over seeds per config), I (unstable fraction), S (mean of stable minus L)."""
    configs = by_config(runs)
    means = {k: mean([loss_of(r, metric) for r in v]) for k, v in configs.items()}
    L = min(means.values())
    losses = [loss_of(r, metric) for r in runs]
    unstable = [x for x in losses if not x <= UNSTABLE * L]
    stable = [x for x in losses if x <= UNSTABLE * L]
    return L, len(unstable) / len(losses), mean(stable) - L, min(configs, key=lambda k: means[k])


def run_args(key):
    """The grid options that run exactly the configuration KEY (config_key's tuple)."""
    norm, lr, kind, init, pos, pv, opts, steps = key
    args = f"--norms {norm} --lrs {lr:g} --steps {steps}"
    if kind != "none":
        args += f" --{'inits' if kind == 'alpha0' else 'raw-inits'}={init}"
    if pos:
        args += f" --init2 {pos}:{pv}"
    return args + "".join(f" --opt {kv}" for kv in opts.split())


def describe(key):
    norm, lr, kind, init, pos, pv, opts, steps = key
    s = f"lr {lr:g}"
    if kind == "alpha0":
        s += f", {SURROGATES[norm]}0 from alpha0 {init}"
    elif kind == "raw":
        s += f", raw {init} (effective {softplus(float(init)):.3g})"
    if pos:
        s += f", {pos} {pv}"
    if opts:
        s += f", {opts}"
    return s


def spread(losses):
    """Std over seeds; NaN with fewer than two or when a run diverged (its loss is inf)."""
    return statistics.stdev(losses) if len(losses) > 1 and all(math.isfinite(x) for x in losses) else math.nan


def ref_key(r):
    """A run's initial value and options, as reference_init compares them ("" init: the recipe's)."""
    return (r["init"] if r["init_kind"] == "alpha0" else "", r["opts"])


def reference_init(rows, norm):
    """The runs a norm's lr sweep, curves and inside plots use, as (init, opts): the initial value
    and --opt setting run at the most learning rates (ties: alpha0 0.5, then no options, then the
    largest alpha0), so runs of other settings are not averaged in. Raw and 2-D runs never are."""
    at = {}
    for r in rows:
        if r["norm"] == norm and not r["init_pos"] and r["init_kind"] in ("none", "alpha0"):
            at.setdefault(ref_key(r), set()).add(r["lr"])
    if not at:
        return ("", "")
    return max(at, key=lambda k: (len(at[k]), k[0] == "0.5", k[1] == "", float(k[0] or 0)))


def at_reference(r, ref):
    """Whether r is one of the reference runs (reference_init)."""
    return not r["init_pos"] and r["init_kind"] in ("none", "alpha0") and ref_key(r) == tuple(ref)


def summarize(rows, base_lr, metric):
    """Per norm: the numbers of the summary table, and the lr sweep's per-lr means."""
    out = {}
    for norm in NORMS:
        mine = [r for r in rows if r["norm"] == norm]
        if not mine:
            continue
        at_base = [r for r in mine if base_lr is None or r["lr"] == base_lr]
        one_d = [r for r in at_base if not r["init_pos"]]
        two_d = [r for r in at_base if r["init_kind"] == "alpha0"] if any(r["init_pos"] for r in at_base) else []
        init = reference_init(mine, norm)
        lr_sweep = [r for r in mine if at_reference(r, init)]
        s = {"runs": len(mine), "init": init}
        if one_d:
            s["L1"], s["I1"], s["S1"], s["best1"] = grid_metrics(one_d, metric)
        if two_d:
            s["L2"], s["I2"], s["S2"], s["best2"] = grid_metrics(two_d, metric)
        per_lr = {}
        for r in lr_sweep:
            per_lr.setdefault(r["lr"], []).append(r)
        if per_lr:
            lr_means = {lr: mean([loss_of(r, metric) for r in v]) for lr, v in per_lr.items()}
            best = min(lr_means.values())
            stable = [lr for lr, v in per_lr.items()
                      if all(loss_of(r, metric) <= UNSTABLE * best for r in v)]
            s["per_lr"] = {lr: (lr_means[lr], spread([loss_of(r, metric) for r in v]),
                                sum(r["diverged"] for r in v), len(v)) for lr, v in sorted(per_lr.items())}
            s["best_lr"] = min(lr_means, key=lambda lr: lr_means[lr])
            s["max_stable_lr"] = max(stable) if stable else math.nan
        spreads = [x for x in (spread([loss_of(r, metric) for r in v]) for v in by_config(mine).values())
                   if math.isfinite(x)]
        s["spread"] = statistics.median(spreads) if spreads else math.nan
        out[norm] = s
    return out


def lr_per_norm(s, base_lr):
    """The lr each norm's init grid, curves and inside plots show: --base-lr, or the norm's best."""
    return {norm: base_lr if base_lr is not None else v.get("best_lr") for norm, v in s.items()}


def lr_words(base_lr):
    return "each norm's best lr" if base_lr is None else f"lr {base_lr:g}"


def f4(v):
    return "diverged" if v == math.inf else ("-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}")


def held_out(rows, metric, select, evaluate=None):
    """The protocol's table (protocol.py): per norm, the setting chosen on the selection seeds, the
    evaluation seeds' mean and 95% interval there, and the gap to the first norm's (Welch's 95%
    interval; "not resolved" where it holds 0). Returns (selection, evaluation, lines)."""
    seeds = {r["seed"] for r in rows}
    try:
        sel, ev = protocol.split(select, evaluate if evaluate is not None else seeds - set(select))
    except ValueError as e:
        sys.exit(f"sweep: error: {e}")
    loss = lambda r: loss_of(r, metric)
    lines = [f"| norm | chosen on selection seeds {','.join(map(str, sorted(sel)))} | their mean | evaluation seeds "
             "run | evaluation mean +- 95% interval | gap to " + NORMS[0] + " (95% interval) |", "|---|---|---|---|---|---|"]
    ref, todo = None, []
    for norm in NORMS:
        mine = [r for r in rows if r["norm"] == norm]
        c = protocol.choose(mine, sel, config_key, loss) if mine else None
        if c is None:
            if mine:
                lines.append(f"| {norm} | - (no setting has run every selection seed) | | | | |")
            continue
        edge = protocol.on_edge(c.key, c.means, axis=lambda k: k[1], rest=lambda k: k[:1] + k[2:])
        at = [r for r in mine if config_key(r) == c.key and r["seed"] in ev]
        e = protocol.evaluate(mine, ev, config_key, loss, c.key)
        values = [loss(r) for r in at]
        if norm == NORMS[0]:
            ref = values
        g = protocol.format_gap(protocol.gap(values, ref)) if ref is not None and norm != NORMS[0] else "-"
        lines.append(f"| {norm} | {describe(c.key)}" + (" (the grid's edge: a bound)" if edge else "")
                     + f" | {f4(c.mean)} | {','.join(str(r['seed']) for r in sorted(at, key=lambda r: r['seed'])) or 'none'}"
                     + f" | {protocol.format_estimate(e, 4)} | {g} |")
        if e.n + e.lost < protocol.MIN_EVAL:
            todo.append((norm, c.key))
    return sel, ev, lines, todo


def cmd_summary(a):
    rows = load_results(a.out)
    s = summarize(rows, a.base_lr, a.metric)
    steps = sorted({r["steps"] for r in rows})
    select = [int(x) for x in a.select.split(",") if x.strip()]
    sel, ev, lines, todo = held_out(rows, a.metric, select, floats(a.evaluate) if a.evaluate else None)
    print(f"The held-out-seed protocol (loss = {a.metric}): each norm's setting chosen on selection seeds "
          f"{','.join(map(str, sorted(sel)))}; reported on evaluation seeds that took no part "
          f"({','.join(map(str, sorted(ev))) or 'none yet'}): mean and 95% t-interval; a gap is a difference only when "
          "its interval excludes 0.\n")
    print("\n".join(lines))
    if todo:
        print(f"\nFewer than {protocol.MIN_EVAL} evaluation seeds at the chosen setting of "
              f"{', '.join(n for n, _ in todo)}: run them, e.g. (with the sweep's own train options after --)")
        new = ",".join(str(x) for x in range(max(sel | ev | {0}) + 1, max(sel | ev | {0}) + 1 + protocol.MIN_EVAL))
        for norm, key in todo:
            print(f"  tools/sweep.py run {a.out} {run_args(key)} --seeds {new} -- ...")
    print()
    over = "over every lr" if a.base_lr is None else f"at lr {a.base_lr:g} only"
    print(f"{len(rows)} runs ({', '.join(map(str, steps))} steps), loss = {a.metric}; L, I, S {over}\n")
    print("| norm | L1 | I1 | S1 | L2 | I2 | S2 | best lr | largest stable lr | seed spread |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for norm, v in s.items():
        g = lambda k, f=f4: f(v[k]) if k in v else "-"
        pct = lambda x: f"{100 * x:.0f}%"
        print(f"| {norm} | {g('L1')} | {g('I1', pct)} | {g('S1')} | {g('L2')} | {g('I2', pct)} | {g('S2')} | "
              f"{g('best_lr', lambda x: f'{x:g}')} | {g('max_stable_lr', lambda x: f'{x:g}')} | {g('spread')} |")
    print("\nWhere L1 and L2 were reached:")
    for norm, v in s.items():
        for k in ("best1", "best2"):
            if k in v:
                print(f"- {norm} {'1-D' if k == 'best1' else '2-D'}: {describe(v[k])}")
    lrs = sorted({lr for v in s.values() for lr in v.get("per_lr", {})})
    if lrs:
        print("\nThe learning-rate sweep: mean over seeds +- std, (diverged runs of all)\n")
        print("| norm | init | " + " | ".join(f"{lr:g}" for lr in lrs) + " |")
        print("|---|---|" + "---|" * len(lrs))
        for norm, v in s.items():
            cells = []
            for lr in lrs:
                m = v.get("per_lr", {}).get(lr)
                cells.append("-" if not m else f4(m[0]) + (f" +- {m[1]:.3f}" if math.isfinite(m[1]) else "")
                             + (f" ({m[2]}/{m[3]})" if m[2] else ""))
            init_v, opts_v = v["init"]
            init = "-" if not SURROGATES.get(norm) else f"alpha0 {init_v}" if init_v else "recipe"
            init += f", {opts_v}" if opts_v else ""
            print(f"| {norm} | {init} | " + " | ".join(cells) + " |")
    at = lr_per_norm(s, a.base_lr)
    grid = [r for r in rows if r["init_kind"] != "none" and r["lr"] == at.get(r["norm"]) and not r["init_pos"]]
    if grid:
        print(f"\nThe 1-D init grid at {lr_words(a.base_lr)}: mean over seeds (diverged runs of all)\n")
        keys = sorted({(r["init_kind"], float(r["init"])) for r in grid})
        print("| norm | " + " | ".join(f"{'alpha0' if k == 'alpha0' else 'raw'} {v:g}" for k, v in keys) + " |")
        print("|---|" + "---|" * len(keys))
        for norm in NORMS:
            mine = [r for r in grid if r["norm"] == norm]
            if not mine:
                continue
            cells = []
            for k, v in keys:
                rs = [r for r in mine if r["init_kind"] == k and float(r["init"]) == v]
                d = sum(r["diverged"] for r in rs)
                cells.append("-" if not rs else f4(mean([loss_of(r, a.metric) for r in rs])) + (f" ({d}/{len(rs)})" if d else ""))
            print(f"| {norm} | " + " | ".join(cells) + " |")
    return 0


# ---- plots ----------------------------------------------------------------------------------------
# matplotlib, through tools/compare_runs.py's figure code (the same colours, legends, PNG + SVG).
def cmd_plots(a):
    from . import report as cr  # needs matplotlib: python3 -m pip install matplotlib
    plt = cr.plt
    rows = load_results(a.out)
    to = a.to or os.path.join(a.out, "plots")
    os.makedirs(to, exist_ok=True)
    figs = cr.Figures(to)
    norms = [n for n in NORMS if any(r["norm"] == n for r in rows)]
    s = summarize(rows, a.base_lr, a.metric)
    at = lr_per_norm(s, a.base_lr)

    # 1. validation loss over steps and over wall time: base lr, reference init, every seed (a line each)
    for name, x, xlabel in (("val_curves", "step", "step"), ("val_curves_time", "elapsed_sec", "seconds")):
        fig, ax = plt.subplots(figsize=(9, 5))
        n = 0
        for i, norm in enumerate(norms):
            init = reference_init(rows, norm)
            rs = sorted([r for r in rows if r["norm"] == norm and r["lr"] == at[norm] and at_reference(r, init)],
                        key=lambda r: r["seed"])
            for j, r in enumerate(rs):
                log, _ = read_log(os.path.join(a.out, "logs", r["job"] + ".csv"))
                pts = [(float(q[x]), q["loss"]) for q in log if q["kind"] == "eval_val" and q.get(x) is not None]
                if len(pts) >= 2:
                    ax.plot(*zip(*pts), color=cr.color(i, len(norms)), marker=".", linewidth=1.2,
                            label=f"{norm} ({' '.join(str(x) for x in init if x) or 'default'}, {len(rs)} seeds)"
                            if j == 0 else None)
                    n += 1
        ax.set_title(f"Validation loss (20-batch estimate), {lr_words(a.base_lr)}, each norm's reference init, every seed")
        ax.set_xlabel(xlabel), ax.set_ylabel("val loss"), ax.grid(alpha=0.3)
        cr.legend(ax, len(norms))
        figs.save(fig, name, ax.get_title(), n)

    # 2. the stability frontier: best val vs learning rate (mean, min-max over seeds); diverged at the top
    cap = max((r["best_val"] for r in rows if math.isfinite(r["best_val"])), default=5) + 0.2
    fig, ax = plt.subplots(figsize=(9, 5))
    n = 0
    for i, norm in enumerate(norms):
        pts = []
        for lr in sorted(s[norm].get("per_lr", {})):
            vals = [min(loss_of(r, a.metric), cap) for r in rows if r["norm"] == norm and r["lr"] == lr and
                    at_reference(r, s[norm]["init"])]
            if vals:
                pts.append((lr, mean(vals), min(vals), max(vals)))
        if pts:
            lrs, m, lo, hi = zip(*pts)
            ax.errorbar(lrs, m, yerr=[[x - y for x, y in zip(m, lo)], [y - x for x, y in zip(m, hi)]], marker="o",
                        capsize=3, color=cr.color(i, len(norms)), label=norm)
            n += 1
    ax.axhline(cap, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log"), ax.grid(alpha=0.3)
    ax.set_title(f"Best val loss vs learning rate (mean, min-max over seeds; {cap:.2f} = diverged)")
    ax.set_xlabel("peak learning rate"), ax.set_ylabel("best val loss")
    cr.legend(ax, n)
    figs.save(fig, "lr_sweep", ax.get_title(), n)

    # 3 and 4. what alpha does inside, and how much of DyT saturates: base lr, reference init, first seed
    for i, norm in enumerate(n for n in norms if SURROGATES.get(n)):
        init = reference_init(rows, norm)
        rs = sorted([r for r in rows if r["norm"] == norm and r["lr"] == at[norm]
                     and at_reference(r, init)], key=lambda r: r["seed"])
        if not rs:
            continue
        log = [r for r in read_log(os.path.join(a.out, "logs", rs[0]["job"] + ".csv"))[0]
               if r["kind"] == "train" and r.get("ln_f.in_std") is not None]
        if not log:
            continue
        scalar = SURROGATES[norm]
        positions = [k[: -len(".in_std")] for k in log[0] if k.endswith(".in_std")]
        what, name = ("alpha", "alpha_vs_std") if scalar == "alpha" else ("1/sqrt(beta)", "slope_vs_std")
        shown = [p for p in positions if p in ("h0.ln_1", f"h{len(positions) // 2 - 1}.ln_1", "ln_f")]
        fig, ax = plt.subplots(figsize=(9, 5))
        steps = [int(r["step"]) for r in log]
        for c, p in enumerate(shown):
            ys = [r[f"{p}.{scalar}"] if scalar == "alpha" else r[f"{p}.slope"] for r in log]
            inv = [1 / r[f"{p}.in_std"] if r[f"{p}.in_std"] else math.nan for r in log]
            ax.plot(steps, ys, color=f"C{c}", linewidth=2, label=f"{p} {what}")
            ax.plot(steps, inv, color=f"C{c}", linestyle="--", label=f"{p} 1/std(x)")
        ax.set_yscale("log"), ax.grid(alpha=0.3), ax.set_xlabel("step")
        ax.set_title(f"{norm}: {what} against 1/std of its input (lr {at[norm]:g}, "
                     f"{' '.join(str(x) for x in init if x)}, seed {rs[0]['seed']})", fontsize=10)
        cr.legend(ax, 2 * len(shown))
        figs.save(fig, f"{name}_{norm}", ax.get_title(), 2 * len(shown))
        if scalar == "alpha":
            fig, ax = plt.subplots(figsize=(9, 5))
            for c, p in enumerate(positions):
                ax.plot(steps, [r[f"{p}.sat"] for r in log], label=p, linewidth=1.2)
            ax.set_title(f"{norm}: fraction of outputs with |tanh(alpha x)| > 0.99")
            ax.set_xlabel("step"), ax.set_ylabel("saturated fraction"), ax.grid(alpha=0.3)
            cr.legend(ax, len(positions))
            figs.save(fig, f"saturation_{norm}", ax.get_title(), len(positions))

    # 5. the init grid as a heat map: base value x the separate position's value, per norm
    two_d = [r for r in rows if r["lr"] == at.get(r["norm"]) and r["init_kind"] == "alpha0"]
    pos = next((r["init_pos"] for r in two_d if r["init_pos"]), None)
    maps = []
    for norm in norms if pos else []:
        mine = [r for r in two_d if r["norm"] == norm]
        if not any(r["init_pos"] for r in mine):
            continue
        cells = {}
        for r in mine:
            y = float(r["init_pos_value"]) if r["init_pos"] else float(r["init"])
            cells.setdefault((float(r["init"]), y), []).append(loss_of(r, a.metric))
        xs, ys = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
        if len(xs) > 1 and len(ys) > 1:
            maps.append((norm, xs, ys, cells))
    if maps:
        cols, rows_ = min(len(maps), 2), (len(maps) + 1) // 2
        fig, axes = plt.subplots(rows_, cols, figsize=(5 * cols, 4.2 * rows_), squeeze=False)
        for k, (norm, xs, ys, cells) in enumerate(maps):
            ax = axes[k // cols][k % cols]
            grid = [[mean(cells.get((x, y), [math.nan])) for x in xs] for y in ys]
            shown = [[v if math.isfinite(v) else math.nan for v in row] for row in grid]
            ax.imshow(shown, origin="lower", cmap="RdYlBu_r", aspect="auto")
            for yi, row in enumerate(grid):
                for xi, v in enumerate(row):
                    ax.text(xi, yi, "div" if v == math.inf else ("" if math.isnan(v) else f"{v:.2f}"),
                            ha="center", va="center", fontsize=7)
            ax.set_xticks(range(len(xs)), [fmt(x) for x in xs]), ax.set_yticks(range(len(ys)), [fmt(y) for y in ys])
            ax.set_title(norm), ax.set_xlabel("alpha0 (all)"), ax.set_ylabel(f"alpha0 at {pos}")
        for k in range(len(maps), rows_ * cols):
            axes[k // cols][k % cols].axis("off")
        fig.suptitle(f"Best val loss over the init grid ({lr_words(a.base_lr)}): x every position, y {pos} alone")
        figs.save(fig, "init_grid", "init grid", len(maps))
    print(f"sweep: wrote {', '.join(m[0] + '.png/.svg' for m in figs.made)} in {to}")
    # The figures above show each norm's reference init (and the base lr); every run, nothing left
    # out, is in the comparison report of tools/compare_runs.py on the whole folder.
    print("sweep: val_curves, alpha and saturation show each norm at %s and its reference init (%s); %d runs "
          "in all: see %s" % (lr_words(a.base_lr), ", ".join(f"{n} {' '.join(str(x) for x in reference_init(rows, n) if x) or 'default'}" for n in norms), len(rows),
                              os.path.join(to, "report", "report.html")))
    return cr.main([a.out, "--out", os.path.join(to, "report")])


def cmd_table(a):
    """Every configuration of the results, per norm, best first: mean +- std over seeds of the metric,
    the other loss, and the mean wall time."""
    rows = load_results(a.out)
    other = "best_val" if a.metric == "full_val" else "full_val"
    print(f"{len(rows)} runs in {a.out}; sorted by {a.metric} (mean over seeds)\n")
    print(f"| norm | steps | lr | init | options | seeds | {a.metric} | {other} | diverged | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    groups = sorted(by_config(rows).items(), key=lambda kv: (NORMS.index(kv[0][0]) if kv[0][0] in NORMS else 99,
                                                               kv[0][-1], mean([loss_of(r, a.metric) for r in kv[1]])))
    for key, rs in groups:
        norm, lr, kind, init, pos, pv, opts, steps = key
        m = [loss_of(r, a.metric) for r in rs]
        o = [loss_of(r, other) for r in rs]
        sd = spread(m)
        init_text = "-" if kind == "none" else f"{kind} {init}" + (f", {pos} {pv}" if pos else "")
        print(f"| {norm} | {steps} | {lr:g} | {init_text} | {opts or '-'} | {','.join(str(r['seed']) for r in rs)} | "
              f"{f4(mean(m))}{f' +- {sd:.3f}' if math.isfinite(sd) else ''} | {f4(mean(o))} | "
              f"{sum(r['diverged'] for r in rs)}/{len(rs)} | {mean([r['wall_s'] for r in rs]):.0f} |")
    return 0


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a grid")
    r.add_argument("out", help="the sweep's directory (results.csv, logs/)")
    r.add_argument("--norms", default=",".join(NORMS))
    r.add_argument("--lrs", default="", help="peak learning rates, comma-separated (default: each norm's own, "
                   "as ./train --help lists)")
    r.add_argument("--inits", default="", help="alpha0-scale initial values (surrogates; default: the norm's recipe)")
    r.add_argument("--raw-inits", default="", help="raw stored values (softplus kinds)")
    r.add_argument("--init2", default="", help="POS:values, the 2-D grid's separate position (ln1|ln2|lnf)")
    r.add_argument("--opt", action="append", help="NAME=V1,V2: an axis over a train option (repeatable)")
    r.add_argument("--seeds", default="1")
    r.add_argument("--steps", type=int, default=2000)
    r.add_argument("--jobs", type=int, default=2, help="jobs at a time")
    r.add_argument("--threads", type=int, default=0, help="threads per job (default: cores / jobs)")
    r.add_argument("--train", help="the train program (default: build/apps/train)")
    sub.add_parser("refresh", help="recompute the outcomes from the logs").add_argument("out")
    for name in ("summary", "plots", "table"):
        q = sub.add_parser(name)
        q.add_argument("out")
        q.add_argument("--base-lr", type=float, default=None,
                       help="only this lr: the summary's L, I, S, the init grids and the curves (default: L, I, S "
                            "over every lr; the grids and curves at each norm's best)")
        q.add_argument("--metric", default="best_val", choices=["best_val", "full_val", "final_val"])
        if name == "summary":
            q.add_argument("--select", default="1,2", help="the selection seeds, which choose each norm's setting "
                           "(default 1,2)")
            q.add_argument("--evaluate", help="the evaluation seeds, which report at the choice (default: every other "
                           "seed in the results)")
        if name == "plots":
            q.add_argument("--to", help="where the plots go (default OUT/plots)")
    return p


def main(argv=None):
    p = parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    a = p.parse_args(argv)
    if a.cmd == "run":
        if a.jobs < 1:
            sys.exit("sweep: error: --jobs must be >= 1")
        return cmd_run(a, extra)
    return {"summary": cmd_summary, "plots": cmd_plots, "table": cmd_table, "refresh": cmd_refresh}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
