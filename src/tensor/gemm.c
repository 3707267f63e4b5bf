// The one place that calls BLAS: sgemm in the float build, dgemm in the double build.
#include <cblas.h>

#include "kernels.h"

void gemm(bool ta, bool tb, int M, int N, int K, real alpha, const real *A, const real *B,
          real beta, real *C) {
    int lda = ta ? M : K, ldb = tb ? K : N;
#ifdef REAL_IS_DOUBLE
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, N);
#else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, N);
#endif
}
