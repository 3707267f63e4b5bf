// The library's own register-tile gemms: gemm_small, for products of small matrices that live in
// L1/L2 (attention's per-head blocks: 64 x 64 x 32 at the default config), where a BLAS call's fixed
// cost (dispatch, packing for large panels) eats the work, and where a causal triangle lets half the
// work go: BLAS cannot skip it; and gemm_tiles (below), the same tiles over a whole linear layer's
// product on the team.
//
// C is cut into tiles of MR rows x NR columns (6 x 16 floats: 12 accumulator registers of 8 lanes,
// two of B's and one broadcast of A's, the 16 of AVX2). For each tile, k runs over op(A)'s columns:
// one broadcast of op(A)[r][k] times B's row k, NR wide, added into row r's accumulators. A is read
// in place through its two strides (rows and columns, so transposed or not costs the same); op(B)
// is read in place where its rows are contiguous, else packed once per column panel (K x NR).
// Which tiles and which k run follows the triangle (GemmTri): only row i's columns 0..i of C, or
// only the k where op(A) is not known to be 0.
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

// Multiply-adds fused (one rounding: vfmadd), here only: the project builds with ISO C's default of
// no contraction, which the rest of the code keeps so that its results do not depend on the ISA.
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

typedef nl_real vreal __attribute__((vector_size(32))); // 8 floats or 4 doubles
enum { VL = 32 / sizeof(nl_real), MR = GEMM_SMALL_ROWS, NR = 2 * VL };
#define SG_MAX_K 512 // op(B)'s packed panel (K x NR) lives on the stack; a larger K goes to BLAS

static inline vreal vload(const nl_real *p) { vreal v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(nl_real *p, vreal v) { memcpy(p, &v, sizeof v); }
static inline vreal vsplat(nl_real x) { return x - (vreal){0}; } // x in every lane (x - 0 is x, even -0)

// acc[r] += sum over k in [k0, k1) of a[r ra + k ka] * b[k ldb .. + NR), for r < MR
static inline void tile_mul(vreal acc[MR][2], const nl_real *a, size_t ra, size_t ka, const nl_real *b, size_t ldb,
                            int k0, int k1) {
#pragma GCC unroll 4
    for (int k = k0; k < k1; k++) {
        vreal b0 = vload(b + k * ldb), b1 = vload(b + k * ldb + VL);
        const nl_real *ak = a + k * ka;
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            vreal x = vsplat(ak[r * ra]);
            acc[r][0] += x * b0, acc[r][1] += x * b1;
        }
    }
}

// C's tile (rows x cols of it at c) = alpha acc + beta C (C not read when beta is 0), then + bias (the
// tile's columns of it) in every row when bias is not NULL: a second rounding, as a separate add makes
static inline void tile_store(vreal acc[MR][2], int rows, int cols, nl_real alpha, nl_real beta, const nl_real *bias,
                              nl_real *c, int ldc) {
    for (int r = 0; r < rows; r++) {
        nl_real *cr = c + (size_t)r * ldc;
        if (cols == NR) {
            for (int h = 0; h < 2; h++) {
                vreal v = beta == 0 ? alpha * acc[r][h] : alpha * acc[r][h] + beta * vload(cr + h * VL);
                vstore(cr + h * VL, bias ? v + vload(bias + h * VL) : v);
            }
        } else {
            for (int j = 0; j < cols; j++) {
                nl_real v = alpha * acc[r][j / VL][j % VL];
                v = beta == 0 ? v : v + beta * cr[j];
                cr[j] = bias ? v + bias[j] : v;
            }
        }
    }
}

#if defined(__AVX__) && !defined(NL_REAL_IS_DOUBLE)
#include <immintrin.h>
// dst[k][c] = src[c][k] for an 8 x 8 block of floats (row strides ld_dst, ld_src): unpacks within
// 128-bit lanes, then the lanes' halves swapped
static inline void transpose8(float *dst, size_t ld_dst, const float *src, size_t ld_src) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * ld_src);
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            r[i + h] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0x44);
            r[i + h + 2] = _mm256_shuffle_ps(t[i + h], t[i + h + 2], 0xEE);
        }
    // r[0] holds rows 0-3 of columns 0 (low lane) and 4 (high lane); r[4] the same for rows 4-7
    static const int col[4] = {0, 2, 1, 3}; // r[i] for i < 4 holds column pair (col[i], col[i] + 4)
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + col[i] * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (col[i] + 4) * ld_dst, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}
#endif

// bp (kc,NR) = op(B)[k0.., j0..], zero past N: a column panel packed (op(B)'s rows, NR wide, in turn)
static void pack_b(nl_real *bp, bool tb, const nl_real *B, int ldb, int N, int j0, int k0, int kc) {
    int cols = N - j0 < NR ? N - j0 : NR, k = 0;
#if defined(__AVX__) && !defined(NL_REAL_IS_DOUBLE)
    if (tb && cols == NR) // B's NR rows side by side, 8 x 8 at a time; the last k's below
        for (; k + 8 <= kc; k += 8)
            for (int c = 0; c < NR; c += 8)
                transpose8(bp + (size_t)k * NR + c, NR, B + (size_t)(j0 + c) * ldb + k0 + k, ldb);
#endif
    for (; k < kc; k++) { // a panel's row at a time: zeros past N, then op(B)'s row k's columns
        nl_real *row = bp + (size_t)k * NR;
        vstore(row, (vreal){0}), vstore(row + VL, (vreal){0});
        for (int c = 0; c < cols; c++)
            row[c] = tb ? B[(size_t)(j0 + c) * ldb + k0 + k] : B[(size_t)(k0 + k) * ldb + j0 + c];
    }
}

void gemm_small(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda, const nl_real *B,
                int ldb, nl_real beta, nl_real *C, int ldc, GemmTri tri) {
    if (K > SG_MAX_K) { // the panel has no room: BLAS, every entry (a triangular A's zeros are in it)
        gemm_ld(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    size_t ra = ta ? 1 : (size_t)lda, ka = ta ? (size_t)lda : 1; // op(A)[r][k] = A[r ra + k ka]
    nl_real bp[SG_MAX_K * NR] __attribute__((aligned(64))), ap[MR * SG_MAX_K] __attribute__((aligned(64)));
    bool ap_filled = false;
    for (int j0 = 0; j0 < N; j0 += NR) {
        int cols = N - j0 < NR ? N - j0 : NR;
        const nl_real *b = B + (tb ? (size_t)j0 * ldb : (size_t)j0); // op(B)'s columns j0.. in place
        size_t bld = (size_t)ldb;
        if (tb || cols < NR) { // pack them
            pack_b(bp, tb, B, ldb, N, j0, 0, K);
            b = bp, bld = NR;
        }
        int i_first = tri == GEMM_C_LOWER ? j0 / MR * MR : 0; // rows above j0 see none of these columns
        for (int i0 = i_first; i0 < M; i0 += MR) {
            int rows = M - i0 < MR ? M - i0 : MR;
            int k0 = tri == GEMM_A_UPPER ? i0 : 0, k1 = tri == GEMM_A_LOWER && i0 + rows < K ? i0 + rows : K;
            const nl_real *a = A + i0 * ra;
            size_t ar = ra, ak = ka;
            if (rows < MR) { // the last rows: copied with zero rows below, so that the tile is whole
                if (!ap_filled) // once: the last tile's rows and k range are the same in every panel
                    for (int k = k0; k < k1; k++)
                        for (int r = 0; r < MR; r++) ap[k * MR + r] = r < rows ? a[r * ra + k * ka] : 0;
                ap_filled = true;
                a = ap, ar = 1, ak = MR;
            }
            vreal acc[MR][2] = {{{0}}};
            tile_mul(acc, a, ar, ak, b, bld, k0, k1);
            tile_store(acc, rows, cols, alpha, beta, NULL, C + (size_t)i0 * ldc + j0, ldc);
        }
    }
}

// The same tiles for a whole linear layer's product (rows in the hundreds or thousands), on the
// team's threads. For each block of KC k's, op(B)'s block is packed once into NR-wide panels that
// the team shares; then each thread takes an even share of C's row tiles, in blocks of up to MC
// rows, packs each block's op(A) tile by tile (MR rows interleaved, so a tile's broadcasts read one
// stream), and runs them panel by panel
// (a panel stays in L1, the A block in L2). The threads split C's rows only, and every entry's sum
// runs over the same k in the same order (block by block, each added into C), so its bits do not
// depend on the thread count. Where the BLAS's own threads wait for each other on these shapes
// (OpenBLAS on two cores), this is faster (docs/performance.md, "Own tiles for x W^T").
enum { KC = 256, MC = 16 * MR };

// ap[t][k][r] = op(A)[i0 + t MR + r][k0 + k] for the rows' tiles, zero past the last row
static void pack_a(nl_real *ap, const nl_real *A, size_t ra, size_t ka, int i0, int rows, int k0, int kc) {
    for (int t = 0; t * MR < rows; t++)
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < MR; r++) {
                int i = t * MR + r;
                ap[((size_t)t * KC + k) * MR + r] = i < rows ? A[(i0 + i) * ra + (k0 + k) * ka] : 0;
            }
}

// kernels.h: one room per thread, kept between calls
static _Thread_local struct {
    nl_real *p;
    size_t n;
} room;
nl_real *kernel_room(size_t n) {
    if (n > room.n) {
        free(room.p);
        room.p = aligned_alloc(64, (n * sizeof(nl_real) + 63) / 64 * 64); // C11: a multiple of 64
        room.n = room.p ? n : 0;
    }
    return room.p;
}

void gemm_tiles(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda, const nl_real *B,
                int ldb, nl_real beta, const nl_real *bias, nl_real *C, int ldc) {
    int panels = (N + NR - 1) / NR, blocks = (M + MC - 1) / MC, tiles = (M + MR - 1) / MR, cores = omp_get_num_procs();
    int most = omp_get_max_threads() < cores ? omp_get_max_threads() : cores;
    int team = omp_in_parallel() ? 1 : blocks < most ? blocks : most;
    size_t ra = ta ? 1 : (size_t)lda, ka = ta ? (size_t)lda : 1; // op(A)[i][k] = A[i ra + k ka]
    size_t b_room = (size_t)panels * KC * NR;
    // B's panels, then A's blocks: row blocks for every core, whatever the team now (the team may
    // change between steps: train's --threads auto)
    nl_real *bp = kernel_room(b_room + (size_t)cores * MC * KC);
    if (!bp || K == 0) { // no room to pack (or nothing to sum): BLAS, which needs none of this
        gemm_ld(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        if (bias) rows_add_row(C, ldc, bias, M, N);
        return;
    }
    nl_real *ap = bp + b_room;
#pragma omp parallel num_threads(team) if (team > 1)
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        nl_real beta_k = k0 == 0 ? beta : 1; // later blocks add to what the first wrote
        const nl_real *bias_k = k0 + kc == K ? bias : NULL; // the bias once the sums are whole
        nl_real *apt = ap + (size_t)omp_get_thread_num() * MC * KC;
#pragma omp for schedule(static)
        for (int p = 0; p < panels; p++) pack_b(bp + (size_t)p * KC * NR, tb, B, ldb, N, p * NR, k0, kc);
        // this thread's share of C's row tiles (whole blocks of MC rows each gave the ViT's 2176 rows
        // to two threads as 12 blocks and 10 and a part)
        int nt = omp_get_num_threads(), t = omp_get_thread_num(), first = (int)((long)tiles * t / nt) * MR;
        int end = (int)((long)tiles * (t + 1) / nt) * MR;
        end = end < M ? end : M;
        for (int i0 = first; i0 < end; i0 += MC) {
            int rows = end - i0 < MC ? end - i0 : MC;
            pack_a(apt, A, ra, ka, i0, rows, k0, kc);
            for (int p = 0; p < panels; p++) {
                int j0 = p * NR, cols = N - j0 < NR ? N - j0 : NR;
                for (int u = 0; u * MR < rows; u++) {
                    nl_real *c = C + (size_t)(i0 + u * MR) * ldc + j0;
                    for (int r = 0; r < MR; r++) // C's lines on their way while the tile runs
                        __builtin_prefetch(c + (size_t)r * ldc, 1), __builtin_prefetch(c + (size_t)r * ldc + NR - 1, 1);
                    vreal acc[MR][2] = {{{0}}};
                    tile_mul(acc, apt + (size_t)u * KC * MR, 1, MR, bp + (size_t)p * KC * NR, NR, 0, kc);
                    tile_store(acc, rows - u * MR < MR ? rows - u * MR : MR, cols, alpha, beta_k,
                               bias_k ? bias_k + j0 : NULL, c, ldc);
                }
            }
        }
#pragma omp barrier // the next block of k's packs over these panels
    }
}
