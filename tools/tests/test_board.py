"""board: train logs as TensorBoard event files, read back with TensorBoard's own reader."""
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util.tensor_util import make_ndarray  # noqa: E402

from normlab_tools import board  # noqa: E402
from normlab_tools.files import read_log  # noqa: E402

TOOL = os.path.join(os.path.dirname(os.path.dirname(__file__)), "to_tensorboard.py")


def events(run):
    """{tag: [(step, value, wall_time)]} of a run folder, as TensorBoard reads it."""
    acc = EventAccumulator(run, size_guidance={"tensors": 0})
    acc.Reload()
    return {t: [(e.step, float(make_ndarray(e.tensor_proto)), e.wall_time) for e in acc.Tensors(t)]
            for t in acc.Tags()["tensors"]}


@pytest.mark.parametrize("which", ["log", "jsonl"])
def test_every_value_of_a_log_is_an_event(tiny_run, tmp_path, which):
    log = tiny_run[which]
    assert board.main([log, "--logdir", str(tmp_path)]) == 0
    run = os.path.join(tmp_path, os.path.splitext(os.path.basename(log))[0])
    got, (rows, _) = events(run), read_log(log)
    assert {"train/loss", "train/lr", "eval_val/loss", "eval_train/loss"} <= set(got)
    for r in rows:
        for col, v in r.items():
            if col in board.NOT_SCALARS or v != v:
                continue
            at = {s: x for s, x, _ in got[f"{r['kind']}/{col}"]}
            assert at[int(r["step"])] == pytest.approx(v, rel=1e-6, abs=1e-30), (r["kind"], col, r["step"])
    walls = [w for _, _, w in got["train/loss"]]
    assert walls == sorted(walls) and walls[-1] - walls[0] < 3600  # the rows' own clock, not the reading's


def later_clock(line):
    """A CSV row as a resumed run logs it again: the same values, its elapsed_sec the new process's
    (here 1: shorter, so that the rows after it sit earlier in the file than before the cut)."""
    fields = line.decode().rstrip("\n").split(",")
    fields[7] = "1"  # elapsed_sec, the header's 8th column
    return (",".join(fields) + "\n").encode()


def test_follow_reads_a_growing_log_once_per_step_even_when_cut_back(tiny_run, tmp_path):
    """A log written in pieces (a torn last line included), then cut back as a resumed run cuts it and
    written again: each step lands once, with the log's value."""
    lines = open(tiny_run["log"], "rb").read().splitlines(keepends=True)
    log, out = tmp_path / "grow.csv", tmp_path / "tb"
    log.write_bytes(lines[0] + lines[1] + lines[2][:5])  # the header, a row and a torn one
    p = subprocess.Popen([sys.executable, TOOL, "--follow", "--interval", "0.1", "--logdir", str(out), str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        with open(log, "ab") as f:
            f.write(lines[2][5:] + b"".join(lines[3:10]))
        time.sleep(1.0)
        log.write_bytes(b"".join(lines[:6]))  # cut back to a checkpoint's step (smaller than read so far)
        time.sleep(1.0)
        with open(log, "ab") as f:  # the resumed run logs the rows again (its clock differs), then the rest
            f.write(b"".join(later_clock(line) for line in lines[6:]))
        time.sleep(1.5)
    finally:
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=20)
    assert p.returncode == 0, stderr
    got = events(str(out / "grow"))
    rows, _ = read_log(tiny_run["log"])
    for kind in ("train", "eval_train", "eval_val"):
        want = [(int(r["step"]), r["loss"]) for r in rows if r["kind"] == kind]
        assert [s for s, _, _ in got[f"{kind}/loss"]] == [s for s, _ in want], kind  # every step, once, in order
        assert [v for _, v, _ in got[f"{kind}/loss"]] == pytest.approx([v for _, v in want], rel=1e-6), kind


def test_what_is_not_a_log_is_skipped_and_said(tiny_run, tmp_path, capsys):
    other = tmp_path / "samples.csv"
    other.write_text("test_image,predicted\n0,1\n")
    assert board.main([str(other), tiny_run["log"], "--logdir", str(tmp_path / "tb")]) == 0
    assert "samples.csv: not a train log" in capsys.readouterr().err
    assert board.main([str(other), "--logdir", str(tmp_path / "tb")]) == 1


def test_without_tensorboard_it_says_what_to_install(tmp_path):
    code = "import sys; sys.modules['tensorboard'] = None; sys.modules['tensorboard.summary'] = None; " \
           "from normlab_tools import board; raise SystemExit(board.main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "x.csv"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "pip install tensorboard" in r.stderr and "Traceback" not in r.stderr
