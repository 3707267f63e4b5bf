"""The GPT and the ViT in PyTorch: independent implementations of the train program's models, used to
check them (dump_check: one step against a --dump-step file) and to time them (bench/torch_gpt.py).

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
    # the stability interventions (docs/stability.md); each off by default
    qk_norm: str = ""                 # a norm of this kind on each head's q and k
    final_norm: str = ""              # ln_f's kind, when not the blocks'
    attn_softcap: float = 0.0         # scores -> cap tanh(scores / cap)
    logit_softcap: float = 0.0        # logits -> cap tanh(logits / cap)
    z_loss: float = 0.0               # + z_loss mean(logsumexp(logits)^2) in the training loss


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


def softcap(x, cap):
    """cap tanh(x / cap) (Gemma 2's soft cap); x itself when cap is 0."""
    return cap * torch.tanh(x / cap) if cap else x


def heads_attend(q, k, v, c, causal, q_norm=None, k_norm=None):
    """(B, H, T, hd) each -> (B, H, T, hd): qk-norm over hd when given, the scores soft-capped when
    c.attn_softcap, causal or not."""
    if q_norm is not None:
        q, k = q_norm(q), k_norm(k)
    if c.attention == "sdpa" and not c.attn_softcap:  # PyTorch's fused attention (flash / memory-efficient kernels on CPU)
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    T = q.shape[-2]
    att = softcap((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1])), c.attn_softcap)
    if causal:
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return F.softmax(att, dim=-1) @ v


def qk_norms(module, c):
    """q_norm and k_norm (timm's, OLMo's names) on module, of c.qk_norm's kind over head_dim."""
    if c.qk_norm:
        hd = c.n_embd // c.n_head
        module.q_norm = Norm(c.qk_norm, hd, c.bias, c.scalar0[0], c.shift0)
        module.k_norm = Norm(c.qk_norm, hd, c.bias, c.scalar0[0], c.shift0)


def loss_of(logits, targets, c, training=True):
    """The soft-capped logits' mean cross-entropy, plus z-loss while training."""
    logits = softcap(logits, c.logit_softcap)
    logits = logits.reshape(-1, logits.size(-1))
    loss = F.cross_entropy(logits, targets.reshape(-1))
    if c.z_loss and training:
        loss = loss + c.z_loss * torch.logsumexp(logits, dim=-1).pow(2).mean()
    return loss


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        qk_norms(self, c)
        self.n_head, self.c = c.n_head, c

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = heads_attend(q, k, v, self.c, True, getattr(self, "q_norm", None), getattr(self, "k_norm", None))
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
        t.ln_f = Norm(c.final_norm or c.norm, c.n_embd, c.bias, c.scalar0[2], c.shift0)
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
        return loss_of(t.ln_f(x) @ t.wte.weight.t(), targets, self.config)

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


@dataclasses.dataclass
class VitConfig:
    norm: str = "ln"
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    image_size: int = 28
    patch_size: int = 7
    n_classes: int = 10
    bias: bool = True
    scalar0: tuple = (0.5, 0.5, 0.5)  # the effective alpha (or beta) at norm1, norm2, norm
    shift0: float = 0.0
    attention: str = "manual"         # manual: softmax(q k^T / sqrt(d)) v; sdpa: PyTorch's fused kernel
    qk_norm: str = ""                 # the interventions, as in Config
    final_norm: str = ""
    attn_softcap: float = 0.0
    logit_softcap: float = 0.0
    z_loss: float = 0.0


MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's training split, pixels over 0..1


class VitAttention(nn.Module):
    """timm's: qkv, every token attending to every token, proj."""

    def __init__(self, c):
        super().__init__()
        self.qkv = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        qk_norms(self, c)
        self.proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.n_head, self.c = c.n_head, c

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = heads_attend(q, k, v, self.c, False, getattr(self, "q_norm", None), getattr(self, "k_norm", None))
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class VitMlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.fc2 = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VitBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1 = Norm(c.norm, c.n_embd, c.bias, c.scalar0[0], c.shift0)
        self.attn = VitAttention(c)
        self.norm2 = Norm(c.norm, c.n_embd, c.bias, c.scalar0[1], c.shift0)
        self.mlp = VitMlp(c)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """timm's VisionTransformer at the train program's shape: P x P patches of the normalised image
    (raster order, and raster order within each), a linear patch embedding, a cls token before
    them, learned positions, pre-norm blocks, the final norm, and a head on the cls token."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        C, P, N = c.n_embd, c.patch_size, (c.image_size // c.patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, N + 1, C))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Linear(P * P, C, bias=c.bias)
        self.blocks = nn.ModuleList(VitBlock(c) for _ in range(c.n_layer))
        self.norm = Norm(c.final_norm or c.norm, C, c.bias, c.scalar0[2], c.shift0)
        self.head = nn.Linear(C, c.n_classes, bias=c.bias)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def patches(self, pixels):
        """(B, S*S) pixels 0..255 -> (B, N, P*P), normalised."""
        c = self.config
        P, G = c.patch_size, c.image_size // c.patch_size
        x = (pixels.to(self.cls_token.dtype) / 255 - MEAN) / STD
        return x.view(-1, G, P, G, P).permute(0, 1, 3, 2, 4).reshape(-1, G * G, P * P)

    def logits(self, pixels):
        x = self.patch_embed.proj(self.patches(pixels))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x)[:, 0])

    def forward(self, pixels, targets):
        return loss_of(self.logits(pixels), targets, self.config)

    load = GPT.load


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


def hidden_params(model):
    """Muon's parameters: the weight matrices inside the blocks (not the embeddings, the head, the
    patch embedding, any vector or scalar)."""
    return [(n, p) for n, p in model.named_parameters()
            if p.dim() == 2 and n.startswith(("transformer.h.", "blocks."))]


MUON_ABC = (3.4445, -4.7750, 2.0315)  # the quintic Newton-Schulz iteration's coefficients


def muon_step(p, g, buf, lr, wd, momentum=0.95, steps=5):
    """One Muon step on matrix p with gradient g, written from Keller Jordan's description: momentum
    buf (Nesterov), the update orthogonalized by `steps` Newton-Schulz iterations on its Frobenius-
    normalised form (transposed to wide), scaled by sqrt(max(1, rows/cols)); decoupled decay."""
    with torch.no_grad():
        buf.mul_(momentum).add_(g, alpha=1 - momentum)
        u = g * (1 - momentum) + buf * momentum
        tall = u.size(0) > u.size(1)
        x = u.t() if tall else u
        x = x / (x.norm() + 1e-7)
        a, b, c = MUON_ABC
        for _ in range(steps):
            A = x @ x.t()
            x = a * x + (b * A + c * A @ A) @ x
        if tall:
            x = x.t()
        p.mul_(1 - lr * wd).add_(x, alpha=-lr * max(1.0, p.size(0) / p.size(1)) ** 0.5)


def model_of(tensors, meta):
    """The model a checkpoint or a --dump-step file holds (its metadata's model.* keys: the GPT or the
    ViT, the norm, the shape, the interventions), its parameters loaded by name with PyTorch's
    strict=True: a name the file has and the model lacks, or the reverse, is an error. The
    optimizer's state (optimizer.*) and a dump's batch and grads are not the model's. In the file's
    own precision (a double build's file loads into a double model: nothing rounded on the way)."""
    m = {k[len("model."):]: v for k, v in meta.items() if k.startswith("model.")}
    qk = m.get("qk_norm", "none")
    common = dict(norm=m["norm"], n_layer=int(m["n_layer"]), n_head=int(m["n_head"]), n_embd=int(m["n_embd"]),
                  bias=m["bias"] == "true", qk_norm="" if qk == "none" else qk,
                  final_norm="" if m.get("final_norm", m["norm"]) == m["norm"] else m["final_norm"],
                  attn_softcap=float(m.get("attn_softcap", 0)), logit_softcap=float(m.get("logit_softcap", 0)),
                  z_loss=float(m.get("z_loss", 0)))
    if m.get("kind") == "vit":
        model = ViT(VitConfig(patch_size=int(m["patch_size"]), image_size=int(m["image_size"]),
                              n_classes=int(m["n_classes"]), **common))
        own = ("cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.", "head.")
    else:
        model = GPT(Config(block_size=int(m["block_size"]), vocab_size=int(m["vocab_size"]),
                           emb_scale=1.0 if "transformer.emb_scale" in tensors else 0.0, **common))
        own = ("transformer.",)
    state = {k: v for k, v in tensors.items() if k.startswith(own)}
    if state:
        model = model.to(next(iter(state.values())).dtype)
    model.load_state_dict(state, strict=True)
    return model


def from_checkpoint(path):
    """model_of the checkpoint (or dump) at path; a text model's vocab (the bytes its ids stand for,
    in order) as model.vocab."""
    from .safetensors import read_safetensors
    tensors, meta = read_safetensors(path)
    model = model_of(tensors, meta)
    model.vocab = bytes.fromhex(meta.get("vocab", ""))
    return model

