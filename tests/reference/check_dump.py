#!/usr/bin/env python3
"""Checks a `train --dump-step` file against an independent PyTorch implementation of the model.

The dump holds the parameters before one training step, the batch, the loss, every gradient (before
clipping) and every parameter after clipping and one AdamW step. This script rebuilds nanoGPT's
model in PyTorch with the dump's configuration, loads the parameters, runs the same batch through
forward and backward, clips with torch.nn.utils.clip_grad_norm_ and steps torch.optim.AdamW, then
compares. Exit status: 0 all agree, 1 a mismatch, 77 PyTorch is not installed (a skip for meson).
The interpreter is the default python3 (pyenv's 3.11 on the project's machines), with PyTorch from
PyPI (python3 -m pip install torch==2.13.0).

usage: check_dump.py DUMP.safetensors [--verbose]
"""
import json
import math
import struct
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("PyTorch not installed (python3 -m pip install torch==2.13.0): skipped")
    sys.exit(77)

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:end]), dtype=DTYPES[e["dtype"]]) if end > b else torch.zeros(0, dtype=DTYPES[e["dtype"]])
        tensors[name] = t.reshape(e["shape"]).clone()
    return tensors, meta


def softplus(x):
    return F.softplus(x)


def norm(kind, x, p, prefix, eps=1e-5):
    w = p[prefix + "weight"]
    b = p.get(prefix + "bias")
    if kind == "ln":
        u = F.layer_norm(x, (x.shape[-1],), None, None, eps)
    elif kind == "rmsnorm":
        u = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    elif kind in ("dyt", "dytsp"):
        a = p[prefix + "alpha"]
        u = torch.tanh((softplus(a) if kind == "dytsp" else a) * x)
    elif kind in ("dyisru", "dyisrusp"):
        beta = p[prefix + "beta"]
        u = x * torch.rsqrt((softplus(beta) if kind == "dyisrusp" else beta) + x * x + eps)
    elif kind == "derf":
        u = torch.erf(p[prefix + "alpha"] * x + p[prefix + "shift"])
    else:
        raise ValueError(kind)
    y = u * w
    return y + b if b is not None else y


def linear(x, p, prefix):
    y = x @ p[prefix + "weight"].t()
    b = p.get(prefix + "bias")
    return y + b if b is not None else y


def gpt_loss(p, idx, targets, cfg):
    B, T = idx.shape
    C, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    x = p["transformer.wte.weight"][idx] + p["transformer.wpe.weight"][:T]
    if "transformer.emb_scale" in p:  # the embedding scale; the lm_head below uses the unscaled wte
        x = p["transformer.emb_scale"] * x
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(L):
        h = f"transformer.h.{i}."
        a = norm(cfg["norm"], x, p, h + "ln_1.")
        q, k, v = linear(a, p, h + "attn.c_attn.").split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + linear(y, p, h + "attn.c_proj.")
        m = norm(cfg["norm"], x, p, h + "ln_2.")
        x = x + linear(F.gelu(linear(m, p, h + "mlp.c_fc.")), p, h + "mlp.c_proj.")
    x = norm(cfg["norm"], x, p, "transformer.ln_f.")
    logits = x @ p["transformer.wte.weight"].t()
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    verbose = "--verbose" in sys.argv
    t, meta = read_safetensors(sys.argv[1])
    cfg = {k: int(meta[k]) for k in ("n_layer", "n_head", "n_embd", "block_size")}
    cfg["norm"] = meta["norm"]
    names = [k for k in t if not k.startswith(("grad.", "after.", "batch.", "loss"))]
    dtype = t[names[0]].dtype
    # The reference runs in double whatever our build: a float32 reference would add its own rounding
    # (a scalar's gradient is a sum over every element, where float32 sums lose 1e-4 to cancellation).
    params = {k: torch.nn.Parameter(t[k].clone().double()) for k in names}
    idx, targets = t["batch.idx"].long(), t["batch.targets"].long()

    loss = gpt_loss(params, idx, targets, cfg)
    loss.backward()
    grads = {k: params[k].grad.detach().clone() for k in names}

    # The optimizer is checked on its own: torch's clip and AdamW applied to OUR gradients must give
    # our parameters after the step. (Applying them to torch's gradients would mix in the gradients'
    # float rounding, which AdamW amplifies where |g| is near eps: the first step moves by
    # lr * g / (|g| + eps).)
    for k in names:
        params[k].grad = t["grad." + k].clone().double()
    torch.nn.utils.clip_grad_norm_(list(params.values()), float(meta["grad_clip"]))
    scalar = [k for k in names if k == "transformer.emb_scale" or k.endswith((".alpha", ".beta", ".shift"))]
    decay = [params[k] for k in names if params[k].dim() >= 2]
    no_decay = [params[k] for k in names if params[k].dim() < 2 and k not in scalar]
    lr, mult = float(meta["lr"]), float(meta.get("scalar_lr_mult", 1))
    groups = [{"params": decay, "weight_decay": float(meta["weight_decay"])},
              {"params": no_decay, "weight_decay": 0.0}]
    if scalar:  # the norms' scalars and the embedding scale learn at lr x scalar_lr_mult
        groups.append({"params": [params[k] for k in scalar], "weight_decay": 0.0, "lr": lr * mult})
    opt = torch.optim.AdamW(groups, lr=lr, betas=(float(meta["beta1"]), float(meta["beta2"])),
                            eps=float(meta["adam_eps"]))
    opt.step()

    tight = dtype == torch.float64
    ok = True
    dl = abs(loss.item() - t["loss"].double().item()) / abs(loss.item())
    extra = (" emb_scale" if "transformer.emb_scale" in names else "") + (f" scalar_lr_mult {mult:g}" if mult != 1 else "")
    print(f"{meta['norm']:8} bias {meta['bias']:5}{extra} ({dtype}): loss ours {t['loss'].item():.7f} torch {loss.item():.7f} (rel {dl:.1e})")
    ok &= dl < 1e-6 if tight else dl < 2e-5
    worst = {"grad": (0, ""), "scalar_grad": (0, ""), "after": (0, "")}
    for k in names:
        g_ref, g = grads[k], t["grad." + k].double()
        scale = g_ref.abs().max().item() or 1.0
        e = (g - g_ref).abs().max().item() / scale  # relative to the tensor's largest gradient
        # a one-element parameter's gradient is a sum over every element of the batch, where float
        # rounding of the terms meets cancellation: held to its own, looser bound in the float build
        which = "scalar_grad" if g_ref.numel() == 1 else "grad"
        if e > worst[which][0]:
            worst[which] = (e, k)
        # each element moves by at most about lr in one AdamW step: errors in units of lr, beyond the
        # two float ulps of the parameter itself that the update's rounding order may cost
        a_ref, a = params[k].detach(), t["after." + k].double()
        slack = 2 * torch.finfo(dtype).eps * a_ref.abs()  # 2 ulps of our type
        e2 = ((a - a_ref).abs() - slack).clamp(min=0).max().item() / (lr * (mult if k in scalar else 1))
        if e2 > worst["after"][0]:
            worst["after"] = (e2, k)
        if verbose:
            print(f"  {k:40} grad err {e:.1e}   after err {e2:.1e} lr")
    print(f"  worst gradient error {worst['grad'][0]:.1e} (relative to the tensor's max) in {worst['grad'][1]}")
    if worst["scalar_grad"][1]:
        print(f"  worst scalar gradient error {worst['scalar_grad'][0]:.1e} (relative) in {worst['scalar_grad'][1]}")
    print(f"  worst update error   {worst['after'][0]:.1e} (in units of lr, beyond 2 ulps) in {worst['after'][1]}")
    ok &= worst["grad"][0] < (1e-9 if tight else 1e-4)
    ok &= worst["scalar_grad"][0] < (1e-9 if tight else 1e-3)
    ok &= worst["after"][0] < (1e-9 if tight else 1e-3)
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
