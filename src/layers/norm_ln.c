// LayerNorm, fused. Per row of x (rows, C):
//   mean = sum_j x_j / C,  var = sum_j (x_j - mean)^2 / C,  rstd = 1 / sqrt(var + eps)
//   xhat_j = (x_j - mean) * rstd,  y_j = w_j * xhat_j + b_j
// Saved for backward: mean and rstd per row (xhat is rebuilt from them, not the forward rerun).
// Row sums are accumulated in double; `omp simd` lets them vectorise (it allows reordering a sum).
#include <math.h>

#include "normlab/ops.h"
#include "norm_internal.h"

typedef struct LnCtx {
    nl_real *mean, *rstd; // (rows)
} LnCtx;

static Tensor *ln_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *y = norm_output(t, n, x);
    size_t rows = shape_rows(x->shape);
    int C = shape_last(x->shape);
    LnCtx *ctx = arena_alloc(t->arena, sizeof *ctx);
    ctx->mean = arena_alloc(t->arena, rows * sizeof(nl_real));
    ctx->rstd = arena_alloc(t->arena, rows * sizeof(nl_real));
    const nl_real *w = n->weight->data, *b = norm_bias_or_zeros(t, n, C);
#pragma omp parallel for schedule(static) if (rows * C >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *xr = x->data + r * C; // (C)
        nl_real *yr = y->data + r * C;       // (C)
        double sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < C; j++) sum += xr[j];
        double mean_d = sum / C;
#pragma omp simd reduction(+ : sq)
        for (int j = 0; j < C; j++) sq += (xr[j] - mean_d) * (xr[j] - mean_d);
        nl_real mean = (nl_real)mean_d, rstd = (nl_real)(1 / sqrt(sq / C + n->eps));
#pragma omp simd
        for (int j = 0; j < C; j++) yr[j] = w[j] * ((xr[j] - mean) * rstd) + b[j];
        ctx->mean[r] = mean;
        ctx->rstd[r] = rstd;
    }
    norm_record(t, n, x, y, ctx);
    return y;
}

// With g_j = dy_j * w_j (the gradient reaching xhat), per row:
//   dx_j += rstd * (g_j - mean_k(g_k) - xhat_j * mean_k(g_k * xhat_k))
//   dw_j += sum_rows dy_j * xhat_j,   db_j += sum_rows dy_j
static void ln_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    const LnCtx *ctx = node->ctx;
    const nl_real *w = v.w->data;
    nl_real *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    nl_real *dx = v.x->grad;
    // dx row by row, split by rows; dw and db split by columns (norm_internal.h): no sum changes order
#pragma omp parallel num_threads(norm_backward_threads(v.rows, v.C))
    {
        if (dx)
#pragma omp for schedule(static) nowait
            for (size_t r = 0; r < v.rows; r++) {
                const nl_real *xr = v.x->data + r * v.C, *dyr = node->out->grad + r * v.C; // (C)
                nl_real mean = ctx->mean[r], rstd = ctx->rstd[r], *dxr = dx + r * v.C;
                double g_sum = 0, gx_sum = 0;
#pragma omp simd reduction(+ : g_sum, gx_sum)
                for (int j = 0; j < v.C; j++) {
                    nl_real g = dyr[j] * w[j];
                    g_sum += g;
                    gx_sum += g * ((xr[j] - mean) * rstd);
                }
                nl_real g_mean = (nl_real)(g_sum / v.C), gx_mean = (nl_real)(gx_sum / v.C);
#pragma omp simd
                for (int j = 0; j < v.C; j++)
                    dxr[j] += rstd * (dyr[j] * w[j] - g_mean - (xr[j] - mean) * rstd * gx_mean);
            }
        norm_xhat_affine_grads(&v, node->out->grad, ctx->mean, ctx->rstd, dw, db);
    }
}

static const OpDef LN_OP = {.name = "ln", .backward = ln_backward};

// The composite form: (x - mean) / sqrt(var + eps) from primitive ops.
static Tensor *ln_composite(Tape *t, const Norm *n, Tensor *x) {
    Tensor *xc = op_add(t, x, op_scale(t, op_mean_last(t, x), -1)); // x - mean   (..., C)
    Tensor *var = op_mean_last(t, op_mul(t, xc, xc));                // (..., 1)
    return op_mul(t, xc, op_rsqrt(t, op_add_scalar(t, var, n->eps)));
}

const NormInfo NORM_INFO_ln = {"ln", NORM_SCALAR_NONE, false, false, &LN_OP, ln_forward, ln_composite,
                              {0, {0.5, 0.5, 0.5}, 5.6e-3, 1, {1.75, 1.80}}, 0, NULL};
