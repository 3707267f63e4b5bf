// No allocation inside a step beyond the arenas. This executable is linked with --wrap for every
// allocation function, so each call from the library's code passes through a counter. A step that
// uses every primitive op runs once (the step arena measures itself, allocating chunks), then again:
// from the second step on, the count must stay at zero.
#include "test_util.h"

static long n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { n_allocs++; return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { n_allocs++; return __real_aligned_alloc(a, n); }

enum { B = 2, T = 4, C = 8, H = 2, V = 5 };

// A miniature attention block with a cross-entropy loss: every primitive op once.
static Tensor *step_loss(Tape *t, Tensor *emb, Tensor *w, const int32_t *idx, Rng *rng) {
    Tensor *x = op_reshape(t, op_embedding(t, emb, idx, B * T), NL_SHAPE(B, T, C)); // (B,T,C)
    Tensor *qkv = op_matmul(t, x, w, false, true);                              // (B,T,C)
    Tensor *q = op_transpose(t, op_reshape(t, qkv, NL_SHAPE(B, T, H, C / H)), 1, 2); // (B,H,T,C/H)
    Tensor *att = op_softmax(t, op_scale(t, op_matmul(t, q, q, false, true), 0.5), true); // (B,H,T,T)
    Tensor *y = op_transpose(t, op_matmul(t, att, q, false, false), 1, 2);     // (B,T,H,C/H)
    y = op_gelu(t, op_reshape(t, y, NL_SHAPE(B, T, C)));
    y = op_add(t, op_tanh(t, op_softplus(t, y)), x);
    y = op_dropout(t, op_mul(t, y, y), 0.1, rng);
    Tensor *logits = op_matmul(t, y, emb, false, true); // (B,T,V)
    return op_add(t, op_cross_entropy(t, logits, idx), op_mean(t, op_sum_last(t, y)));
}

static void test_no_allocation_after_first_step(void **state) {
    Fixture *fx = *state;
    // The fixture's step arena is fixed-size; use a measured one, as training does.
    Arena step;
    Tape tape;
    assert_int_equal(arena_init(&step, "step", 0), 0);
    assert_int_equal(tape_init(&tape, &step, 256), 0);
    Tensor *emb = rand_tensor(fx, NL_SHAPE(V, C), true, 1, "emb");
    Tensor *w = rand_tensor(fx, NL_SHAPE(C, C), true, 0.3, "w");
    int32_t idx[B * T] = {0, 1, 2, 3, 4, 0, 1, 2};
    long per_step[3];
    for (int s = 0; s < 3; s++) {
        long before = n_allocs;
        tensor_zero_grad(emb);
        tensor_zero_grad(w);
        tape_backward(&tape, step_loss(&tape, emb, w, idx, &fx->rng));
        tape_reset(&tape);
        per_step[s] = n_allocs - before;
    }
    print_message("    allocations per step: %ld (measuring), %ld, %ld\n", per_step[0], per_step[1],
                  per_step[2]);
    assert_true(per_step[0] > 0); // the counter works: the measuring step allocates its chunks
    assert_int_equal(per_step[1], 0);
    assert_int_equal(per_step[2], 0);
    tape_free(&tape);
    arena_free(&step);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_allocation_after_first_step, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("alloc (" NL_REAL_NAME ")", tests, NULL, NULL);
}
