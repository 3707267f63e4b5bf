// Shared by the fused norm ops: the node's input layout and the scalar parameter's softplus chain.
#pragma once
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/tape.h"
#include "normlab/check.h"
#include "normlab/norm.h"
#include "../tensor/kernels.h"

// A fused norm node's inputs are x, w, then b when present, then the scalar and the shift when the
// kind has them. iarg[0] = NormKind, iarg[1] = has bias; arg[0] = eps.
typedef struct NormNode {
    Tensor *x, *w, *b, *s, *shift;
    size_t rows;
    int C;
    double eps;
} NormNode;

static inline NormNode norm_node(const TapeNode *n) {
    NormNode v = {.x = n->in[0], .w = n->in[1], .eps = n->arg[0]};
    int k = 2;
    if (n->iarg[1]) v.b = n->in[k++];
    if (NORM_TABLE[n->iarg[0]]->scalar) v.s = n->in[k++];
    if (NORM_TABLE[n->iarg[0]]->shift) v.shift = n->in[k++];
    v.C = shape_last(v.x->shape);
    v.rows = shape_rows(v.x->shape);
    return v;
}

// A fused norm's forward: y = norm_output(...) allocates y like x; compute; then norm_record(...)
// records the node with its saved context, when y needs grad.
Tensor *norm_output(Tape *t, const Norm *n, Tensor *x);
void norm_record(Tape *t, const Norm *n, Tensor *x, Tensor *y, void *ctx);
// The bias, or a row of C zeros: forward loops add it unconditionally (no branch in the loop).
const nl_real *norm_bias_or_zeros(Tape *t, const Norm *n, int C);

// softplus and its derivative (the sigmoid), in double: the scalar is one number per layer.
static inline double softplus_d(double z) { return fmax(z, 0) + log1p(exp(-fabs(z))); }
static inline double sigmoid_d(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

// The scalar's effective value in this forward, and d(effective)/d(stored) for the chain rule.
static inline double norm_scalar_value(NormKind k, const Tensor *s) {
    // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): only the kinds with a scalar call this
    return norm_scalar_effective(k, s->data[0]);
}
static inline double norm_scalar_slope(NormKind k, const Tensor *s) {
    return NORM_TABLE[k]->softplus ? sigmoid_d(s->data[0]) : 1.0;
}

// The recipe's fields: emb_scale (x sqrt(n_embd); 0 off), alpha0 {ln_1, ln_2, ln_f}, lr,
// scalar_lr_mult. Each lr is the norm's best on the stability study's frontier (docs/stability.md:
// 2000 steps, cosine to lr/10, seeds 1-3, whole val split).

// Backward in parallel with results that do not depend on the thread count. The sums over rows (dw,
// db) split the columns between the threads, not the rows: each column's sum runs over the rows in
// order, as on one thread. A scalar's grad (a sum over every element) is summed per column over the
// rows (in double), then over the columns in order (norm_columns_sum).
// The team for a backward over rows x C elements: one thread below KERNEL_PARALLEL_MIN.
static inline int norm_backward_threads(size_t rows, int C) {
    return rows * (size_t)C < KERNEL_PARALLEL_MIN ? 1 : omp_get_max_threads();
}
// Per-column accumulators for a scalar's grad: k arrays of C doubles, zeroed, array i at acc + i *
// norm_columns_stride(C), each starting a cache line (freed by the caller): threads that split the
// columns (norm_sums_part, in blocks of 16) then never write the same line.
static inline size_t norm_columns_stride(int C) { return ((size_t)C + 7) / 8 * 8; } // 8 doubles a line
static inline double *norm_columns_alloc(int k, int C) {
    size_t bytes = (size_t)k * norm_columns_stride(C) * sizeof(double);
    double *acc = aligned_alloc(64, bytes);
    NL_CHECK(acc, "out of memory for %d x %d accumulators", k, C);
    memset(acc, 0, bytes);
    return acc;
}
// A backward's two sums over rows (the scalar's per-column sums; dw with db) as the team's work: this
// thread's sum (*which: 0 or 1, or -1 for both on a team of one) and its columns [*j0, *j1). Split by
// sum first and by columns only past two threads: a thread streaming whole rows reads only what it
// sums, where a thread on half of every row pulls in much of the other half too (two threads on the
// halves ran slower than one on all). Each column's sum still runs over the rows in order.
static inline void norm_sums_part(int C, int *which, int *j0, int *j1) {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    if (n == 1) {
        *which = -1, *j0 = 0, *j1 = C;
        return;
    }
    *which = t % 2;
    columns_part(C, t / 2, (n - *which + 1) / 2, j0, j1); // threads 0, 2, 4, ... sum 0; 1, 3, ... sum 1
}
// A backward in two passes over the rows (DyT, Derf, DyISRU). row(k, r, dz) writes row r's values
// for the sums (dz: the grad reaching the squashed input, or DyISRU's g x r^3; C of them) and adds
// row r's dx; sums(k, r, dz, which, j0, j1) adds row r's part of sum `which` (norm_sums_part) over
// columns [j0, j1). On one thread each row's sums follow its row pass, its dz still in L1: one pass
// over memory. On a team the rows split between the threads for the row pass (the exps are the
// work), then each sum streams whole rows of the block's dz, block by block so that the rows the
// sums read again are still in cache. Either way each column sums the rows in order: the same bits
// on any team.
typedef void (*NormRowFn)(const void *k, size_t r, nl_real *dz);
typedef void (*NormSumsFn)(const void *k, size_t r, const nl_real *dz, int which, int j0, int j1);
#define NORM_BLOCK_ELEMS 262144 // a team's block: 1 MB of floats per array read twice
static inline void norm_backward_rows(const void *k, size_t rows, int C, NormRowFn row, NormSumsFn sums) {
    int team = norm_backward_threads(rows, C);
    size_t block = team == 1 ? 1 : NORM_BLOCK_ELEMS / (size_t)C + 1;
    block = block < rows ? block : rows;
    nl_real *dz = kernel_room(block * (size_t)C); // (block, C)
    NL_CHECK(dz, "out of memory for a %zu x %d scratch", block, C);
    if (team == 1)
        for (size_t r = 0; r < rows; r++) row(k, r, dz), sums(k, r, dz, -1, 0, C);
    else
#pragma omp parallel num_threads(team)
    {
        int which, j0, j1;
        norm_sums_part(C, &which, &j0, &j1);
        for (size_t r0 = 0; r0 < rows; r0 += block) {
            size_t r1 = r0 + block < rows ? r0 + block : rows;
#pragma omp for schedule(static)
            for (size_t r = r0; r < r1; r++) row(k, r, dz + (r - r0) * C);
            for (size_t r = r0; r < r1; r++) sums(k, r, dz + (r - r0) * C, which, j0, j1);
            if (r1 < rows) { // the next block's row pass overwrites dz
#pragma omp barrier
            }
        }
    }
}
// sum acc[0 .. C), in order
static inline double norm_columns_sum(const double *acc, int C) {
    double s = 0;
    for (int j = 0; j < C; j++) s += acc[j];
    return s;
}

// LayerNorm's and RMSNorm's dw_j += sum_rows dy_j xhat_j and db_j += sum_rows dy_j, xhat_j =
// (x_j - mean) rstd rebuilt from each row's saved mean (NULL: 0, RMSNorm) and rstd. Called by every
// thread of a team: each takes its columns (thread_columns) over all rows, in order.
static inline void norm_xhat_affine_grads(const NormNode *v, const nl_real *dy, const nl_real *mean,
                                          const nl_real *rstd, nl_real *dw, nl_real *db) {
    int j0, j1;
    thread_columns(v->C, &j0, &j1);
    for (size_t r = 0; r < v->rows; r++) {
        const nl_real *xr = v->x->data + r * v->C, *dyr = dy + r * v->C; // (C)
        nl_real m = mean ? mean[r] : 0, s = rstd[r];
        if (dw)
#pragma omp simd
            for (int j = j0; j < j1; j++) dw[j] += dyr[j] * ((xr[j] - m) * s);
        if (db)
#pragma omp simd
            for (int j = j0; j < j1; j++) db[j] += dyr[j];
    }
}

// The per-channel affine part's grads, columns [j0, j1) of one row whose squashed values u were
// saved (DyT, Derf, DyISRU): dw_j += dy_j u_j, db_j += dy_j (either may be NULL).
static inline void norm_affine_grads_cols(const nl_real *dy, const nl_real *u, nl_real *dw, nl_real *db, int j0,
                                          int j1) {
    if (dw)
#pragma omp simd
        for (int j = j0; j < j1; j++) dw[j] += dy[j] * u[j];
    if (db)
#pragma omp simd
        for (int j = j0; j < j1; j++) db[j] += dy[j];
}

// The scalar as used in a composite form: alpha or beta, or its softplus for the softplus kinds.
Tensor *norm_composite_scalar(Tape *t, const Norm *n);
