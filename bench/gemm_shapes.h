// The gemms of one GPT training step, as the model issues them (shapes, transposes, leading dims,
// calls per step): bench_step times them to give the step's sgemm limit, blas_pick times them to
// choose a BLAS. Header-only, so blas_pick builds with cc alone before meson has run.
#pragma once
#include <stdbool.h>

typedef struct GemmShape {
    bool ta, tb;
    int M, N, K, lda, ldb, ldc;
    long count; // calls per step
    int tri;    // the part of it attention needs or knows is not zero: a GemmTri (src/tensor/kernels.h)
    bool pair;  // runs beside the next shape (a linear's dx and dW: gemm_pair, src/tensor/kernels.h)
} GemmShape;

// A linear layer y (BT,out) = x (BT,in) W^T and its two backward gemms (dx = dy W, dW = dy^T x).
static inline int gemm_shapes_linear(GemmShape *s, int k, int BT, int out, int in, long times) {
    s[k++] = (GemmShape){false, true, BT, out, in, in, in, out, times, 0, false};
    s[k++] = (GemmShape){false, false, BT, in, out, out, in, in, times, 0, true};
    s[k++] = (GemmShape){true, false, out, in, BT, out, in, in, times, 0, false};
    return k;
}

// The step's gemms (see src/autograd/ops_attention.c for the attention ones: one per head, on
// strided q|k|v). s needs room for GEMM_SHAPES_MAX. Returns how many.
#define GEMM_SHAPES_MAX 21
static inline int gemm_shapes_step(GemmShape *s, int n_layer, int n_head, int C, int T, int B, int V) {
    int BT = B * T, hd = C / n_head, k = 0;
    k = gemm_shapes_linear(s, k, BT, 3 * C, C, n_layer);
    k = gemm_shapes_linear(s, k, BT, C, C, n_layer);
    k = gemm_shapes_linear(s, k, BT, 4 * C, C, n_layer);
    k = gemm_shapes_linear(s, k, BT, C, 4 * C, n_layer);
    k = gemm_shapes_linear(s, k, BT, V, C, 1);
    long heads = (long)n_layer * B * n_head;
    enum { C_LOWER = 1, A_LOWER, A_UPPER }; // GemmTri's values, which this header cannot include
    s[k++] = (GemmShape){false, true, T, T, hd, 3 * C, 3 * C, T, heads, C_LOWER, false};      // s = q k^T
    s[k++] = (GemmShape){false, false, T, hd, T, T, 3 * C, C, heads, A_LOWER, false};         // y = p v
    s[k++] = (GemmShape){false, true, T, T, hd, C, 3 * C, T, 2 * heads, C_LOWER, false};      // dp = dy v^T, s again
    s[k++] = (GemmShape){true, false, T, hd, T, T, C, 3 * C, heads, A_UPPER, false};          // dv = p^T dy
    s[k++] = (GemmShape){false, false, T, hd, T, T, 3 * C, 3 * C, heads, A_LOWER, false};     // dq = ds k
    s[k++] = (GemmShape){true, false, T, hd, T, T, 3 * C, 3 * C, heads, A_UPPER, false};      // dk = ds^T q
    return k;
}

// FLOPs of the step's matmuls: forward multiply-adds n_layer (12 B T C^2 + 2 B T^2 C) + B T C V,
// x2 FLOPs, x3 for forward and backward.
static inline double gemm_shapes_flops(int n_layer, int C, int T, int B, int V) {
    double b = B, t = T, c = C, v = V;
    return 6 * (n_layer * (12 * b * t * c * c + 2 * b * t * t * c) + b * t * c * v);
}

// The largest matrix (elements, leading dims included) any of the shapes touches.
static inline long gemm_shapes_biggest(const GemmShape *s, int n) {
    long biggest = 0;
    for (int i = 0; i < n; i++) {
        long a = (long)(s[i].ta ? s[i].K : s[i].M) * s[i].lda, b = (long)(s[i].tb ? s[i].N : s[i].K) * s[i].ldb;
        long c = (long)s[i].M * s[i].ldc;
        biggest = a > biggest ? a : biggest, biggest = b > biggest ? b : biggest, biggest = c > biggest ? c : biggest;
    }
    return biggest;
}
