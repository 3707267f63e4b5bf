// Two settings the libraries read from the environment before main() runs, so a program that wants
// them re-executes itself once with them set (only those the user has not set):
//   OPENBLAS_CORETYPE  OpenBLAS picks its kernels from the CPU model; under virtual machines that
//                      report a generic model it falls back to the SSE3 "Prescott" kernels, 3-4x
//                      slower here. When the CPU has AVX-512 (or AVX2), name the matching kernels.
//   OMP_WAIT_POLICY    PASSIVE: OpenMP's idle threads sleep instead of spinning, so they do not
//                      fight OpenBLAS's threads for the cores (a step takes up to 2x longer
//                      otherwise).
// Set either variable yourself to override; NORMLAB_NO_REEXEC=1 disables this.
#pragma once
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);

static inline void cpu_env_reexec(char **argv) {
    if (getenv("NORMLAB_NO_REEXEC") || getenv("NORMLAB_REEXECED")) return;
    bool again = false;
    if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "PASSIVE", 1), again = true;
    if (!getenv("OPENBLAS_CORETYPE") && strcmp(openblas_get_corename(), "Prescott") == 0) {
        __builtin_cpu_init();
        const char *core = __builtin_cpu_supports("avx512f") ? "SkylakeX"
                           : __builtin_cpu_supports("avx2")  ? "Haswell"
                                                             : NULL;
        if (core) setenv("OPENBLAS_CORETYPE", core, 1), again = true;
    }
    if (!again) return;
    setenv("NORMLAB_REEXECED", "1", 1);
    execv("/proc/self/exe", argv); // on failure, carry on with the settings as they are
}
