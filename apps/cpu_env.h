// OpenBLAS reads OPENBLAS_CORETYPE from the environment before main() runs, so a program that wants
// it re-executes itself once with it set (only when the user has not set it). OpenBLAS picks its
// kernels from the CPU model; under virtual machines that report a generic model it falls back to
// the SSE3 "Prescott" kernels, 3-4x slower here. When the CPU has AVX-512 (or AVX2), this names the
// matching kernels. Set the variable yourself to override; NORMLAB_NO_REEXEC=1 disables this.
#pragma once
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pmmintrin.h>
#include <xmmintrin.h>

#include "normlab/blas.h"

// Subnormal numbers (below 1.2e-38 in float) cost the CPU a microcode assist per operation, 100x an
// ordinary one. Training produces them late in a run (saturated tanh and gelu tails, peaked softmax
// rows), and a DyT run slowed from 30k to 12k tokens/s. Flushing them to zero (FTZ: results; DAZ:
// inputs) changes values only below that bound. The mode is per thread: set on the calling thread
// and on every thread of the OpenMP team (which OpenBLAS's gemms also run on).
static inline void cpu_flush_subnormals(void) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#pragma omp parallel
    {
        _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
        _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    }
}

static inline void cpu_env_reexec(char **argv) {
    if (getenv("NORMLAB_NO_REEXEC") || getenv("NORMLAB_REEXECED")) return;
    const char *core_now = blas_core(); // NULL: not OpenBLAS
    if (getenv("OPENBLAS_CORETYPE") || !core_now || strcmp(core_now, "Prescott") != 0) return;
    __builtin_cpu_init();
    const char *core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                       : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                         : NULL;
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("NORMLAB_REEXECED", "1", 1);
    execv("/proc/self/exe", argv); // on failure, carry on with the settings as they are
}
