"""normlab_tools.files: the log reader (one missing-value convention: NaN), the .config reader (as
./train reads it) and write_file (never through a link)."""
import math
import os

from normlab_tools.files import read_config, read_log, write_file


def test_a_csv_log_reads_as_floats_with_the_kind_a_string(tiny_run):
    rows, problems = read_log(tiny_run["log"])
    assert problems == []
    kinds = {r["kind"] for r in rows}
    assert {"train", "eval_train", "eval_val", "eval_val_full"} <= kinds
    train = [r for r in rows if r["kind"] == "train"]
    assert len(train) == 12 and all(isinstance(r["loss"], float) for r in train)
    # the instruments are measured every 2nd step: the other rows have none, read as NaN (never None)
    assert math.isnan(train[1]["h0.ln_1.in_rms"]) and not math.isnan(train[0]["h0.ln_1.in_rms"])
    assert not any(v is None for r in rows for v in r.values())


def test_the_jsonl_log_says_the_same_as_the_csv(tiny_run):
    csv_rows, _ = read_log(tiny_run["log"])
    json_rows, problems = read_log(tiny_run["jsonl"])
    assert problems == [] and len(json_rows) == len(csv_rows)
    for a, b in zip(csv_rows, json_rows):
        assert a["kind"] == b["kind"] and a["step"] == b["step"] and a["loss"] == b["loss"]


def test_a_torn_row_is_left_out_and_named(tiny_run, tmp_path):
    cut = tmp_path / "cut.csv"
    data = open(tiny_run["log"], "rb").read()
    cut.write_bytes(data[:-30])  # the last row cut short
    rows, problems = read_log(str(cut))
    full, _ = read_log(tiny_run["log"])
    assert len(rows) == len(full) - 1 and len(problems) == 1 and "torn row" in problems[0]


def test_the_config_reads_back_as_the_program_wrote_it(tiny_run):
    cfg = read_config(tiny_run["config"])
    assert cfg["norm"] == "dyt" and cfg["n-embd"] == "16"
    assert cfg["prompt"] == 'a "quoted" #not a comment', "quotes and '#' inside a quoted value"
    assert read_config(tiny_run["config"] + ".absent") == {}


def test_write_file_replaces_a_planted_link_and_leaves_its_target(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out")
    write_file(str(tmp_path / "out"), "report")
    assert victim.read_text() == "precious" and not os.path.islink(tmp_path / "out")
    assert (tmp_path / "out").read_text() == "report"
