// DyT (and dytsp), fused. Element-wise, with one scalar a per layer instance:
//   a = alpha (dyt) or softplus(alpha) (dytsp),  t_ij = tanh(a x_ij),  y_ij = w_j t_ij + b_j
// Saved for backward: t (rows, C). tanh is libmvec's vector version where available (vecmath.h).
#include "../tensor/vecmath.h" // before <tgmath.h>

#include <tgmath.h>

#include "../tensor/kernels.h"
#include "normlab/ops.h"
#include "norm_internal.h"

static Tensor *dyt_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *y = norm_output(t, n, x);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    nl_real *th = arena_alloc(t->arena, rows * C * sizeof(nl_real)); // (rows, C)
    nl_real a = (nl_real)norm_scalar_value(n->kind, n->scalar);
    const nl_real *w = n->weight->data, *b = norm_bias_or_zeros(t, n, C);
#pragma omp parallel for schedule(static) if (rows * C >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *xr = x->data + r * C; // (C)
        nl_real *tr = th + r * C, *yr = y->data + r * C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            tr[j] = tanh(a * xr[j]);
            yr[j] = w[j] * tr[j] + b[j];
        }
    }
    norm_record(t, n, x, y, th);
    return y;
}

// With g = dy * w and dz = g * tanh'(a x) = g * sech^2(a x) (the gradient reaching a x; computed
// from a x, not as 1 - t^2, which is rounding noise once tanh saturates: tanh_derivative in tensor/kernels.h):
//   dx_ij += a * dz_ij
//   da    += sum_ij x_ij * dz_ij            (one scalar: sums over every element)
//   dalpha += da (dyt), or da * sigmoid(alpha) (dytsp: d softplus / d alpha)
//   dw_j += sum_rows dy_ij * t_ij,   db_j += sum_rows dy_ij
typedef struct DytGrad {
    NormNode v;
    nl_real a;
    const nl_real *th, *w, *dy; // (rows, C), (C), (rows, C)
    nl_real *dx, *dw, *db;      // any may be NULL
    double *da_col;             // (C): sum over rows of dz x, per column
} DytGrad;
static void dyt_row(const void *k, size_t r, nl_real *dz) {
    const DytGrad *g = k;
    int C = g->v.C;
    nl_real a = g->a;
    const nl_real *xr = g->v.x->data + r * C, *dyr = g->dy + r * C, *w = g->w; // (C)
#pragma omp simd
    for (int j = 0; j < C; j++) dz[j] = dyr[j] * w[j] * tanh_derivative(a * xr[j]);
    if (g->dx)
#pragma omp simd
        for (int j = 0; j < C; j++) g->dx[r * C + j] += a * dz[j];
}
static void dyt_sums(const void *k, size_t r, const nl_real *dz, int which, int j0, int j1) {
    const DytGrad *g = k;
    const nl_real *xr = g->v.x->data + r * g->v.C; // (C)
    if (which != 1)
#pragma omp simd
        for (int j = j0; j < j1; j++) g->da_col[j] += (double)dz[j] * xr[j];
    if (which != 0) norm_affine_grads_cols(g->dy + r * g->v.C, g->th + r * g->v.C, g->dw, g->db, j0, j1);
}
static void dyt_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    DytGrad g = {v, (nl_real)norm_scalar_value(kind, v.s), node->ctx, v.w->data, node->out->grad,
                 v.x->grad, v.w->grad, v.b ? v.b->grad : NULL, norm_columns_alloc(1, v.C)};
    norm_backward_rows(&g, v.rows, v.C, dyt_row, dyt_sums);
    double da = norm_columns_sum(g.da_col, v.C);
    free(g.da_col);
    if (v.s->grad) v.s->grad[0] += (nl_real)(da * norm_scalar_slope(kind, v.s));
}

static const OpDef DYT_OP = {.name = "dyt", .backward = dyt_backward};

// The composite form: tanh(a x) from primitive ops.
static Tensor *dyt_composite(Tape *t, const Norm *n, Tensor *x) {
    return op_tanh(t, op_mul(t, x, norm_composite_scalar(t, n)));
}

// Recipes: docs/training.md, "Defaults".
const NormInfo NORM_INFO_dyt = {"dyt", NORM_SCALAR_ALPHA, false, false, &DYT_OP, dyt_forward, dyt_composite,
                               {2, {1, 1, 1}, 3.2e-3, 1, {1.92, 2.26}}, NORM_SATURATES_TANH, NULL};
const NormInfo NORM_INFO_dytsp = {"dytsp", NORM_SCALAR_ALPHA, false, true, &DYT_OP, dyt_forward, dyt_composite,
                                 {2, {1, 1, 1}, 1.8e-3, 1, {1.99, 2.09}}, NORM_SATURATES_TANH, "dyt"};
