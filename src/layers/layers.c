// LayerLinear, attention and MLP forwards: compositions of primitive ops (normlab/ops.h), so the tape
// derives their backward.
#include "normlab/layers.h"

#include "normlab/ops.h"

Tensor *layer_linear_forward(Tape *t, const LayerLinear *l, Tensor *x) {
    Tensor *y = op_matmul(t, x, l->weight, false, true); // x W^T
    return l->bias ? op_add(t, y, l->bias) : y;
}

Tensor *layer_attention_forward(Tape *t, const LayerAttention *a, Tensor *x, Rng *rng) {
    Tensor *qkv = layer_linear_forward(t, &a->c_attn, x);                // (B,T,3C)
    Tensor *y = op_attention(t, qkv, a->n_head, a->causal, a->dropout, rng); // (B,T,C)
    return op_dropout(t, layer_linear_forward(t, &a->c_proj, y), a->dropout, rng);
}

Tensor *layer_mlp_forward(Tape *t, const LayerMlp *m, Tensor *x, Rng *rng) {
    Tensor *h = op_gelu(t, layer_linear_forward(t, &m->c_fc, x)); // (B,T,4C)
    return op_dropout(t, layer_linear_forward(t, &m->c_proj, h), m->dropout, rng);
}
