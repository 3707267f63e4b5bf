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
static void dyisru_backward(TapeNode *node) {
    NormNode v = norm_node(node);
    NormKind kind = node->iarg[0];
    const nl_real *rs = node->ctx, *w = v.w->data;
    nl_real *dw = v.w->grad, *db = v.b ? v.b->grad : NULL;
    nl_real shift = (nl_real)(norm_scalar_value(kind, v.s) + v.eps);
    nl_real *dx = v.x->grad;
    double *dB_col = norm_columns_alloc(1, v.C); // per column (norm_internal.h)
#pragma omp parallel num_threads(norm_backward_threads(v.rows, v.C))
    {
        int j0, j1;
        thread_columns(v.C, &j0, &j1);
        for (size_t r = 0; r < v.rows; r++) {
            const nl_real *xr = v.x->data + r * v.C, *rr = rs + r * v.C; // (C)
            const nl_real *dyr = node->out->grad + r * v.C;
            if (dx) // two loops, not a branch in one: a branch keeps an AVX2 build from vectorising it
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    nl_real g = dyr[j] * w[j], r3 = rr[j] * rr[j] * rr[j];
                    dB_col[j] += (double)(g * xr[j] * r3) * -0.5;
                    dx[r * v.C + j] += g * r3 * shift;
                }
            else
#pragma omp simd
                for (int j = j0; j < j1; j++) {
                    nl_real g = dyr[j] * w[j], r3 = rr[j] * rr[j] * rr[j];
                    dB_col[j] += (double)(g * xr[j] * r3) * -0.5;
                }
            if (dw)
#pragma omp simd
                for (int j = j0; j < j1; j++) dw[j] += dyr[j] * (xr[j] * rr[j]);
            if (db)
#pragma omp simd
                for (int j = j0; j < j1; j++) db[j] += dyr[j];
        }
    }
    double dB = norm_columns_sum(dB_col, v.C);
    free(dB_col);
    if (v.s->grad) v.s->grad[0] += (nl_real)(dB * norm_scalar_slope(kind, v.s));
}

static const OpDef DYISRU_OP = {.name = "dyisru", .backward = dyisru_backward};

// The composite form: x / sqrt(x^2 + beta + eps) from primitive ops.
static Tensor *dyisru_composite(Tape *t, const Norm *n, Tensor *x) {
    Tensor *den = op_add(t, op_mul(t, x, x), norm_composite_scalar(t, n)); // x^2 + beta
    return op_mul(t, x, op_rsqrt(t, op_add_scalar(t, den, n->eps)));
}

// Recipes: docs/training.md, "Defaults".(alpha0 as beta0 = 1/alpha0^2).
const NormInfo NORM_INFO_dyisru = {"dyisru", NORM_SCALAR_BETA, false, false, &DYISRU_OP, dyisru_forward,
                                  dyisru_composite, {2, {1, 1, 1}, 1.8e-3, 1}, 0, "derf"};
const NormInfo NORM_INFO_dyisrusp = {"dyisrusp", NORM_SCALAR_BETA, false, true, &DYISRU_OP, dyisru_forward,
                                    dyisru_composite, {2, {1, 1, 1}, 1.8e-3, 1}, 0, "derf"};
