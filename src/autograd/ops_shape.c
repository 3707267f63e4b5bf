// Shape ops: reshape (a view, no node), transpose of two dims (a copy), rows joined and taken.
#include "normlab/check.h"
#include "ops_internal.h"

#include <string.h>

Tensor *op_reshape(Tape *t, Tensor *x, Shape s) {
    NL_NONNULL(t, x);
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
    NL_NONNULL(t, x);
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

// y (B, Ta+Tb, C): each batch's rows of a, then its rows of b; a of batch 1 gives every batch the
// same rows (the ViT's cls token before its patches).
//   y[b, i] = a[b or 0, i] (i < Ta);  y[b, Ta + i] = b[b, i]
//   da[b or 0, i] += dy[b, i];        db[b, i] += dy[b, Ta + i]
Tensor *op_concat_rows(Tape *t, Tensor *a, Tensor *b) {
    NL_NONNULL(t, a, b);
    char sa[64], sb[64];
    NL_CHECK(a->shape.ndim == 3 && b->shape.ndim == 3 && a->shape.d[2] == b->shape.d[2] &&
                 (a->shape.d[0] == b->shape.d[0] || a->shape.d[0] == 1),
             "concat_rows needs (B or 1, Ta, C) and (B, Tb, C), got %s and %s", shape_str(a->shape, sa),
             shape_str(b->shape, sb));
    int B = b->shape.d[0], Ta = a->shape.d[1], Tb = b->shape.d[1], C = b->shape.d[2];
    Tensor *in[2] = {a, b};
    Tensor *y = tape_output(t, NL_SHAPE(B, Ta + Tb, C), 2, in);
    size_t ra = (size_t)Ta * C, rb = (size_t)Tb * C;
    for (int k = 0; k < B; k++) {
        memcpy(y->data + k * (ra + rb), a->data + (a->shape.d[0] == 1 ? 0 : k * ra), ra * sizeof(nl_real));
        memcpy(y->data + k * (ra + rb) + ra, b->data + k * rb, rb * sizeof(nl_real));
    }
    record(t, OP_CONCAT_ROWS, y, 2, in);
    return y;
}
void concat_rows_backward(TapeNode *n) {
    Tensor *a = n->in[0], *b = n->in[1];
    int B = b->shape.d[0];
    size_t ra = (size_t)a->shape.d[1] * a->shape.d[2], rb = (size_t)b->shape.d[1] * b->shape.d[2];
    const nl_real *dy = n->out->grad;
    for (int k = 0; k < B; k++) {
        const nl_real *row = dy + k * (ra + rb);
        if (a->grad) {
            nl_real *da = a->grad + (a->shape.d[0] == 1 ? 0 : k * ra);
            for (size_t i = 0; i < ra; i++) da[i] += row[i];
        }
        if (b->grad)
            for (size_t i = 0; i < rb; i++) b->grad[k * rb + i] += row[ra + i];
    }
}

// Rows [first, first + n) of each batch: x (B,T,C) -> (B,n,C).  dx[b, first + i] += dy[b, i]
Tensor *op_rows(Tape *t, Tensor *x, int first, int n) {
    NL_NONNULL(t, x);
    char s[64];
    NL_CHECK(x->shape.ndim == 3 && first >= 0 && n >= 1 && first + n <= x->shape.d[1],
             "rows [%d, %d) of %s", first, first + n, shape_str(x->shape, s));
    int B = x->shape.d[0], T = x->shape.d[1], C = x->shape.d[2];
    Tensor *y = tape_output(t, NL_SHAPE(B, n, C), 1, &x);
    for (int k = 0; k < B; k++)
        memcpy(y->data + (size_t)k * n * C, x->data + ((size_t)k * T + first) * C, (size_t)n * C * sizeof(nl_real));
    TapeNode *node = record(t, OP_ROWS, y, 1, &x);
    if (node) node->iarg[0] = first;
    return y;
}
void rows_backward(TapeNode *node) {
    Tensor *x = node->in[0];
    if (!x->grad) return;
    int B = x->shape.d[0], T = x->shape.d[1], C = x->shape.d[2], n = node->out->shape.d[1], first = node->iarg[0];
    const nl_real *dy = node->out->grad;
    for (int k = 0; k < B; k++) {
        nl_real *dx = x->grad + ((size_t)k * T + first) * C;
        for (size_t i = 0; i < (size_t)n * C; i++) dx[i] += dy[(size_t)k * n * C + i];
    }
}
