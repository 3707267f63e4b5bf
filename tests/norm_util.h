// Shared by the norm tests: a layer instance with its parameters in the fixture's params arena.
#pragma once
#include "normlab/norm.h"
#include "test_util.h"

// kind with C channels; weight 1 + N(0, w_std^2); bias N(0, 0.1^2) when `bias`; the scalar set to
// the stored value giving `effective` alpha or beta; derf's shift 0.3 (nonzero, so its gradient and
// the odd-symmetry break are both exercised).
static inline Norm make_norm(Fixture *fx, NormKind kind, int C, bool bias, double effective,
                             double w_std) {
    Norm n = {.kind = kind, .eps = NORM_EPS};
    n.weight = rand_tensor(fx, NL_SHAPE(C), true, w_std, "weight");
    for (int j = 0; j < C; j++) n.weight->data[j] += 1;
    if (bias) n.bias = rand_tensor(fx, NL_SHAPE(C), true, 0.1, "bias");
    if (NORM_TABLE[kind]->scalar) {
        n.scalar = rand_tensor(fx, NL_SHAPE(1), true, 0, norm_scalar_name(kind));
        n.scalar->data[0] = (nl_real)norm_scalar_stored(kind, effective);
    }
    if (NORM_TABLE[kind]->shift) {
        n.shift = rand_tensor(fx, NL_SHAPE(1), true, 0, "shift");
        n.shift->data[0] = (nl_real)0.3;
    }
    return n;
}

// The layer's inputs for gradcheck: x, then every parameter it has. Returns how many.
static inline int norm_inputs(const Norm *n, Tensor *x, Tensor **in) {
    int k = 0;
    in[k++] = x;
    in[k++] = n->weight;
    if (n->bias) in[k++] = n->bias;
    if (n->scalar) in[k++] = n->scalar;
    if (n->shift) in[k++] = n->shift;
    return k;
}

// gradcheck's function: the Norm holds the same tensors gradcheck perturbs.
static inline Tensor *f_norm(Tape *t, Tensor *const *in, void *ctx) {
    return norm_forward(t, ctx, in[0]);
}

// A typical effective scalar per kind: alpha 0.5 (DyT's default) or beta 4 (= 1 / 0.5^2).
static inline double default_scalar(NormKind k) {
    return NORM_TABLE[k]->scalar == NORM_SCALAR_BETA ? 4.0 : 0.5;
}
