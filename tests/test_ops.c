// Every primitive op: gradient-checked (every input, double build to 1e-6), known answers worked
// by hand on small shapes, and invariants.
#include "test_util.h"

#include "tensor/kernels.h"
#include "normlab/observe.h"

// ---- matmul ------------------------------------------------------------------------------------
typedef struct { bool ta, tb; } MatmulArgs;
static Tensor *f_matmul(Tape *t, Tensor *const *in, void *ctx) {
    MatmulArgs *a = ctx;
    return op_matmul(t, in[0], in[1], a->ta, a->tb);
}

static void test_matmul_known(void **state) {
    Fixture *fx = *state;
    Tensor *a = tensor_new(&fx->params, NL_SHAPE(2, 2), false), *b = tensor_new(&fx->params, NL_SHAPE(2, 2), false);
    set_values(a, (double[]){1, 2, 3, 4});
    set_values(b, (double[]){5, 6, 7, 8});
    // [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50];  [1 2; 3 4] [5 7; 6 8] = [17 23; 39 53]
    assert_values(op_matmul(&fx->tape, a, b, false, false)->data, (double[]){19, 22, 43, 50}, 4, 0);
    assert_values(op_matmul(&fx->tape, a, b, false, true)->data, (double[]){17, 23, 39, 53}, 4, 0);
    // [1 3; 2 4] [5 6; 7 8] = [26 30; 38 44]
    assert_values(op_matmul(&fx->tape, a, b, true, false)->data, (double[]){26, 30, 38, 44}, 4, 0);
}

static void test_matmul_shapes(void **state) {
    Fixture *fx = *state;
    Tensor *a = rand_tensor(fx, NL_SHAPE(4, 3), false, 1, "a"), *b = rand_tensor(fx, NL_SHAPE(4, 5), false, 1, "b");
    Tensor *a4 = rand_tensor(fx, NL_SHAPE(2, 3, 4, 6), false, 1, "a4"), *b4 = rand_tensor(fx, NL_SHAPE(2, 3, 5, 6), false, 1, "b4");
    assert_true(shape_equal(op_matmul(&fx->tape, a, b, true, false)->shape, NL_SHAPE(3, 5)));
    assert_true(shape_equal(op_matmul(&fx->tape, b, a, true, false)->shape, NL_SHAPE(5, 3)));
    assert_true(shape_equal(op_matmul(&fx->tape, a4, b4, false, true)->shape, NL_SHAPE(2, 3, 4, 5)));
    assert_true(shape_equal(op_matmul(&fx->tape, a4, a4, true, false)->shape, NL_SHAPE(2, 3, 6, 6)));
}

static void test_matmul_grad_2d(void **state) {
    Fixture *fx = *state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            // op(a) is (3,4), op(b) is (4,5)
            Tensor *a = rand_tensor(fx, ta ? NL_SHAPE(4, 3) : NL_SHAPE(3, 4), true, 1, "a");
            Tensor *b = rand_tensor(fx, tb ? NL_SHAPE(5, 4) : NL_SHAPE(4, 5), true, 1, "b");
            assert_gradcheck(fx, f_matmul, &(MatmulArgs){ta, tb}, (Tensor *[]){a, b}, 2);
        }
}

static void test_matmul_grad_linear(void **state) { // x (B,T,C) @ W^T, W stored [out, in]
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3, 4), true, 1, "x");
    Tensor *w = rand_tensor(fx, NL_SHAPE(5, 4), true, 1, "w");
    Tensor *y = op_matmul(&fx->tape, x, w, false, true);
    assert_int_equal(y->shape.ndim, 3);
    assert_int_equal(y->shape.d[2], 5);
    tape_reset(&fx->tape);
    assert_gradcheck(fx, f_matmul, &(MatmulArgs){false, true}, (Tensor *[]){x, w}, 2);
}

static void test_matmul_grad_batched(void **state) { // attention's q k^T and att v
    Fixture *fx = *state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            Tensor *a = rand_tensor(fx, ta ? NL_SHAPE(2, 2, 4, 3) : NL_SHAPE(2, 2, 3, 4), true, 1, "a");
            Tensor *b = rand_tensor(fx, tb ? NL_SHAPE(2, 2, 5, 4) : NL_SHAPE(2, 2, 4, 5), true, 1, "b");
            assert_gradcheck(fx, f_matmul, &(MatmulArgs){ta, tb}, (Tensor *[]){a, b}, 2);
        }
}

// ---- linear: x W^T + b -------------------------------------------------------------------------
static Tensor *f_linear(Tape *t, Tensor *const *in, void *ctx) {
    return op_linear(t, in[0], in[1], ctx ? in[2] : NULL); // ctx: non-NULL with a bias
}

static void test_linear_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3, 4), true, 1, "x");
    Tensor *w = rand_tensor(fx, NL_SHAPE(5, 4), true, 1, "w"), *b = rand_tensor(fx, NL_SHAPE(5), true, 1, "b");
    Tensor *y = op_linear(&fx->tape, x, w, b);
    assert_true(shape_equal(y->shape, NL_SHAPE(2, 3, 5)));
    tape_reset(&fx->tape);
    assert_gradcheck(fx, f_linear, fx, (Tensor *[]){x, w, b}, 3);
    assert_gradcheck(fx, f_linear, NULL, (Tensor *[]){x, w}, 2);
}

// One op gives the bits a matmul and then an add gave: y, and x's, W's and b's grads (from the loss
// sum(y r) for a random r), on 1 and on 2 threads (the BLAS may round otherwise on 2 than on 1), at
// sizes past gemm_tiles' k block (256) and its 6 x 16 tiles. And b's grad is each column of dy = r
// summed over the rows in order, in the real type, on either team.
static void test_linear_is_matmul_then_add(void **state) {
    Fixture *fx = *state;
    static const int dims[][3] = {{3, 5, 4}, {111, 70, 300}}; // rows, out, in
    int threads = omp_get_max_threads();
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        int R = dims[d][0], N = dims[d][1], K = dims[d][2];
        Tensor *x = rand_tensor(fx, NL_SHAPE(R, K), true, 1, "x"), *w = rand_tensor(fx, NL_SHAPE(N, K), true, 1, "w");
        Tensor *b = rand_tensor(fx, NL_SHAPE(N), true, 1, "b"), *r = rand_tensor(fx, NL_SHAPE(R, N), false, 1, "r");
        Tensor *in[] = {x, w, b};
        size_t len[] = {(size_t)R * N, (size_t)R * K, (size_t)N * K, (size_t)N}; // y, dx, dW, db
        nl_real *want[4];
        for (int k = 0; k < 4; k++) want[k] = arena_alloc(&fx->params, len[k] * sizeof(nl_real));
        nl_real *db = arena_calloc(&fx->params, (size_t)N * sizeof(nl_real));
        for (int i = 0; i < R; i++)
            for (int j = 0; j < N; j++) db[j] += r->data[(size_t)i * N + j];
        for (int team = 1; team <= 2; team++)
            for (int fused = 0; fused < 2; fused++) {
                omp_set_num_threads(team);
                for (int k = 0; k < 3; k++) memset(in[k]->grad, 0, tensor_numel(in[k]) * sizeof(nl_real));
                Tensor *y = fused ? op_linear(&fx->tape, x, w, b) : op_add(&fx->tape, op_matmul(&fx->tape, x, w, false, true), b);
                tape_backward(&fx->tape, op_sum(&fx->tape, op_mul(&fx->tape, y, r)));
                const nl_real *got[] = {y->data, x->grad, w->grad, b->grad};
                for (int k = 0; k < 4; k++) {
                    if (!fused) memcpy(want[k], got[k], len[k] * sizeof(nl_real));
                    else if (memcmp(want[k], got[k], len[k] * sizeof(nl_real)))
                        fail_msg("%dx%dx%d, %d threads: other bits in %s than a matmul and an add", R, N, K, team,
                                 (const char *[]){"y", "dx", "dW", "db"}[k]);
                }
                if (memcmp(db, b->grad, (size_t)N * sizeof(nl_real)))
                    fail_msg("%dx%dx%d, %d threads: db is not dy's columns summed in order", R, N, K, team);
                tape_reset(&fx->tape);
            }
    }
    omp_set_num_threads(threads);
}

// ---- add, mul with broadcasting; affine --------------------------------------------------------
static Tensor *f_add(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_add(t, in[0], in[1]); }
static Tensor *f_mul(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_mul(t, in[0], in[1]); }
static Tensor *f_affine(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_affine(t, in[0], -1.5, 0.25); }

static void test_broadcast_known(void **state) {
    Fixture *fx = *state;
    Tensor *a = tensor_new(&fx->params, NL_SHAPE(2, 2), false), *b = tensor_new(&fx->params, NL_SHAPE(2), false);
    Tensor *c = tensor_new(&fx->params, NL_SHAPE(2, 1), false);
    set_values(a, (double[]){1, 2, 3, 4});
    set_values(b, (double[]){10, 20});
    set_values(c, (double[]){-1, 2});
    assert_values(op_add(&fx->tape, a, b)->data, (double[]){11, 22, 13, 24}, 4, 0); // rows + b
    assert_values(op_mul(&fx->tape, a, c)->data, (double[]){-1, -2, 6, 8}, 4, 0);   // rows * c
    Tensor *outer = op_mul(&fx->tape, c, b); // (2,1) * (2) -> (2,2): an outer product
    assert_true(shape_equal(outer->shape, NL_SHAPE(2, 2)));
    assert_values(outer->data, (double[]){-10, -20, 20, 40}, 4, 0);
    assert_values(op_affine(&fx->tape, a, 2, -1)->data, (double[]){1, 3, 5, 7}, 4, 0);
}

static void test_broadcast_grads(void **state) {
    Fixture *fx = *state;
    Shape pairs[][2] = {
        {NL_SHAPE(2, 3, 4), NL_SHAPE(2, 3, 4)}, // same shape
        {NL_SHAPE(2, 3, 4), NL_SHAPE(4)},       // bias row
        {NL_SHAPE(2, 3, 4), NL_SHAPE(3, 1)},    // per-row scale
        {NL_SHAPE(2, 1, 4), NL_SHAPE(3, 1)},    // both stretch
        {NL_SHAPE(1), NL_SHAPE(2, 2, 3, 2)},    // a scalar parameter times a 4-D tensor
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        Tensor *a = rand_tensor(fx, pairs[i][0], true, 1, "a");
        Tensor *b = rand_tensor(fx, pairs[i][1], true, 1, "b");
        assert_gradcheck(fx, f_add, NULL, (Tensor *[]){a, b}, 2);
        assert_gradcheck(fx, f_mul, NULL, (Tensor *[]){a, b}, 2);
    }
    Tensor *x = rand_tensor(fx, NL_SHAPE(3, 4), true, 1, "x");
    assert_gradcheck(fx, f_affine, NULL, &x, 1);
}

// ---- unary -------------------------------------------------------------------------------------
static Tensor *f_tanh(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_tanh(t, in[0]); }
static Tensor *f_erf(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_erf(t, in[0]); }
static Tensor *f_gelu(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_gelu(t, in[0]); }
static Tensor *f_softplus(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_softplus(t, in[0]); }
static Tensor *f_rsqrt(Tape *t, Tensor *const *in, void *ctx) { (void)ctx; return op_rsqrt(t, in[0]); }

static void test_unary_known(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(5), false);
    set_values(x, (double[]){-1, 0, 1, 100, -30});
    // gelu(x) = x Phi(x): Phi(1) = 0.841344746068543, Phi(-1) = 1 - Phi(1)
    assert_values(op_gelu(&fx->tape, x)->data,
                  (double[]){-0.158655253931457, 0, 0.841344746068543, 100, -0.0}, 5, VAL_TOL);
    // softplus(0) = log 2; softplus(100) = 100 (no overflow); softplus(-30) = exp(-30) to 1e-13
    Tensor *sp = op_softplus(&fx->tape, x);
    assert_values(sp->data, (double[]){0.313261687518223, 0.693147180559945, 1.313261687518223, 100},
                  4, VAL_TOL);
    assert_true(sp->data[4] > 0 && fabs(sp->data[4] / exp(-30.0) - 1) < 1e-5);
    // tanh' at saturation: sech^2, not 1 - tanh^2 (which is 0 or 1.2e-7 here in float)
    // Accurate out to where it would turn subnormal (|z| = 43.5: 4.8e-38 in float), 0 beyond.
    const double zs[] = {10, -20, 0.3, 43.5};
    for (int i = 0; i < 4; i++) {
        double exact = 1 / (cosh(zs[i]) * cosh(zs[i]));
        assert_true(fabs(tanh_derivative((nl_real)zs[i]) / exact - 1) < 1e-5);
    }
    assert_true(tanh_derivative(2 * TANH_DERIVATIVE_ZERO) == 0);
    assert_true(tanh_derivative(-2 * TANH_DERIVATIVE_ZERO) == 0);
    // gelu' = Phi(x) + x phi(x) (Phi from the forward's y / x): exact at 5, -2 and 0 (where y / x is
    // 0 / 0); 1 and 0 far out, where phi underflows
    nl_real gx[] = {5, -2, 60, -60, 0}, gy[5], gdy[] = {1, 1, 1, 1, 1}, gdx[5] = {0}, gdx_w[5] = {NAN, NAN, NAN, NAN, NAN};
    gelu_forward(gy, gx, 5);
    gelu_backward(gdx, gdy, gx, gy, false, 5);
    gelu_backward(gdx_w, gdy, gx, gy, true, 5); // writing, over whatever was there: the same values
    assert_memory_equal(gdx, gdx_w, sizeof gdx);
    for (int i = 0; i < 2; i++) {
        double z = gx[i], exact = 0.5 * erfc(-z / sqrt(2.0)) + z * exp(-z * z / 2) / sqrt(2 * M_PI);
        assert_true(fabs(gdx[i] / exact - 1) < 1e-4);
    }
    assert_true(gdx[2] == 1 && gdx[3] == 0 && gdx[4] == (nl_real)0.5);
    // the same over 1300 values (gelu_backward works in chunks of 512: two whole and a part), adding
    // to what was there (1)
    enum { GN = 1300 };
    static nl_real lx[GN], ly[GN], ldy[GN], ldx[GN];
    for (int i = 0; i < GN; i++) lx[i] = (nl_real)(-6 + 12.0 * i / GN), ldy[i] = (nl_real)(1 + i % 3), ldx[i] = 1;
    gelu_forward(ly, lx, GN);
    gelu_backward(ldx, ldy, lx, ly, false, GN);
    for (int i = 0; i < GN; i++) {
        double z = lx[i], want = 1 + ldy[i] * (0.5 * erfc(-z / sqrt(2.0)) + z * exp(-z * z / 2) / sqrt(2 * M_PI));
        if (fabs(ldx[i] - want) > 1e-5 * fabs(want))
            fail_msg("gelu' at %d of %d (x %g): %.9g, want %.9g", i, GN, z, (double)ldx[i], want);
    }
    // erf(1) = 0.842700792949715; erf' = (2/sqrt(pi)) exp(-u^2), accurate out to 8.9 (3.5e-35 in
    // float), 0 past ERF_DERIVATIVE_ZERO
    assert_values(op_erf(&fx->tape, x)->data, (double[]){-0.842700792949715, 0, 0.842700792949715, 1, -1}, 5,
                  VAL_TOL);
    const double us[] = {0, -1, 3, 8.9};
    for (int i = 0; i < 4; i++) {
        double exact = 2 / sqrt(M_PI) * exp(-us[i] * us[i]);
        assert_true(fabs(erf_derivative((nl_real)us[i]) / exact - 1) < 1e-5);
    }
    assert_true(erf_derivative(2 * ERF_DERIVATIVE_ZERO) == 0 && erf_derivative(-2 * ERF_DERIVATIVE_ZERO) == 0);
    Tensor *pos = tensor_new(&fx->params, NL_SHAPE(3), false);
    set_values(pos, (double[]){4, 0.25, 2});
    assert_values(op_rsqrt(&fx->tape, pos)->data, (double[]){0.5, 2, 0.707106781186548}, 3, VAL_TOL);
    assert_values(op_tanh(&fx->tape, x)->data, (double[]){-0.761594155955765, 0, 0.761594155955765, 1, -1},
                  5, VAL_TOL);
}

static void test_unary_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 5), true, 2, "x");
    assert_gradcheck(fx, f_tanh, NULL, &x, 1);
    assert_gradcheck(fx, f_erf, NULL, &x, 1);
    assert_gradcheck(fx, f_gelu, NULL, &x, 1);
    assert_gradcheck(fx, f_softplus, NULL, &x, 1);
    Tensor *pos = rand_tensor(fx, NL_SHAPE(4, 5), true, 0, "x > 0");
    for (int i = 0; i < 20; i++) pos->data[i] = (nl_real)(0.2 + 0.3 * i);
    assert_gradcheck(fx, f_rsqrt, NULL, &pos, 1);
    Tensor *big = tensor_new(&fx->params, NL_SHAPE(4), true);
    big->name = "x far from 0";
    set_values(big, (double[]){-30, -8, 8, 30}); // both sides of softplus's branches
    assert_gradcheck(fx, f_softplus, NULL, &big, 1);
}

// ---- shapes: reshape, transpose ----------------------------------------------------------------
typedef struct { int d0, d1; } TransposeArgs;
static Tensor *f_transpose(Tape *t, Tensor *const *in, void *ctx) {
    TransposeArgs *a = ctx;
    return op_transpose(t, in[0], a->d0, a->d1);
}
// reshape then a consumer: the view shares x's grad
static Tensor *f_reshape_mul(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *v = op_reshape(t, in[0], NL_SHAPE(3, 4));
    return op_mul(t, v, v);
}

static Tensor *f_concat_rows(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    return op_concat_rows(t, in[0], in[1]);
}
static Tensor *f_rows(Tape *t, Tensor *const *in, void *ctx) {
    const int *fn = ctx; // {first, n}
    return op_rows(t, in[0], fn[0], fn[1]);
}

// The ViT's cls token before its patches, and the cls row taken back out.
static void test_concat_rows_known(void **state) {
    Fixture *fx = *state;
    Tensor *cls = tensor_new(&fx->params, NL_SHAPE(1, 1, 2), false), *x = tensor_new(&fx->params, NL_SHAPE(2, 2, 2), false);
    set_values(cls, (double[]){9, 8});
    set_values(x, (double[]){1, 2, 3, 4, 5, 6, 7, 8});
    Tensor *y = op_concat_rows(&fx->tape, cls, x);
    assert_true(shape_equal(y->shape, NL_SHAPE(2, 3, 2)));
    assert_values(y->data, (double[]){9, 8, 1, 2, 3, 4, 9, 8, 5, 6, 7, 8}, 12, 0);
    Tensor *r = op_rows(&fx->tape, y, 1, 2);
    assert_true(shape_equal(r->shape, NL_SHAPE(2, 2, 2)));
    assert_values(r->data, (double[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, 0);
    assert_values(op_rows(&fx->tape, y, 0, 1)->data, (double[]){9, 8, 9, 8}, 4, 0);
}

static void test_transpose_known(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(2, 3), false);
    set_values(x, (double[]){1, 2, 3, 4, 5, 6});
    Tensor *y = op_transpose(&fx->tape, x, 0, 1);
    assert_true(shape_equal(y->shape, NL_SHAPE(3, 2)));
    assert_values(y->data, (double[]){1, 4, 2, 5, 3, 6}, 6, 0);
    // (B,T,H,D) -> (B,H,T,D) and back is the identity
    Tensor *z = rand_tensor(fx, NL_SHAPE(2, 3, 4, 5), false, 1, "z");
    Tensor *back = op_transpose(&fx->tape, op_transpose(&fx->tape, z, 1, 2), 1, 2);
    for (size_t i = 0; i < tensor_numel(z); i++) assert_true(back->data[i] == z->data[i]);
}

static void test_shape_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x4 = rand_tensor(fx, NL_SHAPE(2, 3, 4, 2), true, 1, "x4");
    assert_gradcheck(fx, f_transpose, &(TransposeArgs){1, 2}, &x4, 1);
    Tensor *x3 = rand_tensor(fx, NL_SHAPE(2, 3, 4), true, 1, "x3");
    assert_gradcheck(fx, f_transpose, &(TransposeArgs){0, -1}, &x3, 1);
    Tensor *x2 = rand_tensor(fx, NL_SHAPE(2, 6), true, 1, "x2");
    assert_gradcheck(fx, f_reshape_mul, NULL, &x2, 1);
    Tensor *ab[2] = {rand_tensor(fx, NL_SHAPE(1, 1, 3), true, 2, "cls"), rand_tensor(fx, NL_SHAPE(2, 4, 3), true, 3, "b")};
    assert_gradcheck(fx, f_concat_rows, NULL, ab, 2); // a shared by the batches: its grad sums theirs
    ab[0] = rand_tensor(fx, NL_SHAPE(2, 2, 3), true, 4, "a");
    assert_gradcheck(fx, f_concat_rows, NULL, ab, 2);
    assert_gradcheck(fx, f_rows, (int[]){0, 1}, &x3, 1);
    assert_gradcheck(fx, f_rows, (int[]){1, 2}, &x3, 1);
}

// ---- reductions --------------------------------------------------------------------------------
typedef Tensor *(*Reduce)(Tape *, Tensor *);
static Tensor *f_reduce(Tape *t, Tensor *const *in, void *ctx) { return (*(Reduce *)ctx)(t, in[0]); }

static void test_reduce_known(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(2, 2), false);
    set_values(x, (double[]){1, 2, 3, 4});
    assert_values(op_sum(&fx->tape, x)->data, (double[]){10}, 1, 0);
    assert_values(op_mean(&fx->tape, x)->data, (double[]){2.5}, 1, 0);
    Tensor *s = op_sum_last(&fx->tape, x);
    assert_true(shape_equal(s->shape, NL_SHAPE(2, 1)));
    assert_values(s->data, (double[]){3, 7}, 2, 0);
    assert_values(op_mean_last(&fx->tape, x)->data, (double[]){1.5, 3.5}, 2, 0);
}

static void test_reduce_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(3, 4), true, 1, "x");
    Reduce fs[] = {op_sum, op_mean, op_sum_last, op_mean_last};
    for (int i = 0; i < 4; i++) assert_gradcheck(fx, f_reduce, &fs[i], &x, 1);
}

// ---- softmax, cross-entropy --------------------------------------------------------------------
static Tensor *f_softmax(Tape *t, Tensor *const *in, void *ctx) { return op_softmax(t, in[0], *(bool *)ctx); }
static Tensor *f_xent(Tape *t, Tensor *const *in, void *ctx) { return op_cross_entropy(t, in[0], ctx); }

static void test_softmax_known(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(1, 3), false);
    set_values(x, (double[]){0, log(2.0), log(3.0)}); // exp: 1, 2, 3 -> /6
    assert_values(op_softmax(&fx->tape, x, false)->data, (double[]){1 / 6.0, 2 / 6.0, 3 / 6.0}, 3, VAL_TOL);
    Tensor *z = tensor_new(&fx->params, NL_SHAPE(3, 3), false);
    tensor_fill(z, 7);
    assert_values(op_softmax(&fx->tape, z, true)->data,
                  (double[]){1, 0, 0, 0.5, 0.5, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0}, 9, VAL_TOL);
}

static void test_softmax_invariants(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3, 5, 5), false, 3, "x");
    for (int causal = 0; causal < 2; causal++) {
        Tensor *y = op_softmax(&fx->tape, x, causal);
        for (size_t r = 0; r < shape_rows(x->shape); r++) {
            double sum = 0;
            for (int j = 0; j < 5; j++) {
                nl_real v = y->data[r * 5 + j];
                assert_true(v >= 0);
                if (causal && j > (int)(r % 5)) assert_true(v == 0); // the future is exactly 0
                sum += v;
            }
            assert_true(fabs(sum - 1) < 10 * NL_REAL_EPSILON);
        }
    }
}

static void test_softmax_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 2, 4, 4), true, 1, "scores");
    bool causal[] = {false, true};
    for (int i = 0; i < 2; i++) assert_gradcheck(fx, f_softmax, &causal[i], &x, 1);
}

static void test_cross_entropy_known(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(2, 4), false);
    set_values(x, (double[]){5, 5, 5, 5, 0, log(3.0), 0, 0}); // uniform; then p(target 1) = 3/6
    int32_t t[] = {2, 1};
    // mean of (log 4, -log(1/2))
    assert_values(op_cross_entropy(&fx->tape, x, t)->data, (double[]){(log(4.0) + log(2.0)) / 2}, 1, VAL_TOL);
}

static void test_cross_entropy_grads(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(2, 3, 5), true, 2, "logits");
    int32_t targets[] = {0, 4, 2, 2, 1, 3};
    assert_gradcheck(fx, f_xent, targets, &x, 1);
}

// log Z of a row: the two rows above give log 4 + 5 and log 6
static Tensor *f_logsumexp(Tape *t, Tensor *const *in, void *ctx) {
    (void)ctx;
    return op_logsumexp(t, in[0]);
}
static void test_logsumexp(void **state) {
    Fixture *fx = *state;
    Tensor *x = tensor_new(&fx->params, NL_SHAPE(2, 4), false);
    set_values(x, (double[]){5, 5, 5, 5, 0, log(3.0), 0, 0});
    Tensor *y = op_logsumexp(&fx->tape, x);
    assert_int_equal(y->shape.ndim, 2), assert_int_equal(y->shape.d[1], 1);
    assert_values(y->data, (double[]){log(4.0) + 5, log(6.0)}, 2, VAL_TOL);
    Tensor *z = rand_tensor(fx, NL_SHAPE(2, 3, 5), true, 3, "logits");
    assert_gradcheck(fx, f_logsumexp, NULL, &z, 1);
}

// ---- embedding, dropout ------------------------------------------------------------------------
static Tensor *f_embed(Tape *t, Tensor *const *in, void *ctx) { return op_embedding(t, in[0], ctx, 5); }
static Tensor *f_dropout(Tape *t, Tensor *const *in, void *ctx) { return op_dropout(t, in[0], 0.3, ctx); }

static void test_embedding(void **state) {
    Fixture *fx = *state;
    Tensor *table = tensor_new(&fx->params, NL_SHAPE(3, 2), true);
    table->name = "table";
    set_values(table, (double[]){1, 2, 3, 4, 5, 6});
    int32_t idx[] = {2, 0, 2, 1, 2}; // row 2 three times: its grad adds up
    assert_values(op_embedding(&fx->tape, table, idx, 5)->data, (double[]){5, 6, 1, 2, 5, 6, 3, 4, 5, 6}, 10, 0);
    tape_reset(&fx->tape);
    assert_gradcheck(fx, f_embed, idx, &table, 1);
}

static void test_dropout(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(100, 100), true, 1, "x");
    assert_ptr_equal(op_dropout(&fx->tape, x, 0, &fx->rng), x); // p = 0: identity
    bool was = tape_set_grad_enabled(&fx->tape, false);
    assert_ptr_equal(op_dropout(&fx->tape, x, 0.5, &fx->rng), x); // no-grad: identity
    tape_set_grad_enabled(&fx->tape, was);
    Tensor *y = op_dropout(&fx->tape, x, 0.25, &fx->rng);
    size_t zeros = 0;
    for (size_t i = 0; i < 10000; i++) {
        if (y->data[i] == 0) zeros++;
        else assert_true(fabs(y->data[i] - x->data[i] / 0.75) <= 1e-6 * fabs(x->data[i]) + 1e-30);
    }
    assert_true(zeros > 2300 && zeros < 2700); // 2500 expected, sd 43
    tape_reset(&fx->tape);
    Tensor *small = rand_tensor(fx, NL_SHAPE(3, 4), true, 1, "x");
    Rng rng;
    rng_seed(&rng, 7);
    GradcheckResult r;
    GradcheckOpts o = {.rng = &rng}; // same mask in every evaluation
    assert_int_equal(gradcheck(&fx->tape, f_dropout, &rng, &small, 1, &o, &r), 0);
}

// ---- fused attention, causal (the GPT's) and not (the ViT's) -----------------------------------
static Tensor *f_attention(Tape *t, Tensor *const *in, void *ctx) { // ctx: {heads, causal, soft cap}
    return op_attention(t, in[0], &(AttnSpec){((int *)ctx)[0], ((int *)ctx)[1], 0, ((int *)ctx)[2]}, NULL); // no dropout: draws nothing
}
static Tensor *f_attention_dropout(Tape *t, Tensor *const *in, void *ctx) {
    return op_attention(t, in[0], &(AttnSpec){2, true, 0.3, 0}, ctx);
}
static Tensor *f_attention_dropout_full(Tape *t, Tensor *const *in, void *ctx) {
    return op_attention(t, in[0], &(AttnSpec){2, false, 0.3, 0}, ctx);
}

// The same attention from primitives, as a reader would write it: split q|k|v, heads to dim 1,
// softmax(q k^T / sqrt(hd)) (causal or not; soft-capped: cap tanh(s / cap) when cap > 0), times v,
// heads back. qkv (B,T,3C) -> (B,T,C)
static Tensor *attention_from_primitives(Tape *t, Tensor *qkv, int B, int T, int C, int H, bool causal, double cap) {
    Tensor *qkv5 = op_transpose(t, op_reshape(t, qkv, NL_SHAPE(B * T, 3, H, C / H)), 0, 1); // (3,BT,H,hd)
    size_t part = (size_t)B * T * C;
    Tensor *heads[3];
    for (int i = 0; i < 3; i++) // (B,H,T,hd)
        heads[i] = op_transpose(t, tensor_slice(t->arena, qkv5, i * part, NL_SHAPE(B, T, H, C / H)), 1, 2);
    Tensor *s = op_scale(t, op_matmul(t, heads[0], heads[1], false, true), 1 / sqrt(C / H));
    if (cap > 0) s = op_scale(t, op_tanh(t, op_scale(t, s, 1 / cap)), cap);
    Tensor *att = op_softmax(t, s, causal);
    Tensor *y = op_transpose(t, op_matmul(t, att, heads[2], false, false), 1, 2); // (B,T,H,hd)
    return op_reshape(t, y, NL_SHAPE(B, T, C));
}

static void test_attention_known(void **state) {
    Fixture *fx = *state;
    int B = 2, T = 5, C = 6, H = 2;
    Tensor *qkv = rand_tensor(fx, NL_SHAPE(B, T, 3 * C), false, 1, "qkv");
    for (int causal = 0; causal < 2; causal++)
        for (int cap = 0; cap <= 1; cap++) { // a cap of 1 bends every score of this qkv
            Tensor *want = attention_from_primitives(&fx->tape, qkv, B, T, C, H, causal, cap);
            Tensor *got = op_attention(&fx->tape, qkv, &(AttnSpec){H, causal, 0, cap}, NULL);
            for (size_t i = 0; i < tensor_numel(got); i++) assert_true(fabs(got->data[i] - want->data[i]) <= 1e-5);
        }
    // not causal: the first position sees the last one's k and v
    Tensor *full = op_attention(&fx->tape, qkv, &(AttnSpec){H, false, 0, 0}, NULL);
    nl_real first = full->data[0];
    for (int c = C; c < 3 * C; c++) qkv->data[(size_t)(T - 1) * 3 * C + c] += 3;
    assert_true(op_attention(&fx->tape, qkv, &(AttnSpec){H, false, 0, 0}, NULL)->data[0] != first);
    for (int c = C; c < 3 * C; c++) qkv->data[(size_t)(T - 1) * 3 * C + c] -= 3;
    Tensor *got = op_attention(&fx->tape, qkv, &(AttnSpec){H, true, 0, 0}, NULL);
    for (int b = 0; b < B; b++) // position 0 sees only itself: y = its v
        for (int c = 0; c < C; c++)
            assert_true(fabs(got->data[(size_t)b * T * C + c] - qkv->data[(size_t)b * T * 3 * C + 2 * C + c]) <= 1e-6);
    // causal: changing the last position's k and v leaves every earlier output as it was
    nl_real before = got->data[(size_t)(T - 2) * C];
    for (int c = C; c < 3 * C; c++) qkv->data[(size_t)(T - 1) * 3 * C + c] += 3;
    got = op_attention(&fx->tape, qkv, &(AttnSpec){H, true, 0, 0}, NULL);
    assert_true(got->data[(size_t)(T - 2) * C] == before);
}

static void test_attention_grads(void **state) {
    Fixture *fx = *state;
    const int shapes[][4] = {{2, 5, 6, 2}, {1, 1, 4, 1}, {1, 7, 8, 4}}; // B, T, C, H
    for (int k = 0; k < 3; k++)
        for (int causal = 0; causal < 4; causal++) { // 2, 3: with a soft cap of 1
            const int *d = shapes[k];
            int ctx[3] = {d[3], causal % 2, causal / 2};
            Tensor *qkv = rand_tensor(fx, NL_SHAPE(d[0], d[1], 3 * d[2]), true, 1, "qkv");
            assert_gradcheck(fx, f_attention, ctx, &qkv, 1);
        }
    Tensor *qkv = rand_tensor(fx, NL_SHAPE(2, 6, 12), true, 1, "qkv");
    Rng rng;
    rng_seed(&rng, 11);
    GradcheckResult r;
    GradcheckOpts o = {.rng = &rng}; // the same dropout mask in every evaluation
    Tape *t = &fx->tape;
    assert_int_equal(gradcheck(t, f_attention_dropout, &rng, &qkv, 1, &o, &r), 0);
    rng_seed(&rng, 12);
    assert_int_equal(gradcheck(t, f_attention_dropout_full, &rng, &qkv, 1, &o, &r), 0);
}

// ---- what the ops report to an observer (the instruments) ----------------------------------------
typedef struct Seen {
    int n_attn, n_logits;
    AttentionSeen a;
    LogitsSeen z;
} Seen;
static void seen_attention(void *ctx, const AttentionSeen *a) { ((Seen *)ctx)->a = *a, ((Seen *)ctx)->n_attn++; }
static void seen_logits(void *ctx, const LogitsSeen *z) { ((Seen *)ctx)->z = *z, ((Seen *)ctx)->n_logits++; }

// The fused attention's entropy and largest logit, and the cross-entropy's log Z, against the same
// quantities computed here in double from the scores and logits; observing changes no output.
static void test_ops_report_to_observer(void **state) {
    Fixture *fx = *state;
    int B = 2, T = 6, C = 8, H = 2, hd = C / H, V = 7;
    Tensor *qkv = rand_tensor(fx, NL_SHAPE(B, T, 3 * C), false, 2, "qkv");
    Tensor *logits = rand_tensor(fx, NL_SHAPE(B, T, V), false, 3, "logits");
    int32_t targets[12] = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4};
    Tensor *plain = op_attention(&fx->tape, qkv, &(AttnSpec){H, true, 0, 0}, NULL);
    nl_real plain_loss = op_cross_entropy(&fx->tape, logits, targets)->data[0];
    Seen seen = {0};
    TapeObserver obs = {.ctx = &seen, .attention = seen_attention, .logits = seen_logits};
    fx->tape.observer = &obs;
    Tensor *observed = op_attention(&fx->tape, qkv, &(AttnSpec){H, true, 0, 0}, NULL);
    nl_real observed_loss = op_cross_entropy(&fx->tape, logits, targets)->data[0];
    fx->tape.observer = NULL;
    assert_int_equal(seen.n_attn, 1), assert_int_equal(seen.n_logits, 1);
    assert_memory_equal(plain->data, observed->data, tensor_numel(plain) * sizeof(nl_real));
    assert_true(plain_loss == observed_loss);
    // by hand: s_ij = q_i.k_j / sqrt(hd) over j <= i, p = softmax, entropy -sum p log p
    double head_entropy[2] = {0}, max_logit = -INFINITY;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double s[6], mx = -INFINITY, sum = 0, ent = 0;
                for (int j = 0; j <= i; j++) {
                    const nl_real *q = qkv->data + ((size_t)b * T + i) * 3 * C + h * hd;
                    const nl_real *k = qkv->data + ((size_t)b * T + j) * 3 * C + C + h * hd;
                    s[j] = 0;
                    for (int c = 0; c < hd; c++) s[j] += (double)q[c] * k[c];
                    s[j] /= sqrt(hd), mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= i; j++) sum += exp(s[j] - mx);
                for (int j = 0; j <= i; j++) {
                    double p = exp(s[j] - mx) / sum;
                    ent -= p > 0 ? p * log(p) : 0;
                }
                head_entropy[h] += ent / (B * T), max_logit = fmax(max_logit, mx);
            }
    assert_true(fabs(seen.a.entropy - (head_entropy[0] + head_entropy[1]) / 2) < 1e-5);
    assert_true(fabs(seen.a.entropy_min - fmin(head_entropy[0], head_entropy[1])) < 1e-5);
    assert_true(fabs(seen.a.max_logit - max_logit) < 1e-5);
    double z_mean = 0, z_max = -INFINITY;
    for (int r = 0; r < B * T; r++) {
        double sum = exp((double)logits->data[r * V]);
        for (int v = 1; v < V; v++) sum += exp((double)logits->data[r * V + v]);
        z_mean += log(sum) / (B * T), z_max = fmax(z_max, log(sum));
    }
    assert_true(fabs(seen.z.log_z_mean - z_mean) < 1e-5 && fabs(seen.z.log_z_max - z_max) < 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matmul_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_shapes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_grad_2d, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_grad_linear, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_matmul_grad_batched, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_linear_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_linear_is_matmul_then_add, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unary_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unary_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_transpose_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_concat_rows_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_shape_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reduce_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reduce_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_invariants, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_softmax_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cross_entropy_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cross_entropy_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_logsumexp, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_embedding, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_dropout, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_attention_known, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_attention_grads, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_ops_report_to_observer, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("ops (" NL_REAL_NAME ")", tests, NULL, NULL);
}
