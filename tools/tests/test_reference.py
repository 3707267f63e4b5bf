"""normlab_tools.reference and dump_check: the independent PyTorch GPT against a --dump-step."""
import pytest

torch = pytest.importorskip("torch")

from normlab_tools import dump_check  # noqa: E402 (after the skip)
from normlab_tools.reference import GPT, Config  # noqa: E402
from normlab_tools.registry import norm_names  # noqa: E402
from normlab_tools.safetensors import read_safetensors  # noqa: E402


def test_every_norm_of_the_registry_has_a_formula_here():
    for name in norm_names():
        m = GPT(Config(norm=name, n_layer=1, n_head=2, n_embd=8, block_size=4, vocab_size=5, scalar0=(1, 1, 1)))
        loss = m(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long))
        assert torch.isfinite(loss)


def test_the_dump_agrees(tiny_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["dump_check", tiny_run["dump"]])
    assert dump_check.main() == 0, capsys.readouterr().out


def test_a_changed_gradient_is_caught(tiny_run, tmp_path, monkeypatch, capsys):
    """The check can fail: the dump with one gradient scaled by 1.01 is a mismatch."""
    tensors, meta = read_safetensors(tiny_run["dump"])
    monkeypatch.setattr(dump_check, "read_safetensors", lambda path: (
        {k: (v * 1.01 if k == "grad.transformer.h.0.mlp.c_fc.weight" else v) for k, v in tensors.items()}, meta))
    monkeypatch.setattr("sys.argv", ["dump_check", tiny_run["dump"]])
    assert dump_check.main() == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_a_step_at_lr_zero_is_checked_not_divided_by(tiny_run, monkeypatch, capsys):
    """A dump whose step had lr 0 (a warmup's first step, or a scalar at lr multiplier 0): the update
    check reads absolute errors instead of dividing by the lr (it raised ZeroDivisionError)."""
    tensors, meta = read_safetensors(tiny_run["dump"])
    monkeypatch.setattr(dump_check, "read_safetensors", lambda path: (tensors, {**meta, "lr": "0"}))
    monkeypatch.setattr("sys.argv", ["dump_check", tiny_run["dump"]])
    assert dump_check.main() in (0, 1)  # the parameters did move at the real lr: a mismatch, said, not a traceback
    assert "worst update error" in capsys.readouterr().out
