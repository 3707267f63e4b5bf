#!/usr/bin/env python3
"""Side by side: our training step against the same model in today's PyTorch, alternating in one run.

  bench/compare.py [--pairs N] [--big-pairs N] [--threads N] [--only default|big|share|vit] [--build DIR]

PyTorch runs at its best (bench/torch_gpt.py): SDPA attention, fused LayerNorm, fused AdamW, the same
threads as ours, and the faster of eager and torch.compile, chosen per configuration by one run of
each before the pairs. Then, N times over: bench_step (ours), then PyTorch. The host's speed drifts,
so only ratios of neighbouring runs count: the table gives each pair's ratio (PyTorch ms / ours ms:
> 1 means we are faster) and their median.

Configurations:
  default  nanoGPT's CPU config (4 layers, 4 heads, 128 wide, context 64, batch 12), every norm
  big      nanoGPT's shakespeare_char config (6 layers, 6 heads, 384 wide, context 256, batch 64),
           ln; then ours with --recompute once, for its peak memory against PyTorch's
  share    two default `train` runs started together on all the cores (each with the default
           --threads auto) against one alone: each one's speed as a share of the solo run's
  vit      the ViT at its defaults (4 blocks, 128 wide, 7x7 patches, batch 128) on Fashion-MNIST, ln,
           dyt and derf: ours is the train program itself (the median step time its log records after
           the warm-up steps, instruments off), PyTorch is bench/torch_vit.py (SDPA, fused AdamW)

Our side is DIR/bench/bench_step and DIR/apps/train (DIR: build, the README's build). Both sides
get OPENBLAS_CORETYPE naming this CPU's kernels when unset (under VMs OpenBLAS may not recognise the
CPU and fall back to slow kernels; our programs set it for themselves, apps/cpu_env.h).
Python: the default python3 with PyTorch from PyPI (python3 -m pip install torch==2.13.0).
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from machine import cpu_name  # bench/machine.py

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TORCH = os.path.join(ROOT, "bench", "torch_gpt.py")
TORCH_VIT = os.path.join(ROOT, "bench", "torch_vit.py")
DEFAULT = ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block-size", "64", "--batch-size", "12"]
BIG = ["--n-layer", "6", "--n-head", "6", "--n-embd", "384", "--block-size", "256", "--batch-size", "64"]
VIT = ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--patch-size", "7", "--batch-size", "128"]
# a child's peak RSS: the child of a small Python that reports it (this process's own children add up)
PEAK = "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; " \
       "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r)"


def norms(build):
    """The norms, as the train program of BUILD lists them (--registry): no list of our own."""
    out = subprocess.run([os.path.join(build, "apps", "train"), "--registry"], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"compare: error: {build}/apps/train --registry failed: build it first (./train --help)")
    return [n["name"] for n in json.loads(out.stdout)["norms"]]


def coretype_env():
    if "OPENBLAS_CORETYPE" in os.environ:
        return {}
    flags = open("/proc/cpuinfo").read()
    return {"OPENBLAS_CORETYPE": "SkylakeX"} if " avx512f" in flags else \
        {"OPENBLAS_CORETYPE": "Haswell"} if " avx2" in flags else {}


class RunFailed(Exception):
    pass


def run(cmd, timeout=None):
    """The numbers on the "ours ..." or "torch ..." line a benchmark prints; RunFailed if it fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **coretype_env()},
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"timed out after {timeout} s: {' '.join(cmd)}")
    if out.returncode:
        raise RunFailed(f"failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    line = next(l for l in out.stdout.splitlines() if l.startswith(("ours ", "torch ")))
    return {k: float(v) for k, v in re.findall(r"(\w+) ([-\d.]+)", line)}


def ours_cmd(a, shape, norm, steps, warmup, extra=()):
    return [os.path.join(a.build, "bench", "bench_step"), "--norm", norm, *shape, "--steps", str(steps),
            "--warmup-steps", str(warmup), "--threads", str(a.threads), *extra]


def ours(a, shape, norm, steps, warmup, extra=(), timeout=None):
    return run(ours_cmd(a, shape, norm, steps, warmup, extra), timeout)


def torch(a, shape, norm, steps, warmup, compiled, timeout=None):
    return run([sys.executable, TORCH, "time", "--norm", norm, *shape, "--steps", str(steps),
                "--warmup-steps", str(warmup), "--threads", str(a.threads), *(["--compile"] if compiled else [])],
               timeout)


def torch_mode(a, shape, norm, steps, warmup):
    """PyTorch's faster mode here: one eager run and one compiled run (compiling in its warm-up)."""
    eager = torch(a, shape, norm, steps, warmup, False)["ms_per_step"]
    compiled = torch(a, shape, norm, steps, max(warmup, 3), True)["ms_per_step"]
    print(f"  PyTorch {norm}: eager {eager:.1f} ms, torch.compile {compiled:.1f} ms -> "
          f"{'compile' if compiled < eager else 'eager'}", flush=True)
    return compiled < eager


def pairs(a, name, shape, norm, steps, warmup, n):
    compiled = torch_mode(a, shape, norm, steps, warmup)
    ratios, o_ms, t_ms, frac, rss_o, rss_t = [], [], [], [], [], []
    for _ in range(n):
        o = ours(a, shape, norm, steps, warmup)
        t = torch(a, shape, norm, steps, max(warmup, 3) if compiled else warmup, compiled)
        ratios.append(t["ms_per_step"] / o["ms_per_step"])
        o_ms.append(o["ms_per_step"]), t_ms.append(t["ms_per_step"]), frac.append(o["peak_fraction"])
        rss_o.append(o["peak_rss_mb"]), rss_t.append(t["peak_rss_mb"])
    med = statistics.median
    print(f"| {name} | {norm} | {med(o_ms):.1f} | {med(t_ms):.1f} ({'compile' if compiled else 'eager'}) | "
          f"{' '.join(f'{r:.2f}' for r in ratios)} | **{med(ratios):.2f}** | {100 * med(frac):.0f}% | "
          f"{max(rss_o):.0f} MB | {max(rss_t):.0f} MB |", flush=True)
    return max(rss_t)


def ours_vit(a, norm, steps, warmup):
    """Our ViT step: the train program's own log (images/s of each step after the warm-up ones)."""
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "vit.csv")
        cmd = [sys.executable, "-c", PEAK, os.path.join(a.build, "apps", "train"), "--norm", norm, *VIT, "--steps",
               str(steps + warmup), "--eval-interval", "1000000", "--eval-iters", "1", "--stats-every", "0",
               "--sample", "0", "--quiet", "--threads", str(a.threads), "--log", log, "fashion-mnist"]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **coretype_env()}, cwd=ROOT)
        if out.returncode:
            raise RunFailed(f"failed: {' '.join(cmd[3:])}\n{out.stderr[-3000:]}")
        with open(log) as f:
            speed = [float(r["tokens_per_sec"]) for r in csv.DictReader(f) if r["kind"] == "train"][warmup:]
    rss = float(re.search(r"peak_rss_kb (\d+)", out.stdout).group(1)) / 1024
    return {"ms_per_step": 1000 * int(VIT[-1]) / statistics.median(speed), "peak_rss_mb": rss}


def torch_vit(a, norm, steps, warmup, compiled):
    return run([sys.executable, TORCH_VIT, "--norm", norm, *[x for x in VIT], "--steps", str(steps),
                "--warmup-steps", str(warmup), "--threads", str(a.threads), *(["--compile"] if compiled else [])])


def pairs_vit(a, norm, n, steps=20, warmup=3):
    eager = torch_vit(a, norm, steps, warmup, False)["ms_per_step"]
    compiled = torch_vit(a, norm, steps, warmup, True)["ms_per_step"] < eager
    ratios, o_ms, t_ms, rss_o, rss_t = [], [], [], [], []
    for _ in range(n):
        o = ours_vit(a, norm, steps, warmup)
        t = torch_vit(a, norm, steps, warmup, compiled)
        ratios.append(t["ms_per_step"] / o["ms_per_step"])
        o_ms.append(o["ms_per_step"]), t_ms.append(t["ms_per_step"]), rss_o.append(o["peak_rss_mb"]), rss_t.append(t["peak_rss_mb"])
    med = statistics.median
    print(f"| ViT 4x128, 7x7 patches, B 128 | {norm} | {med(o_ms):.1f} | {med(t_ms):.1f} ({'compile' if compiled else 'eager'}) | "
          f"{' '.join(f'{r:.2f}' for r in ratios)} | **{med(ratios):.2f}** | {max(rss_o):.0f} MB | {max(rss_t):.0f} MB |",
          flush=True)


def share(a):
    """Two default train runs at once against one alone: each one's speed as a share of the solo's."""
    cmd = [os.path.join(a.build, "apps", "train"), "--norm=ln", "--steps", "400", "--eval-interval",
           "100000", "--eval-iters", "1", "--sample", "0", "--quiet", "tinyshakespeare"]
    env = {**os.environ, **coretype_env()}

    def wall(procs):
        t0 = time.perf_counter()
        ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
              for _ in range(procs)]
        ends = []
        for p in ps:
            if p.wait():
                sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr.read().decode()[-2000:]}")
            ends.append(time.perf_counter() - t0)
        return ends

    for _ in range(a.pairs if a.only == "share" else 2):
        solo = wall(1)[0]
        both = wall(2)
        print(f"| 400 ln steps, --threads auto | {solo:.1f} s | {both[0]:.1f} s, {both[1]:.1f} s | "
              f"{100 * solo / both[0]:.0f}%, {100 * solo / both[1]:.0f}% |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5, help="pairs per default-config norm (default 5)")
    p.add_argument("--big-pairs", type=int, default=3, help="pairs for the 6L/384 config (default 3)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--only", choices=["default", "big", "share", "vit"])
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="our build directory (default build/)")
    a = p.parse_args()
    for prog in ("bench/bench_step", "apps/train"):
        if not os.path.exists(os.path.join(a.build, prog)):
            sys.exit(f"{a.build}/{prog} is missing: build first (./run-tests, or ninja -C {a.build})")
    blas = subprocess.run([os.path.join(a.build, "bench", "bench_step"), "--steps", "1", "--warmup-steps", "0"],
                          capture_output=True, text=True).stdout.split("BLAS ")[-1].splitlines()[0]
    # PyTorch's version from a child: importing torch here would grow this process to ~200 MB, and a
    # child's peak RSS (getrusage) starts from its parent's size at fork, even across exec
    version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True).stdout.strip()
    cpu = cpu_name()
    print(f"{cpu}, {os.cpu_count()} cores; {a.threads} threads each; ours with BLAS {blas}; PyTorch {version}\n"
          f"ratio = PyTorch ms/step / ours (> 1: ours faster)\n")
    if a.only in (None, "default", "big"):
        print("| config | norm | ours ms | PyTorch ms (mode) | ratio per pair | median | % of sgemm limit | "
              "RSS ours | RSS PyTorch |\n|---|---|---|---|---|---|---|---|---|")
    if a.only in (None, "default"):
        for norm in norms(a.build):
            pairs(a, "4L/128, T 64, B 12", DEFAULT, norm, 30, 5, a.pairs)
    if a.only in (None, "big"):
        # two warm-up steps: the first measures the arena, the second first touches its pages
        rss_torch = pairs(a, "6L/384, T 256, B 64", BIG, "ln", 2, 2, a.big_pairs)
        r = ours(a, BIG, "ln", 2, 2, ["--recompute"])
        print(f"| 6L/384, --recompute | ln | {r['ms_per_step']:.1f} | | | | {100 * r['peak_fraction']:.0f}% | "
              f"{r['peak_rss_mb']:.0f} MB ({r['peak_rss_mb'] / rss_torch:.2f} of PyTorch's) | |", flush=True)
    if a.only in (None, "vit"):
        print("\n| config | norm | ours ms | PyTorch ms (mode) | ratio per pair | median | RSS ours | RSS PyTorch |\n"
              "|---|---|---|---|---|---|---|---|")
        for norm in ("ln", "dyt", "derf"):
            pairs_vit(a, norm, a.pairs)
    if a.only in (None, "share"):
        print("\n| two train runs started together | one alone | each of the two | share of the solo speed |\n"
              "|---|---|---|---|")
        share(a)


if __name__ == "__main__":
    try:
        main()
    except RunFailed as e:
        sys.exit(str(e))
