// bench_small_gemm: the training step's gemms (bench/gemm_shapes.h: the linear layers' and
// attention's per-head products, with their strides) through each candidate this build can call,
// side by side in one run, at 1 and 2 threads:
//   blas      the BLAS chosen at setup (scripts/blas.sh), through gemm_ld
//   small     the library's L1 kernel (src/tensor/small_gemm.c; K <= 512; attention's shapes with
//             only the causal triangle's work, as the op runs them: the scores' lower half, and only
//             the k where p or ds is not 0)
//   tiles     the same tiles on a whole linear layer's product, packed, the team splitting C's rows
//             (gemm_tiles: -Dlinear_gemm=tiles runs the forward's x W^T through it)
//   libxsmm   libxsmm's JIT kernel for the shape (libxsmm_smmdispatch, once; Debian's libxsmm-dev),
//             where its JIT has one (1.17 has none with A transposed)
//   onednn    oneDNN's dnnl_sgemm (Debian's libdnnl-dev)
// libxsmm and oneDNN are in the float build when meson found them. How threads are used follows the
// step: a linear layer is one call with the threads inside it (BLAS's and oneDNN's own; libxsmm and
// the L1 kernel: C's rows split between the threads); attention's per-head products are many
// one-thread calls spread over the threads, as the attention op issues them. Prints GFLOP/s (the
// best of 5 passes; a causal triangle counted as the full product, the work it replaces), each
// result's largest difference from BLAS's, and which candidates give other bits on more threads
// than one (a run's numbers must not depend on the thread count).
//
// Usage: bench_small_gemm [--n-layer 4] [--n-head 4] [--n-embd 128] [--block-size 64] [--batch-size 12]
//                         [--vocab 65] [--threads 2] [--ms 200]
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_shapes.h"
#include "normlab/blas.h"
#include "tensor/kernels.h"

// gemm_shapes.h writes GemmTri's values as numbers (blas_pick builds it without the library)
_Static_assert(GEMM_FULL == 0 && GEMM_C_LOWER == 1 && GEMM_A_LOWER == 2 && GEMM_A_UPPER == 3,
               "bench/gemm_shapes.h's triangle numbers must be GemmTri's");

#if defined(HAVE_LIBXSMM) && !defined(NL_REAL_IS_DOUBLE)
#include <libxsmm.h>
#define WITH_LIBXSMM 1
#endif
#if defined(HAVE_ONEDNN) && !defined(NL_REAL_IS_DOUBLE)
#include <oneapi/dnnl/dnnl.h>
#define WITH_ONEDNN 1
#endif

typedef struct Job {
    const GemmShape *s;
    bool per_head; // many one-thread calls, spread over the threads
    const nl_real *A, *B; // A with the zeros the shape's triangle says (tri)
    nl_real *C; // (threads) result buffers, one per thread for the per-head products
    long stride; // elements between the threads' C buffers
    nl_real *ring; // a linear layer's product: a C of its own for each call, in turn (slots of slot)
    long slots, slot;
#ifdef WITH_LIBXSMM
    libxsmm_smmfunction xsmm;
#endif
} Job;

// ---- the candidates: one call of the shape (rows i0..i1 of C), on the calling thread or the library's ----
static void run_blas(const Job *j, int i0, int i1, nl_real *C) {
    const GemmShape *s = j->s;
    const nl_real *A = s->ta ? j->A + i0 : j->A + (size_t)i0 * s->lda;
    gemm_ld(s->ta, s->tb, i1 - i0, s->N, s->K, 1, A, s->lda, j->B, s->ldb, 0, C + (size_t)i0 * s->ldc, s->ldc);
}
static void run_small(const Job *j, int i0, int i1, nl_real *C) {
    const GemmShape *s = j->s;
    const nl_real *A = s->ta ? j->A + i0 : j->A + (size_t)i0 * s->lda;
    gemm_small(s->ta, s->tb, i1 - i0, s->N, s->K, 1, A, s->lda, j->B, s->ldb, 0, C + (size_t)i0 * s->ldc, s->ldc,
               i0 == 0 ? (GemmTri)s->tri : GEMM_FULL); // a block of rows below the first: its triangle is elsewhere
}
static void run_tiles(const Job *j, int i0, int i1, nl_real *C) {
    const GemmShape *s = j->s;
    const nl_real *A = s->ta ? j->A + i0 : j->A + (size_t)i0 * s->lda;
    gemm_tiles(s->ta, s->tb, i1 - i0, s->N, s->K, 1, A, s->lda, j->B, s->ldb, 0, NULL, C + (size_t)i0 * s->ldc, s->ldc);
}
#ifdef WITH_LIBXSMM
// Column-major: C^T (N, rows) = op(B)^T op(A)^T, so B is libxsmm's A and A its B.
static void run_libxsmm(const Job *j, int i0, int i1, nl_real *C) {
    (void)i1;
    const GemmShape *s = j->s;
    const nl_real *A = s->ta ? j->A + i0 : j->A + (size_t)i0 * s->lda;
    j->xsmm(j->B, A, C + (size_t)i0 * s->ldc);
}
#endif
#ifdef WITH_ONEDNN
static void run_onednn(const Job *j, int i0, int i1, nl_real *C) {
    const GemmShape *s = j->s;
    const nl_real *A = s->ta ? j->A + i0 : j->A + (size_t)i0 * s->lda;
    dnnl_sgemm(s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', i1 - i0, s->N, s->K, 1, A, s->lda, j->B, s->ldb, 0,
               C + (size_t)i0 * s->ldc, s->ldc);
}
#endif

typedef void (*RunFn)(const Job *, int, int, nl_real *);
typedef struct Candidate {
    const char *name;
    RunFn run;
    bool threads_inside; // the library splits one call between the threads itself
} Candidate;
static const Candidate CANDIDATES[] = {
    {"blas", run_blas, true},
    {"small", run_small, false},
    {"tiles", run_tiles, true},
#ifdef WITH_LIBXSMM
    {"libxsmm", run_libxsmm, false},
#endif
#ifdef WITH_ONEDNN
    {"onednn", run_onednn, true},
#endif
};
#define N_CANDIDATES (int)(sizeof CANDIDATES / sizeof CANDIDATES[0])

// Whether candidate c can take the shape in this configuration (a reason when it cannot).
static const char *unable(const Candidate *c, const Job *j, int threads) {
    if (c->run == run_small && j->s->K > 512) return "K > 512";
#ifdef WITH_LIBXSMM
    if (c->run == run_libxsmm && !j->xsmm) return "no JIT kernel";
    if (c->run == run_libxsmm && !j->per_head && threads > 1) return "one thread";
#endif
    (void)threads;
    return NULL;
}

// calls of the shape: per head, spread over the threads, each on its own C (attention's scratch,
// in cache); otherwise one call at a time, with the threads inside the library or splitting C's
// rows, each call writing a C of the ring that is out of cache, as the step's linear layers write
// fresh tensors (one C for every call would flatter a BLAS that writes C in a pass of its own
// before it adds: its beta = 0).
static void run_calls(const Candidate *c, const Job *j, int threads, long calls) {
    const GemmShape *s = j->s;
    if (j->per_head) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long k = 0; k < calls; k++) c->run(j, 0, s->M, j->C + (size_t)omp_get_thread_num() * j->stride);
    } else if (c->threads_inside || threads == 1) {
        for (long k = 0; k < calls; k++) c->run(j, 0, s->M, j->ring + (size_t)(k % j->slots) * j->slot);
    } else {
        for (long k = 0; k < calls; k++) {
            nl_real *C = j->ring + (size_t)(k % j->slots) * j->slot;
#pragma omp parallel num_threads(threads)
            {
                int t = omp_get_thread_num(), rows = (s->M + threads - 1) / threads;
                int i0 = t * rows, i1 = i0 + rows < s->M ? i0 + rows : s->M;
                if (i0 < i1) c->run(j, i0, i1, C);
            }
        }
    }
}

// The best seconds per call over 5 passes of about ms milliseconds each.
static double per_call(const Candidate *c, const Job *j, int threads, double ms) {
    long calls = 1;
    for (double t0 = omp_get_wtime(); omp_get_wtime() - t0 < ms / 5e3; calls *= 2) run_calls(c, j, threads, calls);
    double best = INFINITY;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = omp_get_wtime();
        run_calls(c, j, threads, calls);
        best = fmin(best, (omp_get_wtime() - t0) / calls);
    }
    return best;
}

// The largest difference over the entries of C the shape needs.
static double max_diff(const GemmShape *s, const nl_real *X, const nl_real *Y) {
    double d = 0;
    for (int i = 0; i < s->M; i++)
        for (int j = 0; j < (s->tri == GEMM_C_LOWER ? i + 1 : s->N); j++)
            d = fmax(d, fabs((double)X[(size_t)i * s->ldc + j] - Y[(size_t)i * s->ldc + j]));
    return d;
}

int main(int argc, char **argv) {
    int L = 4, H = 4, C = 128, T = 64, B = 12, V = 65, max_threads = 2;
    double ms = 200;
    static const struct option opts[] = {{"n-layer", 1, 0, 'l'}, {"n-head", 1, 0, 'h'},     {"n-embd", 1, 0, 'e'},
                                         {"block-size", 1, 0, 't'}, {"batch-size", 1, 0, 'b'}, {"vocab", 1, 0, 'v'},
                                         {"threads", 1, 0, 'p'}, {"ms", 1, 0, 'm'},          {0, 0, 0, 0}};
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'l') L = atoi(optarg);
        else if (o == 'h') H = atoi(optarg);
        else if (o == 'e') C = atoi(optarg);
        else if (o == 't') T = atoi(optarg);
        else if (o == 'b') B = atoi(optarg);
        else if (o == 'v') V = atoi(optarg);
        else if (o == 'p') max_threads = atoi(optarg);
        else if (o == 'm') ms = atof(optarg);
        else
            return fprintf(stderr, "usage: bench_small_gemm [--n-layer L] [--n-head H] [--n-embd C] [--block-size T] "
                                   "[--batch-size B] [--vocab V] [--threads N] [--ms MS]\n"), 2;
    }
    if (L < 1 || H < 1 || C < H || C % H || T < 1 || B < 1 || V < 1 || max_threads < 1 || ms <= 0)
        return fprintf(stderr, "bench_small_gemm: sizes, threads and --ms must be positive (n-head dividing n-embd)\n"), 2;
    GemmShape all[GEMM_SHAPES_MAX];
    int n = gemm_shapes_step(all, L, H, C, T, B, V), first_head = n - 6;
    static const char *const what[] = {"qkv = x W^T", "dx", "dW", "proj", "dx", "dW", "fc", "dx", "dW",
                                       "fc2", "dx", "dW", "logits", "dx", "dW", "s = q k^T", "y = p v",
                                       "dp = dy v^T", "dv = p^T dy", "dq = ds k", "dk = ds^T q"};
    long big = gemm_shapes_biggest(all, n);
    nl_real *A = malloc(big * sizeof *A), *Az = malloc(big * sizeof *Az), *Bm = malloc(big * sizeof *Bm);
    nl_real *ref = calloc(big, sizeof *ref), *out = calloc(big * max_threads, sizeof *out);
    // the ring: 32 MB in float (past the L2 of any core here), or the largest C
    long ring_n = big > (8L << 20) ? big : 8L << 20;
    nl_real *ring = calloc(ring_n, sizeof *ring);
    nl_real *mine[N_CANDIDATES];
    for (int c = 0; c < N_CANDIDATES; c++) mine[c] = calloc(big, sizeof(nl_real));
    for (int c = 0; c < N_CANDIDATES; c++)
        if (!mine[c]) return fprintf(stderr, "bench_small_gemm: out of memory\n"), 1;
    if (!A || !Az || !Bm || !ref || !out || !ring) return fprintf(stderr, "bench_small_gemm: out of memory\n"), 1;
    for (long i = 0; i < big; i++) A[i] = (nl_real)sin(0.37 * i), Bm[i] = (nl_real)cos(0.11 * i);
    printf("bench_small_gemm: %s; config %d layers, %d heads, %d wide, T %d, batch %d; GFLOP/s, best of 5\n",
           blas_name(), L, H, C, T, B);
    printf("%-12s %-22s %4s", "product", "M x N x K (ta tb)", "thr");
    for (int c = 0; c < N_CANDIDATES; c++) printf(" %9s", CANDIDATES[c].name);
    printf("  %-9s %s\n", "best", "1 thread: max diff from blas; more: whose bits differ from its 1-thread result");
    for (int k = 0; k < n; k++) {
        const GemmShape *s = &all[k];
        // A triangular op(A) (a causal p or ds): the zeros it has in the step, so that every
        // candidate computes the same product
        for (long i = 0; i < big; i++) {
            long r = s->ta ? i % s->lda : i / s->lda, c = s->ta ? i / s->lda : i % s->lda; // op(A)[r][c]
            Az[i] = (s->tri == GEMM_A_LOWER && c > r) || (s->tri == GEMM_A_UPPER && c < r) ? 0 : A[i];
        }
        long slot = (long)s->M * s->ldc;
        Job j = {.s = s, .per_head = k >= first_head, .A = Az, .B = Bm, .C = out, .stride = big,
                 .ring = ring, .slots = ring_n / slot, .slot = slot};
#ifdef WITH_LIBXSMM
        int flags = (s->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
        libxsmm_blasint lda = s->ldb, ldb = s->lda, ldc = s->ldc;
        float one = 1, zero = 0;
        j.xsmm = libxsmm_smmdispatch(s->N, s->M, s->K, &lda, &ldb, &ldc, &one, &zero, &flags, NULL);
#endif
        blas_threads_set(1);
        run_blas(&j, 0, s->M, ref);
        double flops = 2.0 * s->M * s->N * s->K;
        for (int threads = 1; threads <= max_threads; threads *= 2) {
            char dims[40];
            snprintf(dims, sizeof dims, "%d x %d x %d (%c %c)", s->M, s->N, s->K, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N');
            printf("%-12s %-22s %4d", what[k], dims, threads);
            double best = 0;
            const char *best_name = "";
            char diffs[200] = "";
            for (int c = 0; c < N_CANDIDATES; c++) {
                const Candidate *cd = &CANDIDATES[c];
                const char *why = unable(cd, &j, threads);
                if (why) {
                    printf(" %9s", "-");
                    continue;
                }
                blas_threads_set(j.per_head ? 1 : threads);
                omp_set_num_threads(j.per_head ? 1 : threads); // oneDNN's threads inside one call
                double gf = flops / per_call(cd, &j, threads, ms) / 1e9; // calls spread over the threads count once each
                omp_set_num_threads(max_threads);
                printf(" %9.1f", gf);
                if (gf > best) best = gf, best_name = cd->name;
                size_t used = strlen(diffs);
                if (threads == 1) { // its result beside BLAS's, kept for the thread-count check
                    memset(mine[c], 0, big * sizeof(nl_real));
                    cd->run(&j, 0, s->M, mine[c]);
                    if (c > 0)
                        snprintf(diffs + used, sizeof diffs - used, " %s %.1g", cd->name, max_diff(s, ref, mine[c]));
                } else if (!j.per_head || cd->threads_inside) { // one call on the threads: the same bits as on one?
                    memset(out, 0, big * sizeof *out);
                    blas_threads_set(threads), omp_set_num_threads(threads);
                    if (cd->threads_inside) cd->run(&j, 0, s->M, out);
                    else run_calls(cd, &j, threads, 1);
                    omp_set_num_threads(max_threads);
                    if (max_diff(s, mine[c], out) != 0)
                        snprintf(diffs + used, sizeof diffs - used, " %s differs from 1 thread", cd->name);
                }
            }
            printf("  %-9s%s\n", best_name, diffs);
        }
    }
    blas_threads_set(max_threads);
    for (int c = 0; c < N_CANDIDATES; c++) free(mine[c]);
    free(A), free(Az), free(Bm), free(ref), free(out), free(ring);
    return 0;
}
