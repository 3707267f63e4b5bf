#!/usr/bin/env python3
"""Prepares the Linux kernel's source as a text corpus of fresh tokens (issue 50's `linux` dataset):

  data/prepare_linux.py [TARBALL] [--out DIR]

TARBALL: the kernel's source as a .tar.xz (default: Debian's package linux-source, its
/usr/src/linux-source-*.tar.xz; `apt-get install linux-source` puts it there). DIR: where the corpus
goes (default: data/linux beside this script).

What it takes: every .c, .h and .rst file outside drivers/ (drivers/ is three quarters of the tree,
much of it generated register tables), in sorted path order, each preceded by a line naming it
("=== kernel/sched/core.c ===").
The validation split: the whole files whose path's SHA-256, read as a number, is 0 mod 100 (about 1%
of the files, none of them also in training); the rest is the training split.
DIR holds train.txt.gz, val.txt.gz and SOURCE (the tarball's name, its kernel version, the byte and
file counts). The preparation is deterministic: the same tarball gives byte-identical files (gzip
without a time or a name in its header). It writes into a temporary folder beside DIR and renames it
to DIR at the very end, SOURCE last: a folder without SOURCE, or a temporary one, is a preparation
that was cut short, and is removed and redone. Uses Python's standard library only (Debian's
/usr/bin/python3 runs it)."""
import argparse
import glob
import gzip
import hashlib
import os
import re
import shutil
import sys
import tarfile

ENDINGS = (".c", ".h", ".rst")
LEFT_OUT = ("drivers/",)
VAL_EVERY = 100  # one file in this many, by its path's hash, is the validation split's


def selected(path):
    """Whether a path inside the tree (without its top folder) is part of the corpus."""
    return path.endswith(ENDINGS) and not path.startswith(LEFT_OUT)


def is_val(path):
    return int(hashlib.sha256(path.encode()).hexdigest(), 16) % VAL_EVERY == 0


def default_tarball():
    found = sorted(glob.glob("/usr/src/linux-source-*.tar.xz"))
    return found[-1] if found else None


def progress(what, n, size, end=False):
    if sys.stderr.isatty() or end:
        sys.stderr.write(f"\rlinux: {what}: {n} files, {size / 1e6:.0f} MB" + ("\n" if end else ""))
        sys.stderr.flush()


def read(tarball):
    """{path: bytes} of the corpus's files in the tarball (the path without the tree's top folder),
    and the kernel version its Makefile states."""
    files, size, version = {}, 0, {}
    with tarfile.open(tarball, "r:*") as tar:
        for m in tar:
            if not m.isfile():
                continue
            path = m.name.split("/", 1)[1] if "/" in m.name else m.name
            if path == "Makefile":
                head = tar.extractfile(m).read(400).decode("utf-8", "replace")
                version = dict(re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", head, re.M))
            if not selected(path):
                continue
            files[path] = tar.extractfile(m).read()
            size += len(files[path])
            if len(files) % 2000 == 0:
                progress("reading the tarball", len(files), size)
    progress("read", len(files), size, end=True)
    kernel = ".".join(version.get(k, "?") for k in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    return files, kernel


def write_split(path, files, names):
    """The files named, in order, each after its separator line, gzipped deterministically; bytes."""
    total = 0
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as f:
        for name in names:
            head = f"=== {name} ===\n".encode()
            f.write(head)
            f.write(files[name])
            if not files[name].endswith(b"\n"):
                f.write(b"\n")
                total += 1
            total += len(head) + len(files[name])
    return total


def prepare(tarball, out):
    parent = os.path.dirname(os.path.abspath(out))
    name = os.path.basename(os.path.abspath(out))
    for stale in glob.glob(os.path.join(parent, f".{name}.tmp-*")):  # a preparation cut short
        shutil.rmtree(stale, ignore_errors=True)
    if os.path.isdir(out) and not os.path.exists(os.path.join(out, "SOURCE")):
        print(f"linux: {out} has no SOURCE (a preparation cut short): redoing it", file=sys.stderr)
        shutil.rmtree(out)
    if os.path.exists(os.path.join(out, "SOURCE")):
        print(f"linux: {out} is prepared already (remove it to prepare again)", file=sys.stderr)
        return 0
    files, kernel = read(tarball)
    names = sorted(files)
    val = [n for n in names if is_val(n)]
    train = [n for n in names if not is_val(n)]
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    os.makedirs(tmp)
    t = write_split(os.path.join(tmp, "train.txt.gz"), files, train)
    v = write_split(os.path.join(tmp, "val.txt.gz"), files, val)
    with open(os.path.join(tmp, "SOURCE"), "w") as f:  # last: the mark of a whole preparation
        f.write(f"tarball = {os.path.basename(tarball)}\nkernel = {kernel}\n"
                f"train = {t} bytes, {len(train)} files\nval = {v} bytes, {len(val)} files\n")
    os.rename(tmp, out)
    print(f"linux: {out}: kernel {kernel}, {t / 1e6:.1f} MB of training text in {len(train)} files, "
          f"{v / 1e6:.1f} MB of validation text in {len(val)} files", file=sys.stderr)
    return 0


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tarball", nargs="?", help="the kernel's source .tar.xz (default: Debian's linux-source)")
    ap.add_argument("--out", default=os.path.join(here, "linux"), help="the corpus's folder (default: data/linux)")
    a = ap.parse_args(argv)
    tarball = a.tarball or default_tarball()
    if not tarball or not os.path.isfile(tarball):
        print("linux: no kernel source tarball: install Debian's linux-source (sudo apt-get install linux-source), "
              "or name a .tar.xz", file=sys.stderr)
        return 1
    return prepare(tarball, a.out)


if __name__ == "__main__":
    sys.exit(main())
