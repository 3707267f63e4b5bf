#!/usr/bin/env python3
"""The .config a run writes beside its log reruns it exactly, over the options the interventions
add (--final-norm, --qk-norm) and the initial values that reach those norms: `./train --config
X.config` logs the same losses, every digit. An initial value that reaches a norm is never called
useless ("does nothing here") and changes the run; one that reaches none is. The train program's
path is the first argument. Exit 0 when every check holds."""
import csv
import os
import subprocess
import sys
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--eval-interval", "10", "--threads", "1", "--quiet", "--sample", "0", "--steps", "30"]
# (the run's norms, the initial value that reaches one of them)
USED = [("--norm=ln --final-norm=dyt", "--alpha0-lnf=3"),
        ("--norm=ln --qk-norm=dyisru", "--beta0-ln1=2"),
        ("--norm=dyt --final-norm=ln", "--alpha0-ln1=2"),
        ("--norm=ln --final-norm=derf", "--shift0=0.3"),
        ("--norm=rmsnorm --qk-norm=dyt --final-norm=dyisrusp", "--beta0-lnf=3"),
        ("--norm=dyisru --final-norm=ln --qk-norm=ln", "--beta0=2")]
UNUSED = [("--norm=ln", "--alpha0-lnf=3"), ("--norm=ln --qk-norm=dyisru", "--beta0-ln2=3"),
          ("--norm=dyt --final-norm=ln", "--alpha0-lnf=2")]


def losses(path):
    with open(path) as f:
        return [(r["step"], r["kind"], r["loss"]) for r in csv.DictReader(f)]


def run(train, tmp, name, *args):
    log = os.path.join(tmp, name + ".csv")
    p = subprocess.run([train, *TINY, *args, "--log", log], capture_output=True, text=True)
    return p, log


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("It is a tale told by an idiot, full of sound and fury, signifying nothing.\n" * 100)
        for k, (norms, value) in enumerate(USED):
            p, log = run(train, tmp, f"a{k}", *norms.split(), value, text)
            check(f"{norms} {value}: runs, and no warning calls {value.split('=')[0]} useless",
                  p.returncode == 0 and "does nothing here" not in p.stderr, p.stderr)
            q, again = run(train, tmp, f"b{k}", "--config", log[:-4] + ".config")
            check(f"{norms} {value}: ./train --config reruns it, the same losses at every digit",
                  q.returncode == 0 and losses(again) == losses(log), q.stderr)
            r, without = run(train, tmp, f"c{k}", *norms.split(), text)
            check(f"{norms} {value}: the value changes the run", r.returncode == 0 and losses(without) != losses(log))
        for k, (norms, value) in enumerate(UNUSED):
            p, _ = run(train, tmp, f"u{k}", *norms.split(), value, text)
            check(f"{norms} {value}: said to do nothing", f"{value.split('=')[0]} does nothing here" in p.stderr,
                  p.stderr)
    return status()


if __name__ == "__main__":
    sys.exit(main())
