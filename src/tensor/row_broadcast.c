// A row of values broadcast over a matrix's rows, forward and backward: added to every row (a linear
// layer's bias, where the BLAS wrote the product), and the broadcast's grad, the sum over the rows.
#include "kernels.h"

// y[r][j] += row[j] for r < rows, j < n; y's rows ldy apart
void rows_add_row(nl_real *y, size_t ldy, const nl_real *row, size_t rows, int n) {
#pragma omp parallel for schedule(static) if (rows * (size_t)n >= KERNEL_PARALLEL_MIN)
    for (size_t r = 0; r < rows; r++)
#pragma omp simd
        for (int j = 0; j < n; j++) y[r * ldy + j] += row[j];
}

// sums[j] += x[r][j] (times w[r][j] when w) for r = 0, 1, ... in turn, each thread a range of the
// columns (thread_columns) down every row. (One 16-column block down all the rows, then the next,
// read 3-6 GB/s from memory: a 64-byte piece of each row at a time.)
void cols_sum_into(nl_real *sums, const nl_real *x, const nl_real *w, size_t rows, size_t n) {
#pragma omp parallel if (rows * n >= KERNEL_PARALLEL_MIN)
    {
        int j0, j1;
        thread_columns((int)n, &j0, &j1);
        for (size_t r = 0; r < rows; r++) {
            const nl_real *xr = x + r * n, *wr = w ? w + r * n : NULL;
#pragma omp simd
            for (int j = j0; j < j1; j++) sums[j] += wr ? xr[j] * wr[j] : xr[j];
        }
    }
}
