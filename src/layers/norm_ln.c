// LayerNorm, fused. Per row of x (rows, C):
//   mean = sum_j x_j / C,  var = sum_j (x_j - mean)^2 / C,  rstd = 1 / sqrt(var + eps)
//   xhat_j = (x_j - mean) * rstd,  y_j = w_j * xhat_j + b_j
// Saved for backward: mean and rstd per row (xhat is rebuilt from them, not the forward rerun).
#include <math.h>

#include "norm_internal.h"

typedef struct LnCtx {
    real *mean, *rstd; // (rows)
} LnCtx;

Tensor *ln_forward(Tape *t, const Norm *n, Tensor *x) {
    Node *node;
    Tensor *y = norm_output(t, n, x, &node);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    LnCtx *ctx = arena_alloc(t->arena, sizeof *ctx);
    ctx->mean = arena_alloc(t->arena, rows * sizeof(real));
    ctx->rstd = arena_alloc(t->arena, rows * sizeof(real));
    const real *w = n->weight->data, *b = n->bias ? n->bias->data : NULL;
    bool finite = true;
    for (size_t r = 0; r < rows; r++) {
        const real *xr = x->data + r * C; // (C)
        real *yr = y->data + r * C;       // (C)
        double sum = 0, sq = 0;
        for (int j = 0; j < C; j++) sum += xr[j];
        double mean = sum / C;
        for (int j = 0; j < C; j++) sq += (xr[j] - mean) * (xr[j] - mean);
        double rstd = 1 / sqrt(sq / C + n->eps);
        double check = 0; // NaN or Inf anywhere in the row makes the row sum non-finite
        for (int j = 0; j < C; j++) {
            yr[j] = w[j] * (real)((xr[j] - mean) * rstd) + (b ? b[j] : 0);
            check += yr[j];
        }
        finite &= isfinite(check);
        ctx->mean[r] = (real)mean;
        ctx->rstd[r] = (real)rstd;
    }
    if (!finite) tape_report_nonfinite(t, NORM_TABLE[n->kind].name, n->weight->name);
    if (node) node->ctx = ctx;
    return y;
}

// With g_j = dy_j * w_j (the gradient reaching xhat), per row:
//   dx_j += rstd * (g_j - mean_k(g_k) - xhat_j * mean_k(g_k * xhat_k))
//   dw_j += sum_rows dy_j * xhat_j,   db_j += sum_rows dy_j
static void ln_backward(Node *node) {
    NormNode v = norm_node(node);
    const LnCtx *ctx = node->ctx;
    const real *w = v.w->data, *dy = node->out->grad;
    real *dx = v.x->grad, *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    for (size_t r = 0; r < v.rows; r++) {
        const real *xr = v.x->data + r * v.C, *dyr = dy + r * v.C; // (C)
        real mean = ctx->mean[r], rstd = ctx->rstd[r];
        double g_mean = 0, gx_mean = 0;
        for (int j = 0; j < v.C; j++) {
            real xhat = (xr[j] - mean) * rstd, g = dyr[j] * w[j];
            g_mean += g;
            gx_mean += g * xhat;
        }
        g_mean /= v.C;
        gx_mean /= v.C;
        for (int j = 0; j < v.C; j++) {
            real xhat = (xr[j] - mean) * rstd, g = dyr[j] * w[j];
            if (dx) dx[r * v.C + j] += rstd * (g - (real)g_mean - xhat * (real)gx_mean);
            if (dw) dw[j] += dyr[j] * xhat;
            if (db) db[j] += dyr[j];
        }
    }
}

const OpDef LN_OP = {"ln", ln_backward};
