// The one place that calls BLAS: sgemm in the float build, dgemm in the double build.
#include <cblas.h>

#include "kernels.h"

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
