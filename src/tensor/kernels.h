// Raw kernels on contiguous arrays of reals. They know nothing of tensors or tapes; the autograd ops
// call them. Backward kernels accumulate (+=) into their outputs, never overwrite.
#pragma once
#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "normlab/real.h"
#include "vecmath.h"

// C (M,N) = alpha * op(A) op(B) + beta * C, row-major. op(A) is (M,K): A is stored (M,K), or (K,M)
// when ta. op(B) is (K,N): B is stored (K,N), or (N,K) when tb. Through cblas ?gemm, never copying.
// gemm_ld takes each matrix's row stride (leading dim), so it can work on a column block of a wider
// matrix in place (one head's q inside q|k|v); gemm is the packed case.
void gemm_ld(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda,
             const nl_real *B, int ldb, nl_real beta, nl_real *C, int ldc);
static inline void gemm(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A,
                        const nl_real *B, nl_real beta, nl_real *C) {
    gemm_ld(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

// Two independent products, on two threads at once where that is faster: with a team of 2 and a BLAS
// that runs a call made inside a parallel region on its caller's thread alone (OpenBLAS built for
// OpenMP), two one-thread gemms side by side beat two two-thread gemms in turn (docs/performance.md,
// "Two gradients at once"). Elsewhere, or when both write one C (x x^T's grad), one after the
// other. Either may be NULL.
typedef struct GemmCall {
    bool ta, tb;
    int M, N, K;
    const nl_real *A, *B;
    nl_real beta;
    nl_real *C;
} GemmCall;
void gemm_pair(const GemmCall *x, const GemmCall *y);

// Which part of a small product is needed or known (attention's causal triangle):
typedef enum GemmTri {
    GEMM_FULL,    // all of it
    GEMM_C_LOWER, // only row i's columns 0..i of C (C's tiles past the diagonal are left as they were)
    GEMM_A_LOWER, // op(A)[i][k] is 0 for k > i (a causal P times V): those k are skipped
    GEMM_A_UPPER, // op(A)[i][k] is 0 for k < i (P^T times dY)
} GemmTri;
// gemm_small skips a triangle's zeros by whole tiles of GEMM_SMALL_ROWS rows, so it reads a
// triangular op(A)'s entries up to GEMM_SMALL_ROWS - 1 past the diagonal: those must hold 0 (the
// ones further out are never read).
enum { GEMM_SMALL_ROWS = 6 };
// The same product for small matrices held in L1/L2 (K <= 512; a larger K goes to gemm_ld), in
// register tiles, only the part tri says (src/tensor/small_gemm.c). Deterministic: one thread, a
// fixed order.
void gemm_small(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda, const nl_real *B,
                int ldb, nl_real beta, nl_real *C, int ldc, GemmTri tri);
// The calling thread's scratch room of at least n reals (64-byte aligned), kept between calls and
// grown when a call needs more, so that a training step allocates nothing after its first
// (tests/test_alloc.c). Valid until the thread's next kernel_room or gemm_tiles; NULL when out of
// memory.
nl_real *kernel_room(size_t n);
// The same tiles on a whole linear layer's product, on the team's threads (src/tensor/small_gemm.c):
// any size, bits independent of the thread count. Where the BLAS's threads wait on each other (two
// cores, OpenBLAS), faster than one BLAS call on the forward's x W^T. bias (N values, or NULL) is
// then added to every row of C as the tiles are stored, rounded apart from the product's sum, as a
// separate add would.
void gemm_tiles(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda, const nl_real *B,
                int ldb, nl_real beta, const nl_real *bias, nl_real *C, int ldc);
// C = op(A) op(B) (+ bias, N values, in every row, when bias is not NULL) for a linear layer's
// forward (every 2-D matmul): the BLAS, or gemm_tiles in a build configured -Dlinear_gemm=tiles, which
// setup picks where it measured it faster (scripts/blas.sh). linear_gemm_name: which ("blas" or
// "tiles").
void gemm_linear(bool ta, bool tb, int M, int N, int K, const nl_real *A, const nl_real *B, const nl_real *bias,
                 nl_real *C);
const char *linear_gemm_name(void);

// A row broadcast over a matrix's rows (src/tensor/row_broadcast.c): y[r][j] += row[j] for y's rows
// (ldy apart); and its grad, sums[j] += the sum over rows, in order, of x[r][j] (times w[r][j] when w
// is not NULL; x and w are (rows, n), packed), whatever the thread count.
void rows_add_row(nl_real *y, size_t ldy, const nl_real *row, size_t rows, int n);
void cols_sum_into(nl_real *sums, const nl_real *x, const nl_real *w, size_t rows, size_t n);

// This thread's columns [*j0, *j1) of C, where a team splits a matrix's columns to sum each over the
// rows (a broadcast's grad, a norm's dw): whole blocks of 16 (64 bytes of floats), consecutive in
// thread order, so that each thread streams a range of every row. A column's sum is never split, so
// its order, and its bits, do not depend on the team.
// part of parts: columns_part; thread_columns: this thread's part of the team's.
static inline void columns_part(int C, int part, int parts, int *j0, int *j1) {
    int blocks = (C + 15) / 16, per = blocks / parts, extra = blocks % parts;
    int b0 = part * per + (part < extra ? part : extra), b1 = b0 + per + (part < extra ? 1 : 0);
    *j0 = b0 * 16 < C ? b0 * 16 : C;
    *j1 = b1 * 16 < C ? b1 * 16 : C;
}
static inline void thread_columns(int C, int *j0, int *j1) {
    columns_part(C, omp_get_thread_num(), omp_get_num_threads(), j0, j1);
}

// Element-wise passes of fewer elements run on one thread: waking the team costs more than it saves.
#define KERNEL_PARALLEL_MIN 32768

// sqrt in the real type (math.h's sqrt would take float through double)
#ifdef NL_REAL_IS_DOUBLE
#define real_sqrt sqrt
#else
#define real_sqrt sqrtf
#endif

// Parallel sums whose result does not depend on the thread count: [0, n) is cut into at most
// FIXED_SUM_PARTS chunks of a length that depends on n alone (at least min_chunk); each chunk is
// summed on one thread, and the chunk sums are added in order (their array: FIXED_SUM_PARTS long).
#define FIXED_SUM_PARTS 256
static inline size_t fixed_sum_chunk(size_t n, size_t min_chunk) {
    size_t c = (n + FIXED_SUM_PARTS - 1) / FIXED_SUM_PARTS;
    return c < min_chunk ? min_chunk : c;
}
static inline double fixed_sum_total(const double *part, size_t parts) {
    double s = 0;
    for (size_t p = 0; p < parts; p++) s += part[p];
    return s;
}

// Branch-free selects for the `omp simd` loops that call a vector libm function. Written as `?:`, a
// clamp before the call and a "0 past the bound" after it became control flow around the call (gcc
// splits the path where the argument is a known constant and sinks the call into the other arm),
// which only AVX-512's masked calls vectorise: an AVX2 build ran GELU backward scalar, 5x slower.
// As bit masks they are straight-line code on every ISA, with the same values.
#ifdef NL_REAL_IS_DOUBLE
typedef uint64_t real_bits;
#else
typedef uint32_t real_bits;
#endif
// v where keep, else +0
static inline nl_real real_keep_if(nl_real v, bool keep) {
    real_bits u;
    memcpy(&u, &v, sizeof u);
    u &= (real_bits)0 - (real_bits)keep;
    memcpy(&v, &u, sizeof v);
    return v;
}
// min(a, bound) for a >= 0 (bound for NaN): exact, a + 0 or 0 + bound
static inline nl_real real_clamp_above(nl_real a, nl_real bound) {
    bool below = a < bound;
    return real_keep_if(a, below) + real_keep_if(bound, !below);
}

// tanh'(z) = 1 - tanh(z)^2 = sech(z)^2 = 4 e / (1 + e)^2 with e = exp(-2|z|).
// Not 1 - y^2: once tanh saturates, y rounds to 1 or to 1 - 1 ulp, and 1 - y^2 is 0 or 1.2e-7 by
// rounding alone (float), while the true derivative is, say, 1e-12. Training a saturated DyT on
// such noise fails (docs/derivations.md, "DyT"); this form is accurate down to underflow.
// Past |z| = TANH_DERIVATIVE_ZERO the result would be subnormal (below 2.4e-38 in float, 1e-307 in
// double) and is returned as 0: exp of an argument that far out leaves the vector exp's fast path
// (a scalar fallback per element, which made saturated DyT steps 2.5x slower), and subnormal
// arithmetic is slow everywhere after it.
// Inline here so the `omp simd` loops that call it (tanh, DyT) vectorise.
#ifdef NL_REAL_IS_DOUBLE
#define TANH_DERIVATIVE_ZERO 354.0
#else
#define TANH_DERIVATIVE_ZERO 44.0f
#endif
static inline nl_real tanh_derivative(nl_real z) {
    nl_real az = z < 0 ? -z : z, clamped = real_clamp_above(az, TANH_DERIVATIVE_ZERO);
#ifdef NL_REAL_IS_DOUBLE
    nl_real e = exp(-2 * clamped);
#else
    nl_real e = expf(-2 * clamped);
#endif
    return real_keep_if(4 * e / ((1 + e) * (1 + e)), az < TANH_DERIVATIVE_ZERO);
}

// erf'(u) = (2 / sqrt(pi)) exp(-u^2). Past |u| = ERF_DERIVATIVE_ZERO, exp(-u^2) would be subnormal
// (as for tanh_derivative above) and is returned as 0. Inline for the `omp simd` loops (erf, Derf).
#ifdef NL_REAL_IS_DOUBLE
#define ERF_DERIVATIVE_ZERO 26.0
#else
#define ERF_DERIVATIVE_ZERO 9.0f
#endif
static inline nl_real erf_derivative(nl_real u) {
    nl_real au = u < 0 ? -u : u, clamped = real_clamp_above(au, ERF_DERIVATIVE_ZERO);
    const nl_real two_over_sqrt_pi = (nl_real)1.12837916709551257390;
#ifdef NL_REAL_IS_DOUBLE
    nl_real e = exp(-clamped * clamped);
#else
    nl_real e = expf(-clamped * clamped);
#endif
    return real_keep_if(two_over_sqrt_pi * e, au < ERF_DERIVATIVE_ZERO);
}

// Element-wise unary functions: y = f(x); backward dx += dy * f'(x).
void tanh_forward(nl_real *y, const nl_real *x, size_t n);
void tanh_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n);
void erf_forward(nl_real *y, const nl_real *x, size_t n);
void erf_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n);
void gelu_forward(nl_real *y, const nl_real *x, size_t n); // exact: 0.5 x (1 + erf(x / sqrt 2))
void gelu_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, bool write, size_t n); // write: =
void softplus_forward(nl_real *y, const nl_real *x, size_t n); // log(1 + exp(x)), overflow-safe
void softplus_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n);
void rsqrt_forward(nl_real *y, const nl_real *x, size_t n); // 1 / sqrt(x); NaN for x < 0
void rsqrt_backward(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n);

// Row reductions over the last dim: rows of length C. Accumulated in double.
// One row: y = softmax of the first `visible` of x's C entries, the rest 0; returns the log-sum-exp
// of the visible entries. y may be x. softmax_row_from_lse rebuilds such a row's visible entries in
// place from its inputs x (in y) and that log-sum-exp (the rest is the caller's).
double softmax_row(nl_real *y, const nl_real *x, int visible, int C);
void softmax_row_from_lse(nl_real *y, int visible, nl_real lse);
// Softmax of each row. causal: row r of each (n, C) block sees only columns <= r (n = rows_per_block);
// masked entries get exactly 0.
void softmax_forward(nl_real *y, const nl_real *x, size_t rows, int C, int rows_per_block, bool causal);
// dx += y * (dy - sum_j dy_j y_j), row by row.
void softmax_backward(nl_real *dx, const nl_real *dy, const nl_real *y, size_t rows, int C);
// Cross-entropy of each row against an integer target; writes the softmax into probs, each row's
// log-sum-exp into log_z (when not NULL: the instruments') and returns the sum over rows of
// -log p[target] (the caller divides by rows for the mean).
double cross_entropy_forward(nl_real *probs, double *log_z, const nl_real *logits, const int32_t *targets, size_t rows,
                             int C);
// dlogits += scale * (probs - onehot(target)), with scale = dloss / rows for a mean.
void cross_entropy_backward(nl_real *dlogits, const nl_real *probs, const int32_t *targets, size_t rows,
                            int C, nl_real scale);
