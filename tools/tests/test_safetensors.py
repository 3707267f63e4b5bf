"""normlab_tools.safetensors: the one reader of checkpoints and dumps."""
import pytest

from normlab_tools.safetensors import read_header, read_scalars


def test_the_scalars_without_pytorch(tiny_run):
    meta, scalars = read_scalars(tiny_run["checkpoint"])
    assert meta["format"] == "normlab-checkpoint-1" and meta["norm"] == "dyt"
    assert "transformer.emb_scale" in scalars and "transformer.h.0.ln_1.alpha" in scalars
    assert all(isinstance(v, float) for v in scalars.values())


def test_not_safetensors_is_a_value_error():
    for raw in (b"", b"\x05\x00\x00\x00\x00\x00\x00\x00{}", b"\xff" * 16):
        with pytest.raises(ValueError):
            read_header(raw)


def test_the_tensors_agree_with_the_scalars(tiny_run):
    torch = pytest.importorskip("torch")
    from normlab_tools.safetensors import read_safetensors
    tensors, meta = read_safetensors(tiny_run["checkpoint"])
    _, scalars = read_scalars(tiny_run["checkpoint"])
    for k, v in scalars.items():
        assert tensors[k].item() == pytest.approx(v, rel=0, abs=0)
    assert tensors["transformer.wte.weight"].dtype in (torch.float32, torch.float64)
