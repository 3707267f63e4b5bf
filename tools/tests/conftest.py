"""Fixtures: the train program (the build's, or $NORMLAB_TRAIN) and one tiny run of it, whose log,
.config, checkpoint and --dump-step file the modules' tests read."""
import os
import subprocess

import pytest

from normlab_tools.registry import train_program

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "4",
        "--eval-iters", "2", "--threads", "1", "--quiet", "--sample", "1", "--stats-every", "2"]
TEXT = 'the quick brown fox jumps over the lazy dog; "quoted" #1. ' * 200


@pytest.fixture(scope="session")
def train():
    path = train_program()
    if not os.access(path, os.X_OK):
        pytest.skip(f"no train program at {path}: build it (./train --help) or set NORMLAB_TRAIN")
    return path


@pytest.fixture(scope="session")
def tiny_run(train, tmp_path_factory):
    """{text, log, config, checkpoint, dump}: a 12-step DyT run (the embedding scale on), and a dump."""
    d = tmp_path_factory.mktemp("run")
    text = d / "t.txt"
    text.write_text(TEXT)
    run = {"text": str(text), "log": str(d / "dyt.csv"), "config": str(d / "dyt.config"),
           "checkpoint": str(d / "dyt.st"), "dump": str(d / "dump.st"), "jsonl": str(d / "dyt.jsonl")}
    common = [train, *TINY, "--norm=dyt", "--prompt", 'a "quoted" #not a comment']
    subprocess.run([*common, "--steps", "12", f"--log={run['log']}", f"--save={run['checkpoint']}", run["text"]],
                   check=True, capture_output=True)
    subprocess.run([*common, "--steps", "12", f"--log={run['jsonl']}", run["text"]], check=True, capture_output=True)
    subprocess.run([*common, f"--dump-step={run['dump']}", run["text"]], check=True, capture_output=True)
    return run
