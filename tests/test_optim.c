// AdamW and SGD on examples worked by hand, the schedule's values, and clipping.
#include <omp.h>

#include "normlab/optim.h"
#include "test_util.h"

// One decaying matrix [1,2] and one non-decaying vector [2], both starting at (1, -2).
static ParamSet two_params(void) {
    ParamSpec specs[2] = {{"w", NL_SHAPE(1, 2), PARAM_INIT_CONST, 0, 1}, {"b", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1}};
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
    optim_step(&o, &ps, 0.1);
    assert_values(ps.list[0].t->data, (double[]){0.89, -1.88}, 2, 1e-6);
    assert_values(ps.list[1].t->data, (double[]){0.9, -1.9}, 2, 1e-6);
    optim_step(&o, &ps, 0.1);
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
        ParamSpec specs[2] = {{"w", NL_SHAPE(1, 2), PARAM_INIT_CONST, 0, 1}, {"b", NL_SHAPE(2), PARAM_INIT_CONST, 0, 10}};
        ParamSet ps;
        assert_int_equal(paramset_alloc(&ps, specs, 2), 0);
        for (int i = 0; i < 2; i++) set_values(ps.list[i].t, (double[]){1, -2});
        OptimConfig c = {.kind = kind, .beta1 = 0.9, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
        Optimizer o;
        assert_int_equal(optim_init(&o, &c, ps.numel), 0);
        set_grads(&ps, 0.5, -0.1);
        optim_step(&o, &ps, 0.1);
        if (kind == OPTIM_ADAMW) {
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
    optim_step(&o, &ps, 0.1);
    optim_step(&o, &ps, 0.1);
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
    ParamSpec spec = {"g", NL_SHAPE(2), PARAM_INIT_CONST, 0, 1};
    ParamSet ps;
    assert_int_equal(paramset_alloc(&ps, &spec, 1), 0);
    set_values(ps.list[0].t, (double[]){0, 0});
    ps.grad[0] = 3, ps.grad[1] = 4;
    assert_true(fabs(grad_norm(&ps) - 5) < 1e-12);
    grad_clip(&ps, grad_norm(&ps), 10); // under the limit: untouched
    assert_values(ps.grad, (double[]){3, 4}, 2, 0);
    grad_clip(&ps, grad_norm(&ps), 1); // over: scaled to norm ~1
    assert_values(ps.grad, (double[]){0.6, 0.8}, 2, 1e-6);
    paramset_free(&ps);
}

// optim_step updates all the parameters in one parallel region, each thread a slice of the flat
// array that cuts through parameters: with 3 threads, over parameters of odd lengths (large enough
// for the team, with decay and without, lr_mult 1 and 7), two steps give exactly the numbers of
// each parameter's update run whole, as a serial loop.
static void test_step_in_slices_matches_whole_params(void **state) {
    (void)state;
    ParamSpec specs[4] = {{"a", NL_SHAPE(101, 199), PARAM_INIT_CONST, 0, 1}, {"b", NL_SHAPE(7), PARAM_INIT_CONST, 0, 7},
                          {"c", NL_SHAPE(30013), PARAM_INIT_CONST, 0, 1}, {"d", NL_SHAPE(3, 3), PARAM_INIT_CONST, 0, 7}};
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
            optim_step(&o[0], &ps[0], 0.01);
            o[1].steps++; // the reference: each parameter whole, in order, on this thread
            for (int i = 0; i < ps[1].n; i++) {
                const Param *pr = &ps[1].list[i];
                nl_real *st[OPTIM_MAX_STATE];
                for (int k = 0; k < OPTIM_TABLE[kind].n_state; k++) st[k] = o[1].state[k] + pr->offset;
                OPTIM_TABLE[kind].update(&c, ps[1].data + pr->offset, ps[1].grad + pr->offset, st,
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_by_hand),
        cmocka_unit_test(test_lr_mult),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_step_in_slices_matches_whole_params),
    };
    return cmocka_run_group_tests_name("optim (" NL_REAL_NAME ")", tests, NULL, NULL);
}
