// The drop-in test's fitting code (apps/dropin_fit.c) on cases whose answer is known.
#include <stdlib.h>
#include <string.h>

#include "dropin_fit.h"
#include "test_util.h"

enum { C = 16, ROWS = 400 };

// RMSNorm gives channel i x_i sqrt(C) / sqrt(x_i^2 + sum_{k != i} x_k^2): exactly DyISRU with beta
// = the other channels' sum of squares, when that sum is the same in every row. Rows here share
// channels 0..C-2 and vary the last one over a wide range (outliers included); the fit on the last
// channel must find that sum, with residuals at rounding level; DyT cannot.
static void test_rmsnorm_targets_make_dyisru_exact(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 3);
    nl_real *x = malloc(sizeof(nl_real) * ROWS * C);
    assert_non_null(x);
    double others = 0;
    for (int c = 0; c < C - 1; c++) {
        x[c] = (nl_real)(2 * rng_normal(&rng));
        others += (double)x[c] * x[c];
    }
    for (int r = 0; r < ROWS; r++) {
        memcpy(x + r * C, x, (C - 1) * sizeof(nl_real));
        x[r * C + C - 1] = (nl_real)(-40 + 80.0 * r / (ROWS - 1)); // -40 .. 40
    }
    OutlierPoints p;
    assert_int_equal(dropin_points(x, ROWS, C, C - 1, C, DROPIN_RMSNORM, 0, &p), 0);
    assert_int_equal(p.n, ROWS);
    assert_true(fabs(p.bound - sqrt(C)) < 1e-15);
    DropinFit isru = dropin_fit(FIT_DYISRU, &p), dyt = dropin_fit(FIT_DYT, &p);
    assert_true(fabs(isru.fit.param - others) <= 1e-9 * others);
    assert_true(isru.fit.mar < 1e-12 && isru.mar_tail < 1e-12);
    assert_true(dyt.fit.mar > 1e-2); // DyT cannot follow it (0.12 when written)
    assert_true(fabs(isru.tail_from - 40 * (1 - 2.0 / (ROWS - 1))) < 1e-4); // the 1% largest |x|: 4 of 400
    outlier_points_free(&p);
    free(x);
}

// Targets drawn from the curves themselves give their parameters back, from the data's own start.
static void test_fits_recover_known_parameters(void **state) {
    (void)state;
    const double alpha = 0.37, beta = 5.5, bound = sqrt(C - 1.0);
    OutlierPoints p = {.n = 1000, .bound = bound};
    p.x = malloc(p.n * sizeof(double)), p.y = malloc(p.n * sizeof(double));
    assert_true(p.x && p.y);
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < p.n; i++) p.x[i] = 3 * rng_normal(&rng), p.y[i] = outlier_model(FIT_DYT, alpha, bound, p.x[i]);
    DropinFit d = dropin_fit(FIT_DYT, &p);
    assert_true(fabs(d.fit.param - alpha) < 1e-9 && d.fit.mar < 1e-12);
    for (int i = 0; i < p.n; i++) p.y[i] = outlier_model(FIT_DYISRU, beta, bound, p.x[i]);
    d = dropin_fit(FIT_DYISRU, &p);
    assert_true(fabs(d.fit.param - beta) < 1e-8 && d.fit.mar < 1e-12);
    outlier_points_free(&p);
}

// LN's targets are centred per row: x - mean over the row, over sqrt(var + eps).
static void test_ln_targets(void **state) {
    (void)state;
    nl_real x[4] = {1, 2, 3, 6}; // mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5
    OutlierPoints p;
    assert_int_equal(dropin_points(x, 1, 4, 0, 4, DROPIN_LN, 1e-5, &p), 0);
    double sd = sqrt(3.5 + 1e-5);
    assert_true(fabs(p.y[0] + 2 / sd) < 1e-12 && fabs(p.y[3] - 3 / sd) < 1e-12 && p.x[3] == 6);
    assert_true(fabs(p.bound - sqrt(3)) < 1e-15);
    outlier_points_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm_targets_make_dyisru_exact),
        cmocka_unit_test(test_fits_recover_known_parameters),
        cmocka_unit_test(test_ln_targets),
    };
    return cmocka_run_group_tests_name("dropin", tests, NULL, NULL);
}
