// blas_pick: times BLAS libraries side by side on a training step's own gemms (gemm_shapes.h), each
// loaded at run time, so that one run compares them on this CPU and the build can take the fastest.
//
//   blas_pick [--threads N] [--config default|big] [--passes P] NAME=LIBRARY ...
//
// NAME is one of the kinds below (it says how to set the library's threads and what its symbols
// are called); LIBRARY is the shared library's path. For each it prints the GFLOP/s of the step's
// linear layers' gemms, the ones a BLAS runs (the best of P passes after one warm-up pass), then the
// fastest NAME alone on the last line. Every library runs its gemms on this program's OpenMP team
// (libgomp) except those marked pthreads. scripts/blas.sh runs it at setup; docs/performance.md has
// its table. Builds with cc alone: cc -O2 -fopenmp bench/blas_pick.c -o blas_pick -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

// GFLOP/s of the shapes' gemms through f: the best of `passes` passes after a warm-up pass.
static double time_shapes(SgemmFn f, const GemmShape *s, int n, double flops, int passes) {
    long big = gemm_shapes_biggest(s, n);
    float *A = calloc(big, sizeof *A), *B = calloc(big, sizeof *B), *C = calloc(big, sizeof *C);
    if (!A || !B || !C) return fprintf(stderr, "blas_pick: out of memory\n"), 0;
    double best = 1e30;
    for (int p = 0; p <= passes; p++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            for (long j = 0; j < s[i].count; j++)
                f(ROW_MAJOR, s[i].ta ? TRANS : NO_TRANS, s[i].tb ? TRANS : NO_TRANS, s[i].M, s[i].N, s[i].K, 1,
                  A, s[i].lda, B, s[i].ldb, 0, C, s[i].ldc);
        double dt = now() - t0;
        if (p > 0 && dt < best) best = dt;
    }
    free(A), free(B), free(C);
    return flops / best * 1e-9;
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
    GemmShape all[GEMM_SHAPES_MAX], s[GEMM_SHAPES_MAX];
    int n = 0, n_all = gemm_shapes_step(all, L, H, C, T, B, V);
    double flops = 0;
    for (int i = 0; i < n_all; i++) // the linear layers': attention's per-head products are gemm_small's
        if (!all[i].tri) s[n++] = all[i], flops += 2.0 * all[i].M * all[i].N * all[i].K * all[i].count;
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
    double best = 0;
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
        double g = time_shapes(f, s, n, flops, passes);
        printf("%-16s %8.1f GFLOP/s  threads: %s; %s\n", k->name, g, k->threading, eq + 1);
        fflush(stdout);
        if (g > best) best = g, best_name = k->name;
    }
    if (!best_name) return fprintf(stderr, "blas_pick: none of the libraries could be loaded\n"), 1;
    printf("%s\n", best_name);
    return 0;
}
