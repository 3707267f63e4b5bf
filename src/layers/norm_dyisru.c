// DyISRU (and dyisrusp), fused. Element-wise, with one scalar beta per layer instance:
//   B = beta (dyisru) or softplus(beta) (dyisrusp),  r_ij = 1 / sqrt(B + x_ij^2 + eps)
//   y_ij = w_j x_ij r_ij + b_j
// Saved for backward: r (rows, C). When B < -eps, B + x^2 + eps can be negative: r is NaN and the
// op reports it (plain dyisru only; softplus keeps B > 0).
#include <tgmath.h>

#include "norm_internal.h"

Tensor *dyisru_forward(Tape *t, const Norm *n, Tensor *x) {
    Node *node;
    Tensor *y = norm_output(t, n, x, &node);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    real *rs = arena_alloc(t->arena, rows * C * sizeof(real)); // (rows, C)
    real shift = (real)(norm_scalar_value(n->kind, n->scalar) + n->eps); // B + eps
    const real *w = n->weight->data, *b = n->bias ? n->bias->data : NULL;
    double check = 0;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < C; j++) {
            size_t i = r * C + j;
            real xi = x->data[i];
            rs[i] = 1 / sqrt(shift + xi * xi);
            y->data[i] = w[j] * (xi * rs[i]) + (b ? b[j] : 0);
            check += y->data[i];
        }
    if (!isfinite(check)) tape_report_nonfinite(t, NORM_TABLE[n->kind].name, n->weight->name);
    if (node) node->ctx = rs;
    return y;
}

// With g = dy * w (the gradient reaching u = x r), and du/dx = r^3 (B + eps), du/dB = -x r^3 / 2:
//   dx_ij += g_ij * r_ij^3 * (B + eps)
//   dB    += sum_ij g_ij * (-x_ij r_ij^3 / 2)   (one scalar: sums over every element)
//   dbeta += dB (dyisru), or dB * sigmoid(beta) (dyisrusp)
//   dw_j += sum_rows dy_ij * x_ij r_ij,   db_j += sum_rows dy_ij
static void dyisru_backward(Node *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    const real *rs = node->ctx, *w = v.w->data, *dy = node->out->grad;
    real *dx = v.x->grad, *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    real shift = (real)(norm_scalar_value(kind, v.s) + v.eps);
    double dB = 0;
    for (size_t r = 0; r < v.rows; r++)
        for (int j = 0; j < v.C; j++) {
            size_t i = r * v.C + j;
            real xi = v.x->data[i], ri = rs[i], r3 = ri * ri * ri, g = dy[i] * w[j];
            if (dx) dx[i] += g * r3 * shift;
            dB += (double)g * (real)-0.5 * xi * r3;
            if (dw) dw[j] += dy[i] * xi * ri;
            if (db) db[j] += dy[i];
        }
    if (v.s->grad) v.s->grad[0] += (real)(dB * norm_scalar_slope(kind, v.s));
}

const OpDef DYISRU_OP = {"dyisru", dyisru_backward};
