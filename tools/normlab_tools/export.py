"""A train checkpoint in PyTorch: loaded into the package's reference model (normlab_tools.reference:
nanoGPT's GPT, or timm's ViT, with the run's norm) by name with strict=True, checked against the
train program on a batch, and written as a PyTorch file if asked:

  python3 tools/to_pytorch.py runs/dyt.safetensors --check           # the same loss on a batch
  python3 tools/to_pytorch.py runs/dyt.safetensors --out runs/dyt.pt # torch.save: config + state_dict

--check runs the train program once from the checkpoint (--resume ... --dump-step: one step, which
writes the parameters, a batch of the checkpoint's dataset and the loss on it) and compares that
loss with the PyTorch model's on the same batch; exit 1 when they differ by more than 1e-5
(relative). The .pt file holds {"kind", "config", "state_dict", "vocab"}:
GPT(Config(**f["config"])).load_state_dict(f["state_dict"], strict=True) restores the model."""
import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile

from .files import alone_env
from .registry import train_program
from .safetensors import read_header, read_safetensors

try:
    import torch
except ImportError:
    torch = None


def check(path, model, data):
    """(ours, torch's) loss on the batch the train program draws from the checkpoint (a text's
    tokens or an image set's pixels: batch.idx); raises RuntimeError with the program's message when
    it cannot run."""
    with open(path, "rb") as f:
        step = int(read_header(f.read())[1].get("step", 0))
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "step.safetensors")
        cmd = [train_program(), "--resume", path, "--steps", str(step + 1), "--dump-step", dump, "--threads", "1",
               "--sample", "0"]
        r = subprocess.run(cmd + ([data] if data else []), capture_output=True, text=True, env=alone_env())
        if r.returncode:
            raise RuntimeError(r.stderr.strip() or r.stdout.strip())
        t, _ = read_safetensors(dump)
    with torch.no_grad():
        loss = model(t["batch.idx"].long(), t["batch.targets"].long())
    return t["loss"].item(), loss.item()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="to_pytorch.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("checkpoint", help="a --save (or --save-best) file of the train program")
    ap.add_argument("--check", action="store_true", help="compare the loss on a batch with the train program's")
    ap.add_argument("--data", help="--check: the dataset, when the one the checkpoint names has moved")
    ap.add_argument("--out", help="write the model as a PyTorch file (torch.save) here")
    a = ap.parse_args(argv)
    if torch is None:
        ap.exit(2, f"{ap.prog}: error: this needs PyTorch, which {sys.executable} lacks: "
                   f"{os.path.basename(sys.executable)} -m pip install torch\n")
    from .reference import from_checkpoint
    try:
        model = from_checkpoint(a.checkpoint)
    except (OSError, ValueError, KeyError, RuntimeError) as e:  # RuntimeError: strict loading found a name amiss
        print(f"{ap.prog}: error: {a.checkpoint}: {str(e).strip()[:600]}", file=sys.stderr)
        return 1
    c, kind = model.config, type(model).__name__
    n = sum(p.numel() for p in model.parameters())
    print(f"{a.checkpoint}: {kind}, norm {c.norm}, {c.n_layer} x {c.n_embd}, {n} parameters, loaded with strict=True")
    status = 0
    if a.check:
        try:
            ours, theirs = check(a.checkpoint, model, a.data)
        except RuntimeError as e:
            print(f"{ap.prog}: error: the train program could not draw a batch from the checkpoint: {e}", file=sys.stderr)
            return 1
        rel = abs(ours - theirs) / max(abs(ours), 1e-30)
        status = 0 if rel <= 1e-5 else 1
        print(f"loss on a batch: train program {ours:.7f}, PyTorch {theirs:.7f} (relative difference {rel:.1e}): "
              f"{'the same' if not status else 'NOT the same'}")
    if a.out:
        torch.save({"kind": kind, "config": dataclasses.asdict(c), "state_dict": model.state_dict(),
                    "vocab": model.vocab}, a.out)
        print(f"wrote {a.out}: GPT(Config(**f['config'])).load_state_dict(f['state_dict'], strict=True) restores it"
              if kind == "GPT" else f"wrote {a.out}: ViT(VitConfig(**f['config'])) and load_state_dict(strict=True)")
    return status
