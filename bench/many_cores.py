#!/usr/bin/env python3
"""Ours against PyTorch at 1, 4 and all threads on a many-core machine (docs/performance.md).

  bench/many_cores.py [--threads 16,4,1] [--pairs N] [--big-pairs N] [--build DIR] [--log FILE]

First our default step (ln) alone at 1, 2, 4, ... threads up to the most asked for: where it stops
scaling. Then, for each thread count in the order given: the default config (ln, dyt) and 6L/384
(ln) side by side with PyTorch, alternating, as bench/compare.py does (ratio = PyTorch ms / ours;
> 1: ours faster). PyTorch's mode: for the default config the faster of eager and torch.compile
(one run of each first; compile is left out where it fails, say for want of a C++ compiler); for
6L/384 eager, the faster there on 2 cores, since compiling it costs minutes. Every row is printed as
it is measured, so a run cut short keeps what it measured. --log FILE keeps our runs' per-op
breakdowns (bench_step's whole output) at the largest thread count.
"""
import argparse
import os
import statistics
import subprocess
import sys
import types

from compare import BIG, DEFAULT, ROOT, RunFailed, ours, ours_cmd, torch
from machine import cpu_name  # bench/machine.py


def breakdown(a, shape, norm, log, warmup):
    """bench_step's whole output (the per-op breakdown) appended to the log."""
    if not log:
        return
    out = subprocess.run(ours_cmd(a, shape, norm, max(warmup, 5), warmup), capture_output=True, text=True)
    with open(log, "a") as f:
        f.write(out.stdout + out.stderr + "\n")


compile_works = True  # until a torch.compile run fails: then eager only, not paying its timeout again


def side_by_side(a, name, shape, norm, steps, warmup, modes, pairs):
    """One table row: PyTorch's faster mode of `modes` (one run of each, if more than one), then
    alternating pairs."""
    global compile_works
    modes = [m for m in modes if compile_works or not m]
    compiled = modes[0]
    if len(modes) > 1:
        best = {}
        for m in modes:
            try:
                best[m] = torch(a, shape, norm, steps, max(warmup, 3) if m else warmup, m, timeout=150)["ms_per_step"]
            except RunFailed as e:
                print(f"  PyTorch {'torch.compile' if m else 'eager'} left out from here on: {str(e)[-300:]}",
                      flush=True)
                compile_works = compile_works and not m
        if not best:
            return
        compiled = min(best, key=best.get)
        print(f"  PyTorch {norm}, {a.threads} threads: " + ", ".join(
            f"{'torch.compile' if m else 'eager'} {ms:.1f} ms" for m, ms in best.items()), flush=True)
    o_ms, t_ms, ratios, frac = [], [], [], []
    for _ in range(pairs):
        o = ours(a, shape, norm, steps, warmup, timeout=600)
        t = torch(a, shape, norm, steps, max(warmup, 3) if compiled else warmup, compiled, timeout=600)
        o_ms.append(o["ms_per_step"]), t_ms.append(t["ms_per_step"]), frac.append(o["peak_fraction"])
        ratios.append(t["ms_per_step"] / o["ms_per_step"])
    med = statistics.median
    print(f"| {name} | {norm} | {a.threads} | {med(o_ms):.1f} | {med(t_ms):.1f} "
          f"({'compile' if compiled else 'eager'}) | {' '.join(f'{r:.2f}' for r in ratios)} | "
          f"**{med(ratios):.2f}** | {100 * med(frac):.0f}% |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default=f"{os.cpu_count()},4,1", help="thread counts, in the order to run them")
    p.add_argument("--pairs", type=int, default=2, help="alternating pairs per default-config row (default 2)")
    p.add_argument("--big-pairs", type=int, default=1, help="alternating pairs per 6L/384 row (default 1)")
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="our build directory (default build/)")
    p.add_argument("--log", help="append our per-op breakdowns at the largest thread count to this file")
    a = p.parse_args()
    counts = [int(t) for t in a.threads.split(",")]
    if not os.path.exists(os.path.join(a.build, "bench", "bench_step")):
        sys.exit(f"{a.build}/bench/bench_step is missing: build first (./run-tests, or ninja -C {a.build})")
    version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    print(f"{cpu_name()}, {os.cpu_count()} cores; PyTorch {version}\n", flush=True)

    most = max(counts)
    print("Our default step (ln) alone:\n\n| threads | ms/step | tokens/s | % of sgemm limit |\n|---|---|---|---|")
    t = 1
    while True:
        r = ours(types.SimpleNamespace(build=a.build, threads=t), DEFAULT, "ln", 30, 5, timeout=300)
        print(f"| {t} | {r['ms_per_step']:.1f} | {r['tokens_per_s']:.0f} | {100 * r['peak_fraction']:.0f}% |",
              flush=True)
        if t == most:
            break
        t = min(2 * t, most)
    big = types.SimpleNamespace(build=a.build, threads=most)
    breakdown(big, DEFAULT, "ln", a.log, 5)
    breakdown(big, BIG, "ln", a.log, 2)

    print("\n| config | norm | threads | ours ms | PyTorch ms (mode) | ratio per pair | median | "
          "% of sgemm limit |\n|---|---|---|---|---|---|---|---|", flush=True)
    for t in counts:
        b = types.SimpleNamespace(build=a.build, threads=t)
        row(b, "4L/128, T 64, B 12", DEFAULT, "ln", 30, 5, (False, True), a.pairs)
        # two warm-up steps: the first measures the arena, the second first touches its pages
        row(b, "6L/384, T 256, B 64", BIG, "ln", 2, 2, (False,), a.big_pairs)
        if t == most:
            row(b, "4L/128, T 64, B 12", DEFAULT, "dyt", 30, 5, (False, True), a.pairs)


def row(*args):
    """side_by_side, going on to the next row if a run fails."""
    try:
        side_by_side(*args)
    except RunFailed as e:
        print(f"  row left out: {str(e)[-600:]}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except RunFailed as e:
        sys.exit(str(e))
