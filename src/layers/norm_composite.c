// The seven layers built only from primitive ops, so the tape derives their gradients. Slower than
// the fused ops (several passes, more saved tensors); they exist to teach and to check the fused
// backwards (tests/test_norms.c asserts both give the same values and gradients).
#include "../autograd/ops.h"
#include "norm_internal.h"

// the scalar as used: alpha/beta, or softplus of it
static Tensor *effective_scalar(Tape *t, const Norm *n) {
    return NORM_TABLE[n->kind].softplus ? op_softplus(t, n->scalar) : n->scalar;
}

Tensor *norm_composite_forward(Tape *t, const Norm *n, Tensor *x) {
    Tensor *u; // the normalized or squashed x, before the per-channel affine
    switch (n->kind) {
    case NORM_LN: {
        Tensor *xc = op_add(t, x, op_scale(t, op_mean_last(t, x), -1)); // x - mean   (..., C)
        Tensor *var = op_mean_last(t, op_mul(t, xc, xc));                // (..., 1)
        u = op_mul(t, xc, op_rsqrt(t, op_add_scalar(t, var, n->eps)));
        break;
    }
    case NORM_RMSNORM: {
        Tensor *ms = op_mean_last(t, op_mul(t, x, x)); // (..., 1)
        u = op_mul(t, x, op_rsqrt(t, op_add_scalar(t, ms, n->eps)));
        break;
    }
    case NORM_DYT:
    case NORM_DYTSP: u = op_tanh(t, op_mul(t, x, effective_scalar(t, n))); break;
    case NORM_DERF: u = op_erf(t, op_add(t, op_mul(t, x, n->scalar), n->shift)); break;
    case NORM_DYISRU:
    case NORM_DYISRUSP: {
        Tensor *den = op_add(t, op_mul(t, x, x), effective_scalar(t, n)); // x^2 + beta
        u = op_mul(t, x, op_rsqrt(t, op_add_scalar(t, den, n->eps)));
        break;
    }
    default: CHECK(0, "unknown norm kind %d", (int)n->kind);
    }
    Tensor *y = op_mul(t, u, n->weight);
    return n->bias ? op_add(t, y, n->bias) : y;
}
