// The thread team: our parallel kernels give the same bits at any team size (so --threads auto may
// change the team mid-run), and TrainThreads keeps the faster team when cores are taken or freed.
#include <math.h>
#include <omp.h>
#include <string.h>

#include "norm_util.h"
#include "normlab/blas.h"
#include "normlab/gpt.h"
#include "normlab/optim.h"
#include "normlab/threads.h"
#include "normlab/train.h"

// Runs f's forward and backward with a team of `threads` and copies every input's grad into out
// (consecutively). loss = sum(f(in) * g), so every output element carries its own weight.
typedef Tensor *(*Forward)(Tape *t, Tensor *const *in, void *ctx);
static size_t grads_at(Fixture *fx, int threads, Forward f, void *ctx, Tensor **in, int n_in, Tensor *g,
                       nl_real *out) {
    omp_set_num_threads(threads);
    for (int i = 0; i < n_in; i++) memset(in[i]->grad, 0, tensor_numel(in[i]) * sizeof(nl_real));
    Tensor *y = f(&fx->tape, in, ctx);
    tape_backward(&fx->tape, op_sum(&fx->tape, op_mul(&fx->tape, y, g)));
    size_t k = 0;
    for (int i = 0; i < n_in; i++, k += tensor_numel(in[i - 1]))
        memcpy(out + k, in[i]->grad, tensor_numel(in[i]) * sizeof(nl_real));
    tape_reset(&fx->tape);
    return k;
}

// The grads with 1 thread and with 3 (an uneven split of rows and of 16-column blocks) must be
// identical, bit for bit.
static void expect_same_at_any_team(Fixture *fx, const char *what, Forward f, void *ctx, Tensor **in, int n_in,
                                    Shape out_shape) {
    Tensor *g = rand_tensor(fx, out_shape, false, 1, "g");
    size_t total = 0;
    for (int i = 0; i < n_in; i++) total += tensor_numel(in[i]);
    nl_real *one = calloc(total, sizeof *one), *three = calloc(total, sizeof *three);
    assert_non_null(one), assert_non_null(three);
    grads_at(fx, 1, f, ctx, in, n_in, g, one);
    grads_at(fx, 3, f, ctx, in, n_in, g, three);
    for (size_t k = 0; k < total; k++)
        if (memcmp(&one[k], &three[k], sizeof one[k]))
            fail_msg("%s: grad element %zu is %.9g with 1 thread, %.9g with 3", what, k, (double)one[k],
                     (double)three[k]);
    free(one), free(three);
}

// rows x C = 600 x 72: above the kernels' parallel thresholds; 72 columns are 5 blocks of 16. 3700
// rows: more than one block of the surrogates' backward on a team (NORM_BLOCK_ELEMS).
static void test_norms_same_at_any_team(void **state) {
    Fixture *fx = *state;
    const int rows[] = {600, 3700};
    for (int k = 0; k < NORM_COUNT; k++)
        for (int i = 0; i < 2; i++)
            for (int bias = 0; bias < 2; bias++) {
                Norm n = make_norm(fx, k, 72, bias, default_scalar(k), 0.3);
                Tensor *x = rand_tensor(fx, NL_SHAPE(rows[i], 72), true, 1.5, "x"), *in[5];
                int n_in = norm_inputs(&n, x, in);
                char what[64];
                snprintf(what, sizeof what, "%s, %d rows, bias %d", NORM_TABLE[k]->name, rows[i], bias);
                expect_same_at_any_team(fx, what, f_norm, &n, in, n_in, x->shape);
            }
}

static Tensor *f_add(Tape *t, Tensor *const *in, void *ctx) { return ctx ? op_mul(t, in[0], in[1]) : op_add(t, in[0], in[1]); }

// The broadcasting add and mul: same shapes, and a (T,C) row block repeated over the batch (the
// position embedding), whose grad sums over the batch.
static void test_add_same_at_any_team(void **state) {
    Fixture *fx = *state;
    for (int mul = 0; mul < 2; mul++) {
        Tensor *a = rand_tensor(fx, NL_SHAPE(12, 64, 72), true, 1, "a");
        Tensor *same = rand_tensor(fx, NL_SHAPE(12, 64, 72), true, 1, "b");
        Tensor *rows = rand_tensor(fx, NL_SHAPE(64, 72), true, 1, "b");
        Tensor *in1[] = {a, same}, *in2[] = {a, rows}, *in3[] = {rows, a};
        void *ctx = mul ? (void *)1 : NULL;
        expect_same_at_any_team(fx, mul ? "mul, same shape" : "add, same shape", f_add, ctx, in1, 2, a->shape);
        expect_same_at_any_team(fx, mul ? "mul, rows" : "add, rows", f_add, ctx, in2, 2, a->shape);
        expect_same_at_any_team(fx, mul ? "mul, rows first" : "add, rows first", f_add, ctx, in3, 2, a->shape);
    }
}

// The loss of cross-entropy and the global grad norm are sums over everything.
static void test_sums_same_at_any_team(void **state) {
    Fixture *fx = *state;
    enum { ROWS = 3000, V = 65 };
    Tensor *logits = rand_tensor(fx, NL_SHAPE(ROWS, V), true, 2, "logits");
    int32_t targets[ROWS];
    for (int r = 0; r < ROWS; r++) targets[r] = (int32_t)rng_below(&fx->rng, V);
    double loss[2];
    for (int i = 0; i < 2; i++) {
        omp_set_num_threads(i ? 3 : 1);
        loss[i] = op_cross_entropy(&fx->tape, logits, targets)->data[0];
        tape_reset(&fx->tape);
    }
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);

    ParamSet ps = {.numel = 1000003};
    ps.grad = calloc(ps.numel, sizeof *ps.grad);
    assert_non_null(ps.grad);
    for (size_t k = 0; k < ps.numel; k++) ps.grad[k] = (nl_real)rng_normal(&fx->rng);
    double norm[2];
    for (int i = 0; i < 2; i++) omp_set_num_threads(i ? 3 : 1), norm[i] = grad_norm(&ps);
    assert_memory_equal(&norm[0], &norm[1], sizeof norm[0]);
    free(ps.grad);
}

static Tensor *f_linear(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    return op_matmul(t, in[0], in[1], false, true); // x W^T
}

// A linear layer's two grads run side by side with a team of 2 (gemm_pair): the same numbers as one
// after the other, up to the BLAS's rounding at another thread count. Also x x^T, whose two grads
// are one tensor's (the pair must then go in turn).
static void test_linear_grads_at_team_of_two(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(600, 72), true, 1, "x"), *w = rand_tensor(fx, NL_SHAPE(96, 72), true, 1, "w");
    Tensor *pairs[2][2] = {{x, w}, {x, x}};
    for (int p = 0; p < 2; p++) {
        size_t total = tensor_numel(pairs[p][0]) + tensor_numel(pairs[p][1]);
        Tensor *g = rand_tensor(fx, NL_SHAPE(600, p ? 600 : 96), false, 1, "g");
        nl_real *one = calloc(total, sizeof *one), *two = calloc(total, sizeof *two);
        assert_non_null(one), assert_non_null(two);
        grads_at(fx, 1, f_linear, NULL, pairs[p], 2, g, one);
        grads_at(fx, 2, f_linear, NULL, pairs[p], 2, g, two);
        double scale = 0; // rounding error is relative to the sums' terms, not to a cancelled result
        for (size_t k = 0; k < total; k++) scale = fmax(scale, fabs((double)one[k]));
        for (size_t k = 0; k < total; k++)
            if (fabs((double)one[k] - (double)two[k]) > 1e-6 * scale)
                fail_msg("%s: grad element %zu is %.9g with 1 thread, %.9g with 2", p ? "x x^T" : "x W^T", k,
                         (double)one[k], (double)two[k]);
        free(one), free(two);
    }
}

// ---- TrainThreads on simulated step times -------------------------------------------------------
// Two cores, measured (the default config): 23 ms a step with 2 threads alone, 36 with 1; with a
// thread more than the free cores, 75 (the team waits for a descheduled thread at every region).
static double step_seconds(int team, int free_cores) {
    if (team > free_cores) return 0.075;
    return team == 1 ? 0.036 : 0.023;
}

static int run_steps(TrainThreads *tt, int steps, int free_cores) {
    for (int s = 0; s < steps; s++) train_threads_step(tt, step_seconds(tt->trial ? tt->trial : tt->now, free_cores));
    return tt->now;
}

static void test_team_follows_free_cores(void **state) {
    (void)state;
    TrainThreads tt;
    train_threads_init(&tt, 2);
    assert_int_equal(tt.now, 1);                  // half the cores to begin with
    assert_int_equal(run_steps(&tt, 100, 2), 2);  // alone: the first trial, of 2 threads, wins
    assert_int_equal(run_steps(&tt, 1000, 2), 2); // ... and trials of 1 thread lose
    assert_int_equal(run_steps(&tt, 20, 1), 1);   // another run takes a core: slow steps bring a trial
    assert_int_equal(run_steps(&tt, 3000, 1), 1); // ... and the team stays at 1 while it runs
    assert_int_equal(run_steps(&tt, 3500, 2), 2); // it ends: a later trial of 2 wins
    assert_int_equal(omp_get_max_threads(), 2);      // the team was set, not only recorded
    train_threads_init(&tt, 1);
    assert_int_equal(run_steps(&tt, 100, 1), 1);
}

// The step arena is measured on the first step; a larger team afterwards (--threads auto grows it)
// must still fit: the attention's per-thread scratch is sized for a thread per core, not the team.
static void test_team_grows_after_first_step(void **state) {
    (void)state;
    ModelConfig c = {.vocab_size = 5, .block_size = 8, .n_layer = 1, .n_head = 2, .n_embd = 16, .norm = NORM_LN};
    Gpt m;
    Rng rng;
    Arena arena;
    Tape tape;
    rng_seed(&rng, 3);
    assert_int_equal(gpt_init(&m, &c, &rng), 0);
    assert_int_equal(arena_init(&arena, "step", 0) || tape_init(&tape, &arena, 256), 0);
    int32_t idx[16], targets[16];
    for (int i = 0; i < 16; i++) idx[i] = i % 5, targets[i] = (i + 1) % 5;
    for (int team = 1; team <= 4; team++) {
        omp_set_num_threads(team);
        Tensor *loss = gpt_forward(&tape, &m, idx, targets, 2, 8, NULL);
        tape_backward(&tape, loss);
        tape_reset(&tape);
    }
    tape_free(&tape), arena_free(&arena), gpt_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_norms_same_at_any_team, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_add_same_at_any_team, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sums_same_at_any_team, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_linear_grads_at_team_of_two, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_team_follows_free_cores),
        cmocka_unit_test(test_team_grows_after_first_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
