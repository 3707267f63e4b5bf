#!/usr/bin/env python3
"""Data parallel training under Open MPI (docs/distributed.md), against one process.

  dist_test.py TRAIN MPIRUN SOURCE_ROOT

A small model (2 layers, 64 wide, context 32, batch 12, lr 1e-3) trains 50 steps on a fixed text
generated here (sentences of common words; not the repository's docs, which change, and with them
how much a run amplifies the rounding of a different summation order: at lr 3e-3 on the docs of
one commit the grad norms of 2 processes drifted 9e-4 from one's), with one process and with
mpirun -np 2 and 3 at the same global batch:
- every step's loss within 1e-5 relative of one process's (its grad norm within 1e-4), the
  whole-split val loss within 1e-4;
- --grad-accum 2 (one process, and 2 processes) against one batch twice the size: the same;
- a second run with the same N, --no-overlap (the grads reduced after backward) and --recompute
  (the blocks' grads reduced at the end): bit-identical losses and checkpoints;
- a checkpoint written under 2 processes resumes under 3 and goes on as the one-process run;
- a rank killed mid-run ends the run (mpirun's abort) within a timeout, and a rank frozen (SIGSTOP)
  ends it through the watchdog (--dist-timeout 3: exit 124, naming rank 1); the last checkpoint
  resumes;
- processes started with different options (--n-embd, --steps) or data: refused at start, exit 2,
  each naming the first that differs and its own value;
- mpirun -np 2 tools/sweep.py run: the grid split between two workers, every job run once.
The default python3 (pyenv's 3.11 on the project's machines); nothing beyond the standard library.
"""
import glob
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

TRAIN, MPIRUN, ROOT = sys.argv[1:4]
COMMON = ["--n-layer", "2", "--n-embd", "64", "--n-head", "4", "--block-size", "32", "--batch-size", "12",
          "--steps", "50", "--warmup", "5", "--lr", "1e-3", "--eval-interval", "25", "--eval-iters", "4", "--sample", "0", "--threads", "1",
          "--stats-every", "0", "--quiet"]
# mpirun as root (CI containers) and more processes than cores (3 on a 2-core machine)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def command(n, args):
    return ([MPIRUN, "-np", str(n)] if n > 1 else []) + [TRAIN] + COMMON + args


def run(n, name, *args, text=None):
    """Trains with n processes; returns ({step: loss}, the whole val loss, the output, {step: grad norm})."""
    log = os.path.join(tmp, name + ".csv")
    p = subprocess.run(command(n, list(args) + ["--log", log, text or corpus]), env=ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit(f"{name}: exit {p.returncode}:\n{p.stdout}")
    losses, norms, full = {}, {}, None
    for line in open(log).read().splitlines()[1:]:
        f = line.split(",")
        if f[1] == "train":
            losses[int(f[0])], norms[int(f[0])] = f[2], f[5]  # step,kind,loss,accuracy,lr,grad_norm
        elif f[1] == "eval_val_full":
            full = float(f[2])
    return losses, full, p.stdout, norms


def close(a, b, name, steps=range(1, 51)):
    """Every step's loss within 1e-5 relative, the whole-split val within 1e-4."""
    rel = max(abs(float(a[0][s]) - float(b[0][s])) / abs(float(a[0][s])) for s in steps)
    check(rel <= 1e-5, f"{name}: step losses within 1e-5 relative (largest {rel:.2e} over {len(steps)} steps)")
    rel = max(abs(float(a[3][s]) - float(b[3][s])) / abs(float(a[3][s])) for s in steps)
    check(rel <= 1e-4, f"{name}: grad norms within 1e-4 relative (largest {rel:.2e})")
    if a[1] is not None and b[1] is not None:
        check(abs(a[1] - b[1]) <= 1e-4, f"{name}: whole val {b[1]:.6f} against {a[1]:.6f} (within 1e-4)")


def same(a, b, name, files=()):
    check(a[0] == b[0] and a[3] == b[3], f"{name}: the same losses and grad norms at every step, to the log's digits")
    for x, y in files:
        check(open(x, "rb").read() == open(y, "rb").read(), f"{name}: {os.path.basename(y)} identical to "
              f"{os.path.basename(x)}, byte for byte")


def checkpoint_step(path):
    """The step a safetensors checkpoint holds (its header's metadata)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return int(json.loads(f.read(n))["__metadata__"]["step"])


def corpus_text(n_chars=120000, seed=7):
    """Sentences of common words drawn by a fixed generator: the same text on every machine."""
    words = ("the of and to in a is that for it as was with be by on not he this are or his from at which "
             "but have an they you were her she there been one all we their has would when if so no will "
             "more out up into do any your what some can time only other new about two may then first "
             "could these over also after made did many before must through back years where much way well "
             "down should because each just those people how too little state good very make world still "
             "own see men work long here between both life being under never day same another know while "
             "last might us great old year off come since against go came right used take three").split()
    r = random.Random(seed)
    out, n = [], 0
    while n < n_chars:
        s = " ".join(words[min(int(r.expovariate(1 / 25)), len(words) - 1)] for _ in range(4 + r.randrange(10)))
        s = s[0].upper() + s[1:] + r.choice(".....,??!") + r.choice("  \n")
        out.append(s)
        n += len(s)
    return "".join(out)


def rank_pid(rank, marker):
    """The pid of the train process of that rank whose command line holds marker."""
    for env in glob.glob("/proc/[0-9]*/environ"):
        try:
            pid = env.split("/")[2]
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            if marker.encode() in cmd and open(f"/proc/{pid}/comm").read().strip() == "train" and \
                    f"OMPI_COMM_WORLD_RANK={rank}\0".encode() in open(env, "rb").read():
                return int(pid)
        except OSError:
            continue
    return None


with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "text.txt")
    with open(corpus, "w") as out:
        out.write(corpus_text())
    ck = lambda name: os.path.join(tmp, name + ".safetensors")

    one = run(1, "one", "--save", ck("one"))
    two = run(2, "two", "--save", ck("two"))
    close(one, two, "2 processes against 1")
    check("data parallel: 2 processes" in two[2], "2 processes: the run says so")
    close(one, run(3, "three"), "3 processes against 1")

    double = run(1, "b24", "--batch-size", "24")
    close(double, run(1, "accum", "--batch-size", "24", "--grad-accum", "2"), "--grad-accum 2 against batch 24")
    close(double, run(2, "accum2", "--batch-size", "24", "--grad-accum", "2"),
          "2 processes x --grad-accum 2 against batch 24")

    same(two, run(2, "two_again", "--save", ck("two_again")), "2 processes, again",
         [(ck("two"), ck("two_again"))])
    same(two, run(2, "no_overlap", "--no-overlap", "--save", ck("no_overlap")), "--no-overlap",
         [(ck("two"), ck("no_overlap"))])
    same(two, run(2, "recompute", "--recompute", "--save", ck("recompute")), "--recompute under 2 processes",
         [(ck("two"), ck("recompute"))])
    same(two, run(2, "small_buckets", "--bucket-mb", "0.01"), "--bucket-mb 0.01 (a bucket per parameter or so)")

    # a checkpoint of 2 processes at step 25 resumes under 3 and goes on as one process did
    run(2, "half", "--steps", "25", "--lr-decay-steps", "50", "--save", ck("half"))
    resumed = run(3, "resumed", "--resume", ck("half"))
    close(one, resumed, "saved under 2 processes at step 25, resumed under 3", steps=range(26, 51))

    # bad usage: a batch that does not split
    p = subprocess.run(command(2, ["--batch-size", "13", corpus]), env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    check(p.returncode != 0 and "--batch-size 13 does not split into 2 processes" in p.stdout,
          "--batch-size 13 under 2 processes: a clear error")

    # processes started with different options or data: refused at start, naming the first that differs
    # (mismatched --n-embd was blamed on "this MPI's allreduce", mismatched --steps an MPI_ERR_TRUNCATE)
    other = os.path.join(tmp, "other.txt")
    with open(corpus) as f, open(other, "w") as g:
        g.write(f.read()[:-1000])
    for what, second, said in (("--n-embd", ["--n-embd", "32"], "--n-embd is 32 here, and not the same on every process"),
                               ("--steps", ["--steps", "60"], "--steps is 60 here, and not the same on every process"),
                               ("the data", [other], "the data (" + other + " here) is not the same on every process")):
        one_cmd = [TRAIN] + COMMON + [corpus]
        two_cmd = [TRAIN] + COMMON + (second if second[0].startswith("--") else []) + [second[0] if not
                                                                                       second[0].startswith("--") else corpus]
        p = subprocess.run([MPIRUN, "-np", "1"] + one_cmd + [":", "-np", "1"] + two_cmd, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        check(p.returncode == 2 and "rank 1: " + said in p.stdout,
              f"two processes with different {what}: refused at start (exit 2), naming it and rank 1's value")
        if p.returncode != 2:
            print(p.stdout[-2000:])

    def fault(name, sig, said, *args):
        """Rank 1 gets sig once the run has a checkpoint: the run ends (not a hang), saying so; the
        checkpoint resumes under 2 processes."""
        path = ck(name)
        proc = subprocess.Popen(command(2, ["--steps", "100000", "--save-every", "10", "--save", path, *args, corpus]),
                                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.2)
        pid = rank_pid(1, path)
        check(pid is not None, f"{name}: the run wrote a checkpoint and its rank 1 was found")
        if not pid:
            proc.kill()
            proc.communicate()
            return
        os.kill(pid, sig)
        start = time.time()
        try:
            out, _ = proc.communicate(timeout=60)
            ended = True
        except subprocess.TimeoutExpired:
            proc.kill()
            out, ended = proc.communicate()[0], False
        took = time.time() - start
        try:
            os.kill(pid, signal.SIGKILL)  # a stopped rank the end left behind
        except ProcessLookupError:
            pass
        check(ended and proc.returncode != 0, f"{name}: the run ended in {took:.1f} s (exit {proc.returncode}), not hung")
        lines = [l for l in out.splitlines() if re.search(said, l)]
        check(bool(lines), f"{name}: it says what happened (/{said}/)" + ("" if lines else f":\n{out}"))
        print("  " + "\n  ".join(lines))
        at = checkpoint_step(path)
        p = subprocess.run(command(2, ["--steps", str(at + 10), "--resume", path, corpus]), env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        check(p.returncode == 0 and f"resuming at step {at}" in p.stdout,
              f"{name}: the last checkpoint before it (step {at}) resumes under 2 processes")
        return proc.returncode, took

    # a rank killed mid-run: mpirun ends the run; a rank frozen (SIGSTOP): the watchdog ends it after
    # --dist-timeout, naming the rank, with its own exit status
    fault("rank 1 killed", signal.SIGKILL, r"signal 9|Killed")
    ended = fault("rank 1 frozen", signal.SIGSTOP, r"made no progress for 3 s .*waiting for rank 1 \(", "--dist-timeout", "3")
    if ended:
        check(ended[0] == 124 and ended[1] < 3 + 8, f"rank 1 frozen: exit 124 (the watchdog's) within the timeout + 8 s")

    # the sweep tool's workers: mpirun -np 2 sweep.py run splits the grid, each job run once
    out = os.path.join(tmp, "sweep")
    tiny = [a for a in COMMON if a not in ("--quiet",)]
    tiny[tiny.index("--steps"):tiny.index("--steps") + 2] = []
    p = subprocess.run([MPIRUN, "-np", "2", sys.executable, os.path.join(ROOT, "tools", "sweep.py"), "run", out,
                        "--norms", "ln,rmsnorm", "--lrs", "1e-3,3e-3", "--steps", "10", "--jobs", "1", "--train", TRAIN,
                        "--"] + tiny + [corpus], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    rows = open(os.path.join(out, "results.csv")).read().splitlines() if os.path.exists(os.path.join(out, "results.csv")) else []
    jobs = sorted(r.split(",")[0] for r in rows[1:])
    check(p.returncode == 0 and len(jobs) == 4 and len(set(jobs)) == 4 and rows[0].startswith("job,"),
          f"mpirun -np 2 sweep.py: 4 jobs, each once, one header ({len(rows) - 1} rows)")
    check("worker 0 of 2" in p.stdout and "worker 1 of 2" in p.stdout and "2 of them this worker's" in p.stdout,
          "mpirun -np 2 sweep.py: two workers, 2 jobs each")
    if p.returncode:
        print(p.stdout)

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("dist_test: all checks passed")
