// Finite-difference gradient checking (the metric is explained in gradcheck.h).
#include "normlab/check.h"
#include "normlab/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "normlab/ops.h"

#define REPORT_MAX 10 // failing elements printed per input

double gradcheck_default_tol(void) {
#ifdef NL_REAL_IS_DOUBLE
    return 1e-6;
#else
    return 1e-2;
#endif
}

#ifdef NL_REAL_IS_DOUBLE
static const double DEFAULT_H = 1e-4, FLOOR_FRACTION = 1e-3;
#else
static const double DEFAULT_H = 1e-2, FLOOR_FRACTION = 1e-2;
#endif

// Everything one evaluation of sum(r * f(x)) needs.
typedef struct Probe {
    Tape *t;
    GradcheckFn f;
    void *ctx;
    Tensor *const *inputs;
    const nl_real *r; // the fixed weights, one per output element
    Rng *rng, rng_start;
    size_t arena_top;
    int tape_top;
} Probe;

static double probe_loss(Probe *p) {
    if (p->rng) *p->rng = p->rng_start;
    Tensor *y = p->f(p->t, p->inputs, p->ctx);
    double loss = 0;
    size_t n = tensor_numel(y);
    for (size_t i = 0; i < n; i++) loss += (double)p->r[i] * (double)y->data[i];
    tape_rewind(p->t, p->tape_top, p->arena_top); // forget this evaluation
    return loss;
}

// Five-point central difference of the probe's loss in element x[i].
static double numeric_grad(Probe *p, nl_real *x, size_t i, double h) {
    nl_real x0 = x[i];
    double l[4];
    const int k[4] = {-2, -1, 1, 2};
    for (int j = 0; j < 4; j++) {
        x[i] = (nl_real)(x0 + k[j] * h);
        l[j] = probe_loss(p);
    }
    x[i] = x0;
    return (8 * (l[2] - l[1]) - (l[3] - l[0])) / (12 * h);
}

static const char *input_name(Tensor *const *inputs, int i, char *buf) {
    if (inputs[i]->name) return inputs[i]->name;
    sprintf(buf, "input %d", i);
    return buf;
}

// A backward adds to its inputs' grads (a tensor used twice gets both contributions): a second
// backward from the same loss, into the grads the first left, must double them. One that overwrites
// passes the comparison above, whose grads start at 0, and fails here. The number of inputs whose
// grads did not double (each reported).
static int accumulation_fails(Tape *t, Probe *p, Tensor *const *inputs, int n_inputs, uint64_t seed, FILE *out) {
    int failed = 0;
    nl_real **first = calloc(n_inputs > 0 ? n_inputs : 1, sizeof(nl_real *));
    NL_CHECK(first, "gradcheck: out of memory");
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]->needs_grad || !inputs[i]->grad) continue;
        size_t n = tensor_numel(inputs[i]);
        NL_CHECK(first[i] = malloc(n * sizeof(nl_real)), "gradcheck: out of memory for %zu grads", n);
        memcpy(first[i], inputs[i]->grad, n * sizeof(nl_real));
    }
    if (p->rng) *p->rng = p->rng_start;
    Tensor *y = p->f(t, inputs, p->ctx);
    Tensor *r = tensor_new(t->arena, y->shape, false);
    Rng wr;
    rng_seed(&wr, seed);
    for (size_t i = 0; i < tensor_numel(r); i++) r->data[i] = (nl_real)(2 * rng_uniform(&wr) - 1);
    tape_backward(t, op_sum(t, op_mul(t, y, r)));
    for (int i = 0; i < n_inputs; i++) {
        char nb[32];
        double worst = 0, scale = 0;
        for (size_t j = 0; first[i] && j < tensor_numel(inputs[i]); j++) scale = fmax(scale, fabs((double)first[i][j]));
        for (size_t j = 0; first[i] && j < tensor_numel(inputs[i]); j++)
            worst = fmax(worst, fabs(inputs[i]->grad[j] - 2.0 * first[i][j]) / fmax(2 * scale, 1e-300));
        if (worst > 1e3 * NL_REAL_EPSILON) // a doubled sum rounds; an overwrite leaves one copy (worst 0.5)
            failed++, fprintf(out, "gradcheck FAIL: %s's grad is not accumulated (a second backward left it %.3g "
                                   "of its size away from twice the first): does the backward write = where it should add +=?\n",
                              input_name(inputs, i, nb), worst);
        if (first[i]) memcpy(inputs[i]->grad, first[i], tensor_numel(inputs[i]) * sizeof(nl_real)); // the first pass's
        free(first[i]);
    }
    free(first);
    return failed;
}

int gradcheck(Tape *t, GradcheckFn f, void *ctx, Tensor *const *inputs, int n_inputs,
              const GradcheckOpts *opts, GradcheckResult *result) {
    NL_NONNULL(t, f, inputs);
    GradcheckOpts o = opts ? *opts : (GradcheckOpts){0};
    double h = o.h > 0 ? o.h : DEFAULT_H, tol = o.tol > 0 ? o.tol : gradcheck_default_tol();
    FILE *out = o.report ? o.report : stderr;
    NL_CHECK(t->n == 0, "gradcheck needs a tape with nothing recorded (call tape_reset first)");
    bool was_enabled = tape_set_grad_enabled(t, true);
    size_t arena_start = arena_mark(t->arena);
    Probe p = {.t = t, .f = f, .ctx = ctx, .inputs = inputs, .rng = o.rng};
    if (o.rng) p.rng_start = *o.rng;

    // Analytic: backward from sum(r * y).
    for (int i = 0; i < n_inputs; i++) tensor_zero_grad(inputs[i]);
    Tensor *y = f(t, inputs, ctx);
    Tensor *r = tensor_new(t->arena, y->shape, false);
    Rng wr;
    rng_seed(&wr, o.seed ? o.seed : 1234);
    for (size_t i = 0; i < tensor_numel(r); i++) r->data[i] = (nl_real)(2 * rng_uniform(&wr) - 1);
    tape_backward(t, op_sum(t, op_mul(t, y, r)));
    double magnitude = 0;
    for (size_t i = 0; i < tensor_numel(y); i++) magnitude += fabs((double)r->data[i] * y->data[i]);
    double noise = 10 * NL_REAL_EPSILON * magnitude * 1.5 / h;
    p.r = r->data;
    p.tape_top = t->n;
    p.arena_top = arena_mark(t->arena);

    GradcheckResult res = {.noise = noise};
    for (int i = 0; i < n_inputs; i++) {
        Tensor *x = inputs[i];
        if (!x->needs_grad) continue;
        size_t n = tensor_numel(x);
        double *num = malloc(n * sizeof(double));
        NL_CHECK(num, "gradcheck: out of memory for %zu numeric gradients", n);
        double scale = 0;
        for (size_t j = 0; j < n; j++) {
            num[j] = numeric_grad(&p, x->data, j, h);
            scale = fmax(scale, fmax(fabs(num[j]), fabs((double)x->grad[j])));
        }
        double floor = fmax(fmax(FLOOR_FRACTION * scale, noise / tol), 1e-300);
        int reported = 0;
        char nb[32];
        for (size_t j = 0; j < n; j++) {
            double a = x->grad[j];
            double err = fabs(a - num[j]) / fmax(fmax(fabs(a), fabs(num[j])), floor);
            if (!isfinite(a) || !isfinite(num[j])) err = INFINITY;
            bool fail = !(err <= tol);
            res.n_checked++;
            res.n_failed += fail;
            if (!(err <= res.max_err) || res.n_checked == 1) {
                res.max_err = err;
                res.worst_input = i, res.worst_index = j;
                res.worst_analytic = a, res.worst_numeric = num[j];
            }
            if ((fail && reported++ < REPORT_MAX) || o.verbose)
                fprintf(out, "gradcheck %s: %s element %zu: analytic %.10g numeric %.10g error %.3g\n",
                        fail ? "FAIL" : "ok", input_name(inputs, i, nb), j, a, num[j], err);
        }
        free(num);
    }
    tape_rewind(t, 0, arena_start);
    res.n_failed += accumulation_fails(t, &p, inputs, n_inputs, o.seed ? o.seed : 1234, out);
    tape_rewind(t, 0, arena_start);
    tape_set_grad_enabled(t, was_enabled);
    if (result) *result = res;
    return res.n_failed > 0;
}
