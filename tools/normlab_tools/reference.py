"""The GPT in PyTorch: an independent implementation of the train program's model, used to check it
(dump_check: one step against a --dump-step file) and to time it (bench/torch_gpt.py).

nanoGPT's model: pre-norm blocks, tied lm_head, exact GELU, causal attention, nanoGPT's init, with
the train program's norms and its optional embedding scale. The norms' math is written here again on
purpose, from the papers' formulas, not read from the C side: that independence is the point of the
check. Parameter names are the train program's (nanoGPT's: transformer.h.0.ln_1.weight, ...), so a
checkpoint or a dump loads by name.
"""
import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5  # every norm's


@dataclasses.dataclass
class Config:
    norm: str = "ln"
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    vocab_size: int = 65
    bias: bool = False
    scalar0: tuple = (0.5, 0.5, 0.5)  # the effective alpha (or beta) at ln_1, ln_2, ln_f
    shift0: float = 0.0               # derf's
    emb_scale: float = 0.0            # the embedding scale's initial value (0: none)
    attention: str = "manual"         # manual: softmax(q k^T / sqrt(d)) v; sdpa: PyTorch's fused kernel


def softplus_inverse(y):
    return math.log(math.expm1(y))


class Norm(nn.Module):
    """y = u(x) * weight (+ bias), u each kind's: LayerNorm, RMSNorm, DyT tanh(alpha x), DyISRU
    x / sqrt(beta + x^2 + eps), Derf erf(alpha x + s); the *sp kinds learn alpha or beta through a
    softplus (their parameter holds its inverse)."""

    def __init__(self, kind, C, bias, scalar0, shift0=0.0):
        super().__init__()
        self.kind = kind
        self.weight = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C)) if bias else None
        raw = softplus_inverse(scalar0) if kind.endswith("sp") else scalar0
        if kind in ("dyt", "dytsp", "derf"):
            self.alpha = nn.Parameter(torch.tensor([float(raw)]))
        if kind in ("dyisru", "dyisrusp"):
            self.beta = nn.Parameter(torch.tensor([float(raw)]))
        if kind == "derf":
            self.shift = nn.Parameter(torch.tensor([float(shift0)]))

    def forward(self, x):
        k = self.kind
        if k == "ln":
            u = F.layer_norm(x, (x.shape[-1],), None, None, EPS)
        elif k == "rmsnorm":
            u = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)
        elif k in ("dyt", "dytsp"):
            u = torch.tanh((F.softplus(self.alpha) if k == "dytsp" else self.alpha) * x)
        elif k in ("dyisru", "dyisrusp"):
            u = x * torch.rsqrt((F.softplus(self.beta) if k == "dyisrusp" else self.beta) + x * x + EPS)
        elif k == "derf":
            u = torch.erf(self.alpha * x + self.shift)
        else:
            raise ValueError(f"the reference has no norm {k!r}: write its formula here")
        y = u * self.weight
        return y + self.bias if self.bias is not None else y


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.n_head, self.sdpa = c.n_head, c.attention == "sdpa"

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if self.sdpa:  # PyTorch's fused attention (flash / memory-efficient kernels on CPU)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.n_head))
            y = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = Norm(c.norm, c.n_embd, c.bias, c.scalar0[0], c.shift0)
        self.attn = Attention(c)
        self.ln_2 = Norm(c.norm, c.n_embd, c.bias, c.scalar0[1], c.shift0)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        t = self.transformer = nn.Module()
        t.wte = nn.Embedding(c.vocab_size, c.n_embd)
        t.wpe = nn.Embedding(c.block_size, c.n_embd)
        if c.emb_scale:
            t.emb_scale = nn.Parameter(torch.tensor([float(c.emb_scale)]))
        t.h = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        t.ln_f = Norm(c.norm, c.n_embd, c.bias, c.scalar0[2], c.shift0)
        for name, p in self.named_parameters():  # nanoGPT's init
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        t = self.transformer
        x = t.wte(idx) + t.wpe.weight[:idx.shape[1]]
        if hasattr(t, "emb_scale"):  # the lm_head below uses the unscaled wte
            x = t.emb_scale * x
        for b in t.h:
            x = b(x)
        logits = t.ln_f(x) @ t.wte.weight.t()
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    def load(self, tensors):
        """Copies every parameter from tensors (by the train program's names); the names the model
        lacks are ignored, a parameter missing from tensors is an error."""
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in tensors]
        if missing:
            raise KeyError(f"missing from the file: {', '.join(missing[:4])}")
        with torch.no_grad():
            for k, p in own.items():
                p.copy_(tensors[k].to(p.dtype).reshape(p.shape))


def scalar_params(model):
    """The norms' scalars and the embedding scale: they learn at lr x scalar_lr_mult."""
    return [(n, p) for n, p in model.named_parameters() if n.endswith(("emb_scale", ".alpha", ".beta", ".shift"))]


def adamw_groups(model, weight_decay, scalar_lr_mult):
    """The train program's parameter groups: 2-D weights decay; vectors do not; the scalars neither,
    at lr x scalar_lr_mult ("mult" in each group)."""
    scalars = {id(p) for _, p in scalar_params(model)}
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    other = [p for p in params if p.dim() < 2 and id(p) not in scalars]
    groups = [{"params": decay, "weight_decay": weight_decay, "mult": 1.0},
              {"params": other, "weight_decay": 0.0, "mult": 1.0}]
    if scalars:
        groups.append({"params": [p for p in params if id(p) in scalars], "weight_decay": 0.0,
                       "mult": scalar_lr_mult})
    return groups
