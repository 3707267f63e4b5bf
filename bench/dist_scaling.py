#!/usr/bin/env python3
"""Data parallel on one machine: 1 process x T threads against N processes x T/N threads, side by side.

  bench/dist_scaling.py [--rounds 3] [--steps 300] [--np 2] [--norm ln] [--train build/apps/train]
                        [--extra "--n-layer 6 --n-embd 384 ..."]

Each round runs, in turn (so that a change in the machine's load falls on every setting alike):
  alone        1 process, all cores' threads (--threads T), the whole batch
  dp           mpirun -np N, T/N threads each, the same global batch (overlap on: the default)
  dp-no-ovl    the same with --no-overlap (the grads reduced after backward, in one message)
  share        1 process, T/N threads, batch/N: one rank's compute with no communication at all
and reads the training time from the log (the last training row's elapsed_sec less the first's:
start-up, evaluations and the first step's arena sizing left out). Prints tokens/s per setting
(median over rounds), the ratio dp / alone, and the communication share at N measured two ways:
the time rank 0 spent inside MPI calls (the train program's summary line), and the step time dp
takes beyond one rank's compute (dp - share), which also counts the ranks waiting for each other.
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import tempfile

from machine import cpu_name  # bench/machine.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(a, name, procs, threads, batch, extra, tmp):
    """Seconds per training step (steps 2.. of the log), and rank 0's ms per step in MPI calls."""
    log = os.path.join(tmp, name + ".csv")
    cmd = (["mpirun", "-np", str(procs), "--bind-to", "none"] if procs > 1 else []) + [
        a.train, f"--norm={a.norm}", f"--steps={a.steps}", f"--eval-interval={a.steps}", "--eval-iters=1",
        f"--threads={threads}", f"--batch-size={batch}", "--sample=0", "--quiet", "--stats-every=0",
        f"--log={log}"] + extra + [a.data]
    out = subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.PIPE, text=True).stdout
    with open(log) as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "train"]
    seconds = (float(rows[-1]["elapsed_sec"]) - float(rows[0]["elapsed_sec"])) / (len(rows) - 1)
    m = re.search(r"data parallel: \d+ processes, ([\d.]+) ms per step in MPI calls", out)
    return seconds, float(m.group(1)) if m else None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--np", type=int, default=2)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads in all (default: the cores)")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--norm", default="ln")
    p.add_argument("--extra", default="", help="more train options, e.g. a larger model")
    p.add_argument("--train", default=os.path.join(ROOT, "build", "apps", "train"))
    p.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt.gz"))
    a = p.parse_args()
    n, t, extra = a.np, a.threads, a.extra.split()
    block = 64
    if "--block-size" in extra:
        block = int(extra[extra.index("--block-size") + 1])
    per = max(t // n, 1)
    settings = [("alone", 1, t, a.batch), ("dp", n, per, a.batch), ("dp-no-ovl", n, per, a.batch),
                ("share", 1, per, a.batch // n)]
    got = {s[0]: [] for s in settings}
    mpi_ms = {"dp": [], "dp-no-ovl": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for name, procs, threads, batch in settings:
                ex = extra + (["--no-overlap"] if name == "dp-no-ovl" else [])
                sec, ms = run(a, f"{name}{r}", procs, threads, batch, ex, tmp)
                got[name].append(sec)
                if ms is not None:
                    mpi_ms[name].append(ms)
                print(f"round {r + 1}: {name:10s} {1e3 * sec:8.2f} ms/step" + (f", {ms:.2f} ms in MPI" if ms else ""),
                      flush=True)
    med = {k: statistics.median(v) for k, v in got.items()}
    tokens = a.batch * block
    print(f"\n{cpu_name()}, {os.cpu_count()} cores; {a.norm}, batch {a.batch} x {block}, {a.steps} steps, "
          f"{a.rounds} rounds (medians){', ' + a.extra if a.extra else ''}")
    print("| setting | processes x threads | ms/step | tokens/s | tokens/s vs alone |")
    print("|---|---|---|---|---|")
    for name, procs, threads, batch in settings:
        tps = batch * block / med[name]
        print(f"| {name} | {procs} x {threads}{' (batch ' + str(batch) + ')' if name == 'share' else ''} | "
              f"{1e3 * med[name]:.2f} | {tps:.0f} | {tps / (tokens / med['alone']):.2f} |")
    for name in ("dp", "dp-no-ovl"):
        ms = statistics.median(mpi_ms[name])
        beyond = med[name] - med["share"]
        print(f"{name}: rank 0 in MPI calls {ms:.2f} ms/step ({100 * ms / 1e3 / med[name]:.1f}% of the step); "
              f"beyond one rank's compute {1e3 * beyond:.2f} ms/step ({100 * beyond / med[name]:.1f}%)")


if __name__ == "__main__":
    main()
