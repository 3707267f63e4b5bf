// blas_pick: times BLAS libraries side by side on a training step's own gemms (gemm_shapes.h), each
// loaded at run time, so that one run compares them on this CPU and the build can take the fastest.
//
//   blas_pick [--threads N] [--config default|big] [--passes P] NAME=LIBRARY ...
//
// NAME is one of the kinds below (it says how to set the library's threads and what its symbols
// are called); LIBRARY is the shared library's path. For each it prints the GFLOP/s of the step's
// linear layers' gemms, the ones a BLAS runs (the best of P passes after one warm-up pass), then the
// fastest NAME alone on the last line. Before it, the linear layers' forward products (x W^T) through
// that library against the library's own tiles (gemm_tiles, src/tensor/small_gemm.c, compiled in),
// alternating pass by pass, and the faster as "linear_gemm: blas" or "linear_gemm: tiles" (meson's
// -Dlinear_gemm). Every library runs its gemms on this program's OpenMP team (libgomp) except those
// marked pthreads. scripts/blas.sh runs it at setup; docs/performance.md has its table. Builds with
// cc alone: cc -O3 -march=native -fopenmp -Iinclude bench/blas_pick.c src/tensor/small_gemm.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/tensor/kernels.h"
#include "gemm_shapes.h"

enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 }; // cblas's enum values, the same in every BLAS
typedef void (*SgemmFn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);
typedef void (*ThreadsFn)(int);

// One table row per kind of library: its cblas_sgemm's name and its set-threads function's name.
typedef struct BlasKind {
    const char *name, *sgemm, *set_threads, *threading;
} BlasKind;
static const BlasKind KINDS[] = {
    {"openblas-openmp", "cblas_sgemm", "openblas_set_num_threads", "OpenMP"},
    {"openblas", "cblas_sgemm", "openblas_set_num_threads", "as built"},
    {"blis", "cblas_sgemm", "bli_thread_set_num_threads", "OpenMP"},
    {"mkl", "cblas_sgemm", "MKL_Set_Num_Threads", "OpenMP (MKL_THREADING_LAYER=GNU)"},
    {"scipy-openblas", "scipy_cblas_sgemm", "scipy_openblas_set_num_threads", "pthreads"},
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// The library being timed; gemm_tiles falls back to gemm_ld when it cannot allocate its panels.
static SgemmFn sgemm_now;
void gemm_ld(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc) {
    sgemm_now(ROW_MAJOR, ta ? TRANS : NO_TRANS, tb ? TRANS : NO_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Seconds of one pass over the shapes' gemms through f (NULL: gemm_tiles). Each call writes a C of
// its own, as the step's calls write fresh tensors: a C still in cache from the call before would
// flatter whoever writes C in a pass of its own (a BLAS's beta = 0).
static double one_pass(SgemmFn f, const GemmShape *s, int n, const float *A, const float *B, float *Cs) {
    double t0 = now();
    float *C = Cs;
    for (int i = 0; i < n; i++)
        for (long j = 0; j < s[i].count; j++, C += (size_t)s[i].M * s[i].ldc) {
            if (f)
                f(ROW_MAJOR, s[i].ta ? TRANS : NO_TRANS, s[i].tb ? TRANS : NO_TRANS, s[i].M, s[i].N, s[i].K, 1, A,
                  s[i].lda, B, s[i].ldb, 0, C, s[i].ldc);
            else
                gemm_tiles(s[i].ta, s[i].tb, s[i].M, s[i].N, s[i].K, 1, A, s[i].lda, B, s[i].ldb, 0, NULL, C, s[i].ldc);
        }
    return now() - t0;
}

// GFLOP/s of the shapes' gemms through f and, with `tiles`, through gemm_tiles in the other slot of
// each pass (so that both see the same moments of a noisy host): the best of `passes` passes after
// a warm-up pass, into gf[0] and gf[1].
static void time_shapes(SgemmFn f, bool tiles, const GemmShape *s, int n, double flops, int passes, double gf[2]) {
    long big = gemm_shapes_biggest(s, n), all_c = 0;
    for (int i = 0; i < n; i++) all_c += (long)s[i].M * s[i].ldc * s[i].count;
    float *A = calloc(big, sizeof *A), *B = calloc(big, sizeof *B), *C = calloc(all_c, sizeof *C);
    gf[0] = gf[1] = 0;
    if (!A || !B || !C) {
        fprintf(stderr, "blas_pick: out of memory\n");
    } else {
        double best[2] = {1e30, 1e30};
        for (int p = 0; p <= passes; p++)
            for (int w = 0; w < (tiles ? 2 : 1); w++) {
                double dt = one_pass(w ? NULL : f, s, n, A, B, C);
                if (p > 0 && dt < best[w]) best[w] = dt;
            }
        gf[0] = flops / best[0] * 1e-9, gf[1] = tiles ? flops / best[1] * 1e-9 : 0;
    }
    free(A), free(B), free(C);
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"threads", 1, 0, 'j'}, {"config", 1, 0, 'c'},
                                         {"passes", 1, 0, 'p'},  {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int threads = omp_get_num_procs(), passes = 3;
    const char *config = "default";
    for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (o == 'j') threads = atoi(optarg);
        else if (o == 'c') config = optarg;
        else if (o == 'p') passes = atoi(optarg);
        else {
            fprintf(stderr, "usage: blas_pick [--threads N] [--config default|big] [--passes P] NAME=LIBRARY ...\n"
                            "NAME: openblas-openmp openblas blis mkl scipy-openblas\n");
            return o == 'h' ? 0 : 2;
        }
    }
    bool big = strcmp(config, "big") == 0;
    if ((!big && strcmp(config, "default") != 0) || threads < 1 || passes < 1 || optind == argc)
        return fprintf(stderr, "blas_pick: give --config default|big, --threads >= 1 and NAME=LIBRARY\n"), 2;
    // the default config (4L/128, T 64, B 12) or nanoGPT's shakespeare_char one (6L/384, T 256, B 64)
    int L = big ? 6 : 4, H = big ? 6 : 4, C = big ? 384 : 128, T = big ? 256 : 64, B = big ? 64 : 12, V = 65;
    GemmShape all[GEMM_SHAPES_MAX], s[GEMM_SHAPES_MAX], fwd[GEMM_SHAPES_MAX];
    int n = 0, n_fwd = 0, n_all = gemm_shapes_step(all, L, H, C, T, B, V);
    double flops = 0, fwd_flops = 0;
    for (int i = 0; i < n_all; i++) { // the linear layers': attention's per-head products are gemm_small's
        double f = 2.0 * all[i].M * all[i].N * all[i].K * all[i].count;
        if (!all[i].tri) s[n++] = all[i], flops += f;
        if (!all[i].tri && !all[i].ta && all[i].tb) fwd[n_fwd++] = all[i], fwd_flops += f; // x W^T
    }
    // Read when each library loads: OpenBLAS's kernels for this CPU (under VMs it may see a generic
    // model; normlab/cpu.h); MKL's OpenMP layer (libgomp, not Intel's runtime) and its strict
    // reproducibility, as the build runs it.
    if (!getenv("OPENBLAS_CORETYPE")) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
        else if (__builtin_cpu_supports("avx2")) setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    }
    setenv("MKL_THREADING_LAYER", "GNU", 1);
    setenv("MKL_CBWR", "AUTO,STRICT", 0); // as our build runs it (src/tensor/blas.c)
    omp_set_num_threads(threads);
    printf("blas_pick: %s config (%d layers, %d wide, context %d, batch %d), %d threads, best of %d passes\n",
           config, L, C, T, B, threads, passes);
    const char *best_name = NULL;
    SgemmFn best_f = NULL;
    double best = 0, gf[2];
    for (int a = optind; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        const BlasKind *k = NULL;
        for (size_t i = 0; eq && i < sizeof KINDS / sizeof KINDS[0]; i++)
            if (strlen(KINDS[i].name) == (size_t)(eq - argv[a]) && !strncmp(KINDS[i].name, argv[a], eq - argv[a]))
                k = &KINDS[i];
        if (!k) return fprintf(stderr, "blas_pick: %s is not NAME=LIBRARY with a NAME from --help\n", argv[a]), 2;
        void *lib = dlopen(eq + 1, RTLD_NOW | RTLD_LOCAL);
        SgemmFn f = lib ? (SgemmFn)dlsym(lib, k->sgemm) : NULL;
        if (!f) {
            printf("%-16s unavailable: %s\n", k->name, lib ? "no sgemm in it" : dlerror());
            continue;
        }
        ThreadsFn set = (ThreadsFn)dlsym(lib, k->set_threads);
        if (set) set(threads);
        time_shapes(f, false, s, n, flops, passes, gf);
        printf("%-16s %8.1f GFLOP/s  threads: %s; %s\n", k->name, gf[0], k->threading, eq + 1);
        fflush(stdout);
        if (gf[0] > best) best = gf[0], best_name = k->name, best_f = f;
    }
    if (!best_name) return fprintf(stderr, "blas_pick: none of the libraries could be loaded\n"), 1;
    sgemm_now = best_f;
    time_shapes(best_f, true, fwd, n_fwd, fwd_flops, 2 * passes + 1, gf);
    printf("x W^T alone: %s %.1f GFLOP/s, tiles %.1f GFLOP/s\nlinear_gemm: %s\n", best_name, gf[0], gf[1],
           gf[1] > gf[0] ? "tiles" : "blas");
    printf("%s\n", best_name);
    return 0;
}
