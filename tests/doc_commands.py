#!/usr/bin/env python3
"""Every command the README and docs/ tell a user to run, run in short form. The commands are read
from the pages' shell blocks (a line that starts with ./train, mpirun, python3 or a script of
tools/, bench/ or scripts/), so a command added to a page is run without being listed here; each
page's commands run in order in a folder of their own, with a tiny text for tinyshakespeare and a
tiny image set for fashion-mnist, a tiny model and a few steps. What a short form cannot run is
skipped with its reason, by the table below (the one place that says how each kind of command is
shortened). A command passes when it exits 0 with no traceback. Finally a page with a planted
broken command is run to prove the check fails on it. The train program's path is the first argument;
--pages DIR reads DIR's pages instead of the repository's. Exit 0 when every check holds."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

from checks import check, status  # noqa: E402 (tests/checks.py, beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
from normlab_tools.idx import write_tiny_set  # noqa: E402
from normlab_tools.registry import registry  # noqa: E402

STARTS = ("./train", "./run-tests", "mpirun", "python3 ", "tools/", "bench/", "scripts/", "tensorboard")
MODEL = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
         "--eval-iters", "1", "--threads", "1"]
TRAIN_SHORT = MODEL + ["--steps", "6", "--eval-interval", "3", "--sample", "5", "--quiet"]
OUTPUTS = ("--log", "--save", "--save-best", "--out", "--dump-step")

# How each kind of command runs in short form: (a regular expression its words match, what is done:
# "skip" with the reason, or the name of a shortening below).
RULES = [
    (r"^\./run-tests\b", "skip", "the test command itself (CI runs it first)"),
    (r"^tensorboard\b", "skip", "TensorBoard's own viewer (a server); tools/tests/test_board.py reads its files"),
    (r"--hostfile", "skip", "needs a hostfile of two machines: tests/two_hosts.py runs two hosts in network namespaces"),
    (r"^mpirun\b", "mpirun", ""),
    (r"^\./train sample\b", "sample", ""),
    (r"^\./train\b", "train", ""),
    (r"^tools/(study|scaling|vision|interventions|defaults|heldout|recipe_search|dropin)\.sh\b", "skip",
     "a study of machine-hours; its plan is tested (tools/tests/test_study_plan.py) and its report below"),
    (r"^tools/\w+_report\.py\b", "check", ""),
    (r"^tools/sweep\.py run\b", "sweep", ""),
    (r"^tools/to_tensorboard\.py\b", "once", ""),
    (r"^scripts/blas\.sh\b", "skip", "times every BLAS on this machine for minutes; tests/test_deps.sh checks its choices"),
    (r"^bench/same_results\.py\b", "as_is", ""),  # fast: on the tiny runs' files made for it
    (r"^(bench|scripts)/", "help", ""),
    (r"^tools/", "as_is", ""),
]


def commands(page):
    """[(words, shown)]: the shell commands of a page's fenced blocks, in order (continuation lines
    joined), each with the output the page shows after it (a block of "$ command" and its output;
    "..." stands for lines left out)."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", page, re.S | re.M):
        if m.group(1) not in ("", "sh", "bash", "shell", "console"):
            continue
        prompted = False
        for line in re.sub(r"\\\n\s*", " ", m.group(2)).splitlines():
            line = line.strip()
            if prompted and out and not line.startswith("$ "):
                if line not in ("", "..."):
                    out[-1][1].append(line)  # the output the page shows
                continue
            prompted = line.startswith("$ ")
            line = line[2:] if prompted else line
            if not line.startswith(STARTS):
                prompted = False
                continue
            words = shlex.split(line, comments=True)
            first = words[1] if words[0] == "python3" and len(words) > 1 else words[0]
            if first.startswith(("tools/", "bench/", "scripts/")) and not os.path.isfile(os.path.join(ROOT, first)):
                continue  # a folder named in a layout listing, not a command
            out.append((words[:-1] if words[-1] == "&" else words, []))
    return out


def shown_pattern(line):
    """A shown output line as a pattern: its numbers may differ in the short form (a step, a loss)."""
    return re.sub(r"\\-?\d+(?:\\\.\d+)?|\d+(?:\\\.\d+)?", r"-?[0-9.]+", re.escape(line))


def text_fixture(path):
    with open(path, "w") as f:
        f.write("ROMEO: what light through yonder window breaks? it is the east.\n" * 150)


class Page:
    """A page's folder: the fixtures, and the files its commands read that no earlier command wrote."""

    def __init__(self, train, folder):
        self.train, self.dir = train, folder
        self.norms = [n["name"] for n in registry(train)["norms"]]  # the program's, in its order
        self.text, self.images = os.path.join(folder, "tiny.txt"), os.path.join(folder, "tiny-images")
        text_fixture(self.text)
        write_tiny_set(self.images, n=48)

    def data(self, words):
        vit = "fashion-mnist" in words
        words = [self.text if w == "tinyshakespeare" else self.images if w == "fashion-mnist" else w for w in words]
        return words + (["--patch-size", "4"] if vit else [])

    def inputs(self, words):
        """Makes each file the command reads (a log, a checkpoint, a dump) that is not there: a tiny run's."""
        for i, w in enumerate(words):
            outputs = i > 0 and words[i - 1] in OUTPUTS or w.split("=")[0] in OUTPUTS
            if outputs or not re.search(r"\.(csv|jsonl|safetensors|st)$", w) or os.path.exists(os.path.join(self.dir, w)):
                continue
            path = os.path.join(self.dir, w)
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            stem = os.path.splitext(os.path.basename(w))[0].lower()
            vit = stem == "vit"
            norm = stem if stem in self.norms else self.norms[0]  # a file named after a norm is its run
            out = ["--dump-step", path] if w.endswith(".st") else ["--save", path] if w.endswith(".safetensors") \
                else ["--log", path]
            cmd = [self.train, *TRAIN_SHORT, f"--norm={norm}", *out, self.images if vit else self.text]
            subprocess.run(cmd + (["--patch-size", "4"] if vit else []), cwd=self.dir, capture_output=True, check=True)

    def short(self, words, how):
        """The command as it runs here, or None."""
        env_python = [sys.executable]
        if how == "train":
            return [self.train, *self.data(words[1:]), *TRAIN_SHORT]
        if how == "sample":
            return [self.train, *words[1:], "--tokens", "5"]
        if how == "mpirun":
            k = words.index("./train")
            root = ["--allow-run-as-root", "--oversubscribe"] if os.geteuid() == 0 else ["--oversubscribe"]
            return ["mpirun", *root, *words[1:k], self.train, *self.data(words[k + 1:]), *TRAIN_SHORT]
        tool = words[1:] if words[0] == "python3" else words
        script = [*env_python, os.path.join(ROOT, tool[0])] if tool[0].endswith(".py") else [os.path.join(ROOT, tool[0])]
        if how == "help":
            return script + ["--help"]
        if how == "check":
            return script + ["--check"]
        if how == "once":
            return script + [w for w in tool[1:] if w != "--follow"]
        if how == "sweep":
            args = tool[1:]
            k = args.index("--") if "--" in args else len(args)
            opts = [x for i, x in enumerate(args[:k]) if x != "--steps" and (i == 0 or args[i - 1] != "--steps")]
            return script + opts + ["--steps", "4", "--jobs", "1", "--train", self.train, "--",
                                    *self.data(args[k + 1:]), *MODEL]
        return script + tool[1:]  # as_is


def run_page(train, name, text):
    cmds = commands(text)
    if not cmds:
        return
    with tempfile.TemporaryDirectory() as tmp:
        page = Page(train, tmp)
        env = {**os.environ, "NORMLAB_TRAIN": train, "PYTHONPATH": os.path.join(ROOT, "tools")}
        for words, shown in cmds:
            line = " ".join(words)
            bare = line[len("python3 "):] if line.startswith("python3 ") else line
            how, why = next(((h, y) for pat, h, y in RULES if re.search(pat, bare)),
                            ("skip", "not a program of this repository"))
            if how == "skip":
                print(f"skip {name}: {line}\n     ({why})")
                continue
            if how == "mpirun" and not shutil.which("mpirun"):
                print(f"skip {name}: {line}\n     (no mpirun on this machine)")
                continue
            page.inputs(words)
            cmd = page.short(words, how)
            r = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
            said = r.stdout[-1500:] + r.stderr[-1500:]
            missing_package = re.search(r"this needs .*?-m pip install (\S+)", said)
            if r.returncode != 0 and missing_package and "Traceback" not in said:  # says what to install: fine
                print(f"skip {name}: {line}\n     (needs {missing_package.group(1)}, not installed for this python3)")
                continue
            fails = any(x.startswith("train: error:") for x in shown)  # the page shows it failing
            missing = [x for x in shown if not re.search(shown_pattern(x), r.stdout + r.stderr)]
            check(f"{name}: {line}" + (" (fails as shown)" if fails else ""),
                  (r.returncode != 0) == fails and "Traceback" not in said and not missing,
                  f"ran: {' '.join(cmd)}\nexit {r.returncode}\n{said}\nnot printed as the page shows: {missing}")


def pages(root):
    names = ["README.md", "data/README.md"] + [os.path.join("docs", f) for f in sorted(os.listdir(os.path.join(root, "docs")))
                                              if f.endswith(".md")]
    return [(n, open(os.path.join(root, n)).read()) for n in names if os.path.exists(os.path.join(root, n))]


def main():
    train = os.path.abspath(sys.argv[1])
    root = sys.argv[sys.argv.index("--pages") + 1] if "--pages" in sys.argv else ROOT
    for name, text in pages(root):
        run_page(train, name, text)
    if root == ROOT:  # the check can fail: a page with a broken command planted
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "docs"))
            with open(os.path.join(tmp, "docs", "planted.md"), "w") as f:
                f.write("Try this:\n\n```\n./train --norm=dyt --no-such-option tinyshakespeare\n```\n")
            r = subprocess.run([sys.executable, __file__, train, "--pages", tmp], capture_output=True, text=True)
            check("a page with a broken command planted fails this check", r.returncode == 1 and "FAIL docs/planted.md" in r.stdout,
                  r.stdout + r.stderr)


if __name__ == "__main__":
    main()
    sys.exit(status())
