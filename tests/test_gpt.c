// The GPT: its parameter table (nanoGPT's names, shapes, count, init) and a gradient check of the
// whole model, every parameter, for every norm (tight in the double build).
#include <string.h>

#include "normlab/gpt.h"
#include "test_util.h"

enum { B = 2, T = 4 };
static const int32_t IDX[B * T] = {0, 1, 2, 3, 4, 0, 2, 1}, TARGETS[B * T] = {1, 2, 3, 4, 0, 2, 1, 3};

static ModelConfig tiny(NormKind k, bool bias) {
    ModelConfig c = {.vocab_size = 5, .block_size = 6, .n_layer = 2, .n_head = 2, .n_embd = 8,
                   .bias = bias, .norm = k};
    for (int p = 0; p < MODEL_NORM_POSITIONS; p++)
        c.scalar0[p] = NORM_TABLE[k]->scalar == NORM_SCALAR_BETA ? 4 : 0.5;
    return c;
}

static void test_parameter_table_is_nanogpts(void **state) {
    (void)state;
    ModelConfig c = {.vocab_size = 65, .block_size = 64, .n_layer = 4, .n_head = 4, .n_embd = 128, .norm = NORM_LN};
    Gpt m;
    Rng rng;
    rng_seed(&rng, 1);
    assert_int_equal(gpt_init(&m, &c, &rng), 0);
    // nanoGPT's CPU configuration: wte 65x128, wpe 64x128, per block 2 norms (128 each),
    // c_attn 384x128, c_proj 128x128, c_fc 512x128, mlp.c_proj 128x512; ln_f 128
    size_t per_block = 2 * 128 + 384 * 128 + 128 * 128 + 512 * 128 + 128 * 512;
    assert_int_equal(paramset_count(&m.params), 65 * 128 + 64 * 128 + 4 * per_block + 128);
    const char *first[] = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                           "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight",
                           "transformer.h.0.ln_2.weight", "transformer.h.0.mlp.c_fc.weight",
                           "transformer.h.0.mlp.c_proj.weight"};
    for (int i = 0; i < 8; i++) assert_string_equal(m.params.list[i].spec.name, first[i]);
    assert_string_equal(m.params.list[m.params.n - 1].spec.name, "transformer.ln_f.weight");
    // init: weights N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 n_layer)), norms 1
    double s = 0, s_proj = 0;
    Tensor *fc = paramset_find(&m.params, "transformer.h.0.mlp.c_fc.weight")->t;
    Tensor *pr = paramset_find(&m.params, "transformer.h.0.mlp.c_proj.weight")->t;
    for (size_t i = 0; i < tensor_numel(fc); i++) s += fc->data[i] * fc->data[i];
    for (size_t i = 0; i < tensor_numel(pr); i++) s_proj += pr->data[i] * pr->data[i];
    assert_true(fabs(sqrt(s / tensor_numel(fc)) / 0.02 - 1) < 0.01);
    assert_true(fabs(sqrt(s_proj / tensor_numel(pr)) / (0.02 / sqrt(8.0)) - 1) < 0.01);
    assert_true(paramset_find(&m.params, "transformer.h.3.ln_2.weight")->t->data[5] == 1);
    assert_null(paramset_find(&m.params, "transformer.h.0.ln_1.bias")); // no biases by default
    assert_null(paramset_find(&m.params, "transformer.h.0.ln_1.alpha"));
    gpt_free(&m);

    c.norm = NORM_DYISRUSP, c.bias = true;
    c.scalar0[MODEL_NORM_ATTN] = c.scalar0[MODEL_NORM_FINAL] = 4, c.scalar0[MODEL_NORM_MLP] = 2;
    assert_int_equal(gpt_init(&m, &c, &rng), 0);
    Tensor *beta = paramset_find(&m.params, "transformer.h.1.ln_2.beta")->t;
    assert_true(fabs(norm_scalar_effective(NORM_DYISRUSP, beta->data[0]) - 2) < 1e-6); // stored raw
    assert_non_null(paramset_find(&m.params, "transformer.h.1.attn.c_attn.bias"));
    assert_non_null(paramset_find(&m.params, "transformer.ln_f.bias"));
    assert_null(paramset_find(&m.params, "transformer.emb_scale"));
    gpt_free(&m);

    // Derf with the embedding scale: alpha and shift per norm, the scale after the embeddings, all
    // at the scalar lr multiplier; everything else at the plain lr
    c.norm = NORM_DERF, c.emb_scale = true, c.emb_scale0 = 11.3, c.shift0 = -0.5, c.scalar_lr_mult = 10;
    assert_int_equal(gpt_init(&m, &c, &rng), 0);
    assert_string_equal(m.params.list[2].spec.name, "transformer.emb_scale");
    assert_true(m.emb_scale == m.params.list[2].t && fabs(m.emb_scale->data[0] - 11.3) < 1e-6);
    assert_true(fabs(paramset_find(&m.params, "transformer.h.0.ln_2.alpha")->t->data[0] - 2) < 1e-6);
    assert_true(fabs(paramset_find(&m.params, "transformer.ln_f.shift")->t->data[0] + 0.5) < 1e-6);
    for (int i = 0; i < m.params.n; i++) {
        const ParamSpec *sp = &m.params.list[i].spec;
        bool scalar = strstr(sp->name, ".alpha") || strstr(sp->name, ".shift") || !strcmp(sp->name, "transformer.emb_scale");
        assert_true(sp->lr_mult == (scalar ? 10 : 1));
    }
    assert_true(m.blocks[1].ln_1.shift == paramset_find(&m.params, "transformer.h.1.ln_1.shift")->t);
    gpt_free(&m);
}

// nanoGPT's state_dict keys, written out here independently of gpt.c's table: a misspelt or missing
// row there fails this test (a checkpoint must load in nanoGPT, and a name is the only thing that
// says which tensor is which). Returns how many.
static int nanogpt_names(const ModelConfig *c, char (*out)[PARAM_NAME_MAX]) {
    int n = 0;
    const char *scalar = norm_scalar_name(c->norm);
#define ADD(...) snprintf(out[n++], PARAM_NAME_MAX, __VA_ARGS__)
#define ADD_NORM(pre, ...)                                   \
    do {                                                     \
        ADD(pre "weight", __VA_ARGS__);                      \
        if (c->bias) ADD(pre "bias", __VA_ARGS__);           \
        if (scalar) ADD(pre "%s", __VA_ARGS__, scalar);      \
        if (NORM_TABLE[c->norm]->shift) ADD(pre "shift", __VA_ARGS__); \
    } while (0)
    ADD("transformer.wte.weight");
    ADD("transformer.wpe.weight");
    if (c->emb_scale) ADD("transformer.emb_scale");
    for (int l = 0; l < c->n_layer; l++) {
        ADD_NORM("transformer.h.%d.ln_1.", l);
        ADD("transformer.h.%d.attn.c_attn.weight", l);
        if (c->bias) ADD("transformer.h.%d.attn.c_attn.bias", l);
        ADD("transformer.h.%d.attn.c_proj.weight", l);
        if (c->bias) ADD("transformer.h.%d.attn.c_proj.bias", l);
        ADD_NORM("transformer.h.%d.ln_2.", l);
        ADD("transformer.h.%d.mlp.c_fc.weight", l);
        if (c->bias) ADD("transformer.h.%d.mlp.c_fc.bias", l);
        ADD("transformer.h.%d.mlp.c_proj.weight", l);
        if (c->bias) ADD("transformer.h.%d.mlp.c_proj.bias", l);
    }
    ADD_NORM("transformer.ln_f.%s", "");
#undef ADD_NORM
#undef ADD
    return n;
}

// Every parameter's name is nanoGPT's, in its order, for every norm, with and without biases and the
// embedding scale; and each name's tensor is bound to the field that uses it.
static void test_names_are_nanogpts(void **state) {
    (void)state;
    static char want[256][PARAM_NAME_MAX];
    for (int k = 0; k < NORM_COUNT; k++)
        for (int v = 0; v < 4; v++) {
            ModelConfig c = tiny(k, v & 1);
            c.emb_scale = v & 2, c.emb_scale0 = 1;
            Gpt m;
            Rng rng;
            rng_seed(&rng, 1);
            assert_int_equal(gpt_init(&m, &c, &rng), 0);
            int n = nanogpt_names(&c, want);
            if (m.params.n != n) fail_msg("%s bias %d scale %d: %d parameters, nanoGPT has %d", NORM_TABLE[k]->name, c.bias, c.emb_scale, m.params.n, n);
            for (int i = 0; i < n; i++)
                if (strcmp(m.params.list[i].spec.name, want[i]))
                    fail_msg("%s: parameter %d is '%s', nanoGPT calls it '%s'", NORM_TABLE[k]->name, i, m.params.list[i].spec.name, want[i]);
            // the bindings, spot-checked by name
            assert_true(m.blocks[1].mlp.c_proj.weight == paramset_find(&m.params, "transformer.h.1.mlp.c_proj.weight")->t);
            assert_true(m.blocks[0].attn.c_proj.weight == paramset_find(&m.params, "transformer.h.0.attn.c_proj.weight")->t);
            assert_true(m.ln_f.weight == paramset_find(&m.params, "transformer.ln_f.weight")->t);
            if (c.bias) assert_true(m.blocks[1].mlp.c_fc.bias == paramset_find(&m.params, "transformer.h.1.mlp.c_fc.bias")->t);
            else assert_null(m.blocks[1].mlp.c_fc.bias);
            gpt_free(&m);
        }
}

static Tensor *f_gpt(Tape *t, Tensor *const *in, void *ctx) {
    (void)in;
    return gpt_forward(t, ctx, IDX, TARGETS, B, T, NULL);
}

static void test_gradcheck_whole_model(void **state) {
    Fixture *fx = *state;
    for (int k = 0; k < NORM_COUNT; k++) {
        ModelConfig c = tiny(k, k % 2 == 0); // biases on for half of the norms
        c.emb_scale = norm_is_elementwise(k), c.emb_scale0 = 1.5, c.shift0 = 0.2; // as the recipes train them
        Gpt m;
        assert_int_equal(gpt_init(&m, &c, &fx->rng), 0);
        // larger weights than nanoGPT's 0.02, so every path carries a visible gradient
        for (size_t i = 0; i < m.params.numel; i++) m.params.data[i] += (nl_real)(0.3 * rng_normal(&fx->rng));
        Tensor **in = malloc(m.params.n * sizeof(Tensor *));
        for (int i = 0; i < m.params.n; i++) in[i] = m.params.list[i].t;
        GradcheckResult r;
        int failed = gradcheck(&fx->tape, f_gpt, &m, in, m.params.n, NULL, &r);
        print_message("    %-8s bias %d emb_scale %d: %zu parameters checked, max error %.2e\n", NORM_TABLE[k]->name,
                      c.bias, c.emb_scale, r.n_checked, r.max_err);
        if (failed) fail_msg("%s: %zu of %zu failed, worst %.3g in %s", NORM_TABLE[k]->name, r.n_failed,
                             r.n_checked, r.max_err, in[r.worst_input]->name);
        assert_int_equal(r.n_checked, paramset_count(&m.params));
        free(in);
        gpt_free(&m);
    }
}

static void test_config_check(void **state) {
    (void)state;
    ModelConfig c = tiny(NORM_LN, false);
    char err[128];
    assert_int_equal(gpt_config_check(&c, err, sizeof err), 0);
    c.n_head = 3;
    assert_int_equal(gpt_config_check(&c, err, sizeof err), -1);
    assert_string_equal(err, "n_embd must be divisible by n_head");
    c = tiny(NORM_DYTSP, false);
    c.scalar0[1] = -1;
    assert_int_equal(gpt_config_check(&c, err, sizeof err), -1);
}

// Recomputation (Gpt.recompute) gives the loss and every parameter's grad of the ordinary step, bit
// for bit: every norm, with dropout (the recomputed blocks must draw the same masks) and without.
static void test_recompute_same_grads(void **state) {
    (void)state;
    for (int k = 0; k < NORM_COUNT; k++)
        for (int drop = 0; drop < 2; drop++) {
            ModelConfig c = tiny(k, drop);
            c.dropout = drop ? 0.2 : 0;
            Gpt m;
            Rng rng;
            Arena arena;
            Tape tape;
            rng_seed(&rng, 7);
            assert_int_equal(gpt_init(&m, &c, &rng), 0);
            assert_int_equal(arena_init(&arena, "test", 0) || tape_init(&tape, &arena, 1024), 0);
            size_t n = m.params.numel;
            nl_real *grads[2] = {malloc(n * sizeof(nl_real)), malloc(n * sizeof(nl_real))};
            double loss[2];
            for (int r = 0; r < 2; r++) {
                if (r) assert_int_equal(gpt_recompute_set(&m, true), 0);
                paramset_zero_grad(&m.params);
                Rng drop_rng;
                rng_seed(&drop_rng, 99);
                Tensor *l = gpt_forward(&tape, &m, IDX, TARGETS, B, T, &drop_rng);
                loss[r] = l->data[0];
                tape_backward(&tape, l);
                memcpy(grads[r], m.params.grad, n * sizeof(nl_real));
                tape_reset(&tape);
            }
            assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
            for (size_t i = 0; i < n; i++)
                if (memcmp(&grads[0][i], &grads[1][i], sizeof grads[0][i]))
                    fail_msg("%s, dropout %d: grad %zu is %.9g, recomputed %.9g", NORM_TABLE[k]->name, drop, i,
                             (double)grads[0][i], (double)grads[1][i]);
            free(grads[0]), free(grads[1]);
            tape_free(&tape), arena_free(&arena), gpt_free(&m);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameter_table_is_nanogpts),
        cmocka_unit_test(test_names_are_nanogpts),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_recompute_same_grads),
        cmocka_unit_test_setup_teardown(test_gradcheck_whole_model, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("gpt (" NL_REAL_NAME ")", tests, NULL, NULL);
}
