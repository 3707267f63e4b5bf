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
static void dyt_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    const nl_real *th = node->ctx, *w = v.w->data;
    nl_real *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    nl_real a = (nl_real)norm_scalar_value(kind, v.s);
    nl_real *dx = v.x->grad;
    double *da_col = norm_columns_alloc(1, v.C); // sum over rows of dz x, per column (norm_internal.h)
#pragma omp parallel num_threads(norm_backward_threads(v.rows, v.C))
    {
        int j0, j1;
        thread_columns(v.C, &j0, &j1);
        for (size_t r = 0; r < v.rows; r++) {
            const nl_real *xr = v.x->data + r * v.C, *tr = th + r * v.C; // (C)
            const nl_real *dyr = node->out->grad + r * v.C;
            if (dx) // two loops, not a branch in one: a branch keeps an AVX2 build from vectorising it
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    nl_real dz = dyr[j] * w[j] * tanh_derivative(a * xr[j]);
                    da_col[j] += (double)dz * xr[j];
                    dx[r * v.C + j] += a * dz;
                }
            else
#pragma omp simd
                for (int j = j0; j < j1; j++) da_col[j] += (double)(dyr[j] * w[j] * tanh_derivative(a * xr[j])) * xr[j];
            norm_affine_grads_cols(dyr, tr, dw, db, j0, j1);
        }
    }
    double da = norm_columns_sum(da_col, v.C);
    free(da_col);
    if (v.s->grad) v.s->grad[0] += (nl_real)(da * norm_scalar_slope(kind, v.s));
}

static const OpDef DYT_OP = {.name = "dyt", .backward = dyt_backward};

// The composite form: tanh(a x) from primitive ops.
static Tensor *dyt_composite(Tape *t, const Norm *n, Tensor *x) {
    return op_tanh(t, op_mul(t, x, norm_composite_scalar(t, n)));
}

// Recipes: docs/training.md, "Defaults".
const NormInfo NORM_INFO_dyt = {"dyt", NORM_SCALAR_ALPHA, false, false, &DYT_OP, dyt_forward, dyt_composite,
                               {2, {1, 1, 1}, 3.2e-3, 1}, NORM_SATURATES_TANH, NULL};
const NormInfo NORM_INFO_dytsp = {"dytsp", NORM_SCALAR_ALPHA, false, true, &DYT_OP, dyt_forward, dyt_composite,
                                 {2, {1, 1, 1}, 1.8e-3, 1}, NORM_SATURATES_TANH, "dyt"};
