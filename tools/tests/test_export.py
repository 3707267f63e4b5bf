"""export: a checkpoint in PyTorch, loaded with strict names, the same loss on a batch as the train
program's, written as a .pt file that nanoGPT-style code loads with strict=True; and docs/training.md's
lines that do it run as printed."""
import json
import os
import re
import struct

import pytest

torch = pytest.importorskip("torch")
from normlab_tools import export  # noqa: E402
from normlab_tools.files import ROOT  # noqa: E402
from normlab_tools.reference import GPT, Config, from_checkpoint  # noqa: E402


def test_a_checkpoint_gives_the_same_loss_in_pytorch(tiny_run, tmp_path, capsys):
    pt = str(tmp_path / "dyt.pt")
    assert export.main([tiny_run["checkpoint"], "--check", "--out", pt]) == 0
    out = capsys.readouterr().out
    assert "loaded with strict=True" in out and ": the same" in out
    f = torch.load(pt)
    model = GPT(Config(**f["config"]))
    model.load_state_dict(f["state_dict"], strict=True)
    ours, theirs = export.check(tiny_run["checkpoint"], model, None)
    assert theirs == pytest.approx(ours, rel=1e-5) and f["config"]["norm"] == "dyt"


def test_a_changed_weight_is_not_the_same_loss(tiny_run):
    model = from_checkpoint(tiny_run["checkpoint"])
    with torch.no_grad():  # ln_f's alpha doubled (the untrained blocks move this tiny run's loss little)
        next(p for n, p in model.named_parameters() if n.startswith("transformer.ln_f.") and p.numel() == 1).mul_(2)
    ours, theirs = export.check(tiny_run["checkpoint"], model, None)
    assert abs(ours - theirs) / ours > 1e-4


def test_a_name_the_model_lacks_is_refused(tiny_run, tmp_path, capsys):
    raw = open(tiny_run["checkpoint"], "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    moved = next(k for k in header if k.startswith("optimizer."))
    header["transformer.stray.weight"] = header.pop(moved)
    h = json.dumps(header).encode()
    bad = tmp_path / "stray.safetensors"
    bad.write_bytes(struct.pack("<Q", len(h)) + h + raw[8 + n:])
    assert export.main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert "transformer.stray.weight" in err and "Traceback" not in err


def test_the_documented_lines_run(tiny_run, tmp_path):
    """docs/training.md's Python block under 'In PyTorch', on the tiny run's checkpoint."""
    doc = open(os.path.join(ROOT, "docs", "training.md")).read()
    block = re.search(r"<!-- pytorch -->\n```python\n(.*?)```", doc, re.S).group(1)
    assert len(block.strip().splitlines()) <= 6
    code = block.replace('"runs/dyt.safetensors"', repr(tiny_run["checkpoint"])).replace('b"ROMEO:\\nWhat"', 'b"the quick"')
    scope = {}
    exec(compile(code, "docs/training.md", "exec"), scope)
    assert 0 < scope["loss"].item() < 10
