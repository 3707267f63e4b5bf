#!/usr/bin/env python3
"""tools/sweep.py against the train program (its path is the first argument): a sweep job with no
grid options runs exactly what ./train runs (the same losses at every logged digit, for DyT and
Derf), writes its effective .config, and records the lr it ran at; a job killed mid-run goes on
from its checkpoint with the uninterrupted run's log; the summary's L1 is the best over
every lr, not the value at one of them. Exit 0 when every check holds."""
import csv
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEP = os.path.join(HERE, "..", "tools", "sweep.py")
TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "32", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2"]

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)


def losses(path):
    """(step, kind, loss) of every row, as the log wrote them (strings: every digit counts)."""
    with open(path) as f:
        return [(r["step"], r["kind"], r["loss"]) for r in csv.DictReader(f)]


def l_row(summary):
    """dyt's row of the summary's L, I, S table (the protocol's table, before it, names a setting)."""
    return next((x for x in summary.splitlines() if x.startswith("| dyt | ") and x.split("|")[2].strip()[:1].isdigit()),
                "")


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "text.txt")
        with open(text, "w") as f:
            f.write("".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(300)))
        out = os.path.join(tmp, "sweep")
        p = subprocess.run([sys.executable, SWEEP, "run", out, "--norms", "dyt,derf", "--steps", "40", "--jobs", "2",
                            "--train", train, "--", *TINY, text], capture_output=True, text=True)
        check("sweep run exits 0", p.returncode == 0, p.stdout + p.stderr)
        with open(os.path.join(out, "results.csv")) as f:
            rows = {r["norm"]: r for r in csv.DictReader(f)}
        for norm in ("dyt", "derf"):
            job = rows[norm]["job"]
            config = os.path.join(out, "logs", job + ".config")
            check(f"{norm}: the job wrote its effective options ({job}.config)", os.path.exists(config))
            lr = rows[norm]["lr"]
            check(f"{norm}: results.csv records the lr the job ran at ({lr})", lr not in ("", None))
            log = os.path.join(tmp, norm + ".csv")
            q = subprocess.run([train, f"--norm={norm}", f"--lr={lr}", "--seed=1", "--steps=40", *TINY,
                                "--threads=1", "--quiet", "--sample=0", f"--log={log}", text], capture_output=True, text=True)
            check(f"{norm}: ./train with the same norm, lr, seed and steps exits 0", q.returncode == 0, q.stdout + q.stderr)
            a, b = losses(os.path.join(out, "logs", job + ".csv")), losses(log)
            diff = [(x, y) for x, y in zip(a, b) if x != y][:3]
            check(f"{norm}: the sweep job and ./train log the same losses ({len(a)} rows, every digit)",
                  a == b and len(a) > 40, f"first differences: {diff}, rows {len(a)} vs {len(b)}")
        # the plots of that sweep, as docs/training.md tells a user to draw them (it ended in a TypeError
        # once read_log returned its rows and problems)
        p = subprocess.run([sys.executable, SWEEP, "plots", out], capture_output=True, text=True)
        check("sweep plots exits 0 and draws the curves", p.returncode == 0 and os.path.exists(
            os.path.join(out, "plots", "val_curves.png")), p.stdout[-1000:] + p.stderr[-2000:])
        # two sweeps of one grid into one folder at once share its jobs: each runs once
        both = os.path.join(tmp, "both")
        grid = [sys.executable, SWEEP, "run", both, "--norms", "ln,rmsnorm", "--lrs", "1e-3,2e-3", "--steps", "10",
                "--jobs", "1", "--threads", "1", "--train", train, "--", *TINY, text]
        ps = [subprocess.Popen(grid, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
        outs = [p.communicate()[0] for p in ps]
        check("two sweeps into one folder at once both exit 0", all(p.returncode == 0 for p in ps), "\n".join(outs))
        with open(os.path.join(both, "results.csv")) as f:
            jobs = sorted(r["job"] for r in csv.DictReader(f))
        check(f"two sweeps into one folder ran each of its 4 jobs once ({len(jobs)} rows)",
              len(jobs) == 4 and len(set(jobs)) == 4, "\n".join(jobs))
        # a job cut short (sweep and train program killed, as when the machine goes) goes on from its
        # last checkpoint when the sweep runs again, and its log is the uninterrupted run's
        cut = os.path.join(tmp, "cut")
        grid = [sys.executable, SWEEP, "run", cut, "--norms", "dyt", "--lrs", "3e-3", "--steps", "3000", "--jobs", "1",
                "--threads", "1", "--train", train, "--", *TINY, text]
        sweep = subprocess.Popen(grid, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        job, log = "dyt_lr0.003_s1", os.path.join(cut, "logs", "dyt_lr0.003_s1.csv")
        part = os.path.join(cut, "logs", job + ".part.safetensors")
        deadline, step = time.monotonic() + 120, 0
        while time.monotonic() < deadline and sweep.poll() is None and step < 1100:
            time.sleep(0.01)
            if os.path.exists(log):
                with open(log) as f:
                    step = max([int(x.split(",")[0]) for x in f.read().split("\n")[1:-1] if x.split(",")[0].isdigit()] + [0])
        subprocess.run(["pkill", "-KILL", "-f", f"log={log}"])  # the train program (its own session)
        sweep.kill()
        sweep.communicate()
        check(f"a job killed at step {step}, past its checkpoints at 500 and 1000",
              step >= 1100 and os.path.exists(part), f"log at step {step}; checkpoint there: {os.path.exists(part)}")
        p = subprocess.run(grid, capture_output=True, text=True)
        check("the sweep run again exits 0", p.returncode == 0, p.stdout + p.stderr)
        with open(os.path.join(cut, "logs", job + ".out")) as f:
            check("it went on from the checkpoint at step 1000", "resuming at step 1000" in f.read())
        check("the finished job's checkpoint is gone", not os.path.exists(part))
        whole = os.path.join(tmp, "whole.csv")
        q = subprocess.run([train, "--norm=dyt", "--lr=3e-3", "--seed=1", "--steps=3000", *TINY, "--threads=1", "--quiet",
                            "--sample=0", f"--log={whole}", text], capture_output=True, text=True)
        a, b = losses(log), losses(whole)
        check(f"the resumed job's log is the uninterrupted run's ({len(a)} rows, every digit)",
              q.returncode == 0 and a == b, f"{len(a)} vs {len(b)} rows; first differences: "
              f"{[(x, y) for x, y in zip(a, b) if x != y][:3]}")
        # summary: L1 is the best mean over the lr grid
        fake = os.path.join(tmp, "fake")
        os.makedirs(fake)
        head = ["job", "norm", "lr", "init_kind", "init", "init_pos", "init_pos_value", "opts", "seed", "steps",
                "best_val", "final_val", "full_val", "final_train", "wall_s", "nonfinite", "diverged", "spikes"]
        with open(os.path.join(fake, "results.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(head)
            for lr, loss in (("0.001", 2.3862), ("0.003", 2.3614), ("0.01", 3.3)):
                w.writerow([f"dyt_lr{lr}_s1", "dyt", lr, "none", "", "", "", "", 1, 2000, loss, loss, loss, loss, 1, 0, 0, 0])
        s = subprocess.run([sys.executable, SWEEP, "summary", fake], capture_output=True, text=True)
        line = l_row(s.stdout)
        check("summary's L1 is the best over every lr (2.3614 at 3e-3, not 1e-3's 2.3862)",
              line.split("|")[2].strip() == "2.3614" and "| 0.003 |" in line, s.stdout + s.stderr)
        s = subprocess.run([sys.executable, SWEEP, "summary", fake, "--base-lr", "1e-3"], capture_output=True, text=True)
        line = l_row(s.stdout)
        check("summary --base-lr 1e-3 gives the value at that lr", line.split("|")[2].strip() == "2.3862", s.stdout)
    return status()


if __name__ == "__main__":
    sys.exit(main())
