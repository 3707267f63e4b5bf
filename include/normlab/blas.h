// The BLAS the library was built with (-Dblas=, docs/performance.md) and its threads.
#pragma once

// Sets the thread count of the OpenMP team our kernels and the BLAS's gemms share (every -Dblas
// choice but a pthreads OpenBLAS runs on that team; for one, sets its own threads as well).
void blas_threads_set(int n);
// "openblas-openmp", "mkl", "blis" or "openblas": the -Dblas choice.
const char *blas_name(void);
// OpenBLAS's name for the kernels it chose for this CPU ("SkylakeX", "Haswell", "Prescott" when
// it does not recognise the CPU); NULL for a BLAS that is not OpenBLAS.
const char *blas_core(void);
