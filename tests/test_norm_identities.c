// The seed paper's relationships between the layers, each checked numerically (docs/derivations.md
// names these tests). Exact identities are held to 1e-12 in the double build.
#include "norm_util.h"

#ifdef NL_REAL_IS_DOUBLE
#define EXACT 1e-12
#else
#define EXACT 1e-5
#endif

enum { C = 16 };

static Tensor *outlier_vector(Fixture *fx, double outlier) {
    Tensor *x = rand_tensor(fx, NL_SHAPE(1, C), true, 2, "x");
    x->data[7] = (nl_real)outlier;
    return x;
}

// RMSNorm(x)_i = sqrt(C) x_i / sqrt(beta_i + x_i^2 + eps) with beta_i = sum_{k != i} x_k^2 + (C-1) eps:
// DyISRU with a per-channel beta and weight sqrt(C) is RMSNorm exactly (function-space decoupling).
static void test_rmsnorm_is_dyisru_with_the_other_channels_as_beta(void **state) {
    Fixture *fx = *state;
    Tensor *x = outlier_vector(fx, 40);
    Norm rms = make_norm(fx, NORM_RMSNORM, C, false, 0, 0);
    Tensor *y = norm_forward(&fx->tape, &rms, x);
    Norm isru = make_norm(fx, NORM_DYISRU, C, false, 1, 0);
    tensor_fill(isru.weight, (nl_real)sqrt(C));
    for (int i = 0; i < C; i++) {
        double others = 0;
        for (int k = 0; k < C; k++)
            if (k != i) others += (double)x->data[k] * x->data[k];
        isru.scalar->data[0] = (nl_real)(others + (C - 1) * NORM_EPS);
        double yi = norm_forward(&fx->tape, &isru, x)->data[i];
        assert_true(fabs(yi - y->data[i]) <= EXACT * fmax(1, fabs(yi)));
    }
}

// LN(x)_i = sqrt(C-1) (x_i - mu') / sqrt(C sigma'^2 + (x_i - mu')^2), mu' and sigma'^2 the mean and
// population variance of the other C-1 channels (eps = 0): the exact single-channel law for LN.
static void test_layernorm_single_channel_law(void **state) {
    Fixture *fx = *state;
    Tensor *x = outlier_vector(fx, -25);
    Norm ln = make_norm(fx, NORM_LN, C, false, 0, 0);
    ln.eps = 0;
    Tensor *y = norm_forward(&fx->tape, &ln, x);
    for (int i = 0; i < C; i++) {
        double mu = 0, var = 0;
        for (int k = 0; k < C; k++)
            if (k != i) mu += x->data[k] / (C - 1.0);
        for (int k = 0; k < C; k++)
            if (k != i) var += pow(x->data[k] - mu, 2) / (C - 1.0);
        double d = x->data[i] - mu;
        double law = sqrt(C - 1.0) * d / sqrt(C * var + d * d);
        assert_true(fabs(law - y->data[i]) <= EXACT * fmax(1, fabs(law)));
    }
}

// RMSNorm's Jacobian: dy_i/dx_j = (1/sigma)(delta_ij - y_i y_j / C), sigma = sqrt(mean(x^2)) (eps = 0).
// Row i of the Jacobian is the gradient of y_i: one backward per output.
static void test_rmsnorm_jacobian(void **state) {
    Fixture *fx = *state;
    Tensor *x = outlier_vector(fx, 9);
    Norm rms = make_norm(fx, NORM_RMSNORM, C, false, 0, 0);
    rms.eps = 0;
    double sigma = 0;
    for (int k = 0; k < C; k++) sigma += (double)x->data[k] * x->data[k] / C;
    sigma = sqrt(sigma);
    for (int i = 0; i < C; i++) {
        tensor_zero_grad(x);
        Tensor *y = norm_forward(&fx->tape, &rms, x);
        Tensor *pick = tensor_new(&fx->arena, NL_SHAPE(1, C), false); // one-hot at i
        tensor_fill(pick, 0);
        pick->data[i] = 1;
        tape_backward(&fx->tape, op_sum(&fx->tape, op_mul(&fx->tape, y, pick)));
        for (int j = 0; j < C; j++) {
            double want = ((i == j) - (double)y->data[i] * y->data[j] / C) / sigma;
            assert_true(fabs(x->grad[j] - want) <= EXACT * fmax(1, fabs(want)));
        }
        tape_reset(&fx->tape);
    }
}

// Keeping only the Jacobian's diagonal, dy/dx = (1/sigma)(1 - y^2/C), and holding sigma constant,
// y = sqrt(C) tanh(alpha x) with alpha = 1/(sqrt(C) sigma) solves it: DyT with weight sqrt(C).
static void test_dyt_solves_the_diagonal_equation(void **state) {
    Fixture *fx = *state;
    const double sigma = 1.7;
    Norm dyt = make_norm(fx, NORM_DYT, C, false, 1 / (sqrt(C) * sigma), 0);
    tensor_fill(dyt.weight, (nl_real)sqrt(C));
    Tensor *x = rand_tensor(fx, NL_SHAPE(1, C), true, 10, "x"); // well into the tails
    Tensor *y = norm_forward(&fx->tape, &dyt, x);
    tape_backward(&fx->tape, op_sum(&fx->tape, y)); // element-wise: the gradient is dy_j/dx_j
    for (int j = 0; j < C; j++) {
        double want = (1 - (double)y->data[j] * y->data[j] / C) / sigma;
        assert_true(fabs(x->grad[j] - want) <= EXACT * fmax(1, fabs(want)));
    }
}

// |RMSNorm| <= sqrt(C), |LN| <= sqrt(C-1), |sqrt(C) tanh| and |sqrt(C) ISRU| <= sqrt(C); as the outlier
// grows, tanh reaches its bound exponentially fast, ISRU, LN and RMSNorm only algebraically.
static void test_bounds_and_how_they_are_approached(void **state) {
    Fixture *fx = *state;
    Norm ln = make_norm(fx, NORM_LN, C, false, 0, 0), rms = make_norm(fx, NORM_RMSNORM, C, false, 0, 0);
    Norm dyt = make_norm(fx, NORM_DYT, C, false, 0.5, 0), isru = make_norm(fx, NORM_DYISRU, C, false, 4, 0);
    ln.eps = rms.eps = dyt.eps = isru.eps = 0;
    tensor_fill(dyt.weight, (nl_real)sqrt(C));
    tensor_fill(isru.weight, (nl_real)sqrt(C));
    double gap[4][4]; // [layer][decade]: bound - output of the outlier, outlier = 10, 100, 1e3, 1e4
    Norm *layers[4] = {&ln, &rms, &dyt, &isru};
    double bound[4] = {sqrt(C - 1.0), sqrt(C), sqrt(C), sqrt(C)};
    Tensor *x = outlier_vector(fx, 0); // one base vector; only the outlier changes
    for (int d = 0; d < 4; d++) {
        x->data[7] = (nl_real)pow(10, d + 1);
        for (int l = 0; l < 4; l++) {
            Tensor *y = norm_forward(&fx->tape, layers[l], x);
            for (int j = 0; j < C; j++) assert_true(fabs(y->data[j]) <= bound[l] * (1 + EXACT));
            gap[l][d] = bound[l] - y->data[7];
            if (d > 0) assert_true(gap[l][d] <= gap[l][d - 1]); // climbing toward the bound
        }
        tape_reset(&fx->tape);
    }
#ifdef NL_REAL_IS_DOUBLE // the rates need more resolution than float has at these gaps (< 1e-6)
    for (int d = 1; d < 4; d++) {
        assert_true(gap[2][d] == 0); // tanh: exp(-2 alpha out) is below rounding from out = 100
        for (int l = 0; l < 4; l++) // algebraic: once out dominates, the gap falls like 1/out^2
            if (l != 2 && d >= 2) assert_true(gap[l][d - 1] / gap[l][d] > 80 && gap[l][d - 1] / gap[l][d] < 120);
    }
#endif
}

// Slopes at 0: DyT's is alpha, DyISRU's is 1/sqrt(beta) (eps = 0), so beta = 1/alpha^2 matches them.
static void test_slope_matching(void **state) {
    Fixture *fx = *state;
    const double alphas[] = {0.5, 0.69, 1, 2, 3};
    for (int i = 0; i < 5; i++) {
        double a = alphas[i];
        Norm dyt = make_norm(fx, NORM_DYT, C, false, a, 0), isru = make_norm(fx, NORM_DYISRU, C, false, 1 / (a * a), 0);
        dyt.eps = isru.eps = 0;
        Tensor *x = rand_tensor(fx, NL_SHAPE(1, C), true, 0, "x"); // x = 0
        tensor_fill(x, 0);
        tape_backward(&fx->tape, op_sum(&fx->tape, norm_forward(&fx->tape, &dyt, x)));
        double slope_dyt = x->grad[0];
        tensor_zero_grad(x);
        tape_reset(&fx->tape);
        tape_backward(&fx->tape, op_sum(&fx->tape, norm_forward(&fx->tape, &isru, x)));
        assert_true(fabs(slope_dyt - a) <= EXACT && fabs(x->grad[0] - a) <= EXACT);
        tape_reset(&fx->tape);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rmsnorm_is_dyisru_with_the_other_channels_as_beta, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_layernorm_single_channel_law, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rmsnorm_jacobian, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dyt_solves_the_diagonal_equation, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bounds_and_how_they_are_approached, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_slope_matching, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("norm identities (" NL_REAL_NAME ")", tests, NULL, NULL);
}
