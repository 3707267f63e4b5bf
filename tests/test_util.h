// Shared by the tests: cmocka includes, a fresh tape per test, random fills, and a gradcheck that
// fails the test with the checker's own report.
#pragma once
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on
#include <math.h>
#include <stdio.h>

#include "normlab/gradcheck.h"
#include "normlab/ops.h"

// Gradient-check tolerance: 1e-6 in the double build (the bound the tests are held to), 1e-2 in
// float, where finite differences of a float forward cannot resolve more (see gradcheck.h for the
// error metric).
#define GRAD_TOL gradcheck_default_tol()
// Tolerance for comparing computed values with exact ones: a few ulps of the real type.
#ifdef NL_REAL_IS_DOUBLE
#define VAL_TOL 1e-12
#else
#define VAL_TOL 1e-5
#endif

// Inputs live in `params` (never reset), what the ops make in `arena`, the tape's step arena.
typedef struct Fixture {
    Arena params, arena;
    Tape tape;
    Rng rng;
} Fixture;

static inline int fixture_setup(void **state) {
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx || arena_init(&fx->params, "test params", 0) || arena_init(&fx->arena, "test step", 64 << 20) || tape_init(&fx->tape, &fx->arena, 1024)) return -1;
    rng_seed(&fx->rng, 42);
    *state = fx;
    return 0;
}

static inline int fixture_teardown(void **state) {
    Fixture *fx = *state;
    tape_free(&fx->tape);
    arena_free(&fx->arena);
    arena_free(&fx->params);
    free(fx);
    return 0;
}

// An input tensor (in the fixture's params arena), filled with N(0, std^2) (or, with std == 0, left for the caller).
static inline Tensor *rand_tensor(Fixture *fx, Shape s, bool needs_grad, double std,
                                  const char *name) {
    Tensor *t = tensor_new(&fx->params, s, needs_grad);
    t->name = name;
    for (size_t i = 0; i < tensor_numel(t); i++) t->data[i] = (nl_real)(std * rng_normal(&fx->rng));
    return t;
}

static inline void set_values(Tensor *t, const double *v) {
    for (size_t i = 0; i < tensor_numel(t); i++) t->data[i] = (nl_real)v[i];
}

static inline void assert_values(const nl_real *got, const double *want, size_t n, double tol) {
    for (size_t i = 0; i < n; i++) {
        if (!(fabs((double)got[i] - want[i]) <= tol * fmax(1.0, fabs(want[i]))))
            fail_msg("element %zu: got %.17g, want %.17g (tol %g)", i, (double)got[i], want[i], tol);
    }
}

// Runs gradcheck and fails the test (after the checker's report) unless every element passes.
static inline void assert_gradcheck(Fixture *fx, GradcheckFn f, void *ctx, Tensor *const *in,
                                    int n_in) {
    GradcheckResult r;
    int failed = gradcheck(&fx->tape, f, ctx, in, n_in, NULL, &r);
    if (failed || r.n_checked == 0)
        fail_msg("gradcheck: %zu of %zu elements failed; worst error %.3g in input %d element %zu "
                 "(analytic %.10g, numeric %.10g), tolerance %g",
                 r.n_failed, r.n_checked, r.max_err, r.worst_input, r.worst_index,
                 r.worst_analytic, r.worst_numeric, GRAD_TOL);
    print_message("    gradcheck: %zu elements, max error %.2e (tol %.0e)\n", r.n_checked, r.max_err,
                  GRAD_TOL);
}

// Death tests: runs fn(ctx) in a child process and asserts it aborted (an always-on CHECK) with a
// message on stderr containing `want`.
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void assert_aborts(void (*fn)(void *), void *ctx, const char *want) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(ctx);
        _exit(0); // did not abort: the parent fails the test
    }
    close(fds[1]);
    char msg[4096] = {0};
    size_t len = 0;
    ssize_t k;
    while (len < sizeof msg - 1 && (k = read(fds[0], msg + len, sizeof msg - 1 - len)) > 0)
        len += (size_t)k;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
        fail_msg("expected an abort with \"%s\"; the child exited normally. stderr: %s", want, msg);
    if (!strstr(msg, want)) fail_msg("abort message lacks \"%s\": %s", want, msg);
}
