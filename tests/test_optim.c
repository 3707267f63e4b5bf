// AdamW and SGD on examples worked by hand, the schedule's values, and clipping.
#include <omp.h>

#include "normlab/optim.h"
#include "test_util.h"

// One decaying matrix [1,2] and one non-decaying vector [2], both starting at (1, -2).
static ParamSet two_params(void) {
    ParamSpec specs[2] = {{"w", NL_SHAPE(1, 2), PARAM_INIT_CONST, 0, 1, false}, {"b", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1, false}};
    ParamSet ps;
    assert_int_equal(paramset_alloc(&ps, specs, 2), 0);
    for (int i = 0; i < 2; i++) set_values(ps.list[i].t, (double[]){1, -2});
    return ps;
}

static void set_grads(ParamSet *ps, double g0, double g1) {
    for (int i = 0; i < ps->n; i++) ps->list[i].t->grad[0] = (nl_real)g0, ps->list[i].t->grad[1] = (nl_real)g1;
}

// lr 0.1, betas 0.9/0.99, eps 1e-8, wd 0.1, the same gradient (0.5, -0.1) twice. By hand:
// step 1: w *= 1 - 0.01 -> (0.99, -1.98); m = 0.1 g; v = 0.01 g^2; m / (1 - 0.9) = g,
//         sqrt(v / (1 - 0.99)) = |g|, so each element moves by lr * g / (|g| + eps) = 0.1 sign(g):
//         w = (0.89, -1.88), b (no decay) = (0.9, -1.9).
// step 2: a constant gradient keeps m_hat = g and v_hat = g^2, so again 0.1 sign(g) after the
//         decay: w = (0.89 * 0.99 - 0.1, -1.88 * 0.99 + 0.1) = (0.7811, -1.7612); b = (0.8, -1.8).
static void test_adamw_by_hand(void **state) {
    (void)state;
    ParamSet ps = two_params();
    OptimConfig c = {.kind = OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
    Optimizer o;
    assert_int_equal(optim_init(&o, &c, ps.numel), 0);
    set_grads(&ps, 0.5, -0.1);
    optim_step(&o, &ps, 0.1, 1);
    assert_values(ps.list[0].t->data, (double[]){0.89, -1.88}, 2, 1e-6);
    assert_values(ps.list[1].t->data, (double[]){0.9, -1.9}, 2, 1e-6);
    optim_step(&o, &ps, 0.1, 1);
    assert_values(ps.list[0].t->data, (double[]){0.7811, -1.7612}, 2, 1e-6);
    assert_values(ps.list[1].t->data, (double[]){0.8, -1.8}, 2, 1e-6);
    assert_int_equal(o.steps, 2);
    optim_free(&o);
    paramset_free(&ps);
}

// A parameter's lr_mult scales its step (AdamW's and SGD's): the vector at lr_mult 10 moves by
// 10 x 0.1 sign(g) on AdamW's first step, the matrix at 1 as above.
static void test_lr_mult(void **state) {
    (void)state;
    for (int kind = 0; kind < OPTIM_COUNT; kind++) {
        ParamSpec specs[2] = {{"w", NL_SHAPE(1, 2), PARAM_INIT_CONST, 0, 1, false}, {"b", NL_SHAPE(2), PARAM_INIT_CONST, 0, 10, false}};
        ParamSet ps;
        assert_int_equal(paramset_alloc(&ps, specs, 2), 0);
        for (int i = 0; i < 2; i++) set_values(ps.list[i].t, (double[]){1, -2});
        OptimConfig c = {.kind = kind, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
        Optimizer o;
        assert_int_equal(optim_init(&o, &c, ps.numel), 0);
        set_grads(&ps, 0.5, -0.1);
        optim_step(&o, &ps, 0.1, 1);
        if (kind != OPTIM_SGD) { // Muon: AdamW's, for parameters that are not hidden matrices
            assert_values(ps.list[0].t->data, (double[]){0.89, -1.88}, 2, 1e-6);
            assert_values(ps.list[1].t->data, (double[]){0, -1}, 2, 1e-6);
        } else { // SGD (coupled decay): p -= lr_mult lr (g + wd p)
            assert_values(ps.list[0].t->data, (double[]){1 - 0.1 * 0.6, -2 - 0.1 * (-0.1 - 0.2)}, 2, 1e-6);
            assert_values(ps.list[1].t->data, (double[]){1 - 1.0 * 0.5, -2 + 1.0 * 0.1}, 2, 1e-6);
        }
        optim_free(&o);
        paramset_free(&ps);
    }
}

// SGD, momentum 0.9, lr 0.1, gradient 0.5 twice: buf = 0.5, p = 1 - 0.05 = 0.95; then
// buf = 0.9 * 0.5 + 0.5 = 0.95, p = 0.95 - 0.095 = 0.855 (no decay on the vector; the second
// element, from -2, ends at -2.145).
static void test_sgd_momentum_by_hand(void **state) {
    (void)state;
    ParamSet ps = two_params();
    OptimConfig c = {.kind = OPTIM_SGD, .beta1 = 0.9, .weight_decay = 0};
    Optimizer o;
    assert_int_equal(optim_init(&o, &c, ps.numel), 0);
    set_grads(&ps, 0.5, 0.5);
    optim_step(&o, &ps, 0.1, 1);
    optim_step(&o, &ps, 0.1, 1);
    assert_values(ps.list[1].t->data, (double[]){0.855, -2.145}, 2, 1e-6); // -2 - 0.05 - 0.095
    optim_free(&o);
    paramset_free(&ps);
}

static void test_schedule(void **state) {
    (void)state;
    OptimConfig c = {.lr = 1e-3, .min_lr = 1e-4, .warmup = 100, .decay_steps = 2000};
    assert_true(fabs(optim_lr(&c, 0) - 1e-3 / 101) < 1e-15);     // warmup starts above 0
    assert_true(fabs(optim_lr(&c, 99) - 1e-3 * 100 / 101) < 1e-15);
    assert_true(fabs(optim_lr(&c, 100) - 1e-3) < 1e-15);         // the peak
    assert_true(fabs(optim_lr(&c, 1050) - 5.5e-4) < 1e-15);      // halfway down the cosine
    assert_true(fabs(optim_lr(&c, 2000) - 1e-4) < 1e-15);        // the end
    assert_true(optim_lr(&c, 5000) == 1e-4);                      // after: the floor
    for (long s = 101; s <= 2000; s++) assert_true(optim_lr(&c, s) <= optim_lr(&c, s - 1)); // monotone
}

static void test_clip(void **state) {
    (void)state;
    ParamSpec spec = {"g", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1, false};
    ParamSet ps;
    assert_int_equal(paramset_alloc(&ps, &spec, 1), 0);
    set_values(ps.list[0].t, (double[]){0, 0});
    ps.grad[0] = 3, ps.grad[1] = 4;
    assert_true(fabs(grad_norm(&ps) - 5) < 1e-12);
    assert_true(grad_clip_scale(grad_norm(&ps), 10) == 1); // under the limit: untouched
    assert_true(grad_clip_scale(grad_norm(&ps), 0) == 1);  // off
    assert_true(fabs(grad_clip_scale(grad_norm(&ps), 1) - 0.2) < 1e-6); // over: to norm ~1
    paramset_free(&ps);
}

// The norm of a large set (grad_norm sums it in parts, on the team) against a plain sum: every
// element counted, none twice, whatever the parts.
static void test_grad_norm_counts_every_element(void **state) {
    (void)state;
    ParamSpec spec = {"g", NL_SHAPE(100003), PARAM_INIT_CONST, 0, 1, false};
    ParamSet ps;
    assert_int_equal(paramset_alloc(&ps, &spec, 1), 0);
    for (size_t i = 0; i < ps.numel; i++) ps.grad[i] = (nl_real)(1 + i % 7); // padding included
    long double sq = 0;
    for (size_t i = 0; i < ps.numel; i++) sq += (long double)ps.grad[i] * ps.grad[i];
    for (int threads = 1; threads <= 3; threads += 2) {
        omp_set_num_threads(threads);
        assert_true(fabs(grad_norm(&ps) / sqrt((double)sq) - 1) < 1e-13);
    }
    paramset_free(&ps);
}

// The clip's factor applied inside the update gives exactly the numbers of scaling the grads first,
// for every optimizer (Muon's matrices too): two steps from the same start, parameters and state
// compared bit for bit.
static void test_scaled_update_is_scaling_the_grads_first(void **state) {
    (void)state;
    ParamSpec specs[2] = {{"w", NL_SHAPE(5, 3), PARAM_INIT_CONST, 0.5, 1, true}, {"v", NL_SHAPE(7), PARAM_INIT_CONST, 1, 1, false}};
    const nl_real scale = (nl_real)0.37;
    for (int kind = 0; kind < OPTIM_COUNT; kind++) {
        ParamSet ps[2];
        Optimizer o[2];
        OptimConfig c = {.kind = kind, .lr = 0.01, .muon_lr = 0.02, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
                         .weight_decay = 0.1};
        Rng rng;
        rng_seed(&rng, 9);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(paramset_alloc(&ps[k], specs, 2), 0);
            assert_int_equal(optim_init(&o[k], &c, ps[k].numel), 0);
            assert_int_equal(optim_prepare(&o[k], &ps[k]), 0);
        }
        for (size_t i = 0; i < ps[0].numel; i++) ps[0].data[i] = ps[1].data[i] = (nl_real)rng_normal(&rng);
        for (int step = 1; step <= 2; step++) {
            for (size_t i = 0; i < ps[0].numel; i++) {
                ps[0].grad[i] = (nl_real)rng_normal(&rng);
                ps[1].grad[i] = ps[0].grad[i] * scale;
            }
            optim_step(&o[0], &ps[0], 0.01, scale);
            optim_step(&o[1], &ps[1], 0.01, 1);
            assert_memory_equal(ps[0].data, ps[1].data, ps[0].numel * sizeof(nl_real));
            for (int k = 0; k < OPTIM_TABLE[kind].n_state; k++)
                assert_memory_equal(o[0].state[k], o[1].state[k], ps[0].numel * sizeof(nl_real));
        }
        for (int k = 0; k < 2; k++) optim_free(&o[k]), paramset_free(&ps[k]);
    }
}

// optim_step updates all the parameters in one parallel region, each thread a slice of the flat
// array that cuts through parameters: with 3 threads, over parameters of odd lengths (large enough
// for the team, with decay and without, lr_mult 1 and 7), two steps give exactly the numbers of
// each parameter's update run whole, as a serial loop.
static void test_step_in_slices_matches_whole_params(void **state) {
    (void)state;
    ParamSpec specs[4] = {{"a", NL_SHAPE(101, 199), PARAM_INIT_CONST, 0, 1, false}, {"b", NL_SHAPE(7), PARAM_INIT_CONST, 0, 7, false},
                          {"c", NL_SHAPE(30013), PARAM_INIT_CONST, 0, 1, false}, {"d", NL_SHAPE(3, 3), PARAM_INIT_CONST, 0, 7, false}};
    for (int kind = 0; kind < OPTIM_COUNT; kind++) {
        ParamSet ps[2];
        Optimizer o[2];
        OptimConfig c = {.kind = kind, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
        Rng rng;
        rng_seed(&rng, 5);
        for (int k = 0; k < 2; k++) {
            assert_int_equal(paramset_alloc(&ps[k], specs, 4), 0);
            assert_int_equal(optim_init(&o[k], &c, ps[k].numel), 0);
        }
        assert_true(ps[0].numel >= 32768); // over OPTIM_PARALLEL_MIN: the team takes it
        for (size_t i = 0; i < ps[0].numel; i++) ps[0].data[i] = ps[1].data[i] = (nl_real)rng_normal(&rng);
        for (int step = 1; step <= 2; step++) {
            for (size_t i = 0; i < ps[0].numel; i++) ps[0].grad[i] = ps[1].grad[i] = (nl_real)rng_normal(&rng);
            omp_set_num_threads(3);
            optim_step(&o[0], &ps[0], 0.01, 1);
            o[1].steps++; // the reference: each parameter whole, in order, on this thread
            for (int i = 0; i < ps[1].n; i++) {
                const Param *pr = &ps[1].list[i];
                nl_real *st[OPTIM_MAX_STATE];
                for (int k = 0; k < OPTIM_TABLE[kind].n_state; k++) st[k] = o[1].state[k] + pr->offset;
                OPTIM_TABLE[kind].update(&c, ps[1].data + pr->offset, ps[1].grad + pr->offset, 1, st,
                                         tensor_numel(pr->t), 0.01 * pr->spec.lr_mult,
                                         param_decays(pr) ? c.weight_decay : 0, o[1].steps);
            }
            assert_memory_equal(ps[0].data, ps[1].data, ps[0].numel * sizeof(nl_real));
            for (int k = 0; k < OPTIM_TABLE[kind].n_state; k++)
                assert_memory_equal(o[0].state[k], o[1].state[k], ps[0].numel * sizeof(nl_real));
        }
        omp_set_num_threads(1);
        for (int k = 0; k < 2; k++) optim_free(&o[k]), paramset_free(&ps[k]);
    }
}

// Muon on a rank-one gradient g = a b^T: the Nesterov update is 0.0975 g, scaled to unit Frobenius
// norm, and each Newton-Schulz step maps the one singular value s to 3.4445 s - 4.7750 s^3 +
// 2.0315 s^5 (here from 1 - 1e-7-ish, computed alongside), so the update is f(1) a b^T / |a||b|
// times sqrt(max(1, rows / cols)), after the decay. Checked on a tall (3, 2) matrix, whose product
// runs transposed, and a wide (2, 3) one; the vector beside them takes AdamW's step.
static void test_muon_rank_one(void **state) {
    (void)state;
    const double a[3] = {1, -2, 0.5}, b[3] = {0.3, 0.4, -1.2};
    for (int tall = 0; tall < 2; tall++) {
        int R = tall ? 3 : 2, C = tall ? 2 : 3;
        ParamSpec specs[2] = {{"w", NL_SHAPE(R, C), PARAM_INIT_CONST, 0.5, 1, true},
                              {"v", NL_SHAPE(2), PARAM_INIT_CONST, 1, 1, false}};
        ParamSet ps;
        assert_int_equal(paramset_alloc(&ps, specs, 2), 0);
        Rng rng;
        rng_seed(&rng, 1);
        paramset_init(&ps, &rng);
        double na = 0, nb = 0;
        for (int i = 0; i < R; i++) na += a[i] * a[i];
        for (int j = 0; j < C; j++) nb += b[j] * b[j];
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) ps.list[0].t->grad[i * C + j] = (nl_real)(a[i] * b[j]);
        ps.list[1].t->grad[0] = (nl_real)0.5, ps.list[1].t->grad[1] = (nl_real)-0.1;
        OptimConfig c = {.kind = OPTIM_MUON, .lr = 0.1, .muon_lr = 0.02, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8,
                         .weight_decay = 0.1};
        Optimizer o;
        assert_int_equal(optim_init(&o, &c, ps.numel), 0);
        assert_int_equal(optim_prepare(&o, &ps), 0);
        optim_step(&o, &ps, 0.05, 1); // half the peak: Muon's lr is 0.01
        double norm = 0.0975 * sqrt(na * nb), s = norm / (norm + 1e-7);
        for (int k = 0; k < MUON_NS_STEPS; k++) s = 3.4445 * s - 4.7750 * s * s * s + 2.0315 * s * s * s * s * s;
        double lr = 0.01, scale = sqrt(fmax(1, (double)R / C));
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) {
                double want = 0.5 * (1 - lr * 0.1) - lr * scale * s * a[i] * b[j] / sqrt(na * nb);
                assert_true(fabs(ps.list[0].t->data[i * C + j] - want) < 1e-6);
            }
        assert_values(ps.list[1].t->data, (double[]){1 - 0.05, 1 + 0.05}, 2, 1e-6); // AdamW: lr sign(g), no decay
        optim_free(&o);
        paramset_free(&ps);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_by_hand),
        cmocka_unit_test(test_lr_mult),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_grad_norm_counts_every_element),
        cmocka_unit_test(test_scaled_update_is_scaling_the_grads_first),
        cmocka_unit_test(test_step_in_slices_matches_whole_params),
        cmocka_unit_test(test_muon_rank_one),
    };
    return cmocka_run_group_tests_name("optim (" NL_REAL_NAME ")", tests, NULL, NULL);
}
