"""normlab_tools.report: the comparison's figures and HTML report, from the registry's columns."""
import os

import pytest

pytest.importorskip("matplotlib")

from normlab_tools import report  # noqa: E402


def test_the_report_of_two_runs(tiny_run, tmp_path):
    out = tmp_path / "cmp"
    assert report.main([tiny_run["log"], tiny_run["jsonl"], "--out", str(out)]) == 0
    made = set(os.listdir(out))
    assert "report.html" in made
    # a figure per family the logs hold, named from the registry's rows
    for name in ("instrument_in_rms.png", "instrument_alpha.png", "instrument_attn_entropy.png", "grad_norm.png",
                 "log_z_max.png", "emb_scale.png"):
        assert name in made, name


def test_colours_follow_the_number_of_settings():
    assert report.color(3, 5) == "C3" and report.color(13, 5) == "C3"
    assert report.color(13, 14) != report.color(3, 14)


def idx_folder(folder, n=64, side=8):
    """A tiny image set in the four IDX files' names: the label is the bright quarter of the image."""
    import gzip
    import struct
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "t10k"):
        labels = [(k * 7 + 3) % 4 for k in range(n)]
        pixels = bytes(200 if (y >= side // 2) * 2 + (x >= side // 2) == q else 20
                       for q in labels for y in range(side) for x in range(side))
        with gzip.open(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, side, side) + pixels)
        with gzip.open(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(labels))


def test_the_report_of_a_vit_run_shows_accuracy_and_its_sample(train, tmp_path):
    import subprocess
    idx_folder(str(tmp_path / "images"))
    log = str(tmp_path / "vit.csv")
    subprocess.run([train, "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--patch-size", "4", "--batch-size", "8",
                    "--steps", "4", "--eval-interval", "2", "--threads", "1", "--quiet", "--sample", "3", "--log", log,
                    str(tmp_path / "images")], check=True, capture_output=True)
    out = tmp_path / "cmp"
    # the files beside the log (.confusion.csv, .samples.csv) are not runs, however the shell globs them
    assert report.main([log, str(tmp_path / "vit.confusion.csv"), str(tmp_path / "vit.samples.csv"), "--out", str(out)]) == 0
    made = set(os.listdir(out))
    assert {"val_accuracy.png", "samples_vit.png"} <= made, made
    html = (out / "report.html").read_text()
    assert "whole accuracy" in html and html.count("<figure") >= 3
