#!/usr/bin/env python3
"""The ViT in PyTorch at its best, timed for bench/compare.py: the reference model of the train
program's ViT (normlab_tools.reference.ViT: timm's, at Fashion-MNIST's shape) with SDPA attention,
fused AdamW (betas 0.9/0.999, weight decay 0.05 on 2-D+ parameters, as ./train), clipping at 1, and
optionally torch.compile, on random 28 x 28 images (a step's time does not depend on the pixels).

  torch_vit.py [--norm ln] [--n-layer 4] [--n-head 4] [--n-embd 128] [--patch-size 7] [--batch-size 128]
               [--steps 20] [--warmup-steps 3] [--threads N] [--compile]

Prints "torch ms_per_step X images_per_s Y peak_rss_mb Z". Python: the default python3 with PyTorch
from PyPI (python3 -m pip install torch==2.13.0).
"""
import argparse
import resource
import sys
import time

import torch

from normlab_tools.reference import ViT, VitConfig, adamw_groups
from normlab_tools.registry import norm_scalars


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("n-layer", 4), ("n-head", 4), ("n-embd", 128), ("patch-size", 7), ("batch-size", 128),
                          ("steps", 20), ("warmup-steps", 3), ("threads", 1)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--norm", default="ln")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor; needs a C++ compiler)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    beta = norm_scalars().get(a.norm) == "beta"  # the vision recipe: alpha0 0.5 (beta0 = 4) everywhere
    c = VitConfig(norm=a.norm, n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, patch_size=a.patch_size,
                  scalar0=(4.0,) * 3 if beta else (0.5,) * 3, attention="sdpa")
    model = ViT(c)
    opt = torch.optim.AdamW(adamw_groups(model, 0.05, 1.0), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, fused=True)
    run_model = torch.compile(model) if a.compile else model
    B = a.batch_size

    def step():
        x = torch.randint(0, 256, (B, 28 * 28))
        y = torch.randint(0, 10, (B,))
        loss = run_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup_steps):
        step()
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    ms = (time.perf_counter() - t) * 1000 / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch ms_per_step {ms:.3f} images_per_s {B / ms * 1000:.0f} peak_rss_mb {rss:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
