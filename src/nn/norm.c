// The table of norm kinds, the dispatch between fused and composite forms, and the scalar's
// stored <-> effective mapping.
#include "normlab/norm.h"

#include <string.h>

#include "normlab/ops.h"
#include "norm_internal.h"

const char *const NORM_SCALAR_NAMES[] = {[NORM_SCALAR_NONE] = NULL, [NORM_SCALAR_ALPHA] = "alpha",
                                         [NORM_SCALAR_BETA] = "beta"};

// recipe: emb_scale (x sqrt(n_embd); 0 off), alpha0 {ln_1, ln_2, ln_f}, lr, scalar_lr_mult
#define NANOGPT {0, {0.5, 0.5, 0.5}, 1e-3, 1} // ln and rmsnorm: nanoGPT's CPU configuration
const NormInfo NORM_TABLE[] = {
    [NORM_LN] = {"ln", NORM_SCALAR_NONE, false, false, &LN_OP, ln_forward, ln_composite, NANOGPT},
    [NORM_RMSNORM] = {"rmsnorm", NORM_SCALAR_NONE, false, false, &RMSNORM_OP, rmsnorm_forward, rmsnorm_composite, NANOGPT},
    [NORM_DYT] = {"dyt", NORM_SCALAR_ALPHA, false, false, &DYT_OP, dyt_forward, dyt_composite, {1, {1, 1, 1}, 1e-3, 1}},
    [NORM_DYISRU] = {"dyisru", NORM_SCALAR_BETA, false, false, &DYISRU_OP, dyisru_forward, dyisru_composite, {1, {1, 1, 1}, 1e-3, 1}},
    [NORM_DYTSP] = {"dytsp", NORM_SCALAR_ALPHA, false, true, &DYT_OP, dyt_forward, dyt_composite, {1, {1, 1, 1}, 1e-3, 1}},
    [NORM_DYISRUSP] = {"dyisrusp", NORM_SCALAR_BETA, false, true, &DYISRU_OP, dyisru_forward, dyisru_composite, {1, {1, 1, 1}, 1e-3, 1}},
    [NORM_DERF] = {"derf", NORM_SCALAR_ALPHA, true, false, &DERF_OP, derf_forward, derf_composite, {1, {1, 1, 1}, 1e-3, 1}},
};
_Static_assert(sizeof NORM_TABLE / sizeof NORM_TABLE[0] == NORM_COUNT,
               "NORM_TABLE needs exactly one row per NormKind");

int norm_kind_parse(const char *s) {
    for (int k = 0; k < NORM_COUNT; k++)
        if (strcmp(s, NORM_TABLE[k].name) == 0) return k;
    return -1;
}

double norm_scalar_effective(NormKind k, double stored) {
    return NORM_TABLE[k].softplus ? softplus_d(stored) : stored;
}

// softplus^-1(v) = log(exp(v) - 1) = v + log(1 - exp(-v)), the second form for large v
double norm_scalar_stored(NormKind k, double effective) {
    if (!NORM_TABLE[k].softplus) return effective;
    NL_CHECK(effective > 0, "%s: the effective %s must be > 0 (softplus), got %g", NORM_TABLE[k].name,
          norm_scalar_name(k), effective);
    return effective + log(-expm1(-effective));
}

static void check_params(const Norm *n, const Tensor *x) {
    char b1[64], b2[64];
    const NormInfo *info = &NORM_TABLE[n->kind];
    int C = shape_last(x->shape);
    NL_CHECK(n->weight && n->weight->shape.ndim == 1 && n->weight->shape.d[0] == C,
          "%s: weight must be (%d) for input %s, got %s", info->name, C, shape_str(x->shape, b1),
          n->weight ? shape_str(n->weight->shape, b2) : "none");
    NL_CHECK(!n->bias || (n->bias->shape.ndim == 1 && n->bias->shape.d[0] == C),
          "%s: bias must be (%d), got %s", info->name, C, shape_str(n->bias->shape, b2));
    NL_CHECK(!info->scalar == !n->scalar, "%s: %s", info->name,
          info->scalar ? "needs its scalar parameter (shape [1])" : "takes no scalar parameter");
    NL_CHECK(!n->scalar || tensor_numel(n->scalar) == 1, "%s: %s must have one element", info->name,
          norm_scalar_name(n->kind));
    NL_CHECK(info->shift == !!n->shift, "%s: %s", info->name,
          info->shift ? "needs its shift parameter (shape [1])" : "takes no shift parameter");
    NL_CHECK(!n->shift || tensor_numel(n->shift) == 1, "%s: shift must have one element", info->name);
}

// The node's inputs: x, w, then b, the scalar and the shift when present.
static int norm_inputs(const Norm *n, Tensor *x, Tensor **in) {
    int k = 0;
    in[k++] = x, in[k++] = n->weight;
    if (n->bias) in[k++] = n->bias;
    if (n->scalar) in[k++] = n->scalar;
    if (n->shift) in[k++] = n->shift;
    return k;
}

Tensor *norm_output(Tape *t, const Norm *n, Tensor *x) {
    Tensor *in[5];
    return tape_output(t, x->shape, norm_inputs(n, x, in), in);
}

void norm_record(Tape *t, const Norm *n, Tensor *x, Tensor *y, void *ctx) {
    Tensor *in[5];
    TapeNode *node = tape_record(t, NORM_TABLE[n->kind].op, y, norm_inputs(n, x, in), in);
    if (node) {
        node->ctx = ctx;
        node->iarg[0] = n->kind;
        node->iarg[1] = n->bias != NULL;
        node->arg[0] = n->eps;
    }
}

const nl_real *norm_bias_or_zeros(Tape *t, const Norm *n, int C) {
    return n->bias ? n->bias->data : arena_calloc(t->arena, (size_t)C * sizeof(nl_real));
}

Tensor *norm_forward(Tape *t, const Norm *n, Tensor *x) {
    check_params(n, x);
    tape_observe(t, n, x);
    const NormInfo *info = &NORM_TABLE[n->kind];
    if (!n->composite) return info->forward(t, n, x);
    Tensor *y = op_mul(t, info->composite(t, n, x), n->weight); // the composite form: u, then w and b
    return n->bias ? op_add(t, y, n->bias) : y;
}
