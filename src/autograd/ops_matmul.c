// Matrix multiply: plain (b 2-D and shared by every row of a) and batched over leading dims
// (attention); and a linear layer, x W^T + b, with its bias added as the product is stored.
// Transposes are gemm flags, never copies.
#include "normlab/check.h"
#include "ops_internal.h"

#include <string.h>

#include "../tensor/kernels.h"

// The gemm view of one matmul: batch x (M,K) op (K,N).
typedef struct MatmulDims {
    int batch, M, N, K;
    size_t a_step, b_step, c_step; // elements between consecutive batch matrices
} MatmulDims;

static MatmulDims matmul_dims(const Tensor *a, const Tensor *b, bool ta, bool tb, Shape *out) {
    char s1[64], s2[64];
    Shape as = a->shape, bs = b->shape;
    NL_CHECK(as.ndim >= 2 && bs.ndim >= 2, "matmul needs 2+ dims: a %s, b %s", shape_str(as, s1),
          shape_str(bs, s2));
    int b_rows = bs.d[bs.ndim - 2], b_cols = bs.d[bs.ndim - 1];
    int a_rows = as.d[as.ndim - 2], a_cols = as.d[as.ndim - 1];
    MatmulDims m = {.batch = 1, .N = tb ? b_rows : b_cols};
    *out = as;
    if (bs.ndim == 2) { // b shared: fold a's leading dims into M
        NL_CHECK(!ta || as.ndim == 2, "matmul with a transposed a needs a 2-D a, got %s",
              shape_str(as, s1));
        m.K = ta ? a_rows : a_cols;
        m.M = (int)(shape_numel(as) / (size_t)m.K);
        if (ta) out->d[0] = m.M;
    } else {
        NL_CHECK(as.ndim == bs.ndim, "batched matmul: a %s and b %s differ in dims", shape_str(as, s1),
              shape_str(bs, s2));
        for (int i = 0; i < as.ndim - 2; i++) {
            NL_CHECK(as.d[i] == bs.d[i], "batched matmul: leading dims of a %s and b %s differ",
                  shape_str(as, s1), shape_str(bs, s2));
            m.batch *= as.d[i];
        }
        m.M = ta ? a_cols : a_rows;
        m.K = ta ? a_rows : a_cols;
        out->d[out->ndim - 2] = m.M;
    }
    NL_CHECK((tb ? b_cols : b_rows) == m.K, "matmul inner dims differ: a %s%s, b %s%s",
          shape_str(as, s1), ta ? "^T" : "", shape_str(bs, s2), tb ? "^T" : "");
    out->d[out->ndim - 1] = m.N;
    m.a_step = (size_t)m.M * m.K;
    m.b_step = bs.ndim == 2 ? 0 : (size_t)m.K * m.N;
    m.c_step = (size_t)m.M * m.N;
    return m;
}

// C = op(A) op(B)
Tensor *op_matmul(Tape *t, Tensor *a, Tensor *b, bool ta, bool tb) {
    NL_NONNULL(t, a, b);
    Shape os;
    MatmulDims m = matmul_dims(a, b, ta, tb, &os);
    Tensor *in[] = {a, b};
    Tensor *c = tape_output(t, os, 2, in);
    if (m.batch == 1) // a linear layer
        gemm_linear(ta, tb, m.M, m.N, m.K, a->data, b->data, NULL, c->data);
    else
        for (int i = 0; i < m.batch; i++)
            gemm(ta, tb, m.M, m.N, m.K, 1, a->data + i * m.a_step, b->data + i * m.b_step, 0,
                 c->data + i * m.c_step);
    TapeNode *n = record(t, OP_MATMUL, c, 2, in);
    if (n) n->iarg[0] = ta, n->iarg[1] = tb;
    return c;
}
// dA = dC op(B)^T  (stored transposed when ta: dA = op(B) dC^T)
// dB = op(A)^T dC  (stored transposed when tb: dB = dC^T op(A))
static void matmul_grads(Tensor *a, Tensor *b, const nl_real *grad_c, bool ta, bool tb) {
    Shape os;
    MatmulDims m = matmul_dims(a, b, ta, tb, &os);
    // beta 0 writes a fresh grad (OpDef.writes_fresh): a's slices are disjoint; a b shared by every
    // slice is written by the first and added to by the rest
    bool fresh_a = a->grad && grad_take_fresh(a), fresh_b = b->grad && grad_take_fresh(b);
    for (int i = 0; i < m.batch; i++) {
        nl_real beta_a = fresh_a ? 0 : 1, beta_b = fresh_b && (m.b_step || i == 0) ? 0 : 1;
        const nl_real *A = a->data + i * m.a_step, *B = b->data + i * m.b_step;
        const nl_real *dC = grad_c + i * m.c_step;
        nl_real *dA = a->grad ? a->grad + i * m.a_step : NULL, *dB = b->grad ? b->grad + i * m.b_step : NULL;
        GemmCall da = ta ? (GemmCall){tb, true, m.K, m.M, m.N, B, dC, beta_a, dA}
                         : (GemmCall){false, !tb, m.M, m.K, m.N, dC, B, beta_a, dA};
        GemmCall db = tb ? (GemmCall){true, ta, m.N, m.K, m.M, dC, A, beta_b, dB}
                         : (GemmCall){!ta, false, m.K, m.N, m.M, A, dC, beta_b, dB};
        const GemmCall *pa = dA ? &da : NULL, *pb = dB ? &db : NULL;
        if (m.batch == 1) { // a linear layer: its two grads at once
            gemm_pair(pa, pb);
        } else { // batched slices: the pair was measured on a linear layer's shapes only
            gemm_pair(pa, NULL);
            gemm_pair(pb, NULL);
        }
    }
}
void matmul_backward(TapeNode *n) { matmul_grads(n->in[0], n->in[1], n->out->grad, n->iarg[0], n->iarg[1]); }

// y = x W^T + b. x (..., K), w (N, K) (torch's Linear layout), b (N) or NULL -> (..., N). One op
// rather than a matmul and an add: the bias goes in as the product's rows are stored, and its grad
// is summed from dy in place, where the add wrote y twice and copied dy (docs/performance.md).
Tensor *op_linear(Tape *t, Tensor *x, Tensor *w, Tensor *b) {
    NL_NONNULL(t, x, w);
    char s1[64], s2[64];
    NL_CHECK(w->shape.ndim == 2, "linear: the weight must be 2-D (out, in), got %s", shape_str(w->shape, s1));
    Shape os;
    MatmulDims m = matmul_dims(x, w, false, true, &os);
    NL_CHECK(!b || (b->shape.ndim == 1 && b->shape.d[0] == m.N), "linear: bias %s for weight %s, want (%d)",
             b ? shape_str(b->shape, s1) : "", shape_str(w->shape, s2), m.N);
    Tensor *in[] = {x, w, b};
    int n_in = b ? 3 : 2;
    Tensor *y = tape_output(t, os, n_in, in);
    gemm_linear(false, true, m.M, m.N, m.K, x->data, w->data, b ? b->data : NULL, y->data);
    record(t, OP_LINEAR, y, n_in, in);
    return y;
}
// dx = dy W, dW = dy^T x (the pair above); db = dy's column sums
void linear_backward(TapeNode *n) {
    matmul_grads(n->in[0], n->in[1], n->out->grad, false, true);
    Tensor *b = n->n_in > 2 ? n->in[2] : NULL;
    if (!b || !b->grad) return;
    if (grad_take_fresh(b)) memset(b->grad, 0, tensor_numel(b) * sizeof(nl_real));
    size_t cols = tensor_numel(b);
    cols_sum_into(b->grad, n->out->grad, NULL, tensor_numel(n->out) / cols, cols);
}
