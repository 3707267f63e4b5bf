#!/usr/bin/env python3
"""A checkpoint whose format is valid but whose values are impossible is refused by what they mean,
naming the tensor and the element: a parameter that is NaN or Inf (a diverged model: resumed, it only
stops again, and sampled, it drew "zzzz" with exit 0), a second moment below zero. The untouched
checkpoint resumes. The train program's path is the first argument. Exit 0 when every check holds."""
import json
import os
import struct
import subprocess
import sys
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--threads", "1", "--quiet", "--sample", "0"]


def patched(src, dst, tensor, value):
    """dst: src with the first element of tensor (F32 or F64, as the file says) set to value."""
    data = bytearray(open(src, "rb").read())
    (n,) = struct.unpack("<Q", data[:8])
    head = json.loads(data[8:8 + n])
    at = 8 + n + head[tensor]["data_offsets"][0]
    fmt = "<d" if head[tensor]["dtype"] == "F64" else "<f"  # the double build's checkpoints are F64
    data[at:at + struct.calcsize(fmt)] = struct.pack(fmt, value)
    open(dst, "wb").write(data)


def main():
    train = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        text, good = os.path.join(tmp, "t.txt"), os.path.join(tmp, "good.st")
        with open(text, "w") as f:
            f.write("What's in a name? That which we call a rose by any other name would smell as sweet.\n" * 60)
        subprocess.run([train, *TINY, "--steps", "4", "--save", good, text], check=True, stdout=subprocess.DEVNULL)
        r = subprocess.run([train, "--steps", "6", "--resume", good, text], capture_output=True, text=True)
        check("the untouched checkpoint resumes", r.returncode == 0, r.stderr)
        for name, tensor, value, words in (
                ("nan", "transformer.wte.weight", float("nan"), "transformer.wte.weight holds nan at element 0"),
                ("inf", "transformer.h.0.ln_1.weight", float("inf"), "transformer.h.0.ln_1.weight holds inf"),
                ("v", "optimizer.v.transformer.wpe.weight", -1.0, "optimizer.v.transformer.wpe.weight holds -1")):
            bad = os.path.join(tmp, name + ".st")
            patched(good, bad, tensor, value)
            for what, args in (("resumed", ["--steps", "6"]), ("sampled", ["--steps", "0", "--sample", "20"])):
                r = subprocess.run([train, *args, "--resume", bad, text], capture_output=True, text=True)
                check(f"{tensor} = {value}: {what}, refused naming it", r.returncode == 1 and words in r.stderr,
                      f"exit {r.returncode}\n{r.stdout[-500:]}{r.stderr}")
    return status()


if __name__ == "__main__":
    sys.exit(main())
