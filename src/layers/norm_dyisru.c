// DyISRU (and dyisrusp), fused. Element-wise, with one scalar beta per layer instance:
//   B = beta (dyisru) or softplus(beta) (dyisrusp),  r_ij = 1 / sqrt(B + x_ij^2 + eps)
//   y_ij = w_j x_ij r_ij + b_j
// Saved for backward: r (rows, C). When B < -eps, B + x^2 + eps can be negative: r is NaN and the
// op reports it (plain dyisru only; softplus keeps B > 0).
#include "../tensor/vecmath.h" // before <tgmath.h>

#include <tgmath.h>

#include "normlab/ops.h"
#include "norm_internal.h"

static Tensor *dyisru_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *y = norm_output(t, n, x);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    nl_real *rs = arena_alloc(t->arena, rows * C * sizeof(nl_real)); // (rows, C)
    nl_real shift = (nl_real)(norm_scalar_value(n->kind, n->scalar) + n->eps); // B + eps
    const nl_real *w = n->weight->data, *b = norm_bias_or_zeros(t, n, C);
#pragma omp parallel for schedule(static) if (rows * C >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *xr = x->data + r * C; // (C)
        nl_real *rr = rs + r * C, *yr = y->data + r * C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            rr[j] = 1 / sqrt(shift + xr[j] * xr[j]);
            yr[j] = w[j] * (xr[j] * rr[j]) + b[j];
        }
    }
    norm_record(t, n, x, y, rs);
    return y;
}

// With g = dy * w (the gradient reaching u = x r), and du/dx = r^3 (B + eps), du/dB = -x r^3 / 2:
//   dx_ij += g_ij * r_ij^3 * (B + eps)
//   dB    += sum_ij g_ij * (-x_ij r_ij^3 / 2)   (one scalar: sums over every element)
//   dbeta += dB (dyisru), or dB * sigmoid(beta) (dyisrusp)
//   dw_j += sum_rows dy_ij * x_ij r_ij,   db_j += sum_rows dy_ij
typedef struct DyisruGrad {
    NormNode v;
    nl_real shift;              // beta (or softplus(beta)) + eps
    const nl_real *rs, *w, *dy; // (rows, C), (C), (rows, C)
    nl_real *dx, *dw, *db;      // any may be NULL
    double *dB_col;             // (C): sum over rows of -q / 2, per column
} DyisruGrad;
// q = g x r^3 for row r, and its dx
static void dyisru_row(const void *k, size_t r, nl_real *q) {
    const DyisruGrad *g = k;
    int C = g->v.C;
    nl_real shift = g->shift;
    const nl_real *xr = g->v.x->data + r * C, *rr = g->rs + r * C, *dyr = g->dy + r * C, *w = g->w; // (C)
    if (g->dx) // two loops, not a branch in one: a branch keeps an AVX2 build from vectorising it
#pragma omp simd
        for (int j = 0; j < C; j++) {
            nl_real gj = dyr[j] * w[j], r3 = rr[j] * rr[j] * rr[j];
            q[j] = gj * xr[j] * r3;
            g->dx[r * C + j] += gj * r3 * shift;
        }
    else
#pragma omp simd
        for (int j = 0; j < C; j++) q[j] = dyr[j] * w[j] * xr[j] * (rr[j] * rr[j] * rr[j]);
}
static void dyisru_sums(const void *k, size_t r, const nl_real *q, int which, int j0, int j1) {
    const DyisruGrad *g = k;
    int C = g->v.C;
    const nl_real *xr = g->v.x->data + r * C, *rr = g->rs + r * C, *dyr = g->dy + r * C; // (C)
    if (which != 1)
#pragma omp simd
        for (int j = j0; j < j1; j++) g->dB_col[j] += (double)q[j] * -0.5;
    if (which != 0 && g->dw)
#pragma omp simd
        for (int j = j0; j < j1; j++) g->dw[j] += dyr[j] * (xr[j] * rr[j]);
    if (which != 0 && g->db)
#pragma omp simd
        for (int j = j0; j < j1; j++) g->db[j] += dyr[j];
}
static void dyisru_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    DyisruGrad g = {v, (nl_real)(norm_scalar_value(kind, v.s) + v.eps), node->ctx, v.w->data, node->out->grad,
                    v.x->grad, v.w->grad, v.b ? v.b->grad : NULL, norm_columns_alloc(1, v.C)};
    norm_backward_rows(&g, v.rows, v.C, dyisru_row, dyisru_sums);
    double dB = norm_columns_sum(g.dB_col, v.C);
    free(g.dB_col);
    if (v.s->grad) v.s->grad[0] += (nl_real)(dB * norm_scalar_slope(kind, v.s));
}

static const OpDef DYISRU_OP = {.name = "dyisru", .backward = dyisru_backward};

// The composite form: x / sqrt(x^2 + beta + eps) from primitive ops.
static Tensor *dyisru_composite(Tape *t, const Norm *n, Tensor *x) {
    Tensor *den = op_add(t, op_mul(t, x, x), norm_composite_scalar(t, n)); // x^2 + beta
    return op_mul(t, x, op_rsqrt(t, op_add_scalar(t, den, n->eps)));
}

// Recipes: docs/training.md, "Defaults" (alpha0 as beta0 = 1/alpha0^2).
const NormInfo NORM_INFO_dyisru = {"dyisru", NORM_SCALAR_BETA, false, false, &DYISRU_OP, dyisru_forward,
                                  dyisru_composite, {2, {1, 1, 1}, 1.8e-3, 1, {1.98, 2.25}}, 0, "derf"};
const NormInfo NORM_INFO_dyisrusp = {"dyisrusp", NORM_SCALAR_BETA, false, true, &DYISRU_OP, dyisru_forward,
                                    dyisru_composite, {2, {1, 1, 1}, 1.8e-3, 1, {2.02, 2.13}}, 0, "derf"};
