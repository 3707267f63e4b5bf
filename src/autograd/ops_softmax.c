// Softmax over the last dim (optionally causal) and the fused softmax + cross-entropy loss.
// The row kernels and their derivations live in tensor/rows.c.
#include "normlab/check.h"
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor/kernels.h"
#include "normlab/observe.h"

// y = softmax(x) per row;  dx += y * (dy - sum(dy * y))
Tensor *op_softmax(Tape *t, Tensor *x, bool causal) {
    NL_NONNULL(t, x);
    Shape s = x->shape;
    int C = shape_last(s);
    int block = s.ndim >= 2 ? s.d[s.ndim - 2] : 1;
    char buf[64];
    NL_CHECK(!causal || (s.ndim >= 2 && block <= C),
          "causal softmax needs (..., T, T) scores, got %s", shape_str(s, buf));
    Tensor *y = tape_output(t, s, 1, &x);
    softmax_forward(y->data, x->data, shape_rows(s), C, block, causal);
    record(t, OP_SOFTMAX, y, 1, &x);
    return y;
}
void softmax_op_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (x->grad)
        softmax_backward(x->grad, n->out->grad, n->out->data, shape_rows(x->shape),
                         shape_last(x->shape));
}

// Saved for backward: the softmax of every row and a copy of the targets.
typedef struct CrossEntropyCtx {
    nl_real *probs;      // (rows, V)
    int32_t *targets; // (rows)
} CrossEntropyCtx;

// The instruments' log Z over the rows, in row order; frees log_z.
static void logits_seen_report(Tape *t, double *log_z, size_t rows) {
    LogitsSeen z = {.log_z_max = -INFINITY};
    for (size_t r = 0; r < rows; r++) z.log_z_mean += log_z[r], z.log_z_max = fmax(z.log_z_max, log_z[r]);
    z.log_z_mean /= (double)rows;
    free(log_z);
    t->observer->logits(t->observer->ctx, &z);
}

// loss = mean_r -log softmax(x_r)[t_r];  dx_r += dloss / rows * (softmax(x_r) - onehot(t_r))
Tensor *op_cross_entropy(Tape *t, Tensor *logits, const int32_t *targets) {
    NL_NONNULL(t, logits, targets);
    size_t rows = shape_rows(logits->shape);
    int V = shape_last(logits->shape);
    Tensor *loss = tape_output(t, NL_SHAPE(1), 1, &logits);
    nl_real *probs = arena_alloc(t->arena, rows * V * sizeof(nl_real));
    bool observed = t->observer && t->observer->logits;
    double *log_z = observed ? malloc(rows * sizeof(double)) : NULL;
    double total = cross_entropy_forward(probs, log_z, logits->data, targets, rows, V);
    if (log_z) logits_seen_report(t, log_z, rows);
    loss->data[0] = (nl_real)(total / (double)rows);
    TapeNode *n = record(t, OP_CROSS_ENTROPY, loss, 1, &logits);
    if (n) {
        CrossEntropyCtx *ctx = arena_alloc(t->arena, sizeof *ctx);
        ctx->probs = probs;
        ctx->targets = arena_alloc(t->arena, rows * sizeof(int32_t));
        memcpy(ctx->targets, targets, rows * sizeof(int32_t));
        n->ctx = ctx;
    }
    return loss;
}
void cross_entropy_op_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    CrossEntropyCtx *ctx = n->ctx;
    size_t rows = shape_rows(x->shape);
    cross_entropy_backward(x->grad, ctx->probs, ctx->targets, rows, shape_last(x->shape),
                           n->out->grad[0] / (nl_real)rows);
}

// y_r = log sum_j exp(x_rj);  dx_rj += dy_r softmax(x_r)_j. Saved: the softmax of every row.
Tensor *op_logsumexp(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    Shape s = x->shape;
    size_t rows = shape_rows(s);
    int V = shape_last(s);
    s.d[s.ndim - 1] = 1;
    Tensor *y = tape_output(t, s, 1, &x);
    nl_real *probs = arena_alloc(t->arena, rows * V * sizeof(nl_real));
#pragma omp parallel for schedule(static) if (rows * (size_t)V > 65536)
    for (size_t r = 0; r < rows; r++) y->data[r] = (nl_real)softmax_row(probs + r * V, x->data + r * V, V, V);
    TapeNode *n = record(t, OP_LOGSUMEXP, y, 1, &x);
    if (n) n->ctx = probs;
    return y;
}
void logsumexp_op_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    const nl_real *probs = n->ctx, *dy = n->out->grad;
    size_t rows = shape_rows(x->shape);
    int V = shape_last(x->shape);
#pragma omp parallel for schedule(static) if (rows * (size_t)V > 65536)
    for (size_t r = 0; r < rows; r++) {
        nl_real *dr = x->grad + r * V;
        const nl_real *pr = probs + r * V;
#pragma omp simd
        for (int j = 0; j < V; j++) dr[j] += dy[r] * pr[j];
    }
}
