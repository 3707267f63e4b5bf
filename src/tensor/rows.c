// Row kernels over the last dim: softmax (optionally causal) and softmax + cross-entropy.
// Sums are accumulated in double; rows are independent, so they run in parallel.
#include "vecmath.h" // before <tgmath.h>

#include <tgmath.h>

#include "normlab/check.h"
#include "kernels.h"

// exp(d) for d = x - max <= 0, with d clamped at EXP_FLOOR: below it exp(d) is subnormal or 0 anyway
// (it becomes 1.6e-38 in float, an absolute change below 2e-38 in a probability), but arguments that
// far out leave the vector exp's fast path (20x slower per element), and peaked attention rows late
// in training are full of them. (The programs also flush subnormal results: normlab/cpu.h.)
#ifdef NL_REAL_IS_DOUBLE
#define EXP_FLOOR (-708.0)
#else
#define EXP_FLOOR (-87.0f)
#endif
#define EXP_CLAMPED(d) exp((d) > EXP_FLOOR ? (d) : EXP_FLOOR)

// y_j = exp(x_j - max) / sum_k exp(x_k - max) over the visible columns j < visible, y_j = 0 after;
// returns log sum_k exp(x_k) (in double). y may be x.
double softmax_row(nl_real *y, const nl_real *x, int visible, int C) {
    nl_real mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < visible; j++) mx = x[j] > mx ? x[j] : mx;
#pragma omp simd
    for (int j = 0; j < visible; j++) {
        nl_real d = x[j] - mx;
        y[j] = EXP_CLAMPED(d);
    }
    double sum = 0; // a loop of its own: with the clamp in the same loop, gcc 12 does not vectorise
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < visible; j++) sum += y[j];
    nl_real inv = (nl_real)(1.0 / sum);
#pragma omp simd
    for (int j = 0; j < visible; j++) y[j] *= inv;
    for (int j = visible; j < C; j++) y[j] = 0;
    return log(sum) + (double)mx;
}

void softmax_row_from_lse(nl_real *y, int visible, nl_real lse) {
#pragma omp simd
    for (int j = 0; j < visible; j++) {
        nl_real d = y[j] - lse;
        y[j] = EXP_CLAMPED(d);
    }
}

// Each row over its visible columns; the masked ones (causal: past the row's own position) get 0.
void softmax_forward(nl_real *y, const nl_real *x, size_t rows, int C, int rows_per_block, bool causal) {
#pragma omp parallel for schedule(static) if (rows * (size_t)C > 65536)
    for (size_t r = 0; r < rows; r++)
        softmax_row(y + r * C, x + r * C, causal ? (int)(r % (size_t)rows_per_block) + 1 : C, C);
}
// dx_j += y_j (dy_j - sum_k dy_k y_k); masked columns have y_j = 0 and get nothing
void softmax_backward(nl_real *dx, const nl_real *dy, const nl_real *y, size_t rows, int C) {
#pragma omp parallel for schedule(static) if (rows * (size_t)C > 65536)
    for (size_t r = 0; r < rows; r++) {
        const nl_real *dyr = dy + r * C, *yr = y + r * C;
        double dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < C; j++) dot += (double)dyr[j] * yr[j];
        nl_real *dxr = dx + r * C;
#pragma omp simd
        for (int j = 0; j < C; j++) dxr[j] += yr[j] * (dyr[j] - (nl_real)dot);
    }
}

// loss_r = log sum_k exp(x_k) - x_target = -log p_target
double cross_entropy_forward(nl_real *probs, double *log_z, const nl_real *logits, const int32_t *targets, size_t rows,
                             int C) {
    double part[FIXED_SUM_PARTS]; // rows in fixed chunks: the loss does not depend on the thread count
    size_t chunk = fixed_sum_chunk(rows, 65536 / (size_t)C + 1), parts = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (parts > 1)
    for (size_t p = 0; p < parts; p++) {
        size_t r1 = (p + 1) * chunk < rows ? (p + 1) * chunk : rows;
        double total = 0;
        for (size_t r = p * chunk; r < r1; r++) {
            int t = targets[r];
            NL_CHECK(t >= 0 && t < C, "cross-entropy target %d of row %zu is outside [0, %d)", t, r, C);
            double lse = softmax_row(probs + r * C, logits + r * C, C, C);
            if (log_z) log_z[r] = lse;
            total += lse - (double)logits[r * C + t];
        }
        part[p] = total;
    }
    return fixed_sum_total(part, parts);
}
// dloss_r/dx_j = p_j - [j == target]
void cross_entropy_backward(nl_real *dlogits, const nl_real *probs, const int32_t *targets, size_t rows,
                            int C, nl_real scale) {
#pragma omp parallel for schedule(static) if (rows * (size_t)C > 65536)
    for (size_t r = 0; r < rows; r++) {
        nl_real *dr = dlogits + r * C;
        const nl_real *pr = probs + r * C;
#pragma omp simd
        for (int j = 0; j < C; j++) dr[j] += scale * pr[j];
        dr[targets[r]] -= scale;
    }
}
