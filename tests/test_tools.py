#!/usr/bin/env python3
"""What a newcomer meets before any training: the README's first screen (the two commands, the
table, the "which norm" answer), every script the README and docs run directly is executable,
the Python tools say what is missing (matplotlib) instead of a traceback, and docs/training.md's
copy of ./train --help is the program's. The train program's path is the first argument. Exit 0
when every check holds."""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def broken_files(train):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("the quick brown fox jumps over the lazy dog. " * 200)
        tiny = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
                "--eval-iters", "2", "--steps", "12", "--threads", "1", "--quiet", "--sample", "0"]
        logs = {name: os.path.join(tmp, name) for name in ("cost$5_and_$6.csv", "cut.jsonl", "list.jsonl", "latin.csv")}
        for path in logs.values():
            subprocess.run([train, *tiny, f"--log={path}", text], capture_output=True, check=True)
        with open(logs["cut.jsonl"], "rb+") as f:  # the last line cut in half
            size = f.seek(0, 2)
            f.truncate(size - 40)
        with open(logs["list.jsonl"], "a") as f:
            f.write("[1, 2, 3]\n")
        with open(logs["latin.csv"], "ab") as f:
            f.write(b"12,train,2.5\xe9\xff\n")
        out = os.path.join(tmp, "report")
        os.makedirs(out)
        with open(os.path.join(tmp, "victim.txt"), "w") as f:
            f.write("precious\n")
        os.symlink(os.path.join(tmp, "victim.txt"), os.path.join(out, "report.html"))  # planted
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_runs.py"), *logs.values(), "--out", out],
                           capture_output=True, text=True)
        err = p.stdout + p.stderr
        check("compare_runs.py on a $-named run and broken logs exits 0 without a traceback",
              p.returncode == 0 and "Traceback" not in err, err)
        report = open(os.path.join(out, "report.html")).read() if os.path.exists(os.path.join(out, "report.html")) else ""
        for want in ("is not JSON (a row cut short?)", "is not a JSON object", "not UTF-8", "cost$5_and_$6"):
            check(f"the report names the problem: {want}", want in report)
        check("each problem is a one-line warning", err.count("compare_runs: warning: ") >= 3, err)
        check("a link planted at report.html is replaced, its target untouched",
              open(os.path.join(tmp, "victim.txt")).read() == "precious\n" and not os.path.islink(os.path.join(out, "report.html")))
        sweep = os.path.join(tmp, "sweep")
        os.makedirs(sweep)
        with open(os.path.join(sweep, "results.csv"), "w") as f:
            f.write("job,norm,lr,seed,steps,best_val,diverged\nok,dyt,0.001,1,10,2.5,0\ntorn,dyt,0.0\nx,dyt,abc,1,10,2,0\n")
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "sweep.py"), "summary", sweep],
                           capture_output=True, text=True)
        err = p.stdout + p.stderr
        check("sweep.py summary on a corrupt results.csv warns, names the lines and goes on",
              p.returncode == 0 and "lines 3, 4 not whole" in err and "Traceback" not in err, err)
        with open(os.path.join(sweep, "results.csv"), "w") as f:
            f.write("a,b\n1,2\n")
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "sweep.py"), "summary", sweep],
                           capture_output=True, text=True)
        check("sweep.py summary on a file that is not a results.csv says so", p.returncode != 0 and
              "is not a sweep's results.csv" in p.stderr and "Traceback" not in p.stderr, p.stderr)


def main():
    train = sys.argv[1]
    readme = read("README.md")
    first = readme.split("\n## Read on")[0].splitlines()
    check(f"the README's first screen is short ({len(first)} lines, want <= 70)", len(first) <= 70)
    for want in ("./train --norm=", "./run-tests", "## Which norm should I pick?", "<!-- report:defaults -->"):
        check(f"the README's first screen holds {want!r}", any(want in x for x in first))
    # every script a doc tells the reader to run as a program: tools/x.py, bench/y.py, scripts/z.sh
    docs = readme + "".join(read(os.path.join("docs", f)) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
    runs = sorted(set(re.findall(r"(?:^|[\s`(])((?:tools|bench|scripts|tests)/[\w./-]+\.(?:py|sh))\b", docs)))
    for path in runs:
        full = os.path.join(ROOT, path)
        if os.path.exists(full):
            with open(full) as f:
                shebang = f.read(2) == "#!"
            check(f"{path} runs as it stands (#! and the execute bit)", not shebang or os.access(full, os.X_OK))
    # the tools without matplotlib: a message with the command that installs it, never a traceback
    block = "import os, sys; sys.modules['matplotlib'] = None; sys.argv = [sys.argv[1]] + sys.argv[2:]; " \
            "sys.path.insert(0, os.path.dirname(sys.argv[0])); " \
            "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'), {'__name__': '__main__', '__file__': sys.argv[0]})"
    for tool, args in (("tools/compare_runs.py", ["x.csv"]), ("tools/stability_report.py", ["--check"]),
                       ("tools/sweep.py", ["plots", "nowhere"])):
        p = subprocess.run([sys.executable, "-c", block, os.path.join(ROOT, tool), *args], capture_output=True, text=True)
        err = p.stdout + p.stderr
        check(f"{tool} without matplotlib says how to install it", p.returncode != 0 and "pip install matplotlib" in err
              and "Traceback" not in err, err)
    # a fetch that fails (here a curl that cannot reach the host) leaves nothing in data/
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(ROOT, "data", "fetch.sh"), tmp)
        os.makedirs(os.path.join(tmp, "bin"))
        with open(os.path.join(tmp, "bin", "curl"), "w") as f:
            f.write("#!/bin/sh\necho 'curl: (6) Could not resolve host' >&2\nexit 6\n")
        os.chmod(os.path.join(tmp, "bin", "curl"), 0o755)
        env = {**os.environ, "PATH": os.path.join(tmp, "bin") + os.pathsep + os.environ["PATH"]}
        p = subprocess.run(["bash", os.path.join(tmp, "fetch.sh")], env=env, capture_output=True, text=True)
        check("a failed fetch exits non-zero and leaves nothing behind in data/",
              p.returncode != 0 and sorted(os.listdir(tmp)) == ["bin", "fetch.sh"], str(os.listdir(tmp)) + p.stderr)
    # ./run-tests lists each skipped test with its reason (scripts/skipped.py on meson's testlog.json)
    import json
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(json.dumps({"name": "test_ok", "result": "OK", "stdout": "fine"}) + "\n")
        f.write(json.dumps({"name": "test_reference_pytorch", "result": "SKIP",
                            "stdout": "checking\nskipped: PyTorch is not installed (python3 -m pip install torch)\n"}) + "\n")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "skipped.py"), f.name], capture_output=True, text=True)
    os.unlink(f.name)
    check("scripts/skipped.py names each skipped test and its reason, and nothing else",
          p.stdout == "SKIPPED test_reference_pytorch: skipped: PyTorch is not installed (python3 -m pip install torch)\n",
          p.stdout + p.stderr)
    # the Python tools on broken files: a named problem in the report and a warning, never a traceback
    have_mpl = subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True).returncode == 0
    if not have_mpl:
        check("matplotlib for the default python3 (python3 -m pip install matplotlib), which the report checks need", False)
    else:
        broken_files(train)
    # docs/training.md's copy of --help
    helptext = subprocess.run([train, "--help"], capture_output=True, text=True).stdout.rstrip("\n")
    m = re.search(r"<!-- help -->\n```\n(.*?)\n```\n<!-- /help -->", read("docs/training.md"), re.S)
    check("docs/training.md's copy of --help is the program's (paste ./train --help between the marks)",
          m and m.group(1) == helptext)
    return status()


if __name__ == "__main__":
    sys.exit(main())
