#!/usr/bin/env python3
"""data/prepare_linux.py on a small synthetic kernel tree: the corpus holds the .c, .h and .rst files
outside drivers/ in sorted path order, each after a line naming it; the validation split is the files
the path rule names, none in both; two preparations of one tarball are byte-identical; a preparation
cut short (a temporary folder, or a folder without SOURCE) is removed and redone, never used. Exit 0
when every check holds."""
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREP = os.path.join(ROOT, "data", "prepare_linux.py")


def tarball(path, n=300):
    """A tree like the kernel's: files in folders, drivers/ and files of other kinds among them."""
    with tarfile.open(path, "w:xz") as tar:
        def add(name, text):
            data = text.encode()
            info = tarfile.TarInfo(f"linux-source-9.9/{name}")
            info.size, info.mtime = len(data), 1234567
            tar.addfile(info, io.BytesIO(data))
        add("Makefile", "# SPDX\nVERSION = 9\nPATCHLEVEL = 9\nSUBLEVEL = 42\n")
        for i in range(n):  # in an order that is not the sorted one
            add(f"kernel/sub{i % 7}/f{(i * 37) % n}.c", f"int f{i}(void) {{ return {i}; }}\n")
        add("include/linux/x.h", "#define X 1")  # no trailing newline
        add("Documentation/a.rst", "Title\n=====\n")
        add("drivers/gpu/big.c", "left out\n")
        add("scripts/tool.py", "left out\n")


def split(folder, name):
    return gzip.open(os.path.join(folder, name)).read().decode()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tb = os.path.join(tmp, "linux-source-9.9.tar.xz")
        tarball(tb)
        run = lambda out: subprocess.run([sys.executable, PREP, tb, "--out", out], capture_output=True, text=True)  # noqa: E731
        a, b = os.path.join(tmp, "a", "linux"), os.path.join(tmp, "b", "linux")
        os.makedirs(os.path.dirname(a)), os.makedirs(os.path.dirname(b))
        ra, rb = run(a), run(b)
        check("the preparation runs", ra.returncode == 0 and rb.returncode == 0, ra.stderr + rb.stderr)
        same = all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read()
                   for f in ("train.txt.gz", "val.txt.gz", "SOURCE"))
        check("two preparations of one tarball are byte-identical", same)
        train, val = split(a, "train.txt.gz"), split(a, "val.txt.gz")
        heads = [x[4:-4] for x in (train + val).splitlines() if x.startswith("=== ")]
        names = [x[4:-4] for x in train.splitlines() if x.startswith("=== ")]
        vnames = [x[4:-4] for x in val.splitlines() if x.startswith("=== ")]
        want = lambda p: int(hashlib.sha256(p.encode()).hexdigest(), 16) % 100 == 0  # noqa: E731
        check("every .c, .h and .rst outside drivers/ is in, once; nothing else",
              sorted(heads) == sorted(set(heads)) and len(heads) == 302 and "drivers/gpu/big.c" not in heads
              and "scripts/tool.py" not in heads and "include/linux/x.h" in heads, str(len(heads)))
        check("each split is in sorted path order", names == sorted(names) and vnames == sorted(vnames))
        check("the validation split is the files the path rule names, whole, and only they",
              vnames and all(map(want, vnames)) and not any(map(want, names)), str(vnames))
        check("SOURCE names the kernel version", "kernel = 9.9.42" in open(os.path.join(a, "SOURCE")).read())
        # cut short: a temporary folder left behind, and a folder without its SOURCE
        os.makedirs(os.path.join(tmp, "a", ".linux.tmp-99999"))
        os.unlink(os.path.join(a, "SOURCE"))
        r = run(a)
        check("a preparation cut short is removed and redone",
              r.returncode == 0 and "cut short" in r.stderr and os.path.exists(os.path.join(a, "SOURCE"))
              and not os.path.exists(os.path.join(tmp, "a", ".linux.tmp-99999"))
              and open(os.path.join(a, "train.txt.gz"), "rb").read() == open(os.path.join(b, "train.txt.gz"), "rb").read(),
              r.stderr)
        r = subprocess.run([sys.executable, PREP, os.path.join(tmp, "none.tar.xz"), "--out", a], capture_output=True,
                           text=True)
        check("a missing tarball is named with how to get one", r.returncode == 1 and "apt-get install linux-source" in r.stderr,
              r.stderr)


if __name__ == "__main__":
    main()
    sys.exit(status())
