// The outlier experiment (apps/outlier_experiment.c): on the paper's sample when the shared
// file is present (its path is the first argument), and on drawn samples always.
#include "outlier_experiment.h"
#include "test_util.h"

static const char *sample_path;

static double sum_sq_others(const double *sorted, int C) {
    double s = 0;
    for (int k = 0; k < C - 1; k++) s += sorted[k] * sorted[k];
    return s;
}

// The fitted parameter is a minimum: nudging it either way raises the mean absolute residual's
// squared cousin, the sum of squares.
static void assert_is_minimum(const OutlierPoints *p, const Fit *f) {
    for (int sgn = -1; sgn <= 1; sgn += 2) {
        double q = f->param * (1 + sgn * 1e-5), s0 = 0, s1 = 0;
        for (int i = 0; i < p->n; i++) {
            s0 += pow(outlier_model(f->kind, f->param, p->bound, p->x[i]) - p->y[i], 2);
            s1 += pow(outlier_model(f->kind, q, p->bound, p->x[i]) - p->y[i], 2);
        }
        assert_true(s1 >= s0);
    }
}

static void check_sample(const double *sorted, int C, bool print) {
    OutlierPoints ln, rms;
    assert_int_equal(outlier_points_make(sorted, C, 1, 5, TARGET_LN, &ln), 0);
    assert_int_equal(ln.n, 18);
    assert_true(ln.x[0] == sorted[C - 1] + 5 && ln.x[8] == sorted[C - 1] + 45);
    for (int i = 0; i < 9; i++) assert_true(ln.x[9 + i] == -ln.x[i] && ln.y[9 + i] == -ln.y[i]);
    Fit dyt = outlier_fit(FIT_DYT, &ln, 0.1), isru = outlier_fit(FIT_DYISRU, &ln, 800);
    assert_is_minimum(&ln, &dyt);
    assert_is_minimum(&ln, &isru);
    assert_true(isru.mar * 10 < dyt.mar); // DyISRU's residual is far below DyT's

    // RMSNorm target: DyISRU is exact, with beta = the other channels' sum of squares
    assert_int_equal(outlier_points_make(sorted, C, 1, 5, TARGET_RMSNORM, &rms), 0);
    Fit exact = outlier_fit(FIT_DYISRU, &rms, 800);
    double others = sum_sq_others(sorted, C);
    assert_true(exact.mar < 1e-13);
    assert_true(fabs(exact.param - others) < 1e-9 * others);
    if (print)
        print_message("    paper sample: alpha %.9g (MAR %.9g), beta %.9g (MAR %.9g); RMSNorm target: "
                      "beta %.12g = %.12g, MAR %.2e\n",
                      dyt.param, dyt.mar, isru.param, isru.mar, exact.param, others, exact.mar);
    outlier_points_free(&ln);
    outlier_points_free(&rms);
}

static void test_paper_sample(void **state) {
    (void)state;
    double s[4096];
    char err[200];
    FILE *f = sample_path ? fopen(sample_path, "r") : NULL;
    if (!f) {
        print_message("    %s not present: skipped\n", sample_path ? sample_path : "the shared sample");
        skip();
    }
    fclose(f);
    int C = outlier_sample_read(sample_path, s, 4096, err);
    assert_int_equal(C, 100);
    for (int i = 1; i < C; i++) assert_true(s[i] >= s[i - 1]); // stored sorted
    check_sample(s, C, true);
}

static void test_drawn_samples(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        Rng rng;
        rng_seed(&rng, seed);
        double s[100];
        outlier_sample_draw(&rng, 2, 100, s);
        check_sample(s, 100, false);
    }
}

static void test_bad_sample_files(void **state) {
    (void)state;
    char path[] = "/tmp/outliers_sample_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# header\n1.5\n\n2.5 # trailing comment\nbanana\n");
    fclose(f);
    double s[10];
    char err[200];
    assert_int_equal(outlier_sample_read(path, s, 10, err), -1);
    assert_non_null(strstr(err, ":5: not a finite number"));
    unlink(path);
    assert_int_equal(outlier_sample_read("/nonexistent/sample.txt", s, 10, err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

int main(int argc, char **argv) {
    sample_path = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_sample),
        cmocka_unit_test(test_drawn_samples),
        cmocka_unit_test(test_bad_sample_files),
    };
    return cmocka_run_group_tests_name("outliers", tests, NULL, NULL);
}
