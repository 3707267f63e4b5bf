"""normlab_tools.report: the comparison's figures and HTML report, from the registry's columns."""
import os

import pytest

pytest.importorskip("matplotlib")

from normlab_tools import report
from normlab_tools.idx import write_tiny_set  # noqa: E402


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


def test_the_report_of_a_vit_run_shows_accuracy_and_its_sample(train, tmp_path):
    import subprocess
    write_tiny_set(str(tmp_path / "images"))
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
    # the GPT's healthy bands (mean log Z 5.7-7.2 for a 65-symbol model) are not a ViT's
    assert "A healthy run:" not in html and "not all the GPT's" in html


def test_a_sample_whose_images_are_a_fifo_or_a_device_is_listed_not_read(tmp_path):
    """The samples file names the image folder; there the test images file is a FIFO (opening it
    would block) or /dev/zero (endless): the report says so and goes on, in bounded time."""
    import csv
    log = tmp_path / "vit.csv"
    log.write_text("kind,step,loss,accuracy\ntrain,1,2.0,\neval_val,1,2.1,0.2\n")
    for kind in ("fifo", "zero"):
        folder = tmp_path / kind
        folder.mkdir()
        target = folder / "t10k-images-idx3-ubyte"
        os.mkfifo(target) if kind == "fifo" else os.symlink("/dev/zero", target)
        with open(tmp_path / "vit.samples.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["test_image", "predicted", "probability", "true", "predicted_label", "true_label", "images"])
            w.writerow([0, 1, 0.5, 1, "Trouser", "Trouser", str(folder)])
        out = tmp_path / f"rep_{kind}"
        assert report.main([str(log), "--out", str(out)]) == 0
        assert "is not a regular file" in (out / "report.html").read_text()


# ---- hostile logs: names that are paths, values that are markup ----------------------------------
PAYLOADS = ["../../../escaped", "x'><img src=x onerror=\"document.title='pwned'\">",
            "\"><script>document.title='pwned'</script>", "--><script>document.title='pwned'</script><!--",
            "$\\frac{a}{", "a/b", "a_b", ".hidden"]


def hostile_run(folder):
    """A log whose extra columns are named by PAYLOADS (and an absolute path), in a file whose name is
    markup, with a .config whose values are markup; returns (log path, absolute-path column)."""
    os.makedirs(folder, exist_ok=True)
    absolute = os.path.join(folder, "absolute_target")
    cols = PAYLOADS + [absolute]
    log = os.path.join(folder, "<img src=x onerror=\"document.title='pwned'\">.csv")
    with open(log, "w", newline="") as f:
        import csv
        w = csv.writer(f)
        w.writerow(["kind", "step", "loss", "elapsed_sec"] + cols)
        for step in range(6):
            w.writerow(["train", step, 3 - 0.1 * step, step] + [step * (k + 1) for k in range(len(cols))])
            w.writerow(["eval_val", step, 3.1 - 0.1 * step, step] + [""] * len(cols))
    with open(log[:-4] + ".config", "w") as f:
        f.write("norm = \"<script>document.title='pwned'</script>\"\nseed = 1\n")
    return log, absolute


def test_names_from_a_log_become_files_only_inside_the_report_folder(tmp_path):
    runs = tmp_path / "runs"
    log, absolute = hostile_run(str(runs))
    out = tmp_path / "rep" / "x"
    before = {p for p in tmp_path.rglob("*")}
    assert report.main([log, "--out", str(out)]) == 0
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(p in (out, out.parent) or out in p.parents for p in new), sorted(map(str, new))
    assert not os.path.exists(absolute + ".png") and all(p.parent == out for p in new - {out, out.parent})
    names = os.listdir(out)
    assert len({n for n in names if n.endswith(".png")}) == len({n for n in names if n.endswith(".svg")})
    # 'a/b' and 'a_b' are two figures, not one overwritten
    assert len([n for n in names if n.startswith("a_b") and n.endswith(".png")]) == 2
    assert not any(n.startswith(".") for n in names)


def test_every_value_from_a_log_is_escaped_in_the_page(tmp_path):
    log, _ = hostile_run(str(tmp_path / "runs"))
    report.main([log, "--out", str(tmp_path / "rep")])
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<script" not in page and "<img" not in page  # every payload's markup arrives as text


def test_a_hostile_report_runs_no_script_in_chromium(tmp_path):
    """The report of a hostile log, opened in headless Chromium: the title a planted script would
    change is the page's own. Skipped without chromium unless NORMLAB_NEED_CHROMIUM is set (CI)."""
    import shutil
    import subprocess
    chromium = shutil.which("chromium")
    if not chromium:
        if os.environ.get("NORMLAB_NEED_CHROMIUM"):
            pytest.fail("no chromium, and NORMLAB_NEED_CHROMIUM asks for this check")
        pytest.skip("no chromium (Debian's chromium package)")
    log, _ = hostile_run(str(tmp_path / "runs"))
    report.main([log, "--out", str(tmp_path / "rep")])
    page = tmp_path / "rep" / "report.html"
    # the control: the same check sees a script that does run
    planted = tmp_path / "planted.html"
    planted.write_text(page.read_text().replace("</body>", "<script>document.title='pwned'</script></body>"))
    titles = []
    for p in (page, planted):
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                              f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", p.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        assert "id=\"end\"" in dom, "the page did not load to its end"
        titles.append(dom[dom.index("<title>") + 7:dom.index("</title>")])
    assert titles == ["normlab: compared runs", "pwned"]


def test_a_log_with_very_many_columns_is_drawn_in_bounded_work(tmp_path, monkeypatch):
    import csv
    monkeypatch.setattr(report, "MAX_EXTRA", 3)  # the bounds, made small: the figures are what costs
    monkeypatch.setattr(report, "MAX_PANELS", 4)
    log = tmp_path / "wide.csv"
    extra = [f"c{k}" for k in range(200)] + [f"h{k}.ln_1.alpha" for k in range(60)]
    with open(log, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "step", "loss"] + extra)
        for step in range(3):
            w.writerow(["train", step, 3.0] + [step] * len(extra))
    out = tmp_path / "rep"
    assert report.main([str(log), "--out", str(out)]) == 0
    assert len([n for n in os.listdir(out) if n.startswith("c") and n.endswith(".png")]) == 3
    page = (out / "report.html").read_text()
    assert "197 of the 200 log columns" in page and "the first 4 of 60 layers drawn" in page


def test_a_gpt_report_holds_its_runs_to_the_gpt_healthy_ranges(tiny_run, tmp_path):
    assert report.main([tiny_run["log"], "--out", str(tmp_path / "cmp")]) == 0
    assert "A healthy run:" in (tmp_path / "cmp" / "report.html").read_text()
