// Throughput of each fused norm's forward + backward on (rows, C), beside a plain memory copy of the
// same number of bytes, measured alternately in the same run (the host's speed drifts).
//
// Bytes that must move: forward reads x and writes y, backward reads x and dy and writes dx: 5 rows*C
// reals whatever the layer (w, b and the per-row statistics are negligible). Anything a layer moves
// beyond that (saved tensors, zeroing the output's grad, dx read by +=) costs it throughput.
// The copy moves the same bytes: memcpy of 2.5 rows*C reals (each byte read once, written once).
//
// Usage: bench_norms [--quick] [--reps N] [--threads N]
// One thread unless --threads: the copy always runs on one, so past one thread the % of the copy rate
// is a team against one core (the norms' own speed-up is what to read there).
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/norm.h"
#include "normlab/rng.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct Bench {
    Tape tape;
    Norm norm;
    Tensor *x;
    nl_real *src, *dst; // the copy's buffers
    size_t copy_bytes;
} Bench;

// One forward + backward of the fused op. Backward is called on the node directly: this measures
// the op, not a loss on top of it.
static void run_norm(Bench *b) {
    tape_reset(&b->tape);
    Tensor *y = norm_forward(&b->tape, &b->norm, b->x);
    // dy: what backward would hand the op, a zeroed grad (the tape's grad_ensure) plus a few ones
    y->grad = arena_calloc(b->tape.arena, tensor_numel(y) * sizeof(nl_real));
    for (size_t i = 0; i < 8; i++) y->grad[i] = 1;
    TapeNode *n = &b->tape.nodes[b->tape.n - 1];
    n->def->backward(n);
}

static void run_copy(Bench *b) { memcpy(b->dst, b->src, b->copy_bytes); }

// Median seconds per call over reps timed batches, each of `inner` calls.
static double timed(void (*f)(Bench *), Bench *b, int inner) {
    double t = tape_clock();
    for (int i = 0; i < inner; i++) f(b);
    return (tape_clock() - t) / inner;
}

int main(int argc, char **argv) {
    int reps = 5;
    int threads = 1;
    bool quick = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = true;
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_norms [--quick] [--reps N] [--threads N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 100) reps = 5;
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "bench_norms: --threads must be 1 to 1024\n");
        return 2;
    }
    omp_set_num_threads(threads);
    const int Cs[] = {128, 1024, 4096}, rows_list[] = {768, 4096, 16384};
    int nC = quick ? 2 : 3, nR = quick ? 2 : 3;
    printf("fused norm forward+backward vs memcpy of the same bytes (5 x rows x C x %zu B), %s build,\n"
           "%d thread%s (the copy: one), median of %d alternating measurements. GB/s, and %% of the copy rate.\n\n",
           sizeof(nl_real), NL_REAL_NAME, threads, threads == 1 ? "" : "s", reps);
    printf("%5s %6s %8s |", "C", "rows", "copy");
    for (int k = 0; k < NORM_COUNT; k++) printf(" %14s", NORM_TABLE[k]->name);
    printf("\n");
    Rng rng;
    rng_seed(&rng, 1);
    for (int ci = 0; ci < nC; ci++)
        for (int ri = 0; ri < nR; ri++) {
            int C = Cs[ci], rows = rows_list[ri];
            size_t N = (size_t)rows * C, moved = 5 * N * sizeof(nl_real);
            Arena params, step;
            Bench b = {.copy_bytes = moved / 2};
            if (arena_init(&params, "params", N * 2 * sizeof(nl_real) + 8 * C * sizeof(nl_real) + (1 << 16)) ||
                arena_init(&step, "step", 4 * N * sizeof(nl_real) + (1 << 20)) || tape_init(&b.tape, &step, 8) ||
                !(b.src = malloc(b.copy_bytes)) || !(b.dst = malloc(b.copy_bytes))) {
                fprintf(stderr, "bench_norms: out of memory at C %d rows %d\n", C, rows);
                return 1;
            }
            memset(b.src, 1, b.copy_bytes);
            memset(b.dst, 0, b.copy_bytes);
            b.x = tensor_new(&params, NL_SHAPE(rows, C), true);
            for (size_t i = 0; i < N; i++) b.x->data[i] = (nl_real)rng_normal(&rng);
            Tensor *w = tensor_new(&params, NL_SHAPE(C), true), *bias = tensor_new(&params, NL_SHAPE(C), true);
            Tensor *s = tensor_new(&params, NL_SHAPE(1), true), *shift = tensor_new(&params, NL_SHAPE(1), true);
            tensor_fill(w, 1), tensor_fill(bias, 0), tensor_fill(shift, 0);
            int inner = (int)(2e8 / moved) + 1; // ~0.2 GB per timed batch
            double copy[100], norm[NORM_COUNT][100];
            for (int r = 0; r < reps; r++) {
                copy[r] = moved / timed(run_copy, &b, inner) / 1e9;
                for (int k = 0; k < NORM_COUNT; k++) {
                    b.norm = (Norm){.kind = k, .eps = NORM_EPS, .weight = w, .bias = bias,
                                    .scalar = NORM_TABLE[k]->scalar ? s : NULL,
                                    .shift = NORM_TABLE[k]->shift ? shift : NULL};
                    if (NORM_TABLE[k]->scalar) // alpha0 0.5, beta0 4
                        s->data[0] = (nl_real)norm_scalar_stored(k, NORM_TABLE[k]->scalar == NORM_SCALAR_ALPHA ? 0.5 : 4);
                    run_norm(&b); // warm
                    norm[k][r] = moved / timed(run_norm, &b, inner) / 1e9;
                }
            }
            qsort(copy, reps, sizeof(double), cmp);
            printf("%5d %6d %8.2f |", C, rows, copy[reps / 2]);
            for (int k = 0; k < NORM_COUNT; k++) {
                qsort(norm[k], reps, sizeof(double), cmp);
                printf(" %6.2f (%4.0f%%)", norm[k][reps / 2], 100 * norm[k][reps / 2] / copy[reps / 2]);
            }
            printf("\n");
            fflush(stdout);
            tape_free(&b.tape);
            arena_free(&step);
            arena_free(&params);
            free(b.src), free(b.dst);
        }
    return 0;
}
