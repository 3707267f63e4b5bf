#!/usr/bin/env python3
"""Checks a `train --dump-step` file against an independent PyTorch implementation of the model.

The dump holds the parameters before one training step, the batch, the loss, every gradient (before
clipping) and every parameter after clipping and one AdamW step. This script rebuilds nanoGPT's
model in PyTorch with the dump's configuration, loads the parameters, runs the same batch through
forward and backward, clips with torch.nn.utils.clip_grad_norm_ and steps torch.optim.AdamW, then
compares. Exit status: 0 all agree, 1 a mismatch, 77 PyTorch is not installed (a skip for meson).
The interpreter is the default python3 (pyenv's 3.11 on the project's machines), with PyTorch from
PyPI (python3 -m pip install torch==2.13.0).

usage: python3 -m normlab_tools.dump_check DUMP.safetensors [DUMP ...] [--verbose]
(several dumps: each checked in turn in one process, which pays PyTorch's import once; exit 1 when
any disagrees)
"""
import sys

try:
    import torch
except ImportError:
    print("PyTorch not installed (python3 -m pip install torch==2.13.0): skipped")
    sys.exit(77)

from .reference import adamw_groups, hidden_params, model_of, muon_step, scalar_params  # noqa: E402
from .safetensors import read_safetensors  # noqa: E402


def dump_model(t, meta):
    """The reference model (the dump's: GPT or ViT) with its shape and its parameters before the
    step, in double."""
    return model_of(t, meta).double()


def main():
    dumps = [a for a in sys.argv[1:] if a != "--verbose"]
    if not dumps:
        print(__doc__)
        return 2
    status = 0
    for path in dumps:
        if len(dumps) > 1:
            print(f"{path}:")
        status |= check(path, "--verbose" in sys.argv)
    return status


def reference_grads(model, t, names):
    """The reference's loss and gradients on the dump's batch."""
    params = dict(model.named_parameters())
    loss = model(t["batch.idx"].long(), t["batch.targets"].long())
    loss.backward()
    return loss, {k: params[k].grad.detach().clone() for k in names}


def reference_update(model, t, meta, names):
    """torch's clip and AdamW (Muon for the hidden matrices where the run used it) applied to OUR
    gradients, from the optimizer state the dump holds: the parameters after the step are the
    model's; returns each parameter's lr for the step and the optimizer's state after it.
    (Applying them to torch's gradients would mix in the gradients' float rounding, which AdamW
    amplifies where |g| is near eps: the first step moves by lr * g / (|g| + eps).)"""
    params = dict(model.named_parameters())
    for k in names:
        params[k].grad = t["grad." + k].clone().double()
    torch.nn.utils.clip_grad_norm_(list(params.values()), float(meta["grad_clip"]))
    scalar = {k for k, _ in scalar_params(model)}
    lr, mult, wd = float(meta["lr"]), float(meta.get("scalar_lr_mult", 1)), float(meta["weight_decay"])
    # Muon: the blocks' matrices at its own lr on the same schedule (the step's lr x its peak / lr's peak)
    hidden = dict(hidden_params(model)) if meta.get("session.optim") == "muon" else {}
    muon_lr = lr * float(meta.get("session.optim.muon_lr", 0)) / float(meta.get("session.optim.lr", 1))
    groups = adamw_groups(model, wd, mult)
    for g in groups:
        g["lr"] = lr * g["mult"]
        g["params"] = [p for p in g["params"] if all(p is not q for q in hidden.values())]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(float(meta["beta1"]), float(meta["beta2"])),
                            eps=float(meta["adam_eps"]))
    # the optimizer's state before the step, from the dump (zero on a run's first step): a resumed
    # run's dump checks a later step, bias correction and momentum included
    taken = int(meta.get("optim_steps", 0))
    momentum = {k: t.get("optimizer.m." + k, torch.zeros(p.shape)).double().clone() for k, p in hidden.items()}
    name_of = {id(p): n for n, p in params.items()}
    for g in groups:
        for p in g["params"]:
            k = name_of[id(p)]
            if "optimizer.m." + k in t:
                opt.state[p] = {"step": torch.tensor(float(taken), dtype=torch.float64),
                                "exp_avg": t["optimizer.m." + k].double().clone(),
                                "exp_avg_sq": t["optimizer.v." + k].double().clone()}
    opt.step()
    for k, p in hidden.items():
        muon_step(p.data, p.grad, momentum[k], muon_lr, wd)
    # the optimizer's state after the step, as the dump names it (after.optimizer.m. / .v.)
    state = {}
    for k, p in params.items():
        if k in hidden:
            state["after.optimizer.m." + k] = momentum[k]
        elif p in opt.state:
            state["after.optimizer.m." + k] = opt.state[p]["exp_avg"]
            state["after.optimizer.v." + k] = opt.state[p]["exp_avg_sq"]
    step_lr = {k: muon_lr if k in hidden else lr * (mult if k in scalar else 1) for k in names}
    return step_lr, state


def worst_errors(t, model, names, grads, step_lr, state, tight, verbose):
    """The largest error of each kind (grad, scalar_grad, after, state) and where, as (error, name)."""
    params = dict(model.named_parameters())
    dtype = t[names[0]].dtype
    largest = max(g.abs().max().item() for g in grads.values())
    worst = {"grad": (0, ""), "scalar_grad": (0, ""), "after": (0, ""), "state": (0, "")}

    def keep(kind, e, where):
        if e > worst[kind][0]:
            worst[kind] = (e, where)

    for k in names:
        g_ref, g = grads[k], t["grad." + k].double()
        # relative to the tensor's largest gradient, with a floor: a gradient that is zero in exact
        # arithmetic (k_norm's bias: it shifts a row's scores alike) is rounding in both
        scale = max(g_ref.abs().max().item(), (1e-6 if tight else 1e-5) * largest) or 1.0
        e = (g - g_ref).abs().max().item() / scale
        # a one-element parameter's gradient is a sum over every element of the batch, where float
        # rounding of the terms meets cancellation: held to its own, looser bound in the float build
        keep("scalar_grad" if g_ref.numel() == 1 else "grad", e, k)
        # each element moves by at most about lr in one AdamW step: errors in units of lr, beyond the
        # two float ulps of the parameter itself that the update's rounding order may cost
        a_ref, a = params[k].detach(), t["after." + k].double()
        slack = 2 * torch.finfo(dtype).eps * a_ref.abs()  # 2 ulps of our type
        # (an lr of 0, a warmup's first step, leaves the parameter where it was: absolute error then)
        e2 = ((a - a_ref).abs() - slack).clamp(min=0).max().item() / (step_lr[k] or 1.0)
        keep("after", e2, k)
        for key in ("after.optimizer.m." + k, "after.optimizer.v." + k):  # each relative to its largest element
            if key in state and key in t:
                s_ref = state[key].detach()
                keep("state", (t[key].double() - s_ref).abs().max().item() / (s_ref.abs().max().item() or 1.0), key)
        if verbose:
            print(f"  {k:40} grad err {e:.1e}   after err {e2:.1e} lr")
    return worst


INTERVENTIONS = ("qk_norm", "final_norm", "attn_softcap", "logit_softcap", "z_loss")


def describe(meta, names, c):
    """The dump's configuration (c: its model's) in a few words: norm, bias and what differs from the
    plain GPT."""
    extra = (f" vit patch {meta['model.patch_size']}" if meta.get("model.kind") == "vit" else "")
    mult = float(meta.get("scalar_lr_mult", 1))
    extra += (" emb_scale" if "transformer.emb_scale" in names else "") + (f" scalar_lr_mult {mult:g}" if mult != 1 else "")
    extra += "".join(f" {k} {getattr(c, k)}" for k in INTERVENTIONS if getattr(c, k))
    extra += " muon" if meta.get("session.optim") == "muon" else ""
    return f"{meta['norm']:8} bias {meta['bias']:5}{extra}"


def check(path, verbose):
    """0 when the dump at PATH agrees with the reference, else 1; prints what it compared."""
    t, meta = read_safetensors(path)
    names = [k for k in t if not k.startswith(("grad.", "after.", "batch.", "loss", "optimizer."))]
    dtype = t[names[0]].dtype
    # The reference runs in double whatever our build: a float32 reference would add its own rounding
    # (a scalar's gradient is a sum over every element, where float32 sums lose 1e-4 to cancellation).
    try:
        model = dump_model(t, meta)
    except (KeyError, RuntimeError) as e:  # strict loading: a name either side lacks
        print(f"  MISMATCH: the dump's parameters are not the reference's: {str(e)[:300]}")
        return 1
    loss, grads = reference_grads(model, t, names)
    step_lr, state = reference_update(model, t, meta, names)

    tight = dtype == torch.float64
    dl = abs(loss.item() - t["loss"].double().item()) / (abs(loss.item()) or 1.0)
    print(f"{describe(meta, names, model.config)} ({dtype}): loss ours {t['loss'].item():.7f} torch {loss.item():.7f} (rel {dl:.1e})")
    worst = worst_errors(t, model, names, grads, step_lr, state, tight, verbose)
    print(f"  worst gradient error {worst['grad'][0]:.1e} (relative to the tensor's max) in {worst['grad'][1]}")
    if worst["scalar_grad"][1]:
        print(f"  worst scalar gradient error {worst['scalar_grad'][0]:.1e} (relative) in {worst['scalar_grad'][1]}")
    print(f"  worst update error   {worst['after'][0]:.1e} (in units of lr, beyond 2 ulps) in {worst['after'][1]}")
    missing = [k for k in state if k not in t]
    if missing:
        print(f"  MISMATCH: the dump lacks the optimizer's state {missing[:2]}")
    print(f"  worst state error    {worst['state'][0]:.1e} (relative to the tensor's max) in {worst['state'][1]}")
    bounds = {"grad": 1e-4, "scalar_grad": 1e-3, "after": 1e-3, "state": 1e-4}  # float; double: 1e-9 each
    ok = dl < (1e-6 if tight else 2e-5) and not missing
    ok = ok and all(worst[kind][0] < (1e-9 if tight else bound) for kind, bound in bounds.items())
    print("  OK" if ok else "  MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
