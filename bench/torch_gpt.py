#!/usr/bin/env python3
"""The same GPT in PyTorch, for side-by-side comparisons with the train program.

nanoGPT's model (pre-norm, tied lm_head, exact GELU, causal attention) with the same norm choices,
the same data (first 90% of the text for training), the same AdamW, schedule, clipping and init.

  torch_gpt.py time  [options]   ms/step of training steps after warm-up (for bench/compare.py)
  torch_gpt.py train [options]   a full run; prints the val loss over the whole val split at the end

Options mirror the train program's: --norm --n-layer --n-head --n-embd --block-size --batch-size
--steps --warmup-steps (time mode) --threads --seed --data PATH, and for the element-wise norms
--alpha0 (--alpha0-ln1/-ln2/-lnf), --shift0 (derf), --emb-scale N (0: off) and --scalar-lr-mult. These
default to the literature's plain init (alpha0 0.5, no scale); give the recipe's values from
./train --help to train as ./train does by default. Python: the default python3 with PyTorch from
PyPI (python3 -m pip install torch==2.13.0).
"""
import argparse
import gzip
import math
import os
import resource
import sys
import time

import torch

from normlab_tools.reference import GPT, Config, adamw_groups
from normlab_tools.registry import norm_scalars
from normlab_tools.safetensors import read_safetensors


def config(a, vocab):
    """The reference's Config from the options: each position's alpha0 (or beta0 = 1/alpha0^2 for the
    beta kinds, as the registry says which those are)."""
    beta = norm_scalars().get(a.norm) == "beta"
    scalar0 = []
    for pos in ("ln1", "ln2", "lnf"):
        v = getattr(a, f"alpha0_{pos}") or a.alpha0
        scalar0.append(1 / v ** 2 if beta else v)
    return Config(norm=a.norm, n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size,
                  vocab_size=vocab, bias=a.bias, scalar0=tuple(scalar0), shift0=a.shift0, emb_scale=a.emb_scale,
                  attention=a.attention)


def lr_at(a, it):
    if it < a.warmup:
        return a.lr * (it + 1) / (a.warmup + 1)
    if it > a.steps:
        return a.min_lr
    return a.min_lr + 0.5 * (1 + math.cos(math.pi * (it - a.warmup) / (a.steps - a.warmup))) * (a.lr - a.min_lr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["time", "train"])
    p.add_argument("--norm", default="ln")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--warmup-steps", type=int, default=3, help="untimed steps before timing (time mode)")
    p.add_argument("--bias", action="store_true")
    p.add_argument("--alpha0", type=float, default=0.5)
    for pos in ("ln1", "ln2", "lnf"):
        p.add_argument(f"--alpha0-{pos}", type=float, default=0.0, help="(0: --alpha0)")
    p.add_argument("--shift0", type=float, default=0.0)
    p.add_argument("--emb-scale", type=float, default=0.0, help="the embedding scale's initial value (0: off)")
    p.add_argument("--scalar-lr-mult", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--attention", choices=["sdpa", "manual"], default="sdpa",
                   help="sdpa: F.scaled_dot_product_attention (default); manual: softmax(q k^T) v as nanoGPT's fallback")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor; needs a C++ compiler)")
    p.add_argument("--adamw", choices=["foreach", "fused"], default="fused",
                   help="PyTorch's AdamW implementation (default fused: one kernel for all parameters)")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--init", help="start from the parameters in this safetensors file (train's names)")
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "tinyshakespeare.txt.gz"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    raw = gzip.open(a.data, "rb").read() if a.data.endswith(".gz") else open(a.data, "rb").read()
    vocab = sorted(set(raw))
    lut = torch.full((256,), -1, dtype=torch.long)  # byte -> token id (sorted unique bytes)
    lut[torch.tensor(vocab)] = torch.arange(len(vocab))
    data = lut[torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()]
    n = int(len(data) * 0.9)
    train, val = data[:n], data[n:]
    model = GPT(config(a, len(vocab)))
    if a.init:  # the train program's names are the reference's
        model.load(read_safetensors(a.init)[0])
    # the norms' scalars and the embedding scale learn at lr x --scalar-lr-mult
    groups = adamw_groups(model, 0.1, a.scalar_lr_mult)
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.99), eps=1e-8, **{a.adamw: True})
    run_model = torch.compile(model) if a.compile else model
    T, B = a.block_size, a.batch_size

    def batch(split):
        ix = torch.randint(len(split) - T, (B,))
        return torch.stack([split[i:i + T] for i in ix]), torch.stack([split[i + 1:i + 1 + T] for i in ix])

    def step(it):
        for g in opt.param_groups:
            g["lr"] = lr_at(a, it) * g["mult"]
        x, y = batch(train)
        loss = run_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    if a.mode == "time":
        for it in range(a.warmup_steps):
            step(it)
        t = time.perf_counter()
        for it in range(a.steps):
            step(a.warmup_steps + it)
        ms = (time.perf_counter() - t) * 1000 / a.steps
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"torch ms_per_step {ms:.3f} tokens_per_s {B * T / ms * 1000:.0f} peak_rss_mb {rss:.0f}")
        return 0
    t0 = time.perf_counter()
    for it in range(a.steps):
        loss = step(it)
        if it % 250 == 0:
            print(f"step {it}: train loss {loss:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    model.eval()
    with torch.no_grad():  # the whole val split, in windows of T
        windows = (len(val) - 1) // T
        tot = 0.0
        for w in range(0, windows, 64):
            ix = range(w, min(w + 64, windows))
            x = torch.stack([val[i * T:(i + 1) * T] for i in ix])
            y = torch.stack([val[i * T + 1:(i + 1) * T + 1] for i in ix])
            tot += model(x, y).item() * len(ix)
    print(f"torch {a.norm}: val loss over the whole val split {tot / windows:.4f} ({windows} windows of {T}); "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
