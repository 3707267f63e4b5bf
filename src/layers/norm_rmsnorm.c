// RMSNorm, fused. Per row of x (rows, C):
//   rstd = 1 / sqrt(sum_j x_j^2 / C + eps),  xhat_j = x_j * rstd,  y_j = w_j * xhat_j + b_j
// Saved for backward: rstd per row.
#include <math.h>

#include "norm_internal.h"

Tensor *rmsnorm_forward(Tape *t, const Norm *n, Tensor *x) {
    Node *node;
    Tensor *y = norm_output(t, n, x, &node);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    real *rstds = arena_alloc(t->arena, rows * sizeof(real)); // (rows)
    const real *w = n->weight->data, *b = n->bias ? n->bias->data : NULL;
    bool finite = true;
    for (size_t r = 0; r < rows; r++) {
        const real *xr = x->data + r * C; // (C)
        real *yr = y->data + r * C;       // (C)
        double sq = 0;
        for (int j = 0; j < C; j++) sq += (double)xr[j] * xr[j];
        double rstd = 1 / sqrt(sq / C + n->eps);
        double check = 0;
        for (int j = 0; j < C; j++) {
            yr[j] = w[j] * (real)(xr[j] * rstd) + (b ? b[j] : 0);
            check += yr[j];
        }
        finite &= isfinite(check);
        rstds[r] = (real)rstd;
    }
    if (!finite) tape_report_nonfinite(t, NORM_TABLE[n->kind].name, n->weight->name);
    if (node) node->ctx = rstds;
    return y;
}

// With g_j = dy_j * w_j, per row (LayerNorm's backward without the mean term):
//   dx_j += rstd * (g_j - xhat_j * mean_k(g_k * xhat_k))
//   dw_j += sum_rows dy_j * xhat_j,   db_j += sum_rows dy_j
static void rmsnorm_backward(Node *node) {
    NormNode v = norm_node(node);
    const real *rstds = node->ctx, *w = v.w->data, *dy = node->out->grad;
    real *dx = v.x->grad, *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    for (size_t r = 0; r < v.rows; r++) {
        const real *xr = v.x->data + r * v.C, *dyr = dy + r * v.C; // (C)
        real rstd = rstds[r];
        double gx_mean = 0;
        for (int j = 0; j < v.C; j++) gx_mean += dyr[j] * w[j] * (xr[j] * rstd);
        gx_mean /= v.C;
        for (int j = 0; j < v.C; j++) {
            real xhat = xr[j] * rstd;
            if (dx) dx[r * v.C + j] += rstd * (dyr[j] * w[j] - xhat * (real)gx_mean);
            if (dw) dw[j] += dyr[j] * xhat;
            if (db) db[j] += dyr[j];
        }
    }
}

const OpDef RMSNORM_OP = {"rmsnorm", rmsnorm_backward};
