// src/tensor: shapes, arenas (alignment, measured sizing), the RNG (repeatable, restorable, right
// moments) and the raw kernels against naive references.
#include "test_util.h"

#include <omp.h>

#include "tensor/kernels.h"

static void test_shapes(void **state) {
    (void)state;
    Shape s = NL_SHAPE(2, 3, 4);
    char buf[64];
    assert_int_equal(s.ndim, 3);
    assert_int_equal(shape_numel(s), 24);
    assert_int_equal(shape_rows(s), 6);
    assert_int_equal(shape_last(s), 4);
    assert_string_equal(shape_str(s, buf), "[2,3,4]");
    assert_true(shape_equal(s, NL_SHAPE(2, 3, 4)));
    assert_false(shape_equal(s, NL_SHAPE(6, 4)));
}

static void test_arena_measures_then_fixes(void **state) {
    (void)state;
    Arena a;
    assert_int_equal(arena_init(&a, "step", 0), 0);
    assert_true(a.measuring);
    void *p = arena_alloc(&a, 10), *q = arena_alloc(&a, 100);
    assert_int_equal((uintptr_t)p % ARENA_ALIGN, 0);
    assert_int_equal((uintptr_t)q % ARENA_ALIGN, 0);
    size_t mark = arena_mark(&a);
    arena_alloc(&a, 1000);
    arena_rewind(&a, mark);
    assert_int_equal(a.used, 64 + 128);
    assert_int_equal(a.peak, 64 + 128 + 1024);
    arena_reset(&a); // the first reset fixes the size at the peak
    assert_false(a.measuring);
    assert_int_equal(a.cap, 64 + 128 + 1024);
    unsigned char *base = a.base;
    assert_ptr_equal(arena_alloc(&a, 10), base);
    unsigned char *z = arena_calloc(&a, 1100); // 64 + 1152: exactly the capacity
    for (int i = 0; i < 1100; i++) assert_int_equal(z[i], 0);
    arena_free(&a);
}

static void test_rng_repeatable_and_restorable(void **state) {
    (void)state;
    Rng a, b;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    for (int i = 0; i < 100; i++) assert_true(rng_u64(&a) == rng_u64(&b));
    Rng saved = a; // the whole state is the struct
    double first[10];
    for (int i = 0; i < 10; i++) first[i] = rng_normal(&a);
    a = saved;
    for (int i = 0; i < 10; i++) assert_true(rng_normal(&a) == first[i]);
    rng_seed(&b, 6);
    assert_true(rng_u64(&a) != rng_u64(&b));
}

static void test_rng_moments(void **state) {
    (void)state;
    Rng r;
    rng_seed(&r, 1);
    enum { N = 200000 };
    double su = 0, sn = 0, sn2 = 0;
    int counts[7] = {0};
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        su += u;
        double z = rng_normal(&r);
        sn += z;
        sn2 += z * z;
        counts[rng_below(&r, 7)]++;
    }
    // standard errors: uniform mean 0.00065, normal mean 0.0022, variance 0.0032
    assert_true(fabs(su / N - 0.5) < 0.004);
    assert_true(fabs(sn / N) < 0.012);
    assert_true(fabs(sn2 / N - 1) < 0.02);
    for (int k = 0; k < 7; k++) assert_true(abs(counts[k] - N / 7) < 600); // sd ~ 156
}

static void naive_gemm(bool ta, bool tb, int M, int N, int K, const nl_real *A, const nl_real *B,
                       double *C) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
            C[i * N + j] = acc;
        }
}

static void test_gemm_all_transposes(void **state) {
    Fixture *fx = *state;
    enum { M = 5, N = 7, K = 3 };
    Tensor *a = rand_tensor(fx, NL_SHAPE(M * K), false, 1, "a"), *b = rand_tensor(fx, NL_SHAPE(K * N), false, 1, "b");
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            nl_real c[M * N];
            double want[M * N];
            for (int i = 0; i < M * N; i++) c[i] = 1; // beta = 1 accumulates onto this
            gemm(ta, tb, M, N, K, 2, a->data, b->data, 1, c);
            naive_gemm(ta, tb, M, N, K, a->data, b->data, want);
            for (int i = 0; i < M * N; i++) want[i] = 2 * want[i] + 1;
            assert_values(c, want, M * N, 10 * VAL_TOL);
        }
}

// gemm_small (attention's per-head products) against the naive sum, at sizes around its 6 x 16
// tiles, on strided views, transposed or not, with every triangle: where op(A) is known to be 0 it
// is made 0, and only the entries of C the triangle asks for are compared.
static void test_gemm_small_tiles_and_triangles(void **state) {
    Fixture *fx = *state;
    static const int dims[][3] = {{1, 1, 1}, {5, 7, 3}, {6, 16, 8}, {7, 17, 7}, {13, 33, 13}, {64, 32, 64}, {64, 64, 32}, {30, 9, 30}};
    enum { PAD = 3 }; // every leading dim is the matrix's width plus this
    Tensor *ra = rand_tensor(fx, NL_SHAPE(70 * 70), false, 1, "a"), *rb = rand_tensor(fx, NL_SHAPE(70 * 70), false, 1, "b");
    static nl_real a[70 * 70], c[70 * 70];
    static double want[70 * 70];
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int tri = GEMM_FULL; tri <= GEMM_A_UPPER; tri++)
            for (int t = 0; t < 4; t++) {
                int M = dims[d][0], N = dims[d][1], K = dims[d][2], ta = t & 1, tb = t >> 1;
                int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
                for (int i = 0; i < M; i++) // op(A)[i][k], with the triangle's zeros
                    for (int k = 0; k < K; k++) {
                        nl_real v = ra->data[i * K + k];
                        if ((tri == GEMM_A_LOWER && k > i) || (tri == GEMM_A_UPPER && k < i)) v = 0;
                        a[ta ? k * lda + i : i * lda + k] = v;
                    }
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double acc = 0;
                        for (int k = 0; k < K; k++)
                            acc += (double)a[ta ? k * lda + i : i * lda + k] * rb->data[tb ? j * ldb + k : k * ldb + j];
                        c[i * ldc + j] = (nl_real)(i - j), want[i * ldc + j] = 2 * acc + 0.5 * (i - j); // beta 0.5
                    }
                gemm_small(ta, tb, M, N, K, 2, a, lda, rb->data, ldb, 0.5, c, ldc, (GemmTri)tri);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < (tri == GEMM_C_LOWER && i + 1 < N ? i + 1 : N); j++)
                        if (fabs(c[i * ldc + j] - want[i * ldc + j]) > 100 * VAL_TOL * (1 + fabs(want[i * ldc + j])))
                            fail_msg("%dx%dx%d ta %d tb %d tri %d: C[%d][%d] = %g, want %g", M, N, K, ta, tb, tri, i, j,
                                     (double)c[i * ldc + j], want[i * ldc + j]);
            }
}

// gemm_tiles (a linear layer's product on the team) against the naive sum, at sizes around its row
// blocks (96), k blocks (256) and 6 x 16 tiles, on strided views, transposed or not; and the same
// bits on 1, 2 and 3 threads (the threads split C's rows, each entry's sum keeps its order). With a
// bias, on 2 threads: the product's bits plus the bias, rounded apart, as a separate add would.
static void test_gemm_tiles_sizes_and_thread_counts(void **state) {
    Fixture *fx = *state;
    static const int dims[][3] = {{1, 1, 1}, {7, 17, 5}, {97, 33, 257}, {96, 16, 256}, {200, 40, 300}, {13, 70, 513}};
    enum { PAD = 3, MAX = 700 * 100 };
    Tensor *ra = rand_tensor(fx, NL_SHAPE(MAX), false, 1, "a"), *rb = rand_tensor(fx, NL_SHAPE(MAX), false, 1, "b");
    static nl_real c[3][MAX], cb[MAX]; // cb: with a bias
    static double want[MAX];
    int threads = omp_get_max_threads();
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int t = 0; t < 4; t++) {
            int M = dims[d][0], N = dims[d][1], K = dims[d][2], ta = t & 1, tb = t >> 1;
            int lda = (ta ? M : K) + PAD, ldb = (tb ? K : N) + PAD, ldc = N + PAD;
            // the strided views must lie inside a and b: past their end the product reads other memory
            assert_true((ta ? K - 1 : M - 1) * lda + (ta ? M : K) <= MAX && (tb ? N - 1 : K - 1) * ldb + (tb ? K : N) <= MAX);
            const nl_real *a = ra->data, *b = rb->data;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (double)a[ta ? k * lda + i : i * lda + k] * b[tb ? j * ldb + k : k * ldb + j];
                    want[i * ldc + j] = 2 * acc + 0.5 * (i - j); // alpha 2, beta 0.5
                }
            for (int team = 1; team <= 3; team++) {
                omp_set_num_threads(team);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) c[team - 1][i * ldc + j] = (nl_real)(i - j);
                gemm_tiles(ta, tb, M, N, K, 2, a, lda, b, ldb, 0.5, NULL, c[team - 1], ldc);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double got = c[team - 1][i * ldc + j], w = want[i * ldc + j];
                        if (fabs(got - w) > 10 * sqrt((double)K) * VAL_TOL * (1 + fabs(w)))
                            fail_msg("%dx%dx%d ta %d tb %d, %d threads: C[%d][%d] = %g, want %g", M, N, K, ta, tb, team,
                                     i, j, got, w);
                    }
                if (team > 1 && memcmp(c[0], c[team - 1], ((size_t)(M - 1) * ldc + N) * sizeof(nl_real)))
                    fail_msg("%dx%dx%d ta %d tb %d: other bits on %d threads than on 1", M, N, K, ta, tb, team);
            }
            const nl_real *bias = rb->data + 7; // any N values
            omp_set_num_threads(2);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) cb[i * ldc + j] = (nl_real)(i - j);
            gemm_tiles(ta, tb, M, N, K, 2, a, lda, b, ldb, 0.5, bias, cb, ldc);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    if (cb[i * ldc + j] != (nl_real)(c[0][i * ldc + j] + bias[j]))
                        fail_msg("%dx%dx%d ta %d tb %d: C[%d][%d] + bias = %.9g, want %.9g", M, N, K, ta, tb, i, j,
                                 (double)cb[i * ldc + j], (double)(c[0][i * ldc + j] + bias[j]));
        }
    omp_set_num_threads(threads);
}

static void test_cross_entropy_kernel_matches_softmax(void **state) {
    Fixture *fx = *state;
    Tensor *x = rand_tensor(fx, NL_SHAPE(4, 9), false, 3, "logits");
    nl_real p1[36], p2[36];
    int32_t t[4] = {0, 8, 3, 3};
    double loss = cross_entropy_forward(p1, NULL, x->data, t, 4, 9);
    softmax_forward(p2, x->data, 4, 9, 4, false);
    double want = 0;
    for (int r = 0; r < 4; r++) want -= log((double)p2[r * 9 + t[r]]);
    assert_true(fabs(loss - want) < 100 * VAL_TOL);
    for (int i = 0; i < 36; i++) assert_true(fabs(p1[i] - p2[i]) < VAL_TOL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_arena_measures_then_fixes),
        cmocka_unit_test(test_rng_repeatable_and_restorable),
        cmocka_unit_test(test_rng_moments),
        cmocka_unit_test_setup_teardown(test_gemm_all_transposes, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_gemm_small_tiles_and_triangles, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_gemm_tiles_sizes_and_thread_counts, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cross_entropy_kernel_matches_softmax, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("tensor (" NL_REAL_NAME ")", tests, NULL, NULL);
}
