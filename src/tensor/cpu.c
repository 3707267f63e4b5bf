// The CPU's settings before training (normlab/cpu.h).
#include "normlab/check.h"
#include "normlab/cpu.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pmmintrin.h>
#include <xmmintrin.h>

#include "normlab/blas.h"

void cpu_flush_subnormals(void) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#pragma omp parallel
    {
        _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
        _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
    }
}

void cpu_env_reexec(char **argv) {
    NL_NONNULL(argv);
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
