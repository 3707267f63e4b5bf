// Reusable modules, each a small struct of the tensors it reads plus its own config, and a forward
// that records on a tape (the tape differentiates them; the norms are in normlab/norm.h). A model
// binds its parameters to these fields (normlab/gpt.h) and calls the forwards.
#pragma once
#include "normlab/norm.h"
#include "normlab/rng.h"
#include "normlab/tape.h"

// y = x W^T + b, with W stored [out, in] (PyTorch's nn.Linear) and b optional (NULL).
typedef struct LayerLinear {
    Tensor *weight; // (out, in)
    Tensor *bias;   // (out), or NULL
} LayerLinear;
// x (..., in) -> (..., out)
Tensor *layer_linear_forward(Tape *t, const LayerLinear *l, Tensor *x);

// Multi-head self-attention, nanoGPT's (causal) and timm's ViT's (not): c_attn makes q|k|v (timm's
// attn.qkv), each head attends (the fused op_attention), c_proj (attn.proj) mixes the heads; dropout
// on the attention weights and on the output. Two stability interventions: qk-norm (a norm on each
// head's q and on its k over head_dim, before their product: ViT-22B's, OLMo's) and a soft cap on
// the scores (Gemma 2's).
typedef struct LayerAttention {
    LayerLinear c_attn; // (3C, C)
    LayerLinear c_proj; // (C, C)
    bool qk_norm;       // q_norm and k_norm on (their weights (hd))
    Norm q_norm, k_norm;
    int n_head;    // divides C
    bool causal;   // each position sees only those up to itself
    double dropout;
    double softcap; // the scores' soft cap (0: none)
} LayerAttention;
// x (B,T,C) -> (B,T,C); rng draws the dropout masks (may be NULL when dropout is 0 or grad is off)
Tensor *layer_attention_forward(Tape *t, const LayerAttention *a, Tensor *x, Rng *rng);

// The feed-forward block: c_proj(gelu(c_fc(x))), then dropout.
typedef struct LayerMlp {
    LayerLinear c_fc;   // (4C, C)
    LayerLinear c_proj; // (C, 4C)
    double dropout;
} LayerMlp;
// x (B,T,C) -> (B,T,C)
Tensor *layer_mlp_forward(Tape *t, const LayerMlp *m, Tensor *x, Rng *rng);

// The output logits to the loss: soft-capped (cap tanh(x / cap): Gemma 2's) when softcap > 0, then
// the mean cross-entropy, plus z_loss x the mean (log Z)^2 of the rows (PaLM's z-loss) while training
// (grad on; an evaluation's loss is the cross-entropy alone). Without targets: the (capped) logits.
typedef struct LayerLoss {
    double softcap, z_loss; // 0: off
} LayerLoss;
// logits (..., V), targets one per row or NULL -> [1] (or the logits)
Tensor *layer_loss_forward(Tape *t, const LayerLoss *l, Tensor *logits, const int32_t *targets);
