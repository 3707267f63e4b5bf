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
import torch.nn as nn
import torch.nn.functional as F


class Norm(nn.Module):
    def __init__(self, kind, C, bias, scalar0, shift0=0.0):
        super().__init__()
        self.kind = kind
        self.weight = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C)) if bias else None
        if kind in ("dyt", "dytsp"):
            v = scalar0 if kind == "dyt" else math.log(math.expm1(scalar0))
            self.alpha = nn.Parameter(torch.tensor([v]))
        if kind in ("dyisru", "dyisrusp"):
            v = scalar0 if kind == "dyisru" else math.log(math.expm1(scalar0))
            self.beta = nn.Parameter(torch.tensor([v]))
        if kind == "derf":
            self.alpha = nn.Parameter(torch.tensor([scalar0]))
            self.shift = nn.Parameter(torch.tensor([shift0]))

    def forward(self, x):
        k = self.kind
        if k == "ln":
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)
        if k == "rmsnorm":
            u = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
        elif k in ("dyt", "dytsp"):
            u = torch.tanh((self.alpha if k == "dyt" else F.softplus(self.alpha)) * x)
        elif k == "derf":
            u = torch.erf(self.alpha * x + self.shift)
        else:
            b = self.beta if k == "dyisru" else F.softplus(self.beta)
            u = x * torch.rsqrt(b + x * x + 1e-5)
        y = u * self.weight
        return y + self.bias if self.bias is not None else y


def scalar0(a, pos):
    """The initial effective alpha (or beta = 1/alpha0^2 for the dyisru kinds) at a norm position."""
    v = getattr(a, f"alpha0_{pos}") or a.alpha0
    return 1 / v ** 2 if a.norm in ("dyisru", "dyisrusp") else v


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        C = a.n_embd
        self.ln_1 = Norm(a.norm, C, a.bias, scalar0(a, "ln1"), a.shift0)
        self.ln_2 = Norm(a.norm, C, a.bias, scalar0(a, "ln2"), a.shift0)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C, bias=a.bias), nn.Linear(C, C, bias=a.bias)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C, bias=a.bias), nn.Linear(4 * C, C, bias=a.bias)
        self.n_head, self.sdpa = a.n_head, a.attention == "sdpa"

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.sdpa:  # PyTorch's fused attention (flash / memory-efficient kernels on CPU)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = F.softmax((q @ k.transpose(-2, -1)).mul_(1.0 / math.sqrt(C // self.n_head))
                            .masked_fill(mask[:T, :T], float("-inf")), dim=-1)
            y = att @ v
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, a, vocab):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, a.n_embd), nn.Embedding(a.block_size, a.n_embd)
        self.emb_scale = nn.Parameter(torch.tensor([a.emb_scale])) if a.emb_scale else None
        self.h = nn.ModuleList(Block(a) for _ in range(a.n_layer))
        self.ln_f = Norm(a.norm, a.n_embd, a.bias, scalar0(a, "lnf"), a.shift0)
        self.register_buffer("mask", ~torch.tril(torch.ones(a.block_size, a.block_size, dtype=torch.bool)))
        for name, p in self.named_parameters():  # nanoGPT's init
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * a.n_layer) if name.endswith(("c_proj.weight", "mlp_proj.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe.weight[:T]
        if self.emb_scale is not None:  # the lm_head below uses the unscaled wte
            x = self.emb_scale * x
        for b in self.h:
            x = b(x, self.mask)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def load_ours(model, path):
    """Copies parameters named as the train program names them (nanoGPT's) into this model."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
    from check_dump import read_safetensors
    tensors, _ = read_safetensors(path)
    rename = {"transformer.": "", "attn.c_attn": "c_attn", "attn.c_proj": "c_proj", "mlp.c_fc": "c_fc",
              "mlp.c_proj": "mlp_proj"}
    own = dict(model.named_parameters())
    n = 0
    for k, v in tensors.items():
        if k.startswith(("grad.", "after.", "batch.", "loss", "optimizer.")):
            continue
        name = k
        for a, b in rename.items():
            name = name.replace(a, b)
        with torch.no_grad():
            own[name].copy_(v)
        n += 1
    assert n == len(own), f"loaded {n} of {len(own)} parameters"


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
    model = GPT(a, len(vocab))
    if a.init:
        load_ours(model, a.init)
    named = list(model.named_parameters())
    scalar = [q for n, q in named if n == "emb_scale" or n.endswith((".alpha", ".beta", ".shift"))]
    decay = [q for n, q in named if q.dim() >= 2]
    other = [q for n, q in named if q.dim() < 2 and not any(q is s for s in scalar)]
    groups = [{"params": decay, "weight_decay": 0.1, "mult": 1.0}, {"params": other, "weight_decay": 0.0, "mult": 1.0}]
    if scalar:  # the norms' scalars and the embedding scale learn at lr x --scalar-lr-mult
        groups.append({"params": scalar, "weight_decay": 0.0, "mult": a.scalar_lr_mult})
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
