// RMSNorm, fused. Per row of x (rows, C):
//   rstd = 1 / sqrt(sum_j x_j^2 / C + eps),  xhat_j = x_j * rstd,  y_j = w_j * xhat_j + b_j
// Saved for backward: rstd per row.
#include <math.h>

#include "normlab/ops.h"
#include "norm_internal.h"

static Tensor *rmsnorm_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *y = norm_output(t, n, x);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    nl_real *rstds = arena_alloc(t->arena, rows * sizeof(nl_real)); // (rows)
    const nl_real *w = n->weight->data, *b = norm_bias_or_zeros(t, n, C);
#pragma omp parallel for schedule(static) if (rows * C >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *xr = x->data + r * C; // (C)
        nl_real *yr = y->data + r * C;       // (C)
        double sq = 0;
#pragma omp simd reduction(+ : sq)
        for (int j = 0; j < C; j++) sq += (double)xr[j] * xr[j];
        nl_real rstd = (nl_real)(1 / sqrt(sq / C + n->eps));
#pragma omp simd
        for (int j = 0; j < C; j++) {
            yr[j] = w[j] * (xr[j] * rstd) + b[j];
        }
        rstds[r] = rstd;
    }
    norm_record(t, n, x, y, rstds);
    return y;
}

// With g_j = dy_j * w_j, per row (LayerNorm's backward without the mean term):
//   dx_j += rstd * (g_j - xhat_j * mean_k(g_k * xhat_k))
//   dw_j += sum_rows dy_j * xhat_j,   db_j += sum_rows dy_j
static void rmsnorm_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    const nl_real *rstds = node->ctx, *w = v.w->data;
    nl_real *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    nl_real *dx = v.x->grad;
    // dx row by row, split by rows; dw and db split by columns (norm_internal.h): no sum changes order
#pragma omp parallel num_threads(norm_backward_threads(v.rows, v.C))
    {
        if (dx)
#pragma omp for schedule(static) nowait
            for (size_t r = 0; r < v.rows; r++) {
                const nl_real *xr = v.x->data + r * v.C, *dyr = node->out->grad + r * v.C; // (C)
                nl_real rstd = rstds[r], *dxr = dx + r * v.C;
                double gx_sum = 0;
#pragma omp simd reduction(+ : gx_sum)
                for (int j = 0; j < v.C; j++) gx_sum += dyr[j] * w[j] * (xr[j] * rstd);
                nl_real gx_mean = (nl_real)(gx_sum / v.C);
#pragma omp simd
                for (int j = 0; j < v.C; j++) dxr[j] += rstd * (dyr[j] * w[j] - xr[j] * rstd * gx_mean);
            }
        norm_xhat_affine_grads(&v, node->out->grad, NULL, rstds, dw, db);
    }
}

static const OpDef RMSNORM_OP = {.name = "rmsnorm", .backward = rmsnorm_backward};

// The composite form: x / sqrt(mean(x^2) + eps) from primitive ops.
static Tensor *rmsnorm_composite(Tape *t, const Norm *n, Tensor *x) {
    Tensor *ms = op_mean_last(t, op_mul(t, x, x)); // (..., 1)
    return op_mul(t, x, op_rsqrt(t, op_add_scalar(t, ms, n->eps)));
}

const NormInfo NORM_INFO_rmsnorm = {"rmsnorm", NORM_SCALAR_NONE, false, false, &RMSNORM_OP, rmsnorm_forward,
                                   rmsnorm_composite, {0, {0.5, 0.5, 0.5}, 5.6e-3, 1, {1.75, 1.80}}, 0, "ln"};
