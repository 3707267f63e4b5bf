// Shape ops: reshape (a view, no node) and transpose of two dims (a copy).
#include "ops_internal.h"

Tensor *op_reshape(Tape *t, Tensor *x, Shape s) {
    // The view shares x's grad buffer, so grads written to it already are x's: nothing to record.
    Tensor *v = tensor_view(t->arena, x, s);
    v->needs_grad = x->needs_grad && t->grad_enabled;
    if (!v->needs_grad) v->grad = NULL;
    return v;
}

// For a transpose: output dims (padded to 4) and, per output dim, the input stride it walks.
typedef struct Perm {
    int d[4];
    size_t st[4];
} Perm;

static Perm transpose_plan(Shape s, int d0, int d1, Shape *out) {
    int nd = s.ndim, off = 4 - nd;
    if (d0 < 0) d0 += nd;
    if (d1 < 0) d1 += nd;
    NL_CHECK(d0 >= 0 && d0 < nd && d1 >= 0 && d1 < nd, "transpose dims out of range for %d dims", nd);
    int in_d[4];
    size_t in_st[4], st = 1;
    for (int k = 3; k >= 0; k--) {
        in_d[k] = k >= off ? s.d[k - off] : 1;
        in_st[k] = st;
        st *= (size_t)in_d[k];
    }
    Perm p;
    *out = s;
    for (int k = 0; k < 4; k++) {
        int src = k == d0 + off ? d1 + off : k == d1 + off ? d0 + off : k;
        p.d[k] = in_d[src];
        p.st[k] = in_st[src];
        if (k >= off) out->d[k - off] = p.d[k];
    }
    return p;
}

// y[..i..j..] = x[..j..i..];  dx[..j..i..] += dy[..i..j..]
Tensor *op_transpose(Tape *t, Tensor *x, int d0, int d1) {
    Shape os;
    Perm p = transpose_plan(x->shape, d0, d1, &os);
    Tensor *y = tape_output(t, os, 1, &x);
    size_t o = 0;
    for (int i0 = 0; i0 < p.d[0]; i0++)
        for (int i1 = 0; i1 < p.d[1]; i1++)
            for (int i2 = 0; i2 < p.d[2]; i2++)
                for (int i3 = 0; i3 < p.d[3]; i3++)
                    y->data[o++] = x->data[i0 * p.st[0] + i1 * p.st[1] + i2 * p.st[2] + i3 * p.st[3]];
    TapeNode *n = record(t, OP_TRANSPOSE, y, 1, &x);
    if (n) n->iarg[0] = d0, n->iarg[1] = d1;
    return y;
}
void transpose_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    Shape os;
    Perm p = transpose_plan(x->shape, n->iarg[0], n->iarg[1], &os);
    const nl_real *dy = n->out->grad;
    size_t o = 0;
    for (int i0 = 0; i0 < p.d[0]; i0++)
        for (int i1 = 0; i1 < p.d[1]; i1++)
            for (int i2 = 0; i2 < p.d[2]; i2++)
                for (int i3 = 0; i3 < p.d[3]; i3++)
                    x->grad[i0 * p.st[0] + i1 * p.st[1] + i2 * p.st[2] + i3 * p.st[3]] += dy[o++];
}
