#!/usr/bin/python3
"""Side by side: our training step against the same model in PyTorch, alternating in one run.

  bench/compare.py [--pairs N] [--big-pairs N] [--threads N] [--only default|big]

For each configuration it runs, N times over: bench_step (ours), then torch_gpt.py at its two best
settings on this machine: its default (1 intra-op thread; OpenBLAS uses the cores) and
2 intra-op threads with OMP_WAIT_POLICY=PASSIVE; the faster of the two is the pair's PyTorch time.
Both sides get OPENBLAS_CORETYPE (when unset) naming this CPU's kernels: under this VM OpenBLAS
otherwise falls back to its SSE3 kernels and PyTorch runs 2x slower (our programs set it for
themselves, examples/cpu_env.h). The host's speed drifts, so only ratios of neighbouring runs count: the table gives each pair's
ratio (PyTorch ms / ours ms: > 1 means we are faster) and their median.

Configurations: nanoGPT's CPU config (4 layers, 4 heads, 128 wide, context 64, batch 12) with
ln, rmsnorm, dyt, dyisru; and nanoGPT's shakespeare_char config (6 layers, 6 heads, 384 wide,
context 256, batch 64) with ln, a few steps. Needs build/bench/bench_step (./run-tests or ./train
builds it) and Debian's python3-torch.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OURS = os.path.join(ROOT, "build", "bench", "bench_step")
TORCH = os.path.join(ROOT, "bench", "torch_gpt.py")
DEFAULT = ["--n-layer", "4", "--n-head", "4", "--n-embd", "128", "--block-size", "64", "--batch-size", "12"]
BIG = ["--n-layer", "6", "--n-head", "6", "--n-embd", "384", "--block-size", "256", "--batch-size", "64"]


def coretype_env():
    if "OPENBLAS_CORETYPE" in os.environ:
        return {}
    flags = open("/proc/cpuinfo").read()
    return {"OPENBLAS_CORETYPE": "SkylakeX"} if " avx512f" in flags else \
        {"OPENBLAS_CORETYPE": "Haswell"} if " avx2" in flags else {}


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **coretype_env(), **(env or {})})
    if out.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    line = next(l for l in out.stdout.splitlines() if l.startswith(("ours ", "torch ")))
    return {k: float(v) for k, v in re.findall(r"(\w+) ([-\d.]+)", line)}


def pair(shape, norm, steps, warmup, threads):
    ours = run([OURS, "--norm", norm, *shape, "--steps", str(steps), "--warmup-steps", str(warmup),
                "--threads", str(threads)])
    common = [sys.executable, TORCH, "time", "--norm", norm, *shape, "--steps", str(steps),
              "--warmup-steps", str(warmup)]
    t1 = run(common + ["--threads", "1"])
    t2 = run(common + ["--threads", str(threads)], {"OMP_WAIT_POLICY": "PASSIVE"})
    return ours, min(t1, t2, key=lambda t: t["ms_per_step"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=5, help="pairs per default-config norm (default 5)")
    p.add_argument("--big-pairs", type=int, default=3, help="pairs for the 6L/384 config (default 3)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--only", choices=["default", "big"])
    a = p.parse_args()
    if not os.path.exists(OURS):
        sys.exit(f"{OURS} is missing: build first (./run-tests, or ninja -C build)")
    jobs = []
    if a.only != "big":
        jobs += [("4L/128", DEFAULT, n, 30, 5, a.pairs) for n in ("ln", "rmsnorm", "dyt", "dyisru")]
    if a.only != "default":
        jobs += [("6L/384", BIG, "ln", 2, 1, a.big_pairs)]
    print(f"{a.threads} threads; ratio = PyTorch ms/step / ours (> 1: ours faster)\n")
    print(f"{'config':7s} {'norm':8s} {'ours ms':>9s} {'torch ms':>9s} {'ratios per pair':32s} {'median':>7s} "
          f"{'%peak':>6s} {'RSS ours':>9s} {'RSS torch':>9s}")
    for name, shape, norm, steps, warmup, n in jobs:
        ratios, ours_ms, torch_ms, peak, rss_o, rss_t = [], [], [], [], [], []
        for _ in range(n):
            o, t = pair(shape, norm, steps, warmup, a.threads)
            ratios.append(t["ms_per_step"] / o["ms_per_step"])
            ours_ms.append(o["ms_per_step"]), torch_ms.append(t["ms_per_step"])
            peak.append(o["peak_fraction"]), rss_o.append(o["peak_rss_mb"]), rss_t.append(t["peak_rss_mb"])
        med = statistics.median
        print(f"{name:7s} {norm:8s} {med(ours_ms):9.1f} {med(torch_ms):9.1f} "
              f"{' '.join(f'{r:.2f}' for r in ratios):32s} {med(ratios):7.2f} {100 * med(peak):5.0f}% "
              f"{max(rss_o):7.0f}MB {max(rss_t):7.0f}MB", flush=True)


if __name__ == "__main__":
    main()
