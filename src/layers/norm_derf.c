// Derf, fused (Chen et al., "Stronger Normalization-Free Transformers"). Element-wise, with two
// scalars per layer instance, a = alpha and the shift s:
//   u_ij = a x_ij + s,  e_ij = erf(u_ij),  y_ij = w_j e_ij + b_j
// Saved for backward: e (rows, C). erf is libmvec's vector version where available (vecmath.h).
#include "../tensor/vecmath.h" // before <tgmath.h>

#include <tgmath.h>

#include "../tensor/kernels.h"
#include "normlab/ops.h"
#include "norm_internal.h"

static Tensor *derf_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *y = norm_output(t, n, x);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    nl_real *e = arena_alloc(t->arena, rows * C * sizeof(nl_real)); // (rows, C)
    nl_real a = n->scalar->data[0], s = n->shift->data[0];
    const nl_real *w = n->weight->data, *b = norm_bias_or_zeros(t, n, C);
#pragma omp parallel for schedule(static) if (rows * C >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *xr = x->data + r * C; // (C)
        nl_real *er = e + r * C, *yr = y->data + r * C;
#pragma omp simd
        for (int j = 0; j < C; j++) {
            er[j] = erf(a * xr[j] + s);
            yr[j] = w[j] * er[j] + b[j];
        }
    }
    norm_record(t, n, x, y, e);
    return y;
}

// With g = dy * w and du = g * erf'(u) = g * (2/sqrt(pi)) exp(-u^2) (erf_derivative in
// tensor/kernels.h; u is recomputed from x, a and s rather than saved):
//   dx_ij += a * du_ij
//   da    += sum_ij x_ij * du_ij      ds += sum_ij du_ij      (scalars: sums over every element)
//   dw_j  += sum_rows dy_ij * e_ij,   db_j += sum_rows dy_ij
typedef struct DerfGrad {
    NormNode v;
    nl_real a, s;
    const nl_real *e, *w, *dy;  // (rows, C), (C), (rows, C)
    nl_real *dx, *dw, *db;      // any may be NULL
    double *da_col, *ds_col;    // (C) each: sums over rows of du x and of du, per column
} DerfGrad;
static void derf_row(const void *k, size_t r, nl_real *du) {
    const DerfGrad *g = k;
    int C = g->v.C;
    nl_real a = g->a, s = g->s;
    const nl_real *xr = g->v.x->data + r * C, *dyr = g->dy + r * C, *w = g->w; // (C)
#pragma omp simd
    for (int j = 0; j < C; j++) du[j] = dyr[j] * w[j] * erf_derivative(a * xr[j] + s);
    if (g->dx)
#pragma omp simd
        for (int j = 0; j < C; j++) g->dx[r * C + j] += a * du[j];
}
static void derf_sums(const void *k, size_t r, const nl_real *du, int which, int j0, int j1) {
    const DerfGrad *g = k;
    const nl_real *xr = g->v.x->data + r * g->v.C; // (C)
    if (which != 1)
#pragma omp simd
        for (int j = j0; j < j1; j++) {
            g->da_col[j] += (double)du[j] * xr[j];
            g->ds_col[j] += du[j];
        }
    if (which != 0) norm_affine_grads_cols(g->dy + r * g->v.C, g->e + r * g->v.C, g->dw, g->db, j0, j1);
}
static void derf_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    NL_CHECK(v.s && v.shift, "derf: a node without its alpha and shift");
    double *cols = norm_columns_alloc(2, v.C); // (norm_internal.h)
    DerfGrad g = {v, v.s->data[0], v.shift->data[0], node->ctx, v.w->data, node->out->grad, v.x->grad,
                  v.w->grad, v.b ? v.b->grad : NULL, cols, cols + norm_columns_stride(v.C)};
    norm_backward_rows(&g, v.rows, v.C, derf_row, derf_sums);
    double da = norm_columns_sum(g.da_col, v.C), ds = norm_columns_sum(g.ds_col, v.C);
    free(cols);
    if (v.s->grad) v.s->grad[0] += (nl_real)da;
    if (v.shift->grad) v.shift->grad[0] += (nl_real)ds;
}

static const OpDef DERF_OP = {.name = "derf", .backward = derf_backward};

// The composite form: erf(a x + s) from primitive ops.
static Tensor *derf_composite(Tape *t, const Norm *n, Tensor *x) {
    return op_erf(t, op_add(t, op_mul(t, x, n->scalar), n->shift));
}

// Recipe: docs/training.md, "Defaults".
const NormInfo NORM_INFO_derf = {"derf", NORM_SCALAR_ALPHA, true, false, &DERF_OP, derf_forward, derf_composite,
                                {2, {1, 1, 1}, 1.8e-3, 1, {1.96, 2.10}}, NORM_SATURATES_ERF, NULL};
