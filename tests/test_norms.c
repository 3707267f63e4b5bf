// The seven norm layers: gradient checks of the fused ops over hard inputs, fused = composite, known
// answers worked by hand (C = 4), invariants, and the non-finite report.
#include "norm_util.h"

// ---- gradient checks ---------------------------------------------------------------------------
typedef struct Case {
    const char *what;
    int rows, C;
    double scalar; // effective alpha or beta; 0: the kind's default
    double h;      // finite-difference step; 0: gradcheck's default (see STEP)
    void (*fill)(nl_real *x, int rows, int C, Rng *rng);
} Case;

static void fill_normal(nl_real *x, int rows, int C, Rng *rng) {
    for (int i = 0; i < rows * C; i++) x[i] = (nl_real)(1.5 * rng_normal(rng));
}
static void fill_outliers(nl_real *x, int rows, int C, Rng *rng) { // one huge channel per row
    fill_normal(x, rows, C, rng);
    for (int r = 0; r < rows; r++) x[r * C + (r * 3) % C] = (nl_real)(r % 2 ? -1e3 : 1e3);
}
static void fill_constant_rows(nl_real *x, int rows, int C, Rng *rng) { // variance 0: eps dominates
    (void)rng;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < C; j++) x[r * C + j] = (nl_real)(0.7 * r - 0.5);
}

// A step for the double build and one for float, whose resolution needs a larger one.
#ifdef NL_REAL_IS_DOUBLE
#define STEP(in_double, in_float) (in_double)
#else
#define STEP(in_double, in_float) (in_float)
#endif

static const Case CASES[] = {
    {"normal", 3, 8, 0, 0, fill_normal},
    {"outliers |x| = 1e3", 3, 8, 0, 0, fill_outliers},
    // variance 0: LN's output varies on the scale sqrt(eps) = 3e-3, so a smaller step
    {"constant rows", 3, 8, 0, STEP(1e-6, 3e-4), fill_constant_rows},
    // C = 1: RMSNorm is x / sqrt(x^2 + eps), a step of width sqrt(eps); float needs a finer step
    {"C = 1", 4, 1, 0, STEP(0, 1e-3), fill_normal},
    {"large scalar (tanh saturated; beta 1e4)", 3, 8, 1e4, 0, fill_normal},
    // the step must stay well below beta, or beta - 2h crosses -eps (NaN)
    {"small scalar (alpha 1e-3; beta 1e-3)", 3, 8, 1e-3, STEP(1e-5, 1e-4), fill_normal},
};

static void test_gradcheck_every_layer(void **state) {
    Fixture *fx = *state;
    for (int k = 0; k < NORM_COUNT; k++)
        for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
            for (int bias = 0; bias < 2; bias++) {
                const Case *cs = &CASES[c];
                // the large case saturates DyT at alpha = 30 (alpha x ~ 45 at 1.5 sd)
                double s = cs->scalar ? cs->scalar : default_scalar(k);
                if (cs->scalar == 1e4 && NORM_TABLE[k]->scalar == NORM_SCALAR_ALPHA) s = 30;
                Norm n = make_norm(fx, k, cs->C, bias, s, 0.3);
                Tensor *x = rand_tensor(fx, NL_SHAPE(cs->rows, cs->C), true, 0, "x");
                cs->fill(x->data, cs->rows, cs->C, &fx->rng);
                Tensor *in[5];
                int n_in = norm_inputs(&n, x, in);
                GradcheckResult r;
                GradcheckOpts o = {.h = cs->h};
                if (gradcheck(&fx->tape, f_norm, &n, in, n_in, &o, &r))
                    fail_msg("%s, %s, bias %d: %zu of %zu failed; worst %.3g in input %d element %zu "
                             "(analytic %.10g, numeric %.10g)",
                             NORM_TABLE[k]->name, cs->what, bias, r.n_failed, r.n_checked, r.max_err,
                             r.worst_input, r.worst_index, r.worst_analytic, r.worst_numeric);
                print_message("    %-8s %-40s bias %d: %3zu elements, max error %.2e\n",
                              NORM_TABLE[k]->name, cs->what, bias, r.n_checked, r.max_err);
            }
}

// ---- fused = composite -------------------------------------------------------------------------
#ifdef NL_REAL_IS_DOUBLE
#define SAME_TOL 1e-12
#else
#define SAME_TOL 2e-5
#endif

static double max_rel_diff(const nl_real *a, const nl_real *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)a[i])));
    return worst;
}

// Runs forward and backward from sum(r * y); copies y and every grad into out (in input order).
static size_t forward_backward(Fixture *fx, Norm *n, Tensor *x, const Tensor *r, nl_real *out) {
    Tensor *in[5];
    int n_in = norm_inputs(n, x, in);
    for (int i = 0; i < n_in; i++) tensor_zero_grad(in[i]);
    Tensor *y = norm_forward(&fx->tape, n, x);
    tape_backward(&fx->tape, op_sum(&fx->tape, op_mul(&fx->tape, y, (Tensor *)r)));
    size_t k = 0;
    for (size_t i = 0; i < tensor_numel(y); i++) out[k++] = y->data[i];
    for (int i = 0; i < n_in; i++)
        for (size_t j = 0; j < tensor_numel(in[i]); j++) out[k++] = in[i]->grad[j];
    tape_reset(&fx->tape);
    return k;
}

static void test_fused_equals_composite(void **state) {
    Fixture *fx = *state;
    enum { ROWS = 5, C = 16 };
    for (int k = 0; k < NORM_COUNT; k++)
        for (int bias = 0; bias < 2; bias++) {
            Norm n = make_norm(fx, k, C, bias, default_scalar(k), 0.3);
            Tensor *x = rand_tensor(fx, NL_SHAPE(ROWS, C), true, 2, "x");
            x->data[3] = 300; // an outlier
            Tensor *r = rand_tensor(fx, NL_SHAPE(ROWS, C), false, 1, "r");
            nl_real fused[2 * ROWS * C + 2 * C + 2], composite[2 * ROWS * C + 2 * C + 2];
            size_t len = forward_backward(fx, &n, x, r, fused);
            n.composite = true;
            assert_int_equal(forward_backward(fx, &n, x, r, composite), len);
            double d = max_rel_diff(fused, composite, len);
            print_message("    %-8s bias %d: outputs and %zu grads agree to %.1e\n", NORM_TABLE[k]->name,
                          bias, len - ROWS * C, d);
            if (!(d <= SAME_TOL)) fail_msg("%s bias %d: fused and composite differ by %.3g", NORM_TABLE[k]->name, bias, d);
        }
}

// ---- known answers, C = 4, worked by hand ------------------------------------------------------
static void test_known_answers(void **state) {
    Fixture *fx = *state;
    // x = (1, 2, 3, 4): mean 2.5, population variance 1.25, mean square 7.5. eps = 0 so the
    // answers are exact; w = 1, b = 0 except where the affine part is checked.
    const double s125 = sqrt(1.25), s75 = sqrt(7.5);
    const struct {
        NormKind kind;
        double scalar; // effective
        double want[4];
    } known[] = {
        {NORM_LN, 0, {-1.5 / s125, -0.5 / s125, 0.5 / s125, 1.5 / s125}},
        {NORM_RMSNORM, 0, {1 / s75, 2 / s75, 3 / s75, 4 / s75}},
        {NORM_DYT, 0.5, {tanh(0.5), tanh(1.0), tanh(1.5), tanh(2.0)}},
        {NORM_DYISRU, 1, {1 / sqrt(2.0), 2 / sqrt(5.0), 3 / sqrt(10.0), 4 / sqrt(17.0)}},
        {NORM_DYTSP, 1, {tanh(1.0), tanh(2.0), tanh(3.0), tanh(4.0)}}, // stored log(e - 1)
        {NORM_DYISRUSP, 2, {1 / sqrt(3.0), 2 / sqrt(6.0), 3 / sqrt(11.0), 4 / sqrt(18.0)}},
        {NORM_DERF, 0.5, {erf(0.8), erf(1.3), erf(1.8), erf(2.3)}}, // shift 0.3: erf(0.5 x + 0.3)
    };
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(1, 4), false);
    set_values(x, (double[]){1, 2, 3, 4});
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        Norm n = make_norm(fx, known[i].kind, 4, true, known[i].scalar, 0);
        n.eps = 0;
        tensor_fill(n.bias, 0);
        assert_values(norm_forward(&fx->tape, &n, x)->data, known[i].want, 4, 10 * VAL_TOL);
        if (NORM_TABLE[n.kind]->softplus) // the stored value is the inverse softplus
            assert_true(fabs(n.scalar->data[0] - (known[i].scalar == 1 ? log(M_E - 1) : log(exp(2.0) - 1))) < 10 * VAL_TOL);
        // the affine part: y = w * u + b
        set_values(n.weight, (double[]){2, -1, 0.5, 0});
        set_values(n.bias, (double[]){0, 0.25, -1, 3});
        const double *u = known[i].want;
        assert_values(norm_forward(&fx->tape, &n, x)->data,
                      (double[]){2 * u[0], -u[1] + 0.25, 0.5 * u[2] - 1, 3}, 4, 10 * VAL_TOL);
        tape_reset(&fx->tape);
    }
}

// ---- invariants --------------------------------------------------------------------------------
static void test_invariants(void **state) {
    Fixture *fx = *state;
    enum { ROWS = 4, C = 32 };
    Tensor *x = rand_tensor(fx, NL_SHAPE(ROWS, C), false, 3, "x");
    x->data[5] = 500;
    Tensor *neg = rand_tensor(fx, NL_SHAPE(ROWS, C), false, 0, "-x");
    for (int i = 0; i < ROWS * C; i++) neg->data[i] = -x->data[i];

    Norm ln = make_norm(fx, NORM_LN, C, false, 0, 0), rms = make_norm(fx, NORM_RMSNORM, C, false, 0, 0);
    ln.eps = rms.eps = 0;
    Tensor *yl = norm_forward(&fx->tape, &ln, x), *yr = norm_forward(&fx->tape, &rms, x);
    for (int r = 0; r < ROWS; r++) { // LN rows: mean 0, variance 1; RMSNorm rows: RMS 1
        double m = 0, v = 0, ms = 0;
        for (int j = 0; j < C; j++) m += yl->data[r * C + j] / C;
        for (int j = 0; j < C; j++) v += pow(yl->data[r * C + j] - m, 2) / C;
        for (int j = 0; j < C; j++) ms += pow(yr->data[r * C + j], 2) / C;
        assert_true(fabs(m) < 10 * VAL_TOL && fabs(v - 1) < 100 * VAL_TOL && fabs(ms - 1) < 100 * VAL_TOL);
    }
    // DyT, DyISRU and Derf (shift 0): odd without bias; bounded by |w| + |b| for any x, however large
    NormKind kinds[] = {NORM_DYT, NORM_DYISRU, NORM_DYTSP, NORM_DYISRUSP, NORM_DERF};
    for (int i = 0; i < 5; i++) {
        Norm n = make_norm(fx, kinds[i], C, false, default_scalar(kinds[i]), 0.5);
        if (n.shift) n.shift->data[0] = 0;
        Tensor *y = norm_forward(&fx->tape, &n, x), *yn = norm_forward(&fx->tape, &n, neg);
        for (int e = 0; e < ROWS * C; e++) assert_true(yn->data[e] == -y->data[e]);
        n.bias = rand_tensor(fx, NL_SHAPE(C), true, 1, "bias");
        Tensor *huge = rand_tensor(fx, NL_SHAPE(ROWS, C), false, 1e30, "huge");
        Tensor *yb = norm_forward(&fx->tape, &n, huge);
        for (int e = 0; e < ROWS * C; e++) {
            int j = e % C;
            assert_true(fabs(yb->data[e]) <= fabs(n.weight->data[j]) + fabs(n.bias->data[j]) + VAL_TOL);
        }
    }
}

// ---- non-finite: DyISRU with beta below -eps ---------------------------------------------------
// The tape finds the first node whose output holds a NaN or Inf, and names its op and scope.
static void test_dyisru_below_minus_eps_is_found(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 8), true, 0.3, "x"); // x^2 < 1 somewhere: 1/sqrt(negative)
    Norm ln = make_norm(fx, NORM_LN, 8, false, 0, 0);
    Norm n = make_norm(fx, NORM_DYISRU, 8, false, -1.0, 0);
    tape_set_scope(&fx->tape, "first");
    Tensor *h = norm_forward(&fx->tape, &ln, x); // finite
    tape_set_scope(&fx->tape, "second");
    Tensor *y = norm_forward(&fx->tape, &n, h);
    tape_set_scope(&fx->tape, "third");
    norm_forward(&fx->tape, &ln, y); // NaN in, NaN out: not where it started
    size_t bad = 0;
    for (int i = 0; i < 16; i++) bad += !isfinite(y->data[i]);
    assert_true(bad > 0);
    int at = tape_find_nonfinite(&fx->tape);
    assert_int_equal(at, 1);
    assert_string_equal(fx->tape.nodes[at].def->name, "dyisru");
    assert_string_equal(fx->tape.nodes[at].scope, "second");
    tape_reset(&fx->tape);

    // The softplus variant with the same stored value stays finite: softplus(-1) = 0.313 > 0.
    Norm sp = make_norm(fx, NORM_DYISRUSP, 8, false, 1.0, 0);
    sp.scalar->data[0] = -1;
    Tensor *ys = norm_forward(&fx->tape, &sp, x);
    for (int i = 0; i < 16; i++) assert_true(isfinite(ys->data[i]));
    assert_int_equal(tape_find_nonfinite(&fx->tape), -1);
    // and one infinity in an input is found in the first output it reaches
    x->data[0] = INFINITY;
    norm_forward(&fx->tape, &ln, x);
    assert_int_equal(tape_find_nonfinite(&fx->tape), 1);
}

static void test_table_and_parse(void **state) {
    (void)state;
    for (int k = 0; k < NORM_COUNT; k++) {
        assert_int_equal(norm_kind_parse(NORM_TABLE[k]->name), k);
        assert_non_null(NORM_TABLE[k]->op);
        double v = 0.37;
        assert_true(fabs(norm_scalar_effective(k, norm_scalar_stored(k, v)) - v) < 1e-12);
    }
    assert_int_equal(norm_kind_parse("layernorm"), -1);
    // the literature's raw softplus grid {-2, -1, 1, 2, 4} is effective {0.127, 0.313, 1.313, 2.127, 4.018}
    const double raw[] = {-2, -1, 1, 2, 4}, eff[] = {0.127, 0.313, 1.313, 2.127, 4.018};
    for (int i = 0; i < 5; i++) assert_true(fabs(norm_scalar_effective(NORM_DYISRUSP, raw[i]) - eff[i]) < 5e-4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_and_parse),
        cmocka_unit_test_setup_teardown(test_gradcheck_every_layer, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fused_equals_composite, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_known_answers, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invariants, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dyisru_below_minus_eps_is_found, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("norms (" NL_REAL_NAME ")", tests, NULL, NULL);
}
