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
static void derf_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    const nl_real *e = node->ctx, *w = v.w->data;
    nl_real *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    NL_CHECK(v.s && v.shift, "derf: a node without its alpha and shift");
    nl_real a = v.s->data[0], s = v.shift->data[0];
    nl_real *dx = v.x->grad;
    double *da_col = norm_columns_alloc(2, v.C), *ds_col = da_col + v.C; // per column (norm_internal.h)
#pragma omp parallel num_threads(norm_backward_threads(v.rows, v.C))
    {
        int j0, j1;
        thread_columns(v.C, &j0, &j1);
        for (size_t r = 0; r < v.rows; r++) {
            const nl_real *xr = v.x->data + r * v.C, *er = e + r * v.C; // (C)
            const nl_real *dyr = node->out->grad + r * v.C;
            if (dx) // two loops, not a branch in one: a branch keeps an AVX2 build from vectorising it
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    nl_real du = dyr[j] * w[j] * erf_derivative(a * xr[j] + s);
                    da_col[j] += (double)du * xr[j];
                    ds_col[j] += du;
                    dx[r * v.C + j] += a * du;
                }
            else
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    nl_real du = dyr[j] * w[j] * erf_derivative(a * xr[j] + s);
                    da_col[j] += (double)du * xr[j];
                    ds_col[j] += du;
                }
            norm_affine_grads_cols(dyr, er, dw, db, j0, j1);
        }
    }
    double da = norm_columns_sum(da_col, v.C), ds = norm_columns_sum(ds_col, v.C);
    free(da_col);
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
                                {2, {1, 1, 1}, 1.8e-3, 1}, NORM_SATURATES_ERF, NULL};
