#!/usr/bin/env python3
"""The README's first command, run as it stands: ./train --norm=dyt tinyshakespeare (2,000 steps at
every default, the default seed) prints the range the README's table states for it, and ends inside
it. The range was measured with the BLAS builds named in results/defaults/*/machine.txt; with another
BLAS (MKL on an Intel machine) the run is printed and the range not held against it. Skipped without
data/tinyshakespeare.txt.gz. The train program's path is the first argument. Exit 0 when every check
holds, 77 when skipped."""
import json
import os
import re
import subprocess
import sys

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measured_blas():
    """The BLAS builds the range was measured with (their machine.txt lines)."""
    out = set()
    for d in ("eval", "noise"):
        path = os.path.join(ROOT, "results", "defaults", d, "machine.txt")
        if os.path.exists(path):
            out.add(open(path).read().split(",")[3].strip())
    return out


def main():
    train = os.path.abspath(sys.argv[1])
    if not os.path.exists(os.path.join(ROOT, "data", "tinyshakespeare.txt.gz")):
        print("skipped: no data/tinyshakespeare.txt.gz (data/fetch.sh)")
        return 77
    build = os.path.dirname(os.path.dirname(train))
    opts = json.loads(subprocess.run(["meson", "introspect", build, "--buildoptions"], capture_output=True,
                                     text=True).stdout or "[]")
    blas = next((o["value"] for o in opts if o["name"] == "blas"), "unknown")
    r = subprocess.run([train, "--norm=dyt", "tinyshakespeare", "--quiet", "--sample", "0"], capture_output=True,
                       text=True, cwd=ROOT, timeout=1500)
    loss = re.search(r"val loss over the whole val split \(\d+ tokens\): ([\d.]+)", r.stdout)
    said = re.search(r"expected for these defaults: ([\d.]+)-([\d.]+)", r.stdout)
    check("the default command runs and prints its whole val loss and the expected range",
          r.returncode == 0 and loss and said, r.stdout[-800:] + r.stderr[-800:])
    if not (loss and said):
        return
    got, lo, hi = float(loss.group(1)), float(said.group(1)), float(said.group(2))
    print(f"./train --norm=dyt tinyshakespeare with {blas}: {got:.4f}; the README's range {lo:.2f}-{hi:.2f}")
    if blas in measured_blas():
        check(f"it ends inside the range ({blas}: one of the builds it was measured with)", lo <= got <= hi)
    else:
        print(f"(the range was measured with {', '.join(sorted(measured_blas()))}, not {blas}: not held against it)")


if __name__ == "__main__":
    rc = main()
    sys.exit(rc if rc == 77 else status())
