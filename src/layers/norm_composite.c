// What the composite forms share. Each kind's composite form (u, before the per-channel affine) is
// in its own file beside its fused op; norm_forward applies w and b. Slower than the fused ops
// (several passes, more saved tensors); they exist to teach and to check the fused backwards
// (tests/test_norms.c asserts both give the same values and gradients).
#include "normlab/ops.h"
#include "norm_internal.h"

Tensor *norm_composite_scalar(Tape *t, const Norm *n) {
    return NORM_TABLE[n->kind]->softplus ? op_softplus(t, n->scalar) : n->scalar;
}
