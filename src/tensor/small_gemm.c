// Products of small matrices that live in L1 (attention's per-head blocks: 64 x 64 x 32 at the
// default config), where a BLAS call's fixed cost (dispatch, packing for large panels) eats the
// work. op(B) is packed once into a contiguous (K, N) panel, columns padded to the block width;
// then each block of SG_ROWS rows of C is SG_ROWS x SG_COLS accumulators that stay in registers
// while k runs (the compiler vectorizes the column loop). With `lower`, a row block stops at the
// column block holding its last row's diagonal: a causal triangle's upper part is never computed.
#include <stdlib.h>

#include "kernels.h"

#define SG_ROWS 4
#define SG_COLS 16

// The largest dims the packed panel has room for; a bigger product goes to BLAS.
#define SG_MAX 128

// op(X)[r][c] for X stored row-major with leading dim ld (transposed when t).
static inline nl_real op_at(const nl_real *X, int ld, bool t, int r, int c) { return t ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c]; }

// The SG_ROWS x SG_COLS block of C at (i0, j0): acc = op(A)[i0.., :] bp[:, j0..]; then written to C
// (rows < M, columns < N) as alpha acc + beta C.
static void block(int M, int N, int K, int i0, int j0, nl_real alpha, const nl_real *ap, const nl_real *bp, int Np,
                  nl_real beta, nl_real *C, int ldc) {
    nl_real acc[SG_ROWS][SG_COLS] = {{0}};
    for (int k = 0; k < K; k++) {
        const nl_real *b = bp + (size_t)k * Np + j0;
#pragma GCC unroll 4
        for (int r = 0; r < SG_ROWS; r++) {
            nl_real a = ap[r * K + k];
#pragma omp simd
            for (int c = 0; c < SG_COLS; c++) acc[r][c] += a * b[c];
        }
    }
    int rows = M - i0 < SG_ROWS ? M - i0 : SG_ROWS, cols = N - j0 < SG_COLS ? N - j0 : SG_COLS;
    for (int r = 0; r < rows; r++) {
        nl_real *c = C + (size_t)(i0 + r) * ldc + j0;
        if (beta == 0)
            for (int q = 0; q < cols; q++) c[q] = alpha * acc[r][q];
        else
            for (int q = 0; q < cols; q++) c[q] = alpha * acc[r][q] + beta * c[q];
    }
}

void gemm_small(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda, const nl_real *B,
                int ldb, nl_real beta, nl_real *C, int ldc, bool lower) {
    if (M > SG_MAX || N > SG_MAX || K > SG_MAX) { // too big for the panel: BLAS (every column)
        gemm_ld(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int Np = (N + SG_COLS - 1) / SG_COLS * SG_COLS;
    nl_real bp[SG_MAX * SG_MAX] __attribute__((aligned(64))), ap[SG_ROWS * SG_MAX] __attribute__((aligned(64)));
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < N; j++) bp[(size_t)k * Np + j] = op_at(B, ldb, tb, k, j);
        for (int j = N; j < Np; j++) bp[(size_t)k * Np + j] = 0;
    }
    for (int i0 = 0; i0 < M; i0 += SG_ROWS) {
        for (int r = 0; r < SG_ROWS; r++)
            for (int k = 0; k < K; k++) ap[r * K + k] = i0 + r < M ? op_at(A, lda, ta, i0 + r, k) : 0;
        int last = i0 + SG_ROWS - 1 < M ? i0 + SG_ROWS - 1 : M - 1; // the block's last row: its diagonal
        for (int j0 = 0; j0 < N && (!lower || j0 <= last); j0 += SG_COLS)
            block(M, N, K, i0, j0, alpha, ap, bp, Np, beta, C, ldc);
    }
}
