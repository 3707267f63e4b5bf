#!/usr/bin/env python3
"""--save-best keeps the checkpoint of the lowest val loss. A run that evaluates past its best (a
small random text: the val loss wanders above its lowest) leaves at --save-best the checkpoint of
the step its log shows lowest, with that loss recorded, not its last step's; the same run stopped
after its best and resumed leaves the same file, tensor for tensor, because the checkpoint carries
the best so far (a resumed run that forgot it would overwrite the file at its first evaluation).
The train program's path is the first argument. Exit 0 when every check holds."""
import csv
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

STEPS, EVERY = 400, 20
MODEL = ["--n-layer", "2", "--n-head", "2", "--n-embd", "64", "--block-size", "32", "--batch-size", "8",
         "--eval-iters", "4", "--eval-interval", str(EVERY), "--threads", "1", "--quiet", "--sample", "0",
         "--lr", "1e-2", "--lr-decay-steps", str(STEPS)]


def read(path):
    """(tensors as raw bytes by name, metadata)"""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return {k: raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]] for k, e in header.items()}, meta


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "t.txt")
        rng = random.Random(5)
        with open(text, "w") as f:
            f.write("".join(rng.choice("abcdefgh \n") for _ in range(1500)))
        at = lambda name: os.path.join(tmp, name)  # noqa: E731
        run = lambda *args: subprocess.run([train, *MODEL, *args, text], capture_output=True, text=True)  # noqa: E731
        r = run("--steps", str(STEPS), "--log", at("a.csv"), "--save", at("a_last.st"), "--save-best", at("a_best.st"))
        check("a run with --save-best ends well", r.returncode == 0, r.stderr)
        if r.returncode:
            return
        evals = [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(open(at("a.csv")))
                 if row["kind"] == "eval_val"]
        best_step, best = min(evals, key=lambda e: e[1])
        check(f"the run evaluates past its best (best at step {best_step} of {STEPS})", best_step <= STEPS - 2 * EVERY)
        tensors, meta = read(at("a_best.st"))
        last, _ = read(at("a_last.st"))
        loss, step = meta.get("best_val_loss", "nan -1").split()
        check("--save-best holds the best step's checkpoint, its loss recorded",
              meta["step"] == str(best_step) and int(step) == best_step and abs(float.fromhex(loss) - best) < 1e-5,
              f"file: step {meta['step']}, best_val_loss {meta.get('best_val_loss')}; log: {best} at {best_step}")
        model = [k for k in tensors if k.startswith("transformer.")]
        check("... not the last step's parameters", any(tensors[k] != last[k] for k in model))
        # the same run, stopped at the evaluation after its best and resumed to the end
        stop = best_step + EVERY
        r1 = run("--steps", str(stop), "--save", at("b.st"), "--save-best", at("b_best.st"))
        r2 = run("--steps", str(STEPS), "--resume", at("b.st"), "--save-best", at("b_best.st"))
        check("the run stopped and resumed ends well", r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr)
        b_tensors, b_meta = read(at("b_best.st"))
        same = [k for k in model if b_tensors.get(k) == tensors[k]]
        check(f"stopped at step {stop} and resumed, --save-best is the uninterrupted run's (step {best_step}, every "
              "tensor)", b_meta["step"] == meta["step"] and len(same) == len(model),
              f"step {b_meta['step']} against {meta['step']}; {len(same)} of {len(model)} tensors equal")
        check("the resumed run's summary names the best step",
              f"at step {best_step} (its checkpoint: --save-best)" in r2.stdout, r2.stdout[-400:])
        r = run("--steps", "20", "--save", at("c.st"), "--save-best", at("c.st"))
        check("--save-best and --save at one path are refused", r.returncode == 2 and "same file" in r.stderr, r.stderr)
        r = run("--steps", str(STEPS), "--resume", at("b.st"), "--save-best", at("b.st"))
        check("--save-best at --resume's checkpoint is refused", r.returncode == 2 and "--resume reads" in r.stderr,
              r.stderr)


if __name__ == "__main__":
    main()
    sys.exit(status())
