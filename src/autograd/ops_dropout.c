// Dropout: the one primitive op that draws random numbers (from the caller's Rng, so a run repeats).
#include "normlab/check.h"
#include "ops_internal.h"

// y = x * m, m_i = 0 with probability p else 1/(1-p);  dx += dy * m
Tensor *op_dropout(Tape *t, Tensor *x, double p, Rng *rng) {
    NL_NONNULL(t, x);
    NL_CHECK(p >= 0 && p < 1, "dropout probability %g is outside [0, 1)", p);
    if (p == 0 || !t->grad_enabled) return x;
    Tensor *y = tape_output(t, x->shape, 1, &x);
    size_t len = tensor_numel(x);
    nl_real *mask = arena_alloc(t->arena, len * sizeof(nl_real));
    nl_real keep = (nl_real)(1.0 / (1.0 - p));
    for (size_t i = 0; i < len; i++) {
        mask[i] = rng_uniform(rng) < p ? 0 : keep;
        y->data[i] = x->data[i] * mask[i];
    }
    TapeNode *n = record(t, OP_DROPOUT, y, 1, &x);
    if (n) n->ctx = mask;
    return y;
}
void dropout_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    const nl_real *mask = n->ctx;
    size_t len = tensor_numel(x);
    for (size_t i = 0; i < len; i++) x->grad[i] += n->out->grad[i] * mask[i];
}
