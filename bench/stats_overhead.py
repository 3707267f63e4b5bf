#!/usr/bin/env python3
"""What the instruments cost: the train program with --stats-every 10 (the default) against 0 (off),
side by side in alternating pairs, on the default model.

  bench/stats_overhead.py [--pairs 5] [--steps 400] [--norms ln,dyt,derf] [--train build/apps/train]

Both runs write a --log (the instruments need one; without it the train program measures nothing) and
evaluate once at the end; the time compared is the training time of the last step's row
(elapsed_sec), which leaves out start-up and the final evaluation. Prints, per norm, each pair's
ratio on/off and their median: 1.03 would be 3% slower with the instruments.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

from machine import cpu_name  # bench/machine.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_seconds(train, norm, steps, stats_every, data, tmp):
    log = os.path.join(tmp, f"{norm}_{stats_every}.csv")
    cmd = [train, f"--norm={norm}", f"--steps={steps}", f"--eval-interval={steps}", f"--log={log}",
           f"--stats-every={stats_every}", "--threads=2", "--sample=0", "--quiet", data]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(log) as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "train"]
    return float(rows[-1]["elapsed_sec"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--norms", default="ln,dyt,derf")
    p.add_argument("--train", default=os.path.join(ROOT, "build", "apps", "train"))
    p.add_argument("--data", default=os.path.join(ROOT, "data", "tinyshakespeare.txt.gz"))
    a = p.parse_args()
    if not os.access(a.train, os.X_OK):
        sys.exit(f"stats_overhead: {a.train} is not built (./train --help builds it)")
    print(f"# {cpu_name()}, {os.cpu_count()} cores; {a.steps} steps per run, {a.pairs} alternating pairs")
    print("| norm | stats off s (median) | stats on s (median) | ratio on/off per pair | median ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for norm in a.norms.split(","):
            off, on, ratios = [], [], []
            for i in range(a.pairs):
                order = (0, 10) if i % 2 == 0 else (10, 0)  # alternate which goes first
                t = {s: train_seconds(a.train, norm, a.steps, s, a.data, tmp) for s in order}
                off.append(t[0]), on.append(t[10]), ratios.append(t[10] / t[0])
            print(f"| {norm} | {statistics.median(off):.2f} | {statistics.median(on):.2f} | "
                  f"{' '.join(f'{r:.3f}' for r in ratios)} | **{statistics.median(ratios):.3f}** |", flush=True)


if __name__ == "__main__":
    main()
