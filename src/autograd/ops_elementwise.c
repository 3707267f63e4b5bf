// Element-wise ops: add and mul with broadcasting, the scalar affine map, and the unary functions.
#include "normlab/check.h"
#include "ops_internal.h"

#include <string.h>

#include "../tensor/kernels.h"

// ---- broadcasting ----------------------------------------------------------------------------
// Shapes are right-aligned and padded to 4 dims; a dim of 1 in an input stretches to the output's,
// which in index terms is a stride of 0.
typedef struct Bcast {
    int d[4];         // output dims, padded with leading 1s
    size_t sa[4], sb[4]; // element strides of a and b per output dim (0 where broadcast)
} Bcast;

// Strides of s (right-aligned in 4 dims) per output dim; 0 where s has a 1 that stretches.
static void pad_strides(Shape s, size_t *stride) {
    int off = 4 - s.ndim;
    size_t st = 1;
    for (int k = 3; k >= 0; k--) {
        int dim = k >= off ? s.d[k - off] : 1;
        stride[k] = dim == 1 ? 0 : st;
        st *= (size_t)dim;
    }
}

static Bcast bcast_plan(Shape a, Shape b, Shape *out) {
    char s1[64], s2[64];
    Bcast p;
    int nd = a.ndim > b.ndim ? a.ndim : b.ndim;
    *out = (Shape){.ndim = nd};
    for (int k = 0; k < 4; k++) {
        int da = k >= 4 - a.ndim ? a.d[k - (4 - a.ndim)] : 1;
        int db = k >= 4 - b.ndim ? b.d[k - (4 - b.ndim)] : 1;
        NL_CHECK(da == db || da == 1 || db == 1, "cannot broadcast %s with %s", shape_str(a, s1),
              shape_str(b, s2));
        p.d[k] = da > db ? da : db;
        if (k >= 4 - nd) out->d[k - (4 - nd)] = p.d[k];
    }
    pad_strides(a, p.sa);
    pad_strides(b, p.sb);
    return p;
}

// Output rows (the first three padded dims, flattened) and where row r starts in a and in b.
static size_t bcast_rows(const Bcast *p) { return (size_t)p->d[0] * p->d[1] * p->d[2]; }
static void bcast_row(const Bcast *p, size_t r, size_t *ia, size_t *ib) {
    size_t i2 = r % p->d[2], i1 = r / p->d[2] % p->d[1], i0 = r / p->d[2] / p->d[1];
    *ia = i0 * p->sa[0] + i1 * p->sa[1] + i2 * p->sa[2];
    *ib = i0 * p->sb[0] + i1 * p->sb[1] + i2 * p->sb[2];
}

typedef enum { BC_ADD, BC_MUL } BcastOp;

static void bcast_forward(const Bcast *p, BcastOp op, nl_real *y, const nl_real *a, const nl_real *b) {
    for (size_t r = 0, o = 0; r < bcast_rows(p); r++) {
        size_t ia, ib;
        bcast_row(p, r, &ia, &ib);
        for (int i3 = 0; i3 < p->d[3]; i3++, o++) {
            nl_real x = a[ia + i3 * p->sa[3]], z = b[ib + i3 * p->sb[3]];
            y[o] = op == BC_ADD ? x + z : x * z;
        }
    }
}

static void bcast_backward(const Bcast *p, BcastOp op, const nl_real *dy, const nl_real *a,
                           const nl_real *b, nl_real *da, nl_real *db) {
    for (size_t r = 0, o = 0; r < bcast_rows(p); r++) {
        size_t ia, ib;
        bcast_row(p, r, &ia, &ib);
        for (int i3 = 0; i3 < p->d[3]; i3++, o++) {
            size_t ja = ia + i3 * p->sa[3], jb = ib + i3 * p->sb[3];
            if (da) da[ja] += op == BC_ADD ? dy[o] : dy[o] * b[jb];
            if (db) db[jb] += op == BC_ADD ? dy[o] : dy[o] * a[ja];
        }
    }
}

// The common cases, contiguous and in parallel: one operand has the output's shape ("full") and the
// other either the same shape, one element, or the output's trailing dims (a row of nb elements
// repeated over the leading dims: the position embedding added to every batch). Each element's
// sums run in the generic loops' order, so results are the same.
typedef enum { TILE_NONE, TILE_SAME, TILE_SCALAR, TILE_ROWS } Tiling;

// How x (right-aligned, padded to 4 dims) repeats in the output of plan p.
static Tiling bcast_tiling(Shape x, const Bcast *p) {
    int off = 4 - x.ndim, k = 0;
    while (k < 4 && (k < off || x.d[k - off] == 1)) k++; // its leading 1s
    for (int i = k; i < 4; i++)
        if (x.d[i - off] != p->d[i]) return TILE_NONE;
    size_t nx = 1, n = 1;
    for (int i = 0; i < 4; i++) nx *= i >= off ? (size_t)x.d[i - off] : 1, n *= (size_t)p->d[i];
    return nx == n ? TILE_SAME : nx == 1 ? TILE_SCALAR : TILE_ROWS;
}

// y = f op g where f is full and g tiles as `tg` with ng elements.
static void tiled_forward(BcastOp op, Tiling tg, nl_real *y, const nl_real *f, const nl_real *g, size_t n,
                          size_t ng) {
    if (tg == TILE_ROWS) {
#pragma omp parallel for schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t o = 0; o < n / ng; o++)
#pragma omp simd
            for (size_t i = 0; i < ng; i++)
                y[o * ng + i] = op == BC_ADD ? f[o * ng + i] + g[i] : f[o * ng + i] * g[i];
        return;
    }
    size_t gs = tg == TILE_SAME ? 1 : 0; // g's stride
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
    for (size_t k = 0; k < n; k++) y[k] = op == BC_ADD ? f[k] + g[k * gs] : f[k] * g[k * gs];
}

// df += dy (add) or dy * g (mul), f full; then dg += dy (add) or dy * f (mul), summed over the
// repeats in order (g's columns split between threads, never a sum). wf, wg: the grad is fresh
// (tape.h) and must be written whole.
static void tiled_backward(BcastOp op, Tiling tg, const nl_real *dy, const nl_real *f, const nl_real *g,
                           nl_real *df, nl_real *dg, bool wf, bool wg, size_t n, size_t ng) {
    size_t gs = tg == TILE_SAME ? 1 : 0, rows = n / ng;
    if (tg == TILE_SAME && df && dg && df != dg && wf && wg) { // the residual add: both grads fresh
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) {
            df[k] = op == BC_ADD ? dy[k] : dy[k] * g[k];
            dg[k] = op == BC_ADD ? dy[k] : dy[k] * f[k];
        }
        return;
    }
    // otherwise a fresh dg is zeroed, and the loops add to it; a fresh df is written by its loop
    // (a linear layer's bias add: x W^T's grad is dy itself, one pass instead of a zeroing and an add)
    if (wg && dg) memset(dg, 0, (tg == TILE_SAME ? n : ng) * sizeof *dg);
    if (tg == TILE_SAME && df && dg && df != dg) { // one pass over dy for both
        if (wf) memset(df, 0, n * sizeof *df);
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) {
            df[k] += op == BC_ADD ? dy[k] : dy[k] * g[k];
            dg[k] += op == BC_ADD ? dy[k] : dy[k] * f[k];
        }
        return;
    }
    if (df && tg == TILE_ROWS) {
#pragma omp parallel for schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t o = 0; o < rows; o++)
#pragma omp simd
            for (size_t i = 0; i < ng; i++) {
                nl_real v = op == BC_ADD ? dy[o * ng + i] : dy[o * ng + i] * g[i];
                df[o * ng + i] = wf ? v : df[o * ng + i] + v;
            }
    } else if (df) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) {
            nl_real v = op == BC_ADD ? dy[k] : dy[k] * g[k * gs];
            df[k] = wf ? v : df[k] + v;
        }
    }
    if (!dg) return;
    if (tg == TILE_SAME) {
#pragma omp parallel for simd schedule(static) if (n >= KERNEL_PARALLEL_MIN)
        for (size_t k = 0; k < n; k++) dg[k] += op == BC_ADD ? dy[k] : dy[k] * f[k];
    } else if (tg == TILE_SCALAR) { // one sum over every element: in order, on one thread
        for (size_t k = 0; k < n; k++) dg[0] += op == BC_ADD ? dy[k] : dy[k] * f[k];
    } else {
        cols_sum_into(dg, dy, op == BC_ADD ? NULL : f, rows, ng);
    }
}

static Tensor *bcast_op(Tape *t, Tensor *a, Tensor *b, BcastOp op) {
    Shape os;
    Bcast p = bcast_plan(a->shape, b->shape, &os);
    Tensor *in[] = {a, b};
    Tensor *y = tape_output(t, os, 2, in);
    Tiling ta = bcast_tiling(a->shape, &p), tb = bcast_tiling(b->shape, &p);
    size_t n = tensor_numel(y);
    if (ta == TILE_SAME && tb != TILE_NONE) tiled_forward(op, tb, y->data, a->data, b->data, n, tensor_numel(b));
    else if (tb == TILE_SAME && ta != TILE_NONE) tiled_forward(op, ta, y->data, b->data, a->data, n, tensor_numel(a));
    else bcast_forward(&p, op, y->data, a->data, b->data);
    record(t, op == BC_ADD ? OP_ADD : OP_MUL, y, 2, in);
    return y;
}

static void bcast_op_backward(TapeNode *n, BcastOp op) {
    Tensor *a = n->in[0], *b = n->in[1];
    Shape os;
    Bcast p = bcast_plan(a->shape, b->shape, &os);
    Tiling ta = bcast_tiling(a->shape, &p), tb = bcast_tiling(b->shape, &p);
    size_t len = tensor_numel(n->out);
    const nl_real *dy = n->out->grad;
    if (op == BC_ADD && ta == TILE_SAME && tb == TILE_SAME && a != b && b->grad && b->grad_fresh &&
        tape_grad_adopt(n, a)) { // the residual add: a's grad is dy's buffer (tape.h), b's a copy
        grad_take_fresh(b);
#pragma omp parallel for simd schedule(static) if (len >= KERNEL_PARALLEL_MIN)
        for (size_t k = 0; k < len; k++) b->grad[k] = dy[k];
        return;
    }
    // a and b may be the same tensor (x + x, x * x): both terms land in its grad, which is fresh for
    // the first at most (grad_take_fresh clears the flag)
    bool wa = a->grad && grad_take_fresh(a), wb = b->grad && grad_take_fresh(b);
    if (ta == TILE_SAME && tb != TILE_NONE)
        tiled_backward(op, tb, dy, a->data, b->data, a->grad, b->grad, wa, wb, len, tensor_numel(b));
    else if (tb == TILE_SAME && ta != TILE_NONE)
        tiled_backward(op, ta, dy, b->data, a->data, b->grad, a->grad, wb, wa, len, tensor_numel(a));
    else {
        if (wa) memset(a->grad, 0, tensor_numel(a) * sizeof(nl_real));
        if (wb) memset(b->grad, 0, tensor_numel(b) * sizeof(nl_real));
        bcast_backward(&p, op, n->out->grad, a->data, b->data, a->grad, b->grad);
    }
}

// y = a + b;  da += dy, db += dy (summed over broadcast dims)
Tensor *op_add(Tape *t, Tensor *a, Tensor *b) {
    NL_NONNULL(t, a, b);
    return bcast_op(t, a, b, BC_ADD);
}
void add_backward(TapeNode *n) { bcast_op_backward(n, BC_ADD); }

// y = a * b;  da += dy * b, db += dy * a (summed over broadcast dims)
Tensor *op_mul(Tape *t, Tensor *a, Tensor *b) {
    NL_NONNULL(t, a, b);
    return bcast_op(t, a, b, BC_MUL);
}
void mul_backward(TapeNode *n) { bcast_op_backward(n, BC_MUL); }

// ---- scalar affine ---------------------------------------------------------------------------
// y = s * x + c;  dx += s * dy
Tensor *op_affine(Tape *t, Tensor *x, double s, double c) {
    NL_NONNULL(t, x);
    Tensor *y = tape_output(t, x->shape, 1, &x);
    size_t n = tensor_numel(x);
    for (size_t i = 0; i < n; i++) y->data[i] = (nl_real)s * x->data[i] + (nl_real)c;
    TapeNode *nd = record(t, OP_AFFINE, y, 1, &x);
    if (nd) nd->arg[0] = s;
    return y;
}
void affine_backward(TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->grad) return;
    nl_real s = (nl_real)n->arg[0];
    size_t len = tensor_numel(x);
    for (size_t i = 0; i < len; i++) x->grad[i] += s * n->out->grad[i];
}

// ---- unary functions (kernels and their derivatives in tensor/unary.c) ------------------------
typedef void (*UnaryForward)(nl_real *y, const nl_real *x, size_t n);
typedef void (*UnaryBackward)(nl_real *dx, const nl_real *dy, const nl_real *x, const nl_real *y, size_t n);

static Tensor *unary(Tape *t, Tensor *x, OpId op, UnaryForward f) {
    Tensor *y = tape_output(t, x->shape, 1, &x);
    f(y->data, x->data, tensor_numel(x));
    record(t, op, y, 1, &x);
    return y;
}
static void unary_backward(TapeNode *n, UnaryBackward df) {
    Tensor *x = n->in[0];
    if (x->grad) df(x->grad, n->out->grad, x->data, n->out->data, tensor_numel(x));
}

Tensor *op_tanh(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return unary(t, x, OP_TANH, tanh_forward);
}
void tanh_op_backward(TapeNode *n) { unary_backward(n, tanh_backward); }

Tensor *op_erf(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return unary(t, x, OP_ERF, erf_forward);
}
void erf_op_backward(TapeNode *n) { unary_backward(n, erf_backward); }

Tensor *op_gelu(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return unary(t, x, OP_GELU, gelu_forward);
}
void gelu_op_backward(TapeNode *n) { // writes a fresh grad (tape.h): gelu's input is c_fc's output
    Tensor *x = n->in[0];
    if (x->grad) gelu_backward(x->grad, n->out->grad, x->data, n->out->data, grad_take_fresh(x), tensor_numel(x));
}

Tensor *op_softplus(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return unary(t, x, OP_SOFTPLUS, softplus_forward);
}
void softplus_op_backward(TapeNode *n) { unary_backward(n, softplus_backward); }

Tensor *op_rsqrt(Tape *t, Tensor *x) {
    NL_NONNULL(t, x);
    return unary(t, x, OP_RSQRT, rsqrt_forward);
}
void rsqrt_op_backward(TapeNode *n) { unary_backward(n, rsqrt_backward); }
