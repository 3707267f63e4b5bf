// The tape itself: the op table, recording and no-grad mode, accumulation when a tensor is used
// twice, skipped inputs, the always-on checks, and proof that gradcheck catches wrong backwards.
#include "test_util.h"

static void test_op_table_complete(void **state) {
    (void)state;
    for (int i = 0; i < OP_COUNT; i++) {
        assert_non_null(OP_TABLE[i].name);
        assert_non_null(OP_TABLE[i].backward);
    }
}

static void test_records_in_order_and_no_grad_records_nothing(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3), true, 1, "x");
    Tensor *y = op_tanh(&fx->tape, op_scale(&fx->tape, x, 2));
    assert_int_equal(fx->tape.n, 2);
    assert_string_equal(fx->tape.nodes[0].def->name, "affine");
    assert_string_equal(fx->tape.nodes[1].def->name, "tanh");
    assert_true(y->needs_grad);
    assert_null(y->grad); // an op output's grad comes in backward

    bool was = tape_set_grad_enabled(&fx->tape, false);
    assert_true(was);
    Tensor *z = op_tanh(&fx->tape, op_scale(&fx->tape, x, 2));
    assert_int_equal(fx->tape.n, 2); // nothing recorded
    assert_false(z->needs_grad);
    assert_null(z->grad);
    for (int i = 0; i < 6; i++) assert_true(z->data[i] == y->data[i]); // same forward
    tape_set_grad_enabled(&fx->tape, true);

    Tensor *c = rand_tensor(fx, NL_SHAPE(2, 3), false, 1, "const");
    op_add(&fx->tape, c, c); // no input needs grad: nothing to record
    assert_int_equal(fx->tape.n, 2);
}

// x*x and a+a: one tensor as both inputs gets both terms.
// Op outputs get grads only in backward, and give them back once their producer has run: after
// backward only the leaves hold grads, and a buffer given back is reused by the next grad of its size.
static void test_grads_in_flight_only(void **state) {
    Fixture *fx = *state;
    Tape *t = &fx->tape;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 8), true, 1, "x");
    Tensor *a = op_tanh(t, x), *b = op_tanh(t, a), *c = op_tanh(t, b);
    assert_null(a->grad);
    size_t before = arena_mark(t->arena);
    tape_backward(t, op_sum(t, c));
    assert_null(a->grad);
    assert_null(b->grad);
    assert_null(c->grad);
    // loss, c, b, a each need a grad, but c's is free by the time a needs one: three buffers of 32
    // (b's and a's alternate), plus the loss's, not four.
    size_t used = arena_mark(t->arena) - before;
    assert_true(used < 4 * 32 * sizeof(nl_real) + ARENA_ALIGN);
    for (int i = 0; i < 32; i++) { // d tanh(tanh(tanh x)) / dx, by the chain rule
        double u = tanh(x->data[i]), v = tanh(u);
        double want = (1 - u * u) * (1 - v * v) * (1 - tanh(v) * tanh(v));
        assert_true(fabs(x->grad[i] - want) <= 1e-5);
    }
}

static void test_input_used_twice(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(3), true);
    set_values(x, (double[]){-1, 0.5, 3});
    tape_backward(&fx->tape, op_sum(&fx->tape, op_mul(&fx->tape, x, x)));
    assert_values(x->grad, (double[]){-2, 1, 6}, 3, VAL_TOL); // d/dx sum x^2 = 2x
    tape_reset(&fx->tape);
    tensor_zero_grad(x);
    tape_backward(&fx->tape, op_sum(&fx->tape, op_add(&fx->tape, x, x)));
    assert_values(x->grad, (double[]){2, 2, 2}, 3, VAL_TOL); // d/dx sum 2x = 2
}

// y = tanh(x) feeds two consumers: z = sum(y*y + y), dz/dx = (2y + 1)(1 - y^2).
static Tensor *f_two_consumers(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *y = op_tanh(t, in[0]);
    return op_add(t, op_mul(t, y, y), y);
}

static void test_node_with_two_consumers(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(2), true);
    set_values(x, (double[]){0.3, -1.2});
    tape_backward(&fx->tape, op_sum(&fx->tape, f_two_consumers(&fx->tape, &x, NULL)));
    double want[2];
    for (int i = 0; i < 2; i++) {
        double y = tanh(x->data[i]);
        want[i] = (2 * y + 1) * (1 - y * y);
    }
    assert_values(x->grad, want, 2, 10 * VAL_TOL);
    tape_reset(&fx->tape);
    Tensor *xr = rand_tensor(fx, NL_SHAPE(3, 4), true, 1, "x");
    assert_gradcheck(fx, f_two_consumers, NULL, &xr, 1);
}

static void test_inputs_without_grad_are_skipped(void **state) {
    Fixture *fx = *state;
    Tensor *w = rand_tensor(fx, NL_SHAPE(4, 3), true, 1, "w");
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3), false, 1, "x (data)");
    tape_backward(&fx->tape, op_sum(&fx->tape, op_matmul(&fx->tape, x, w, false, true)));
    assert_null(x->grad);
    // d/dw sum(x w^T) = column sums of x, for every output row
    for (int o = 0; o < 4; o++)
        for (int k = 0; k < 3; k++)
            assert_true(fabs(w->grad[o * 3 + k] - (x->data[k] + x->data[3 + k])) < 10 * VAL_TOL);
}

static void test_reshape_shares_grad(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3), true, 1, "x");
    Tensor *v = op_reshape(&fx->tape, x, NL_SHAPE(6));
    assert_ptr_equal(v->data, x->data);
    assert_ptr_equal(v->grad, x->grad);
    assert_int_equal(fx->tape.n, 0);
    tape_backward(&fx->tape, op_sum(&fx->tape, op_scale(&fx->tape, v, 3)));
    for (int i = 0; i < 6; i++) assert_true(x->grad[i] == 3);
}

// ---- the checker must be able to fail --------------------------------------------------------
// mul with its second term dropped (db never written), and tanh with a NaN backward.
static void mul_backward_drops_b(TapeNode *n) {
    Tensor *a = n->in[0], *b = n->in[1];
    for (size_t i = 0; i < tensor_numel(a); i++) a->grad[i] += n->out->grad[i] * b->data[i];
}
static void backward_writes_nan(TapeNode *n) {
    for (size_t i = 0; i < tensor_numel(n->in[0]); i++) n->in[0]->grad[i] += NAN;
}
static const OpDef BROKEN_MUL = {.name = "mul (db dropped)", .backward = mul_backward_drops_b};
static const OpDef NAN_OP = {.name = "nan backward", .backward = backward_writes_nan};

static Tensor *f_broken_mul(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *y = tape_output(t, in[0]->shape, 2, in);
    for (size_t i = 0; i < tensor_numel(y); i++) y->data[i] = in[0]->data[i] * in[1]->data[i];
    tape_record(t, &BROKEN_MUL, y, 2, in);
    return y;
}
static Tensor *f_nan(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *y = tape_output(t, in[0]->shape, 1, in);
    for (size_t i = 0; i < tensor_numel(y); i++) y->data[i] = 2 * in[0]->data[i];
    tape_record(t, &NAN_OP, y, 1, in);
    return y;
}

static void test_gradcheck_catches_dropped_term(void **state) {
    Fixture *fx = *state;
    Tensor *a = rand_tensor(fx, NL_SHAPE(2, 3), true, 1, "a"), *b = rand_tensor(fx, NL_SHAPE(2, 3), true, 1, "b");
    FILE *report = tmpfile();
    GradcheckOpts o = {.report = report};
    GradcheckResult r;
    assert_int_equal(gradcheck(&fx->tape, f_broken_mul, NULL, (Tensor *[]){a, b}, 2, &o, &r), 1);
    assert_int_equal(r.n_checked, 12);
    assert_int_equal(r.n_failed, 6); // every element of b, none of a
    assert_int_equal(r.worst_input, 1);
    assert_true(r.worst_analytic == 0 && r.worst_numeric != 0);
    char line[256];
    rewind(report);
    assert_non_null(fgets(line, sizeof line, report));
    assert_non_null(strstr(line, "gradcheck FAIL: b element")); // the report names the tensor
    fclose(report);
}

static void test_gradcheck_catches_nan(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4), true, 1, "x");
    FILE *report = tmpfile();
    GradcheckResult r;
    assert_int_equal(gradcheck(&fx->tape, f_nan, NULL, &x, 1, &(GradcheckOpts){.report = report}, &r), 1);
    assert_int_equal(r.n_failed, 4);
    fclose(report);
}

// ---- always-on checks --------------------------------------------------------------------------
static void matmul_mismatch(void *ctx) {
    Fixture *fx = ctx;
    Tensor *a = rand_tensor(fx, NL_SHAPE(2, 3), false, 1, "a"), *b = rand_tensor(fx, NL_SHAPE(4, 5), false, 1, "b");
    op_matmul(&fx->tape, a, b, false, false);
}
static void broadcast_mismatch(void *ctx) {
    Fixture *fx = ctx;
    op_add(&fx->tape, rand_tensor(fx, NL_SHAPE(2, 3), false, 1, "a"), rand_tensor(fx, NL_SHAPE(2), false, 1, "b"));
}
static void tape_overflow(void *ctx) {
    Fixture *fx = ctx;
    Tensor *x = rand_tensor(fx, NL_SHAPE(1), true, 1, "x");
    for (int i = 0; i < 2000; i++) x = op_tanh(&fx->tape, x);
}
static void measured_arena_grows(void *ctx) {
    (void)ctx;
    Arena a;
    arena_init(&a, "step", 0);
    arena_alloc(&a, 1000); // first use: measured
    arena_reset(&a);
    arena_alloc(&a, 2000); // a bigger step than the first
}

static void test_always_on_checks(void **state) {
    assert_aborts(matmul_mismatch, *state, "matmul inner dims differ: a [2,3], b [4,5]");
    assert_aborts(broadcast_mismatch, *state, "cannot broadcast [2,3] with [2]");
    assert_aborts(tape_overflow, *state, "tape full at 1024 nodes");
    assert_aborts(measured_arena_grows, *state, "arena 'step' exhausted: needed 2048 bytes, available 1024");
}

// ---- finding where a NaN began ----------------------------------------------------------------
// y = x in forward; a backward that writes NaN: a fault that only the backward shows.
static bool poison_on = true; // false: poison passes its grad through unharmed
static void poison_backward(TapeNode *n) {
    for (size_t i = 0; i < tensor_numel(n->out); i++) n->in[0]->grad[i] += i == 0 && poison_on ? NAN : n->out->grad[i];
}
static const OpDef POISON = {.name = "poison", .backward = poison_backward};
static Tensor *op_poison(Tape *t, Tensor *x) {
    Tensor *y = tape_output(t, x->shape, 1, &x);
    memcpy(y->data, x->data, tensor_numel(x) * sizeof(nl_real));
    tape_record(t, &POISON, y, 1, &x);
    return y;
}

static void test_backward_finds_where_nonfinite_began(void **state) {
    Fixture *fx = *state;
    Tape *t = &fx->tape;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 8), true, 1, "x");
    tape_set_scope(t, "a");
    Tensor *a = op_tanh(t, x);
    tape_set_scope(t, "b");
    Tensor *b = op_poison(t, a);
    tape_set_scope(t, "c");
    Tensor *loss = op_sum(t, op_tanh(t, b));
    assert_int_equal(tape_find_nonfinite(t), -1); // the forward is finite
    tape_backward(t, loss);
    assert_true(isnan(x->grad[0]));
    tensor_zero_grad(x);
    int at = tape_backward_find_nonfinite(t, loss);
    assert_int_equal(at, 1);
    assert_string_equal(t->nodes[at].def->name, "poison");
    assert_string_equal(t->nodes[at].scope, "b");
}

// The checking sweep fits in a measured step arena, sized by a healthy first step: a later step
// whose grads went non-finite is diagnosed, not ended by "arena exhausted" (the loss's one-element
// grad, too small for the free lists, was once taken anew by the second sweep).
static void test_backward_again_fits_a_measured_arena(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 8), true, 1, "x");
    Arena a;
    Tape t;
    assert_int_equal(arena_init(&a, "step", 0), 0);
    assert_int_equal(tape_init(&t, &a, 64), 0);
    for (int step = 0; step < 2; step++) {
        poison_on = step == 1;
        Tensor *loss = op_sum(&t, op_tanh(&t, op_poison(&t, op_tanh(&t, x))));
        tape_backward(&t, loss);
        if (step == 1) {
            tensor_zero_grad(x);
            assert_int_equal(tape_backward_find_nonfinite(&t, loss), 1);
        }
        tape_reset(&t);
    }
    poison_on = true;
    tape_free(&t), arena_free(&a);
}

// The checking sweep is backward run again: on a healthy graph it finds nothing and gives the same
// grads as the first sweep.
static void test_backward_again_gives_the_same_grads(void **state) {
    Fixture *fx = *state;
    Tape *t = &fx->tape;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 8), true, 1, "x");
    Tensor *w = rand_tensor(fx, NL_SHAPE(8, 8), true, 1, "w");
    Tensor *h = op_tanh(t, op_matmul(t, x, w, false, false));
    Tensor *loss = op_sum(t, op_mul(t, h, op_reshape(t, h, NL_SHAPE(4, 8))));
    tape_backward(t, loss);
    nl_real gx[32], gw[64];
    memcpy(gx, x->grad, sizeof gx), memcpy(gw, w->grad, sizeof gw);
    tensor_zero_grad(x), tensor_zero_grad(w);
    assert_int_equal(tape_backward_find_nonfinite(t, loss), -1);
    for (int i = 0; i < 32; i++) assert_true(x->grad[i] == gx[i]);
    for (int i = 0; i < 64; i++) assert_true(w->grad[i] == gw[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table_complete),
        cmocka_unit_test_setup_teardown(test_records_in_order_and_no_grad_records_nothing, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_grads_in_flight_only, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_input_used_twice, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_node_with_two_consumers, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_inputs_without_grad_are_skipped, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reshape_shares_grad, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_gradcheck_catches_dropped_term, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_gradcheck_catches_nan, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_always_on_checks, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_backward_finds_where_nonfinite_began, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_backward_again_gives_the_same_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_backward_again_fits_a_measured_arena, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("tape (" NL_REAL_NAME ")", tests, NULL, NULL);
}
