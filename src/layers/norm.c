// The registry of norm kinds, the dispatch between fused and composite forms, and the scalar's
// stored <-> effective mapping.
#include "normlab/check.h"
#include "normlab/norm.h"

#include <string.h>

#include "normlab/ops.h"
#include "normlab/observe.h"
#include "norm_internal.h"

const char *const NORM_SCALAR_NAMES[] = {[NORM_SCALAR_NONE] = NULL, [NORM_SCALAR_ALPHA] = "alpha",
                                         [NORM_SCALAR_BETA] = "beta"};

// Every kind's row, from the file that defines it, in NORM_KINDS' order.
#define NORM_KIND_EXTERN_(E, name) extern const NormInfo NORM_INFO_##name;
NORM_KINDS(NORM_KIND_EXTERN_)
#define NORM_KIND_ROW_(E, name) [NORM_##E] = &NORM_INFO_##name,
const NormInfo *const NORM_TABLE[NORM_COUNT] = {NORM_KINDS(NORM_KIND_ROW_)};

int norm_kind_parse(const char *s) {
    NL_NONNULL(s);
    for (int k = 0; k < NORM_COUNT; k++)
        if (strcmp(s, NORM_TABLE[k]->name) == 0) return k;
    return -1;
}

double norm_scalar_effective(NormKind k, double stored) {
    return NORM_TABLE[k]->softplus ? softplus_d(stored) : stored;
}

// softplus^-1(v) = log(exp(v) - 1) = v + log(1 - exp(-v)), the second form for large v
NormRecipeInit norm_recipe_init(NormKind k, const NormRecipe *rc, int n_embd) {
    NL_NONNULL(rc);
    NormRecipeInit r = {.emb_scale0 = NORM_TABLE[k]->scalar && rc->emb_scale > 0 ? rc->emb_scale * sqrt((double)n_embd) : 0};
    for (int p = 0; p < 3; p++) r.alpha0[p] = rc->alpha0[p], r.beta0[p] = norm_beta0_of(rc->alpha0[p]);
    return r;
}

double norm_scalar_stored(NormKind k, double effective) {
    if (!NORM_TABLE[k]->softplus) return effective;
    NL_CHECK(effective > 0, "%s: the effective %s must be > 0 (softplus), got %g", NORM_TABLE[k]->name,
          norm_scalar_name(k), effective);
    return effective + log(-expm1(-effective));
}

static void check_params(const Norm *n, const Tensor *x) {
    char b1[64], b2[64];
    const NormInfo *info = NORM_TABLE[n->kind];
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
    TapeNode *node = tape_record(t, NORM_TABLE[n->kind]->op, y, norm_inputs(n, x, in), in);
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
    NL_NONNULL(t, n, x);
    check_params(n, x);
    tape_observe(t, n, x);
    const NormInfo *info = NORM_TABLE[n->kind];
    if (!n->composite) return info->forward(t, n, x);
    Tensor *y = op_mul(t, info->composite(t, n, x), n->weight); // the composite form: u, then w and b
    return n->bias ? op_add(t, y, n->bias) : y;
}
