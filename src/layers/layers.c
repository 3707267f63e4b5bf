// LayerLinear, attention and MLP forwards: compositions of primitive ops (normlab/ops.h), so the tape
// derives their backward.
#include "normlab/check.h"
#include "normlab/layers.h"

#include "normlab/ops.h"

Tensor *layer_linear_forward(Tape *t, const LayerLinear *l, Tensor *x) {
    NL_NONNULL(t, l, x);
    return op_linear(t, x, l->weight, l->bias); // x W^T + b
}

// qk-norm: each head's q and k normalized over head_dim, v as it was. qkv (B,T,3C) -> (B,T,3C)
static Tensor *attention_qk_norm(Tape *t, const LayerAttention *a, Tensor *qkv) {
    Shape s = qkv->shape;
    int BT = s.d[0] * s.d[1], C = s.d[2] / 3, H = a->n_head;
    Tensor *parts = op_reshape(t, qkv, NL_SHAPE(BT, 3, C)); // q | k | v as rows
    Tensor *q = op_reshape(t, op_rows(t, parts, 0, 1), NL_SHAPE(BT * H, C / H));
    Tensor *k = op_reshape(t, op_rows(t, parts, 1, 1), NL_SHAPE(BT * H, C / H));
    q = op_reshape(t, norm_forward(t, &a->q_norm, q), NL_SHAPE(BT, 1, C));
    k = op_reshape(t, norm_forward(t, &a->k_norm, k), NL_SHAPE(BT, 1, C));
    return op_reshape(t, op_concat_rows(t, op_concat_rows(t, q, k), op_rows(t, parts, 2, 1)), s);
}

Tensor *layer_attention_forward(Tape *t, const LayerAttention *a, Tensor *x, Rng *rng) {
    NL_NONNULL(t, a, x);
    Tensor *qkv = layer_linear_forward(t, &a->c_attn, x); // (B,T,3C)
    if (a->qk_norm) qkv = attention_qk_norm(t, a, qkv);
    AttnSpec spec = {.n_head = a->n_head, .causal = a->causal, .dropout = a->dropout, .softcap = a->softcap};
    Tensor *y = op_attention(t, qkv, &spec, rng); // (B,T,C)
    return op_dropout(t, layer_linear_forward(t, &a->c_proj, y), a->dropout, rng);
}

Tensor *layer_mlp_forward(Tape *t, const LayerMlp *m, Tensor *x, Rng *rng) {
    NL_NONNULL(t, m, x);
    Tensor *h = op_gelu(t, layer_linear_forward(t, &m->c_fc, x)); // (B,T,4C)
    return op_dropout(t, layer_linear_forward(t, &m->c_proj, h), m->dropout, rng);
}

Tensor *layer_loss_forward(Tape *t, const LayerLoss *l, Tensor *logits, const int32_t *targets) {
    NL_NONNULL(t, l, logits); // targets: NULL for the logits alone
    if (l->softcap > 0) logits = op_scale(t, op_tanh(t, op_scale(t, logits, 1 / l->softcap)), l->softcap);
    if (!targets) return logits;
    Tensor *loss = op_cross_entropy(t, logits, targets); // [1]
    if (l->z_loss == 0 || !t->grad_enabled) return loss;
    Tensor *log_z = op_logsumexp(t, logits); // (..., 1)
    return op_add(t, loss, op_scale(t, op_mean(t, op_mul(t, log_z, log_z)), l->z_loss));
}
