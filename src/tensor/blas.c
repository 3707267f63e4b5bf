// The one place that calls BLAS: sgemm in the float build, dgemm in the double build; and the
// BLAS's threads and name. NL_BLAS_* and NL_BLAS_NAME come from meson's -Dblas choice.
#ifdef NL_BLAS_MKL
#include <mkl_cblas.h>
#include <mkl_service.h>
#else
#include <cblas.h>
#endif
#include <omp.h>
#include <stdlib.h>

#include "kernels.h"
#include "normlab/blas.h"

#ifdef NL_BLAS_OPENBLAS
char *openblas_get_corename(void);
int openblas_get_parallel(void);
#endif
#ifdef NL_BLAS_BLIS
void bli_thread_set_num_threads(long n); // dim_t: 64 bits on LP64 (blis.h is not needed beside this)
#endif

void gemm_ld(bool ta, bool tb, int M, int N, int K, nl_real alpha, const nl_real *A, int lda,
             const nl_real *B, int ldb, nl_real beta, nl_real *C, int ldc) {
#ifdef NL_REAL_IS_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void gemm_linear(bool ta, bool tb, int M, int N, int K, const nl_real *A, const nl_real *B, const nl_real *bias,
                 nl_real *C) {
#ifdef NL_LINEAR_TILES
    gemm_tiles(ta, tb, M, N, K, 1, A, ta ? M : K, B, tb ? K : N, 0, bias, C, N);
#else
    gemm(ta, tb, M, N, K, 1, A, B, 0, C);
    if (bias) rows_add_row(C, N, bias, M, N);
#endif
}
const char *linear_gemm_name(void) {
#ifdef NL_LINEAR_TILES
    return "tiles";
#else
    return "blas";
#endif
}

static void gemm_call(const GemmCall *g) {
    if (g) gemm(g->ta, g->tb, g->M, g->N, g->K, 1, g->A, g->B, g->beta, g->C);
}

// Whether a gemm called inside a parallel region runs on its caller's thread alone: OpenBLAS's
// OpenMP build does (its pthreads build would start threads of its own beside the team's).
static bool blas_serial_inside_parallel(void) {
#ifdef NL_BLAS_OPENBLAS
    return openblas_get_parallel() == 2;
#else
    return false;
#endif
}

void gemm_pair(const GemmCall *x, const GemmCall *y) {
    if (x && y && x->C != y->C && omp_get_max_threads() == 2 && !omp_in_parallel() && blas_serial_inside_parallel()) {
#pragma omp parallel sections num_threads(2)
        {
#pragma omp section
            gemm_call(x);
#pragma omp section
            gemm_call(y);
        }
        return;
    }
    gemm_call(x);
    gemm_call(y);
}

#ifdef NL_BLAS_MKL
// MKL's strict "conditional numerical reproducibility": the same results whatever the thread count
// (otherwise it may split a gemm's inner dimension between threads), so that a run's numbers do not
// depend on how many cores were free (train's --threads auto). It must be set before any other MKL
// call, hence at load time; MKL_CBWR in the environment overrides it.
__attribute__((constructor)) static void mkl_reproducible(void) {
    if (!getenv("MKL_CBWR")) mkl_cbwr_set(mkl_cbwr_get_auto_branch() | MKL_CBWR_STRICT);
}
#endif

void blas_threads_set(int n) {
    omp_set_num_threads(n);
#if defined(NL_BLAS_OPENBLAS)
    openblas_set_num_threads(n);
#elif defined(NL_BLAS_MKL)
    mkl_set_num_threads(n);
#elif defined(NL_BLAS_BLIS)
    bli_thread_set_num_threads(n);
#endif
}

const char *blas_name(void) { return NL_BLAS_NAME; }

const char *blas_core(void) {
#ifdef NL_BLAS_OPENBLAS
    return openblas_get_corename();
#else
    return NULL;
#endif
}
