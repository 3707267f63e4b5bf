#!/usr/bin/env python3
"""The log is exact. A run killed (SIGKILL) at a random moment and resumed from its last checkpoint
leaves the log an uninterrupted run writes, row for row, as CSV and as JSON lines, at --save-every 1
and 10: every column but the clock's (elapsed_sec, tokens_per_sec) the same, every digit. A log that
cannot take a row (a full disk: here the file size limit, RLIMIT_FSIZE) ends the run with exit status
1 and the file named, its checkpoint written where it fits, and that checkpoint resumes. The train
program's path is the first argument. Exit 0 when every check holds."""
import csv
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

TRIALS = 10
MODEL = ["--n-layer", "2", "--n-head", "2", "--n-embd", "32", "--block-size", "32", "--batch-size", "8",
         "--eval-iters", "2", "--eval-interval", "20", "--stats-every", "5", "--threads", "1", "--quiet",
         "--sample", "0", "--steps", "300"]
CLOCK = ("elapsed_sec", "tokens_per_sec")


def rows(path):
    """Every row without the clock's columns, as the file wrote it."""
    with open(path) as f:
        if path.endswith(".jsonl"):
            return [{k: v for k, v in json.loads(line).items() if k not in CLOCK} for line in f if line.strip()]
        return [{k: v for k, v in r.items() if k not in CLOCK} for r in csv.DictReader(f)]


def main():
    train, rng = os.path.abspath(sys.argv[1]), random.Random()
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("Now is the winter of our discontent made glorious summer by this sun of York.\n" * 300)
        full, t0 = {}, time.monotonic()
        for ext in ("csv", "jsonl"):
            full[ext] = os.path.join(tmp, f"full.{ext}")
            subprocess.run([train, *MODEL, "--log", full[ext], text], check=True, stdout=subprocess.DEVNULL)
        length = (time.monotonic() - t0) / 2
        for trial in range(TRIALS):
            ext, every = ("csv", "jsonl")[trial % 2], (1, 10)[trial // 2 % 2]
            log, ckpt = os.path.join(tmp, f"run{trial}.{ext}"), os.path.join(tmp, f"run{trial}.st")
            cmd = [train, *MODEL, "--log", log, "--save", ckpt, "--save-every", str(every), text]
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.1, 0.9) * length)
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed_at = len(rows(log)) if os.path.exists(log) else 0
            resumed = subprocess.run(cmd + (["--resume", ckpt] if os.path.exists(ckpt) else []), capture_output=True,
                                     text=True)
            got, want = rows(log), rows(full[ext])
            first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
            detail = (f"row {first + 2} differs: {got[first]} against {want[first]}" if first is not None else
                      f"{len(got)} rows against {len(want)}; {resumed.stderr}")
            check(f"killed after {killed_at} of {len(want)} rows ({ext}, --save-every {every}), resumed: the log is "
                  "the uninterrupted run's, every row", resumed.returncode == 0 and got == want, detail)
        # a run that finished (its last checkpoint saved after its last evaluation), resumed as it stands:
        # it evaluates at its last step again, and the log holds those rows once
        for ext in ("csv", "jsonl"):
            log, ckpt = os.path.join(tmp, f"done.{ext}"), os.path.join(tmp, f"done_{ext}.st")
            cmd = [train, *MODEL, "--log", log, "--save", ckpt, "--save-every", "10", text]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            r = subprocess.run(cmd + ["--resume", ckpt], capture_output=True, text=True)
            got, want = rows(log), rows(full[ext])
            check(f"a finished run resumed ({ext}): its log is the uninterrupted run's", r.returncode == 0 and got == want,
                  f"{len(got)} rows against {len(want)}; {r.stderr}")
        full_disk(train, tmp, text)
    return status()


def full_disk(train, tmp, text):
    """The log outgrows the file size limit (its rows carry every instrument, each step); the
    checkpoint, smaller, fits."""
    log, ckpt, limit = os.path.join(tmp, "full.csv"), os.path.join(tmp, "full.st"), 1_000_000  # a double build's
    # checkpoint (about 0.7 MB) fits; the log (about 350 bytes a step, 6,000 steps) does not

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [train, *MODEL[:-2], "--steps", "6000", "--stats-every", "1", "--log", log, "--save", ckpt, text]
    p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limited)
    size = os.path.getsize(log) if os.path.exists(log) else 0
    check("a log that cannot take a row ends the run: exit status 1, the log named", p.returncode == 1 and
          f"--log {log}: a row could not be written" in p.stderr, f"exit {p.returncode}, log {size} bytes\n{p.stderr}")
    check("the checkpoint is written, and says how to resume", os.path.exists(ckpt) and "--resume" in p.stdout, p.stdout)
    r = subprocess.run(cmd + ["--resume", ckpt], capture_output=True, text=True)
    steps = [int(x["step"]) for x in csv.DictReader(open(log))]
    check("with room again, it resumes to the end, its log in order", r.returncode == 0 and steps == sorted(steps)
          and steps[-1] == 6000, r.stderr[-2000:])


if __name__ == "__main__":
    sys.exit(main())
