// DyT (and dytsp), fused. Element-wise, with one scalar a per layer instance:
//   a = alpha (dyt) or softplus(alpha) (dytsp),  t_ij = tanh(a x_ij),  y_ij = w_j t_ij + b_j
// Saved for backward: t (rows, C).
#include <tgmath.h>

#include "norm_internal.h"

Tensor *dyt_forward(Tape *t, const Norm *n, Tensor *x) {
    Node *node;
    Tensor *y = norm_output(t, n, x, &node);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    real *th = arena_alloc(t->arena, rows * C * sizeof(real)); // (rows, C)
    real a = (real)norm_scalar_value(n->kind, n->scalar);
    const real *w = n->weight->data, *b = n->bias ? n->bias->data : NULL;
    double check = 0;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < C; j++) {
            size_t i = r * C + j;
            th[i] = tanh(a * x->data[i]);
            y->data[i] = w[j] * th[i] + (b ? b[j] : 0);
            check += y->data[i];
        }
    if (!isfinite(check)) tape_report_nonfinite(t, NORM_TABLE[n->kind].name, n->weight->name);
    if (node) node->ctx = th;
    return y;
}

// With g = dy * w and dz = g * (1 - t^2) (the gradient reaching a x):
//   dx_ij += a * dz_ij
//   da    += sum_ij x_ij * dz_ij            (one scalar: sums over every element)
//   dalpha += da (dyt), or da * sigmoid(alpha) (dytsp: d softplus / d alpha)
//   dw_j += sum_rows dy_ij * t_ij,   db_j += sum_rows dy_ij
static void dyt_backward(Node *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    const real *th = node->ctx, *w = v.w->data, *dy = node->out->grad;
    real *dx = v.x->grad, *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    real a = (real)norm_scalar_value(kind, v.s);
    double da = 0;
    for (size_t r = 0; r < v.rows; r++)
        for (int j = 0; j < v.C; j++) {
            size_t i = r * v.C + j;
            real dz = dy[i] * w[j] * (1 - th[i] * th[i]);
            if (dx) dx[i] += a * dz;
            da += (double)dz * v.x->data[i];
            if (dw) dw[j] += dy[i] * th[i];
            if (db) db[j] += dy[i];
        }
    if (v.s->grad) v.s->grad[0] += (real)(da * norm_scalar_slope(kind, v.s));
}

const OpDef DYT_OP = {"dyt", dyt_backward};
